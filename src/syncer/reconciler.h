// reconcile(namespace/name): level-based, idempotent sync of one InfisicalSecret into its managed
// Secrets, with drift repair, precise rollouts of consuming workloads, status and events.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/consumed_keys.h"
#include "core/digest.h"
#include "core/infisical_secret.h"
#include "core/rendered_secret.h"
#include "core/rollout.h"
#include "core/trust_policy.h"
#include "kube/clock.h"
#include "kube/rate_limiter.h"
#include "syncer/kube_api.h"
#include "syncer/metrics.h"
#include "syncer/secret_source.h"
#include "syncer/trust_inputs.h"

namespace ifo::syncer {

// What the worker loop does with the key after a reconcile.
struct ReconcileOutcome {
  enum class Next { kForget, kRequeueAfter, kBackoff };
  Next next = Next::kForget;
  std::chrono::milliseconds after{0};  // kRequeueAfter
  std::string result;  // metric label: synced, unchanged, invalid, refused, error, conflict, deleted, throttled
};

// What a look at opted-in workloads did (core/rollout.h): rollouts (the pod template's hash written, a
// new revision) and baselines recorded (workload metadata only, no new revision).
struct RolloutCounts {
  int rolled = 0;
  int baselined = 0;
};

// Reads from the watch caches (informer stores); each returns nullptr when the object is not cached.
struct CacheLookups {
  std::function<Object(const std::string& ns, const std::string& name)> infisical_secret;
  std::function<Object(const std::string& ns, const std::string& name)> managed_secret;  // labelled Secrets only
  std::function<Object()> global_config;  // the infisical-config ConfigMap
  // Opted-in workloads of one kind in a namespace ("" = all), as the workload caches keep them (only
  // the fields a rollout needs). Unset: the reconciler lists them from the API server.
  std::function<std::vector<Object>(const kube::Resource& kind, const std::string& ns)> workloads;
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
  Reconciler(KubeApi& kube, SecretSource& source, Metrics& metrics, kube::Clock& clock, CacheLookups caches,
             ReconcilerOptions options, std::shared_ptr<spdlog::logger> log);

  // The HMAC key for per-key digests; must be set before the first reconcile.
  void set_digest_key(std::string key);

  ReconcileOutcome reconcile(const std::string& key);

  // The InfisicalSecrets ("ns/name") that write the given Secret, as learnt by earlier reconciles.
  std::vector<std::string> owners_of_secret(const std::string& ns, const std::string& name) const;
  // Every InfisicalSecret key seen (for a global-config change).
  std::vector<std::string> known_keys() const;
  // True when this Secret version (resourceVersion) is the one this reconciler just wrote, i.e. its
  // watch event is only the echo of our own write and need not bring the owners back (the first sync
  // of N resources would otherwise reconcile each twice). Each written version is answered once.
  bool is_own_write(const std::string& ns, const std::string& name, const std::string& resource_version);

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
  struct ScopeEntry {
    std::mutex mu;  // one fetch per scope at a time
    // The last failure of this scope: until retry_at every resource reading the scope gets it again
    // without asking Infisical, so a failing scope costs one request per backoff step however many
    // resources read it (backoff doubles from 500 ms up to the resync interval; Retry-After wins).
    std::exception_ptr failure;
    int failures = 0;
    kube::Clock::time_point retry_at{};
    bool has_data = false;
    std::map<std::string, std::string> values;
    std::string etag;
    kube::Clock::time_point fetched_at{};
    std::optional<kube::Clock::time_point> reserved_slot;  // a budget slot this scope holds
  };
  struct Failure {
    std::string reason;
    std::string message;
    std::optional<std::chrono::seconds> retry_after;
    bool auth = false;     // LoadedInfisicalToken is false too
    bool refused = false;  // by the trust boundary: retried at the resync interval (a grant may appear)
  };
  struct Fetched {
    std::map<std::string, std::string> values;
    bool fetched_now = false;
    kube::Clock::time_point fetched_at{};  // when the scope's data was last confirmed by Infisical
  };
  struct CachedSecret {
    std::map<std::string, std::string> data;
    kube::Clock::time_point read_at{};
  };
  struct SecretWrite {
    bool written = false;
    bool data_changed = false;
    Object secret;  // the managed Secret as it is now
    std::optional<core::KeyDigests> previous;  // the digests of its data before; nullopt when it was created
  };
  // A managed Secret whose consumers are to be looked at: whether its data changed, and the digests of
  // the data it had before (nullopt: it did not exist, so no pod can have started with other values).
  struct WrittenSecret {
    bool data_changed = false;
    std::optional<core::KeyDigests> previous;
  };

