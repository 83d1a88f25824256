// reconcile(namespace/name): level-based, idempotent sync of one InfisicalSecret into its managed
// Secrets and ConfigMaps, with drift repair, precise rollouts of consuming workloads, status and events.
// The reconciler runs the steps in order; each lives in its own unit: the trust check
// (core/trust_policy.h, trust_inputs.h), the request (request_builder.h), the fetch (scope_fetcher.h),
// the writes (managed_writer.h, managed_index.h), rollouts (rollouts.h), the status
// (core/sync_status.h) and Events (event_writer.h).
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/infisical_secret.h"
#include "core/rendered_secret.h"
#include "core/sync_status.h"
#include "core/trust_policy.h"
#include "kube/api.h"
#include "syncer/event_writer.h"
#include "syncer/managed_index.h"
#include "syncer/managed_writer.h"
#include "syncer/metrics.h"
#include "syncer/object_fields.h"
#include "syncer/request_builder.h"
#include "syncer/rollouts.h"
#include "syncer/scope_fetcher.h"
#include "syncer/secret_source.h"
#include "syncer/trust_inputs.h"

namespace ifo::syncer {

// What the worker loop does with the key after a reconcile.
struct ReconcileOutcome {
  enum class Next { kForget, kRequeueAfter, kBackoff };
  Next next = Next::kForget;
  std::chrono::milliseconds after{0};  // kRequeueAfter
  std::string result;  // metric label: synced, unchanged, invalid, refused, error, conflict, deleted, throttled
  // The status of the resource's Ready condition after this reconcile ("True" or "False"); empty when
  // this reconcile decided none (the resource is gone, or the reconcile was deferred).
  std::string ready{};
};

// Reads from the watch caches (informer stores); each returns nullptr when the object is not cached.
struct CacheLookups {
  std::function<Object(const std::string& ns, const std::string& name)> infisical_secret;
  std::function<Object(const std::string& ns, const std::string& name)> managed_secret;  // labelled Secrets only
  std::function<Object()> global_config;  // the infisical-config ConfigMap
  // Opted-in workloads of one kind in a namespace ("" = all), as the workload caches keep them (only
  // the fields a rollout needs). Unset: the reconciler lists them from the API server.
  std::function<std::vector<Object>(const kube::Resource& kind, const std::string& ns)> workloads;
  // Of those, the ones that consume at least one of these Secrets (by an index kept from the caches'
  // events). Unset: a rollout looks at every workload of the namespace.
  std::function<std::vector<Object>(const kube::Resource& kind, const std::string& ns,
                                    const std::vector<std::string>& secrets)>
      workload_consumers;
  // The resourceVersion a cache holds for a key ("namespace/name"; "" when absent) without decoding
  // the object: an unchanged resync compares them. Unset: every reconcile reads everything.
  std::function<std::string(const std::string& key)> infisical_secret_version;
  std::function<std::string(const std::string& key)> managed_secret_version;
  std::function<std::string()> global_config_version;
};

struct ReconcilerOptions {
  std::string operator_namespace = "infisical-operator-system";
  std::string identity = "infisical-syncer";  // reportingInstance of events
  int infisical_requests_per_minute = 240;
  uint64_t jitter_seed = 0;  // 0: random
  // The trust boundary (DESIGN.md section 8), enforced on every reconcile before anything is read,
  // minted, sent or written. The default is the product default: grants, opt-in, the default hosts.
  core::TrustPolicy trust;
};

class Reconciler {
 public:
  Reconciler(kube::Api& kube, SecretSource& source, Metrics& metrics, core::Clock& clock, CacheLookups caches,
             ReconcilerOptions options, std::shared_ptr<spdlog::logger> log);

  // The HMAC key for per-key digests; must be set before the first reconcile. During a rotation,
  // `previous` is the key that was current before: workloads stamped under it roll nothing, and the
  // status publishes the digests under it too (docs/security.md#rotating-the-digest-key). May be called
  // again at any time (the key Secret changed); the next reconciles write under the new key.
  void set_digest_key(std::string key, std::optional<std::string> previous = std::nullopt);

  ReconcileOutcome reconcile(const std::string& key);

  // Start-up warm-up: has the scope of this InfisicalSecret fetched now, when the resource passes every
  // check its reconcile makes before the fetch (spec, trust boundary, request), and writes nothing: no
  // Secret, status, Event or metric of its own. Returns true when the scope was not held and the
  // fetcher was asked for it (it may have been throttled or have failed; the reconcile will say so).
  bool warm_scope(const std::string& key);

