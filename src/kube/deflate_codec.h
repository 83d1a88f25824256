// A store codec that keeps each object as its JSON text, deflated against a preset dictionary.
#pragma once

#include <memory>
#include <string>

#include "kube/store_codec.h"

namespace ifo::kube {

// Keeps each object as its JSON text, deflated (raw deflate, 4 KiB window) against a preset dictionary:
// the text of a typical object of the same store. Objects of one resource share nearly all field names
// and many values, so each costs about its differences. A read inflates and parses the object
// (microseconds for the few KiB a reconcile reads) into a document sized for it.
//
// For stores of many objects read one at a time. bench/syncer-scale, 10,000 InfisicalSecrets, syncer
// peak RSS: 123 MiB with parsed trees, 82.9 MiB with plain text, 58.0 MiB deflated (bench/RESULTS.md).
class DeflateCodec final : public StoreCodec {
 public:
  DeflateCodec();
  ~DeflateCodec() override;
  DeflateCodec(const DeflateCodec&) = delete;
  DeflateCodec& operator=(const DeflateCodec&) = delete;

  StoredPtr encode(const ConstObjectPtr& obj) override;

  // A dictionary's text with the inflate streams kept for the objects deflated against it
  // (deflate_codec.cpp).
  struct Dictionary;

 private:
  class Deflater;
  std::unique_ptr<Deflater> deflater_;
  // The dictionary new objects are deflated against; replaced by a larger object's text when one is
  // seen. Each kept object holds the dictionary it was deflated with, so replacing it changes nothing
  // already kept.
  std::shared_ptr<const Dictionary> dictionary_;
};

}  // namespace ifo::kube
