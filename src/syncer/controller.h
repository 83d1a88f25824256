// The syncer process body: leader election, informers -> work queue -> workers -> reconcile,
// start-up workload check, graceful shutdown (in-flight reconciles finish, the Lease is released).
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/digest.h"
#include "kube/api.h"
#include "kube/client.h"
#include "core/clock.h"
#include "kube/informer.h"
#include "kube/work_queue.h"
#include "syncer/config.h"
#include "syncer/consumer_index.h"
#include "syncer/leader.h"
#include "syncer/metrics.h"
#include "syncer/object_fields.h"
#include "syncer/reconciler.h"
#include "syncer/secret_source.h"

namespace ifo::syncer {

class Controller {
 public:
  Controller(Config config, kube::Client& client, kube::Api& api, SecretSource& source, Metrics& metrics,
             core::Clock& clock, std::shared_ptr<spdlog::logger> log);
  ~Controller();

  // Runs until stop becomes true (returns 0) or leadership is lost (returns 1).
  int run(const std::atomic<bool>& stop);

  bool healthy() const { return !failed_.load(); }
  // The leader: every informer has synced. A standby waiting for the lease is ready too (it is
  // healthy and can take over); readiness must not depend on who leads.
  bool ready() const { return leading_.load() ? ready_.load() : !failed_.load(); }
  bool leading() const { return leading_.load(); }

  Reconciler& reconciler() { return *reconciler_; }

 private:
  bool ensure_digest_key(const std::atomic<bool>& stop);
  // The resourceVersion the first of `caches` holding `key` keeps, without decoding ("" if none does).
  std::string resource_version(const std::vector<std::unique_ptr<kube::Informer>>& caches,
                               const std::string& key) const;
  // Keys read from the key Secret (at start or from its watch). A change is handed to the reconciler,
  // every resource is requeued (their Secrets' digests and status are rewritten under the new key,
  // data unchanged: nothing rolls) and a full workload check is queued (its log line and metric say
  // how many workloads are still stamped under the previous key).
  void apply_digest_keys(const core::JsonValue& secret, bool at_start);
  // Runs the full workload check (at start, and queued after a key change) and reports it.
  void check_workloads(std::string_view when);
  // An informer over one resource in one namespace ("" = all), not started.
  std::unique_ptr<kube::Informer> make_informer(const kube::Resource& resource, const std::string& ns,
                                                std::string label_selector = "", std::string field_selector = "");
  void start_caches();
  // Every informer, for what is done to all of them.
  std::vector<kube::Informer*> all_caches() const;
  // The caches of one workload kind (one per watched namespace).
  std::vector<const kube::Informer*> workload_caches_of(const kube::Resource& kind) const;
  void stop_caches();
  bool wait_synced(const std::atomic<bool>& stop);
  // The per-reconcile metrics, under our names and controller-runtime's.
  void record_reconcile(const std::string& key, const ReconcileOutcome& out, double seconds);
  void worker();
  // The first sync after a start: asks Infisical for the scopes the workers are about to need, beside
  // them, on threads of their own that end when done (the why is at its definition).
  void start_warm_up(const std::atomic<bool>& stop);
  Object lookup(const std::vector<std::unique_ptr<kube::Informer>>& caches, const std::string& ns,
                const std::string& name) const;

  Config config_;
  kube::Client& client_;
  kube::Api& api_;
  SecretSource& source_;
  Metrics& metrics_;
  core::Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  kube::WorkQueue queue_;
  std::unique_ptr<Reconciler> reconciler_;
  std::vector<std::unique_ptr<kube::Informer>> cr_caches_;
  std::vector<std::unique_ptr<kube::Informer>> secret_caches_;
  std::unique_ptr<kube::Informer> config_cache_;
  // The digest key Secret (infisical-operator-digest-key): a rotation is picked up without a restart.
  std::unique_ptr<kube::Informer> key_cache_;
  std::mutex keys_mu_;
  std::optional<core::DigestKeys> keys_;
  // Opted-in Deployments, StatefulSets and DaemonSets, kept as only what a rollout needs.
  std::vector<std::unique_ptr<kube::Informer>> workload_caches_;
  ConsumerIndex consumers_;  // of the workloads the workload caches keep
  std::vector<std::thread> workers_;
  std::vector<std::thread> warm_up_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> leading_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int> active_workers_{0};
};

// The leader-election identity when none is configured: host name + pid.
std::string default_identity();

}  // namespace ifo::syncer
