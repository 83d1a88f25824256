// Lease leader election: acquire, renew, release.
#include "kube/leader_election.h"

#include <fmt/format.h>

#include <stdexcept>

#include "kube/meta.h"

namespace ifo::kube {

namespace {
int64_t whole_seconds(Clock::duration d) {
  return std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count());
}
}  // namespace

LeaderElector::LeaderElector(Client& client, LeaderElectionConfig config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock != nullptr ? *config_.clock : real_clock()),
      log_(config_.logger ? config_.logger : default_logger()) {
  if (config_.name.empty() || config_.namespace_.empty() || config_.identity.empty())
    throw std::invalid_argument("leader election: namespace, name and identity are required");
  if (config_.lease_duration <= config_.renew_deadline)
    throw std::invalid_argument("leader election: lease duration must be greater than the renew deadline");
  if (config_.renew_deadline <= config_.retry_period)
    throw std::invalid_argument("leader election: renew deadline must be greater than the retry period");
}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string LeaderElector::observed_leader() const {
  std::lock_guard lock(mu_);
  return observed_holder_;
}

bool LeaderElector::wait_stopped_for(Clock::duration d) {
  std::unique_lock lock(mu_);
  const auto deadline = clock_.now() + d;
  while (!stop_ && clock_.now() < deadline) clock_.wait_until(cv_, lock, deadline);
  return stop_;
}

bool LeaderElector::try_acquire_or_renew() {
  const auto now = clock_.now();
  const std::string now_text = format_micro_time(clock_.wall_now());
  ObjectPtr lease;
  try {
    lease = client_.get(kLeases, config_.namespace_, config_.name);
  } catch (const ApiError& e) {
    if (!e.is_not_found()) throw;
  }
  if (!lease) {
    core::JsonDoc obj(rapidjson::kObjectType);
    auto& a = obj.GetAllocator();
    core::set_string(obj, "apiVersion", "coordination.k8s.io/v1", a);
    core::set_string(obj, "kind", "Lease", a);
    auto& md = core::ensure_object(obj, "metadata", a);
    core::set_string(md, "name", config_.name, a);
    core::set_string(md, "namespace", config_.namespace_, a);
    auto& spec = core::ensure_object(obj, "spec", a);
    core::set_string(spec, "holderIdentity", config_.identity, a);
    core::set_member(spec, "leaseDurationSeconds", core::JsonValue(whole_seconds(config_.lease_duration)), a);
    core::set_string(spec, "acquireTime", now_text, a);
    core::set_string(spec, "renewTime", now_text, a);
    core::set_member(spec, "leaseTransitions", core::JsonValue(0), a);
    try {
      auto created = client_.create(kLeases, config_.namespace_, obj);
      std::lock_guard lock(mu_);
      observed_holder_ = config_.identity;
      observed_renew_time_ = now_text;
      observed_rv_ = created ? meta_resource_version(*created) : std::string();
      observed_at_ = now;
      return true;
    } catch (const ApiError& e) {
      if (e.is_already_exists() || e.is_conflict()) return false;  // another candidate was faster
      throw;
    }
  }

  const core::JsonValue* spec = core::member(*lease, "spec");
  static const core::JsonValue kEmpty(rapidjson::kObjectType);
  if (spec == nullptr || !spec->IsObject()) spec = &kEmpty;
  const std::string holder = core::string_or(*spec, "holderIdentity", "");
  const std::string renew_time = core::string_or(*spec, "renewTime", "");
  const int64_t duration_s = core::get_int(*spec, "leaseDurationSeconds").value_or(whole_seconds(config_.lease_duration));
  const int64_t transitions = core::get_int(*spec, "leaseTransitions").value_or(0);
  const std::string acquire_time = core::string_or(*spec, "acquireTime", "");
  std::string previous_holder;
  {
    std::lock_guard lock(mu_);
    previous_holder = observed_holder_;
    if (holder != observed_holder_ || renew_time != observed_renew_time_) {
      observed_holder_ = holder;
      observed_renew_time_ = renew_time;
      observed_at_ = now;
    }
    observed_rv_ = meta_resource_version(*lease);
  }
  if (holder != previous_holder && !holder.empty() && holder != config_.identity && config_.on_new_leader) {
    try {
      config_.on_new_leader(holder);
    } catch (const std::exception& e) {
      log_->error("msg=\"on_new_leader threw\" error=\"{}\"", e.what());
    }
  }
  const bool held_by_other = !holder.empty() && holder != config_.identity;
  if (held_by_other) {
    std::lock_guard lock(mu_);
    if (observed_at_ + std::chrono::seconds(duration_s) > now) return false;  // still valid
    log_->info("msg=\"lease expired; taking over\" lease={}/{} previous_holder={}", config_.namespace_, config_.name,
               holder);
  }

  auto updated = std::make_shared<core::JsonDoc>();
  updated->CopyFrom(*lease, updated->GetAllocator());
  auto& a = updated->GetAllocator();
  auto& s = core::ensure_object(*updated, "spec", a);
  core::set_string(s, "holderIdentity", config_.identity, a);
  core::set_member(s, "leaseDurationSeconds", core::JsonValue(whole_seconds(config_.lease_duration)), a);
  core::set_string(s, "renewTime", now_text, a);
  if (holder == config_.identity) {
    if (!acquire_time.empty()) core::set_string(s, "acquireTime", acquire_time, a);
    core::set_member(s, "leaseTransitions", core::JsonValue(transitions), a);
  } else {
    core::set_string(s, "acquireTime", now_text, a);
    core::set_member(s, "leaseTransitions", core::JsonValue(transitions + 1), a);
  }
  try {
    auto written = client_.update(kLeases, config_.namespace_, *updated);
    std::lock_guard lock(mu_);
    observed_holder_ = config_.identity;
    observed_renew_time_ = now_text;
    observed_rv_ = written ? meta_resource_version(*written) : std::string();
    observed_at_ = now;
    return true;
  } catch (const ApiError& e) {
    if (e.is_conflict()) return false;  // someone else wrote it first
    throw;
  }
}

