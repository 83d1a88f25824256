// The syncer's leader election over kube::LeaderElector.
#include "syncer/leader.h"

#include "kube/errors.h"
#include "kube/meta.h"

namespace ifo::syncer {

namespace {
// How often a wait re-reads the caller's stop flag, which nobody notifies.
constexpr std::chrono::milliseconds kStopPoll{50};
}  // namespace

// The elector's Lease calls through KubeApi (the writes name the syncer as field manager).
class LeaderElector::Leases final : public kube::LeaseClient {
 public:
  explicit Leases(KubeApi& kube) : kube_(kube) {}
  Object get(const std::string& ns, const std::string& name) override {
    try {
      return kube_.get(kube::kLeases, ns, name);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) return nullptr;
      throw;
    }
  }
  Object create(const std::string& ns, const core::JsonValue& lease) override {
    return kube_.create(kube::kLeases, ns, lease);
  }
  Object update(const std::string& ns, const core::JsonValue& lease) override {
    return kube_.update(kube::kLeases, ns, kube::meta_name(lease), lease);
  }

 private:
  KubeApi& kube_;
};

LeaderElector::LeaderElector(KubeApi& kube, kube::Clock& clock, kube::LeaderElectionConfig c,
                             std::shared_ptr<spdlog::logger> log)
    : leases_(std::make_unique<Leases>(kube)) {
  // Standbys poll every --leader-elect-retry-period, as documented: a replica killed without
  // releasing is replaced within the lease duration plus two retry periods.
  c.acquire_jitter = 0;
  c.clock = &clock;
  c.on_started_leading = [this] { set_state(State::kLeading); };
  c.on_stopped_leading = [this] { set_state(State::kStopped); };
  c.on_new_leader = [this, log, lease = c.namespace_ + "/" + c.name, identity = c.identity](const std::string& holder) {
    if (!elector_->is_leader())
      log->info("waiting for the leader lease lease={} identity={} holder={}", lease, identity, holder);
  };
  c.logger = std::move(log);
  elector_ = std::make_unique<kube::LeaderElector>(*leases_, std::move(c));
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
