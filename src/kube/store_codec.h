// How an informer's store keeps its objects: the codec interface and the default, which keeps them parsed.
#pragma once

#include <memory>

#include "core/json.h"

namespace ifo::kube {

// Objects handed out by informers and stores are shared and never mutated: copy before changing one.
using ConstObjectPtr = std::shared_ptr<const core::JsonDoc>;

// One object in the form a codec keeps it.
class StoredObject {
 public:
  virtual ~StoredObject() = default;
  // The object, parsed; safe to call from any number of threads at once. nullptr only when the kept
  // form is damaged, which a codec's own output never is.
  virtual ConstObjectPtr object() const = 0;
};
using StoredPtr = std::shared_ptr<const StoredObject>;

// Turns an object into what a store keeps of it: a trade of memory against the cost of each read.
// encode() is called by one thread at a time (the informer's), so a codec may keep state between calls
// (a compression stream, a dictionary); what it returns must not depend on that state to be read.
class StoreCodec {
 public:
  virtual ~StoreCodec() = default;
  virtual StoredPtr encode(const ConstObjectPtr& obj) = 0;
};

// The default: keeps the parsed object itself, so reads cost nothing. Right for few objects, or small
// ones read in bulk. The object costs what its document costs: one made with core::copy_compact (as the
// client's list items and watch events are) costs about its own size.
class ParsedCodec final : public StoreCodec {
 public:
  StoredPtr encode(const ConstObjectPtr& obj) override;
};

}  // namespace ifo::kube
