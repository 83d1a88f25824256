// Which opted-in workloads consume which Secrets, kept from the workload caches' events, so that a
// rollout after a sync reads only the workloads that consume a written Secret. Without it every sync
// inflated and parsed every opted-in workload of its namespace: at 10,000 InfisicalSecrets with 100
// consuming workloads per namespace, a million decodes in an initial sync, a fifth of the syncer's CPU.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kube/resource.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

// The pod spec of a workload that opted in to auto-reload; nullptr for any other.
const core::JsonValue* opted_in_pod_spec(const core::JsonValue& workload);

class ConsumerIndex {
 public:
  // A workload cache's event: `before` is what the cache held (nullptr: an add), `after` what it holds
  // now (nullptr: a deletion). The informer's handlers give both, so the index keeps no second copy of
  // what each workload consumed.
  void update(const kube::Resource& kind, const Object& before, const Object& after);
  // The names of `kind`'s opted-in workloads in `ns` that consume at least one of `secrets`, sorted.
  std::vector<std::string> consumers(const kube::Resource& kind, const std::string& ns,
                                     const std::vector<std::string>& secrets) const;

 private:
  mutable std::mutex mu_;
  // "group/resource|namespace|secret" -> the names of the workloads consuming it, sorted.
  std::map<std::string, std::vector<std::string>, std::less<>> consumers_;
};

}  // namespace ifo::syncer