  ReconcileOutcome finish(const Object& cr, const core::InfisicalSecret& model, std::vector<core::Condition> conditions,
                          const std::optional<Failure>& failure, int synced_keys, bool synced_now,
                          const std::vector<std::string>& managed,
                          std::optional<std::chrono::milliseconds> next_sync = std::nullopt);
  // The data of a Secret that a spec references (credentials, CA), read at most every
  // kReferencedSecretTtl per Secret: N resources over I credentials cost I reads, not N. Throws
  // kube::ApiError (not found is never cached).
  std::map<std::string, std::string> referenced_secret_data(const std::string& ns, const std::string& name);
  std::vector<Object> workloads_of(const kube::Resource& kind, const std::string& ns);
  // The trust boundary for this resource: a failure (the first refusal's reason, every refusal listed)
  // when anything it refers to, the host or the token it would mint is not admitted.
  std::optional<Failure> check_trust(const core::InfisicalSecret& model);
  // Whether InfisicalSecret ns/name exists with this UID (the owner a managed Secret is bound to).
  bool owner_alive(const std::string& ns, const std::string& name, const std::string& uid);
  std::optional<Failure> build_request(const core::InfisicalSecret& model, SourceRequest& req, std::string& identity_key);
  struct Throttled {
    std::chrono::milliseconds after;
  };
  // Throws Throttled when the Infisical request budget has no slot now, infisical::ApiError on failure.
  // On failure, *retry_at is when the scope may be asked again (the resource is requeued for then).
  Fetched fetch_scope(const SourceRequest& req, const std::string& scope_key, std::chrono::seconds resync,
                      kube::Clock::time_point* retry_at);
  // The validation of one spec generation, with its templates parsed. Validating and parsing cost
  // about as much as rendering (bench/template), so they run once per generation (a spec change bumps
  // it), not at every reconcile.
  struct CheckedSpec {
    std::string uid;
    int64_t generation = 0;
    bool ok = false;
    std::string message;  // "invalid spec: ..." unless ok
    std::vector<std::optional<core::CompiledTemplate>> templates;  // per target, in targets() order
    std::vector<std::optional<core::CompiledTemplate>> config_map_templates;  // per config_map_targets() entry
  };
  // From the cache when uid and generation match (a generation of 0, never set by an API server, is
  // never cached).
  std::shared_ptr<const CheckedSpec> checked_spec(const std::string& key, const core::JsonValue& cr,
                                                  const core::InfisicalSecret& model);
  // Renders the data of every target that has a template into out[i] (the others get the fetched
  // values as they are). A template that fails is a TemplateFailed failure naming the entry.
  std::optional<Failure> render_targets(const std::vector<std::optional<core::CompiledTemplate>>& templates,
                                        const std::map<std::string, std::string>& values,
                                        const std::string& secrets_path, std::chrono::sys_seconds now,
                                        std::vector<std::map<std::string, std::string>>& out);
  SecretWrite write_managed_secret(const core::InfisicalSecret& model,
                                   const core::ManagedSecretTarget& target,
                                   const std::map<std::string, std::string>& values, std::optional<Failure>& failure,
                                   bool fresh_read = false);
  // Rolls or baselines (core::decide_rollout) the opted-in workloads of `ns` that consume a Secret of
  // `written` (name -> what the write did); `fresh` holds the Secrets as just written.
  RolloutCounts roll_consumers(const std::string& ns, const std::map<std::string, WrittenSecret>& written,
                               const std::map<std::string, Object>& fresh, const Object& cr);
  // The key digests of the managed Secrets among `consumed`: just written ones (`fresh`) first, else
  // the watch cache, else (`read_missing`) the API server. Secrets we do not manage are left out
  // (missing, as the webhook's cache sees them).
  std::map<std::string, core::KeyDigests> consumed_digests(const std::string& ns,
                                                           const std::vector<core::ConsumedKey>& consumed,
                                                           const std::map<std::string, Object>& fresh,
                                                           bool read_missing);
  // Writes what `action` says on one workload (core::roll_patch or baseline_patch) and counts it;
  // false when the workload is gone.
  bool apply_rollout(const kube::Resource& kind, const std::string& ns, const std::string& name,
                     core::RolloutAction action, core::RolloutCause cause, const std::string& hash,
                     const core::RolloutMarks& marks, RolloutCounts& counts);
  // Removes the upstream operator's finalizer when the resource carries it; true when it did.
  bool drop_upstream_finalizer(const core::JsonValue& cr, const std::string& ns, const std::string& name);
  void remember_own_write(const std::string& ns, const std::string& name, const Object& written);
  void record_event(const Object& cr, std::string_view type, std::string_view reason, const std::string& message);
  std::chrono::milliseconds jittered(std::chrono::seconds interval);
  std::chrono::milliseconds spread(std::chrono::seconds interval);  // uniform in [0, 10%] of interval
  std::string digest_key() const;

  KubeApi& kube_;
  SecretSource& source_;
  Metrics& metrics_;
  kube::Clock& clock_;
  CacheLookups caches_;
  ReconcilerOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  kube::TokenBucket budget_;
  TrustInputsReader trust_inputs_;

  mutable std::mutex mu_;
  std::string digest_key_;
  std::map<std::string, std::shared_ptr<ScopeEntry>> scopes_;
  std::map<std::string, std::set<std::string>> secret_owners_;  // "ns/secret" -> CR keys
  std::map<std::string, std::vector<std::string>> cr_targets_;   // CR key -> "ns/secret"
  // CR key -> namespace -> Secrets written but whose consumers may not all be rolled or baselined yet
  // (a failed workload patch): the next reconcile looks at them again even though nothing is written
  // then, deciding with the data they had before the first write.
  std::map<std::string, std::map<std::string, std::map<std::string, WrittenSecret>>> pending_rollouts_;
  std::map<std::string, CachedSecret> referenced_secrets_;        // "ns/name" -> data
  std::map<std::string, std::shared_ptr<const CheckedSpec>> checked_specs_;  // CR key -> its current generation
  // "ns/name" -> resourceVersion of our last write of that managed Secret whose watch event has not
  // been seen yet (at most one entry per Secret).
  std::unordered_map<std::string, std::string> own_writes_;
  std::mt19937_64 rng_;
};

}  // namespace ifo::syncer
