// Lease leader election: acquire, renew, release.
#include "kube/leader_election.h"

#include <fmt/format.h>

#include <stdexcept>

#include "kube/client.h"  // default_logger
#include "kube/errors.h"
#include "kube/meta.h"

namespace ifo::kube {

namespace {
int64_t whole_seconds(Clock::duration d) {
  return std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count());
}
}  // namespace

LeaderElector::LeaderElector(Api& api, LeaderElectionConfig config)
    : api_(api),
      config_(std::move(config)),
      clock_(config_.clock != nullptr ? *config_.clock : real_clock()),
      log_(config_.logger ? config_.logger : default_logger()) {
  if (config_.name.empty() || config_.namespace_.empty() || config_.identity.empty())
    throw std::invalid_argument("leader election: namespace, name and identity are required");
  if (config_.lease_duration <= config_.renew_deadline)
    throw std::invalid_argument("leader election: lease duration must be greater than the renew deadline");
  if (config_.renew_deadline <= config_.retry_period)
    throw std::invalid_argument("leader election: renew deadline must be greater than the retry period");
  if (config_.acquire_jitter < 0)
    throw std::invalid_argument("leader election: acquire jitter must not be negative");
}

LeaderElector::~LeaderElector() { stop(); }

std::shared_ptr<const core::JsonDoc> LeaderElector::read_lease() {
  return get_or_null(api_, kLeases, config_.namespace_, config_.name);
}

ObjectPtr LeaderElector::write_lease(const core::JsonValue& lease, bool create) {
  const WriteOptions o = as_manager(config_.field_manager);
  return create ? api_.create(kLeases, config_.namespace_, lease, o)
                : api_.update(kLeases, config_.namespace_, lease, o);
}

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

LeaderElector::Attempt LeaderElector::try_acquire_or_renew() {
  const auto now = clock_.now();
  const std::string now_text = format_micro_time(clock_.wall_now());
  const std::shared_ptr<const core::JsonDoc> lease = read_lease();
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
      auto created = write_lease(obj, true);
      std::lock_guard lock(mu_);
      observed_holder_ = config_.identity;
      observed_renew_time_ = now_text;
      observed_rv_ = created ? meta_resource_version(*created) : std::string();
      observed_at_ = now;
      return Attempt::kHolding;
    } catch (const ApiError& e) {
      // Another candidate was faster.
      if (e.is_already_exists() || e.is_conflict()) return Attempt::kFailed;
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
    if (observed_at_ + std::chrono::seconds(duration_s) > now) return Attempt::kHeldByOther;
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
    auto written = write_lease(*updated, false);
    std::lock_guard lock(mu_);
    observed_holder_ = config_.identity;
    observed_renew_time_ = now_text;
    observed_rv_ = written ? meta_resource_version(*written) : std::string();
    observed_at_ = now;
    return Attempt::kHolding;
  } catch (const ApiError& e) {
    if (e.is_conflict()) return Attempt::kFailed;  // someone else wrote it first
    throw;
  }
}

void LeaderElector::release() {
  try {
    auto lease = read_lease();
    const auto* spec = lease ? core::member(*lease, "spec") : nullptr;
    if (spec == nullptr || core::string_or(*spec, "holderIdentity", "") != config_.identity) return;
    core::JsonDoc released;
    auto& a = released.GetAllocator();
    released.CopyFrom(*lease, a);
    auto& s = core::ensure_object(released, "spec", a);
    const std::string now_text = format_micro_time(clock_.wall_now());
    // As client-go: an empty holder, a one-second duration, times set to now; transitions kept.
    core::set_string(s, "holderIdentity", "", a);
    core::set_member(s, "leaseDurationSeconds", core::JsonValue(1), a);
    core::set_string(s, "renewTime", now_text, a);
    core::set_string(s, "acquireTime", now_text, a);
    write_lease(released, false);
    log_->info("msg=\"lease released\" lease={}/{} identity={}", config_.namespace_, config_.name, config_.identity);
  } catch (const std::exception& e) {
    log_->warn("msg=\"could not release the lease; it will expire\" lease={}/{} error=\"{}\"", config_.namespace_,
               config_.name, e.what());
  }
}

LeaderElector::Attempt LeaderElector::attempt() {
  try {
    return try_acquire_or_renew();
  } catch (const std::exception& e) {
    log_->warn("msg=\"lease attempt failed\" lease={}/{} error=\"{}\"", config_.namespace_, config_.name,
               e.what());
    return Attempt::kFailed;
  }
}

void LeaderElector::run() {
  // Acquire: retry every retry_period plus up to acquire_jitter of it.
  std::uniform_real_distribution<double> jitter(0.0, config_.acquire_jitter);
  while (!stop_) {
    if (attempt() == Attempt::kHolding) break;
    const auto spread = std::chrono::duration_cast<Clock::duration>(config_.retry_period * jitter(rng_));
    const auto d = config_.retry_period + spread;
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
  // Renew every retry_period; give up once no renewal succeeded for renew_deadline, or at once when
  // someone else holds the Lease.
  auto last_renew = clock_.now();
  bool lost = false;
  while (!stop_) {
    if (wait_stopped_for(config_.retry_period)) break;
    const Attempt renewal = attempt();
    if (renewal == Attempt::kHolding) {
      last_renew = clock_.now();
      continue;
    }
    if (renewal == Attempt::kHeldByOther || clock_.now() - last_renew >= config_.renew_deadline) {
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