void LeaderElector::release() {
  try {
    auto lease = client_.get(kLeases, config_.namespace_, config_.name);
    const auto* spec = lease ? core::member(*lease, "spec") : nullptr;
    if (spec == nullptr || core::string_or(*spec, "holderIdentity", "") != config_.identity) return;
    auto& a = lease->GetAllocator();
    auto& s = core::ensure_object(*lease, "spec", a);
    const std::string now_text = format_micro_time(clock_.wall_now());
    // As client-go: an empty holder, a one-second duration, times set to now; transitions kept.
    core::set_string(s, "holderIdentity", "", a);
    core::set_member(s, "leaseDurationSeconds", core::JsonValue(1), a);
    core::set_string(s, "renewTime", now_text, a);
    core::set_string(s, "acquireTime", now_text, a);
    client_.update(kLeases, config_.namespace_, *lease);
    log_->info("msg=\"lease released\" lease={}/{} identity={}", config_.namespace_, config_.name, config_.identity);
  } catch (const std::exception& e) {
    log_->warn("msg=\"could not release the lease; it will expire\" lease={}/{} error=\"{}\"", config_.namespace_,
               config_.name, e.what());
  }
}

void LeaderElector::run() {
  auto attempt = [&]() -> bool {
    try {
      return try_acquire_or_renew();
    } catch (const std::exception& e) {
      log_->warn("msg=\"lease attempt failed\" lease={}/{} error=\"{}\"", config_.namespace_, config_.name, e.what());
      return false;
    }
  };
  // Acquire: retry every retry_period with up to 120% jitter (client-go's JitterFactor 1.2).
  std::uniform_real_distribution<double> jitter(0.0, 1.2);
  while (!stop_) {
    if (attempt()) break;
    const auto d = config_.retry_period + std::chrono::duration_cast<Clock::duration>(config_.retry_period * jitter(rng_));
    if (wait_stopped_for(d)) return;
  }
  if (stop_) return;
  leading_ = true;
  log_->info("msg=\"became leader\" lease={}/{} identity={}", config_.namespace_, config_.name, config_.identity);
  if (config_.on_started_leading) {
    try {
      config_.on_started_leading();
    } catch (const std::exception& e) {
      log_->error("msg=\"on_started_leading threw\" error=\"{}\"", e.what());
    }
  }
  // Renew every retry_period; give up once no renewal succeeded for renew_deadline.
  auto last_renew = clock_.now();
  bool lost = false;
  while (!stop_) {
    if (wait_stopped_for(config_.retry_period)) break;
    if (attempt()) {
      last_renew = clock_.now();
      continue;
    }
    if (clock_.now() - last_renew >= config_.renew_deadline) {
      lost = true;
      break;
    }
  }
  leading_ = false;
  if (lost) {
    log_->error("msg=\"leader election lost\" lease={}/{} identity={}", config_.namespace_, config_.name, config_.identity);
  } else {
    release();
  }
  if (config_.on_stopped_leading) {
    try {
      config_.on_stopped_leading();
    } catch (const std::exception& e) {
      log_->error("msg=\"on_stopped_leading threw\" error=\"{}\"", e.what());
    }
  }
}

}  // namespace ifo::kube
