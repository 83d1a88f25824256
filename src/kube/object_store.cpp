// The informer's store: a locked ordered map of kept objects, decoded outside the lock.
#include "kube/object_store.h"

#include "core/json.h"

namespace ifo::kube {

Store::Store(std::unique_ptr<StoreCodec> codec) : codec_(std::move(codec)) {}

ConstObjectPtr Store::get(const std::string& key) const {
  StoredPtr kept;
  {
    std::lock_guard lock(mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return nullptr;
    kept = it->second.object;
  }
  return kept->object();
}

std::string Store::resource_version(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? std::string() : it->second.resource_version;
}

Store::Kept Store::encode(const ConstObjectPtr& obj) {
  const core::JsonValue* rv = core::at_path(*obj, {"metadata", "resourceVersion"});
  return {codec_->encode(obj),
          rv && rv->IsString() ? std::string(rv->GetString(), rv->GetStringLength()) : ""};
}

std::vector<ConstObjectPtr> Store::list() const { return list(""); }

std::vector<ConstObjectPtr> Store::list(std::string_view ns) const {
  std::vector<StoredPtr> kept;
  {
    std::lock_guard lock(mu_);
    if (ns.empty()) {
      kept.reserve(items_.size());
      for (const auto& [key, e] : items_) kept.push_back(e.object);
    } else {
      // Keys sort by namespace, then name: one namespace is one run of the map.
      const std::string prefix = std::string(ns) + "/";
      for (auto it = items_.lower_bound(prefix); it != items_.end() && it->first.starts_with(prefix); ++it)
        kept.push_back(it->second.object);
    }
  }
  return decode(kept);
}

std::vector<ConstObjectPtr> Store::decode(const std::vector<StoredPtr>& kept) const {
  std::vector<ConstObjectPtr> out;
  out.reserve(kept.size());
  for (const auto& k : kept)
    if (ConstObjectPtr o = k->object()) out.push_back(std::move(o));
  return out;
}

std::vector<std::string> Store::keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, k] : items_) out.push_back(key);
  return out;
}

size_t Store::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

StoredPtr Store::upsert(const std::string& key, Kept kept) {
  std::lock_guard lock(mu_);
  Kept& slot = items_[key];
  std::swap(slot, kept);
  return kept.object;
}

StoredPtr Store::erase(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  StoredPtr old = std::move(it->second.object);
  items_.erase(it);
  return old;
}

std::vector<Store::Change> Store::replace(std::map<std::string, Kept> items) {
  std::vector<Change> changes;
  std::lock_guard lock(mu_);
  changes.reserve(items.size());
  for (const auto& [key, kept] : items) {
    auto it = items_.find(key);
    changes.push_back({it == items_.end() ? nullptr : it->second.object, kept.object});
  }
  for (const auto& [key, kept] : items_)
    if (items.count(key) == 0) changes.push_back({kept.object, nullptr});
  items_.swap(items);
  return changes;
}

}  // namespace ifo::kube
