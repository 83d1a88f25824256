// Rollouts of the opted-in workloads (Deployments, StatefulSets, DaemonSets) that consume managed
// Secrets, by core::decide_rollout: after a sync wrote Secrets, and once at start-up. A rollout writes
// the pod template's hash (a new revision); a baseline records the hash in the workload's metadata only.
// Rollouts owed because a workload patch failed are kept per resource and tried again on its next sync.
#pragma once

#include <spdlog/logger.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/consumed_keys.h"
#include "core/digest.h"
#include "core/rollout.h"
#include "kube/api.h"
#include "kube/resource.h"
#include "syncer/event_writer.h"
#include "syncer/metrics.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

// What a look at opted-in workloads did (core/rollout.h): rollouts (the pod template's hash written, a
// new revision) and baselines recorded (workload metadata only, no new revision).
struct RolloutCounts {
  int rolled = 0;
  int baselined = 0;
  // Full checks only, during a digest-key rotation: workloads left alone because their mark is the hash
  // under the previous key (up to date, stamped before the rotation). Zero: ending the rotation rolls nothing.
  int previous_key = 0;
};

// A managed Secret whose consumers are to be looked at: whether its data changed, and the digests of
// the data it had before (nullopt: it did not exist, so no pod can have started with other values).
struct WrittenSecret {
  bool data_changed = false;
  std::optional<core::KeyDigests> previous;
};
// namespace -> Secret name -> what the write did.
using WrittenSecrets = std::map<std::string, std::map<std::string, WrittenSecret>>;
// namespace -> Secret name -> the Secret as just written.
using FreshSecrets = std::map<std::string, std::map<std::string, Object>>;

class Rollouts {
 public:
  // Opted-in workloads of one kind in a namespace ("" = all), as the watch caches keep them.
  using WorkloadLookup = std::function<std::vector<Object>(const kube::Resource& kind, const std::string& ns)>;
  // Opted-in workloads of one kind in a namespace that consume at least one of these Secrets.
  using ConsumerLookup = std::function<std::vector<Object>(const kube::Resource& kind, const std::string& ns,
                                                           const std::vector<std::string>& secrets)>;
  using SecretLookup = std::function<Object(const std::string& ns, const std::string& name)>;

  // `workloads` unset: they are listed from the API server. `consumers` unset: a rollout looks at every
  // workload `workloads` gives. `managed_secret`: the watch cache of managed Secrets (unset: only
  // just-written Secrets, or the API server, are read).
  Rollouts(kube::Api& kube, Metrics& metrics, EventWriter& events, WorkloadLookup workloads,
           ConsumerLookup consumers, SecretLookup managed_secret, std::shared_ptr<spdlog::logger> log);

  struct AfterSync {
    int rolled = 0;
    bool data_changed = false;  // a write (this one or an owed one) changed a Secret's data
  };
  // After resource `key` (the InfisicalSecret `resource`) wrote `written` (`fresh`: the Secrets as
  // written): adds what is still owed for its current targets (`managed`, "ns/name") and rolls or
  // baselines their consumers, recording a RolloutTriggered Event per rollout. What a failed workload
  // patch leaves undone stays owed (the exception is passed on).
  AfterSync after_sync(const std::string& key, const Object& resource, const std::vector<std::string>& managed,
                       WrittenSecrets written, const FreshSecrets& fresh);

  // Start-up: every opted-in workload in these namespaces ("" = all) that consumes a managed Secret.
  // One whose hash (template hash, else baseline) is wrong is rolled (a change made while no syncer
  // ran); one with neither gets a baseline when every Secret it consumes is a managed Secret that
  // exists; the others are not touched.
  RolloutCounts check_all_workloads(const std::vector<std::string>& namespaces);

  // Resource `key` is gone: nothing is owed for it any more.
  void forget(const std::string& key);

  // The digest keys the managed Secrets' digests are computed with. With a previous key (a rotation),
  // a workload stamped under it for the same data is up to date (core::decide_rollout), and a Secret
  // whose digest annotation was written under it (not re-synced since the rotation) counts with its
  // current-key digests, so a rollout never stamps a hash that mixes the two keys.
  void set_digest_keys(core::DigestKeys keys);

 private:
  std::vector<Object> workloads_of(const kube::Resource& kind, const std::string& ns);
  // The workloads of `kind` in `ns` that may consume a Secret of `written` (all of them without a
  // consumer lookup).
  std::vector<Object> consumers_of(const kube::Resource& kind, const std::string& ns,
                                   const std::map<std::string, WrittenSecret>& written);
  // Rolls or baselines the opted-in workloads of `ns` that consume a Secret of `written` (name -> what
  // the write did); `fresh` holds the Secrets as just written.
  RolloutCounts roll_consumers(const std::string& ns, const std::map<std::string, WrittenSecret>& written,
                               const std::map<std::string, Object>& fresh, const Object& resource);
  // The key digests of the managed Secrets among `consumed`: just written ones (`fresh`) first, else
  // the watch cache, else (`read_missing`) the API server. Secrets we do not manage are left out
  // (missing, as the webhook's cache sees them).
  // During a rotation (`keys.previous`), `previous_known` (when given) receives the same Secrets'
  // digests under the previous key, computed from their data.
  std::map<std::string, core::KeyDigests> consumed_digests(const std::string& ns,
                                                           const std::vector<core::ConsumedKey>& consumed,
                                                           const std::map<std::string, Object>& fresh,
                                                           bool read_missing, const core::DigestKeys& keys,
                                                           std::map<std::string, core::KeyDigests>* previous_known);
  core::DigestKeys digest_keys();
  // Writes what `action` says on one workload (core::roll_patch or baseline_patch) and counts it;
  // false when the workload is gone.
  bool apply_rollout(const kube::Resource& kind, const std::string& ns, const std::string& name,
                     core::RolloutAction action, core::RolloutCause cause, const std::string& hash,
                     const core::RolloutMarks& marks, RolloutCounts& counts);

  kube::Api& kube_;
  Metrics& metrics_;
  EventWriter& events_;
  WorkloadLookup workloads_;
  ConsumerLookup consumers_;
  SecretLookup managed_secret_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  // Resource key -> Secrets written but whose consumers may not all be rolled or baselined yet (a
  // failed workload patch): the next sync looks at them again even though nothing is written then,
  // deciding with the data they had before the first write.
  std::map<std::string, WrittenSecrets> pending_;
  core::DigestKeys keys_;
};

}  // namespace ifo::syncer
