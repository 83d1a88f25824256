// What the syncer knows of its managed Secrets, to route their watch events: which InfisicalSecrets
// write each one (an event brings them back: drift repair), and which versions are the echo of its
// own writes (those need bring nothing back).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/api.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

class ManagedIndex {
 public:
  // Resource `key` ("ns/name") writes these Secrets ("ns/name"), replacing what it wrote before.
  void set_targets(const std::string& key, const std::vector<std::string>& secrets);
  // Resource `key` is gone.
  void forget(const std::string& key);
  // The resources that write Secret ns/name.
  std::vector<std::string> owners_of(const std::string& ns, const std::string& name) const;
  // Every resource with targets recorded.
  std::vector<std::string> known_keys() const;

  // Secret ns/name was just written by us, as `written` (its resourceVersion is remembered).
  void remember_write(const std::string& ns, const std::string& name, const Object& written);
  // True when this version of Secret ns/name is our last write of it; each write is answered once.
  bool is_own_write(const std::string& ns, const std::string& name, const std::string& resource_version);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::set<std::string>> secret_owners_;  // "ns/secret" -> resource keys
  std::map<std::string, std::vector<std::string>> targets_;     // resource key -> "ns/secret"
  // "ns/name" -> resourceVersion of our last write of that Secret whose watch event has not been seen
  // yet (at most one entry per Secret).
  std::unordered_map<std::string, std::string> own_writes_;
};

}  // namespace ifo::syncer
