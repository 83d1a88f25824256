// Owners and own writes of managed Secrets.
#include "syncer/managed_index.h"

#include <algorithm>

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

void ManagedIndex::set_requeue(std::function<void(const std::string& key)> requeue) {
  std::lock_guard lock(mu_);
  requeue_ = std::move(requeue);
}

void ManagedIndex::begin_write(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  ++in_flight_[key_of(ns, name)].writes;
}

void ManagedIndex::end_write(const std::string& ns, const std::string& name, const Object& written) {
  const core::JsonValue* rv = written ? core::at_path(*written, {"metadata", "resourceVersion"}) : nullptr;
  const std::string version = rv != nullptr && rv->IsString() ? rv->GetString() : "";
  const std::string key = key_of(ns, name);
  std::vector<std::string> bring_back;
  std::function<void(const std::string&)> requeue;
  {
    std::lock_guard lock(mu_);
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) return;  // no begin_write: nothing was held
    InFlight& flight = it->second;
    auto echo =
        version.empty() ? flight.held.end() : std::find(flight.held.begin(), flight.held.end(), version);
    if (echo != flight.held.end())
      flight.held.erase(echo);  // settled: its event has come
    else if (!version.empty())
      own_writes_[key] = version;     // its event is still to come
    if (--flight.writes > 0) return;  // another write of it is still in flight: it settles the rest
    if (!flight.held.empty()) {
      auto owners = secret_owners_.find(key);
      if (owners != secret_owners_.end()) bring_back.assign(owners->second.begin(), owners->second.end());
      requeue = requeue_;
    }
    in_flight_.erase(it);
  }
  if (requeue)
    for (const auto& owner : bring_back) requeue(owner);
}

bool ManagedIndex::absorbs_event(const std::string& ns, const std::string& name,
                                 const std::string& resource_version) {
  std::lock_guard lock(mu_);
  const std::string key = key_of(ns, name);
  auto own = own_writes_.find(key);
  if (own != own_writes_.end() && own->second == resource_version) {
    own_writes_.erase(own);
    return true;
  }
  auto flight = in_flight_.find(key);
  if (flight == in_flight_.end()) return false;
  flight->second.held.push_back(resource_version);
  return true;
}

}  // namespace ifo::syncer
