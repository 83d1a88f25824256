// The syncer's leader election over kube::LeaderElector.
#include "syncer/leader.h"

#include "core/constants.h"

namespace ifo::syncer {

namespace {
// How often a wait re-reads the caller's stop flag, which nobody notifies.
constexpr std::chrono::milliseconds kStopPoll{50};
}  // namespace

LeaderElector::LeaderElector(kube::Api& kube, core::Clock& clock, kube::LeaderElectionConfig c,
                             std::shared_ptr<spdlog::logger> log) {
  // Standbys poll every --leader-elect-retry-period, as documented: a replica killed without
  // releasing is replaced within the lease duration plus two retry periods.
  c.acquire_jitter = 0;
  c.field_manager = std::string(core::kSyncerFieldManager);
  c.clock = &clock;
  c.on_started_leading = [this] { set_state(State::kLeading); };
  c.on_stopped_leading = [this] { set_state(State::kStopped); };
  c.on_new_leader = [this, log, lease = c.namespace_ + "/" + c.name, identity = c.identity](const std::string& holder) {
    if (!elector_->is_leader())
      log->info("waiting for the leader lease lease={} identity={} holder={}", lease, identity, holder);
  };
  c.logger = std::move(log);
  elector_ = std::make_unique<kube::LeaderElector>(kube, std::move(c));
}

LeaderElector::~LeaderElector() {
  elector_->stop();
}

void LeaderElector::set_state(State s) {
  {
    std::lock_guard lock(mu_);
    state_ = s;
  }
  cv_.notify_all();
}

LeaderElector::State LeaderElector::wait_while(State from, const std::atomic<bool>& stop) {
  std::unique_lock lock(mu_);
  while (state_ == from && !stop.load()) cv_.wait_for(lock, kStopPoll);
  return state_;
}

bool LeaderElector::acquire(const std::atomic<bool>& stop) {
  elector_->start();
  // Led, even if already lost again: hold() then returns false at once.
  if (wait_while(State::kWaiting, stop) != State::kWaiting) return true;
  elector_->stop();  // told to stop first: end the election (releasing a Lease won just now)
  return false;
}

bool LeaderElector::hold(const std::atomic<bool>& stop) {
  return wait_while(State::kLeading, stop) == State::kLeading;
}

void LeaderElector::release() {
  elector_->stop();
}

}  // namespace ifo::syncer
