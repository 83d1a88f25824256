// An informer's local store: "namespace/name" -> object, kept in the form its codec chooses.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kube/store_codec.h"

namespace ifo::kube {

// Thread-safe map key ("namespace/name", or "name" when cluster-scoped) -> object. Reads hand out
// parsed objects whatever the codec keeps; a codec's decoding (e.g. inflating) runs outside the lock.
class Store {
 public:
  explicit Store(std::unique_ptr<StoreCodec> codec = std::make_unique<ParsedCodec>());

  ConstObjectPtr get(const std::string& key) const;
  // The kept object's metadata.resourceVersion ("" when the key is absent), without decoding it: what
  // a caller compares to learn that an object it judged before is still the one kept.
  std::string resource_version(const std::string& key) const;
  // Every object, in key order.
  std::vector<ConstObjectPtr> list() const;
  // The objects of one namespace in name order (all when namespace_ is empty).
  std::vector<ConstObjectPtr> list(std::string_view namespace_) const;
  std::vector<std::string> keys() const;
  size_t size() const;

  // The writer's side, used by the informer's thread only. set_codec before the store is first written.
  void set_codec(std::unique_ptr<StoreCodec> codec) { codec_ = std::move(codec); }
  // What the store keeps of an object: its codec's form and its resourceVersion.
  struct Kept {
    StoredPtr object;
    std::string resource_version;
  };
  // What the store keeps of obj, through the codec (outside the lock: encoding may be costly).
  Kept encode(const ConstObjectPtr& obj);
  // Both return what the key held before (nullptr if nothing).
  StoredPtr upsert(const std::string& key, Kept kept);
  StoredPtr erase(const std::string& key);
  // A key replace() found before or after: an add (old_kept null), a deletion (new_kept null), or a key
  // present in both, which the caller compares (decoding both: the store cannot see inside them).
  struct Change {
    StoredPtr old_kept, new_kept;
  };
  // Replaces everything; returns every key's change, in key order, then the deletions.
  std::vector<Change> replace(std::map<std::string, Kept> items);

 private:
  std::vector<ConstObjectPtr> decode(const std::vector<StoredPtr>& kept) const;

  std::unique_ptr<StoreCodec> codec_;
  mutable std::mutex mu_;
  std::map<std::string, Kept> items_;
};

}  // namespace ifo::kube