  // The InfisicalSecrets ("ns/name") that write the given Secret, as learnt by earlier reconciles.
  std::vector<std::string> owners_of_secret(const std::string& ns, const std::string& name) const;
  // Every InfisicalSecret key seen (for a global-config change).
  std::vector<std::string> known_keys() const;
  // True when an added or modified event of a managed Secret needs no owner brought back now: it is
  // the echo of this reconciler's own write (the first sync of N resources would otherwise reconcile
  // each twice), or it arrived while the Secret is being written and is held until the write's answer
  // tells whether it was the echo. Changes of anyone else bring the owners back through `requeue`.
  bool absorbs_secret_event(const std::string& ns, const std::string& name,
                            const std::string& resource_version);
  // How owners are brought back when a change held during a write was someone else's.
  void set_requeue(std::function<void(const std::string& key)> requeue);

  // The longest a failed key may wait before its retry: its own resync interval (a failure must not
  // delay a resource longer than a resync would; the work queue's backoff is capped by this).
  std::chrono::milliseconds retry_cap(const std::string& key) const;

  // Start-up: checks every opted-in workload in these namespaces ("" = all) that consumes a managed
  // Secret. One whose hash (template hash, else baseline) is wrong is rolled (a change made while no
  // syncer ran); one with neither gets a baseline when every Secret it consumes is a managed Secret
  // that exists (core::decide_rollout); the others are not touched.
  RolloutCounts check_all_workloads(const std::vector<std::string>& namespaces);

  // Drops the in-memory data of every scope (as after a restart); for tests.
  void forget_scope_data();

 private:
  // The validation of one spec generation, with its templates parsed. Validating and parsing cost
  // about as much as rendering (bench/template), so they run once per generation (a spec change bumps
  // it), not at every reconcile.
  struct CheckedSpec {
    std::string uid;
    int64_t generation = 0;
    bool ok = false;
    std::string message;  // "invalid spec: ..." unless ok
    std::vector<std::optional<core::CompiledTemplate>> templates;  // per target, in targets() order
    std::vector<std::optional<core::CompiledTemplate>>
        config_map_templates;  // per config_map_targets() entry
  };
  // What every resource of one scope reading the same referenced Secrets shares in its Unchanged
  // record, kept once (10,000 resources over 100 scopes hold 100 of these).
  struct UnchangedContext {
    std::string scope_key;
    std::chrono::seconds resync{0};
    std::vector<std::string> secrets_read;  // credentials and CA Secrets, for RequestBuilder::refresh
    TrustReads trust_reads;
    // Versions of what every resource depends on: the global ConfigMap, the digest keys, the
    // referenced Secrets and trust inputs read again since.
    std::string config_version;
    uint64_t digest_keys_version = 0, requests_generation = 0, trust_generation = 0;
  };
  // What the last reconcile of a resource that ended synced depended on, each as it was left: the next
  // reconcile that finds all of it unchanged would write nothing, so it only requeues. An idle
  // resync then costs a few map lookups instead of inflating, parsing and digesting the resource and
  // its Secrets (bench/syncer-scale: 10,000 resources, 100 scopes answering 304).
  struct Unchanged {
    std::shared_ptr<const UnchangedContext> context;
    // The InfisicalSecret's version after our status write if there was one, and the version before
    // it: until the watch brings the write back, the cache still shows that one. It is ours, so it is
    // unchanged too (versions only move forward, so the cache never shows it again once past it).
    // One string, "after" or "after before": 10,000 records pay no more than for one version.
    std::string versions;
    bool version_matches(const std::string& cached) const;
    std::vector<std::pair<std::string, std::string>> secrets;  // "ns/name" -> resourceVersion, per target
    uint64_t data_version = 0;                                 // the scope data synced
  };

  // One target of a resource with the data it is to hold.
  struct PlannedWrite {
    const ManagedKind* kind;
    ManagedTarget target;
    std::optional<std::map<std::string, std::string>> rendered;  // by its template; nullopt: the fetched values
  };
  // What writing a resource's targets did.
  struct TargetWrites {
    std::optional<core::SyncFailure> failure;  // the first target that could not be written
    bool conflict = false;                     // a write met 409 Conflict: retried with backoff
    bool any_written = false;
    FreshSecrets fresh;      // the Secrets as they are now
    WrittenSecrets written;  // the Secrets written, for rollouts
    // Every managed Secret's digests as it is now, in target order: status.managedKeyDigests.
    std::vector<core::ManagedKeyDigests> key_digests;
  };

