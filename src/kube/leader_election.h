// Lease-based leader election (coordination.k8s.io/v1), with client-go's leaderelection semantics.
//
//  - A candidate reads the Lease; it may take it when it does not exist, when holderIdentity is
//    empty (released), or when the holder has not renewed for leaseDurationSeconds as seen on this
//    candidate's own monotonic clock since it last saw the record change (clock skew between
//    machines does not matter). Taking over increments leaseTransitions and sets acquireTime.
//  - Writes are optimistic: the update carries the resourceVersion read, so of two candidates only
//    one wins (the other gets 409 and stays a follower).
//  - The leader renews every retry_period; if it cannot renew for renew_deadline it stops leading
//    (on_stopped_leading) - it must then stop acting as leader at once. It stops at once, without
//    waiting for the deadline, when a renewal finds another candidate holding the Lease (client-go
//    keeps retrying until the deadline; two leaders for that long is what election is meant to prevent).
//  - stop() while leading releases the Lease by clearing holderIdentity (ReleaseOnCancel), so a
//    successor takes over without waiting for the lease to expire.
//
// Callbacks run on the elector's thread and must not block: start or stop workers and return.
// renew_deadline must be below lease_duration, and retry_period below renew_deadline.
//
// The Lease is read and written through a kube::Api (the process's Client, or a test's fake).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include <spdlog/logger.h>

#include "kube/api.h"
#include "kube/clock.h"

namespace ifo::kube {

struct LeaderElectionConfig {
  std::string namespace_;
  std::string name;      // the Lease's name
  std::string identity;  // unique per process, e.g. hostname + "_" + a random suffix
  std::string field_manager;  // of the Lease writes; "" names none
  Clock::duration lease_duration = std::chrono::seconds(15);
  Clock::duration renew_deadline = std::chrono::seconds(10);
  Clock::duration retry_period = std::chrono::seconds(2);
  // A candidate that does not hold the Lease retries every retry_period plus up to this fraction of
  // it at random (client-go's JitterFactor, 1.2), so that standbys do not poll together. 0 makes
  // standbys poll every retry_period exactly, the fastest take-over after a crash.
  double acquire_jitter = 1.2;
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;  // another holder was observed
  Clock* clock = nullptr;
  std::shared_ptr<spdlog::logger> logger;
};

class LeaderElector {
 public:
  // `api` must outlive the elector. Throws std::invalid_argument when the durations or names are
  // inconsistent.
  LeaderElector(Api& api, LeaderElectionConfig config);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Runs the election on a background thread until stop() or until leadership is lost once
  // (then the thread ends; as in client-go, a process normally exits when it loses the lease).
  void start();
  // Stops; releases the Lease when leading, then calls on_stopped_leading. Idempotent.
  void stop();

  bool is_leader() const { return leading_.load(); }
  // The holder last observed ("" if none).
  std::string observed_leader() const;
  // Blocks the calling thread running the election (what start() runs).
  void run();

 private:
  enum class Attempt {
    kHolding,      // this candidate holds the Lease (acquired or renewed)
    kHeldByOther,  // another candidate holds a Lease that has not expired
    kFailed,       // an error, or a write that lost a race (409): try again
  };
  Attempt try_acquire_or_renew();
  // try_acquire_or_renew with its errors logged (as kFailed).
  Attempt attempt();
  void release();
  bool wait_stopped_for(Clock::duration d);

  // The Lease as it is now, or nullptr when it does not exist.
  std::shared_ptr<const core::JsonDoc> read_lease();
  ObjectPtr write_lease(const core::JsonValue& lease, bool create);

  Api& api_;
  LeaderElectionConfig config_;
  Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> leading_{false};
  // What this candidate last saw, and when (monotonic) it last changed.
  std::string observed_holder_;
  std::string observed_renew_time_;
  std::string observed_rv_;
  Clock::time_point observed_at_{};
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace ifo::kube
