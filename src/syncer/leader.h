// Lease-based leader election (coordination.k8s.io/v1), with client-go's rules: a lease is free when
// its holder is empty or it was not renewed for leaseDurationSeconds as observed on our own clock;
// the leader renews every retry period and gives up when it could not renew within the renew deadline;
// release() empties the holder so a successor need not wait for expiry.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "kube/clock.h"
#include "syncer/kube_api.h"

namespace ifo::syncer {

struct LeaseOptions {
  std::string namespace_;
  std::string name;
  std::string identity;
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
};

class LeaderElector {
 public:
  LeaderElector(KubeApi& kube, kube::Clock& clock, LeaseOptions options, std::shared_ptr<spdlog::logger> log);

  // Blocks until this replica holds the lease (true) or stop becomes true (false).
  bool acquire(const std::atomic<bool>& stop);
  // One renewal attempt; false when the lease is held by someone else now.
  bool try_renew();
  // Blocks while leading: renews every retry period; returns when stop is set (true) or the lease was
  // lost / not renewed within the renew deadline (false).
  bool hold(const std::atomic<bool>& stop);
  // Gives the lease up (holder emptied), best effort.
  void release();

 private:
  enum class Attempt { kAcquired, kHeldByOther, kError };
  Attempt try_acquire_or_renew();

  KubeApi& kube_;
  kube::Clock& clock_;
  LeaseOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::string observed_record_;
  kube::Clock::time_point observed_at_{};
  kube::Clock::time_point last_renew_{};
  bool leading_ = false;
};

}  // namespace ifo::syncer
