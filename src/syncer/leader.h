// The syncer's leader election: kube::LeaderElector (src/kube/leader_election.h) behind the blocking
// calls the controller makes (wait to lead, lead until told to stop or the Lease is lost, release).
// The election rules live in kube; the Lease writes name the syncer as field manager.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "kube/api.h"
#include "core/clock.h"
#include "kube/leader_election.h"

namespace ifo::syncer {

class LeaderElector {
 public:
  // `election` names the Lease and this replica and sets the durations; its callbacks, clock, logger
  // and acquire jitter are set here. Throws std::invalid_argument when the durations are inconsistent
  // (see kube::LeaderElector).
  LeaderElector(kube::Api& kube, core::Clock& clock, kube::LeaderElectionConfig election,
                std::shared_ptr<spdlog::logger> log);
  // Stops the election; releases the Lease if still held.
  ~LeaderElector();

  // Blocks until this replica holds the lease (true) or stop becomes true (false; the election is
  // then over). Renewing runs in the background from here on, until release().
  bool acquire(const std::atomic<bool>& stop);
  // Blocks while leading: returns when stop is set (true; the Lease is still held and renewed, so
  // the work can finish before release()) or when the Lease was lost (false).
  bool hold(const std::atomic<bool>& stop);
  // Gives the Lease up (holder emptied), so a standby takes over without waiting for expiry.
  void release();

 private:
  enum class State { kWaiting, kLeading, kStopped };
  // Waits until the state leaves `from` or stop is set; returns the state.
  State wait_while(State from, const std::atomic<bool>& stop);
  void set_state(State s);

  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kWaiting;
  std::unique_ptr<kube::LeaderElector> elector_;
};

}  // namespace ifo::syncer
