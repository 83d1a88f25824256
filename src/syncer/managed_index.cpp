// Owners and own writes of managed Secrets.
#include "syncer/managed_index.h"

#include "syncer/object_fields.h"

namespace ifo::syncer {

void ManagedIndex::set_targets(const std::string& key, const std::vector<std::string>& secrets) {
  std::lock_guard lock(mu_);
  auto& old = targets_[key];
  for (const auto& t : old) secret_owners_[t].erase(key);
  old = secrets;
  for (const auto& t : secrets) secret_owners_[t].insert(key);
}

void ManagedIndex::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = targets_.find(key);
  if (it == targets_.end()) return;
  for (const auto& t : it->second) secret_owners_[t].erase(key);
  targets_.erase(it);
}

std::vector<std::string> ManagedIndex::owners_of(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = secret_owners_.find(key_of(ns, name));
  if (it == secret_owners_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<std::string> ManagedIndex::known_keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, _] : targets_) out.push_back(k);
  return out;
}

void ManagedIndex::remember_write(const std::string& ns, const std::string& name, const Object& written) {
  const core::JsonValue* rv = written ? core::at_path(*written, {"metadata", "resourceVersion"}) : nullptr;
  if (rv == nullptr || !rv->IsString()) return;
  std::lock_guard lock(mu_);
  own_writes_[key_of(ns, name)] = rv->GetString();
}

bool ManagedIndex::is_own_write(const std::string& ns, const std::string& name, const std::string& resource_version) {
  std::lock_guard lock(mu_);
  auto it = own_writes_.find(key_of(ns, name));
  if (it == own_writes_.end() || it->second != resource_version) return false;
  own_writes_.erase(it);
  return true;
}

}  // namespace ifo::syncer