  // From the cache when uid and generation match (a generation of 0, never set by an API server, is
  // never cached).
  std::shared_ptr<const CheckedSpec> checked_spec(const std::string& key, const core::JsonValue& cr,
                                                  const core::InfisicalSecret& model);
  // Removes the upstream operator's finalizer when the resource carries it.
  void drop_upstream_finalizer(const core::JsonValue& cr, const std::string& ns, const std::string& name);
  // The trust boundary for this resource: a failure (the first refusal's reason, every refusal listed)
  // when anything it refers to, the host or the token it would mint is not admitted.
  // `count_refusals`: count a refusal in infisical_syncer_trust_refusals_total (not for the warm-up's
  // check ahead of the reconcile's own).
  std::optional<core::SyncFailure> check_trust(const core::InfisicalSecret& model,
                                               TrustReads* reads = nullptr, bool count_refusals = true);
  // Whether InfisicalSecret ns/name exists with this UID (the owner a managed object is bound to).
  bool owner_alive(const std::string& ns, const std::string& name, const std::string& uid);
  // Every target (Secrets, then ConfigMaps) into `plan` with its data: rendered by its template (a
  // template that fails is TemplateFailed, naming the entry), else the fetched `values`; then the API
  // server's limits on that data (DataNotStorable).
  std::optional<core::SyncFailure> plan_writes(const CheckedSpec& checked, const core::InfisicalSecret& model,
                                               const std::map<std::string, std::string>& values,
                                               const std::string& secrets_path, std::chrono::sys_seconds now,
                                               std::vector<PlannedWrite>& plan);
  // Writes the planned targets in order, stopping at the first that cannot be written.
  TargetWrites write_targets(const core::InfisicalSecret& model, const std::vector<PlannedWrite>& plan,
                             const std::map<std::string, std::string>& values);
  // Status, Event and requeue of a failed fetch: back when the scope may be asked again.
  ReconcileOutcome fetch_failed(const Object& cr, const core::InfisicalSecret& model, const ScopeFailed& failed);
  // Writes what core::decide_status says (Event, status patch) and says when to come back.
  // `cr_version`, when given, becomes the resourceVersion the status write left (unchanged without one).
  ReconcileOutcome finish(const Object& cr, const core::InfisicalSecret& model,
                          const core::SyncReport& report, std::string* cr_version = nullptr);
  ReconcileOutcome outcome_of(const core::Requeue& requeue, std::string result);
  // A random part of `interval`, uniform between the shares lo and hi.
  std::chrono::milliseconds random_part(std::chrono::seconds interval, double lo, double hi);
  // The requeue of a resource whose Unchanged record still holds; nullopt: reconcile it.
  std::optional<ReconcileOutcome> unchanged_resync(const std::string& key);
  // Records what a reconcile that ended synced depended on (nothing when a part of it cannot be
  // compared without reading: templates, which may read the time, or ConfigMap targets, not watched).
  void remember_unchanged(const std::string& key, const std::string& version_before,
                          const std::string& cr_version, const core::InfisicalSecret& model,
                          UnchangedContext context, const FreshSecrets& fresh, uint64_t data_version);
  // The next sync of a resource whose scope data was confirmed at `fetched_at`.
  std::chrono::milliseconds next_sync(core::Clock::time_point fetched_at, std::chrono::seconds resync);
  core::DigestKeys digest_keys() const;
  Object global_config() const;

  kube::Api& kube_;
  Metrics& metrics_;
  core::Clock& clock_;
  CacheLookups caches_;
  ReconcilerOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  TrustInputsReader trust_inputs_;
  EventWriter events_;
  ManagedIndex index_;
  RequestBuilder requests_;
  ScopeFetcher fetcher_;
  ManagedWriter writer_;
  Rollouts rollouts_;

  mutable std::mutex mu_;
  core::DigestKeys digest_keys_;
  std::map<std::string, std::shared_ptr<const CheckedSpec>>
      checked_specs_;  // CR key -> its current generation
  uint64_t digest_keys_version_ = 0;
  std::mutex unchanged_mu_;
  std::map<std::string, Unchanged> unchanged_;  // CR key -> its record
  // Shared contexts by their scope key and reads; an entry whose context no record holds is replaced.
  std::map<std::string, std::weak_ptr<const UnchangedContext>> contexts_;
  std::mt19937_64 rng_;
};

}  // namespace ifo::syncer
