// Lease leader election.
#include "syncer/leader.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <condition_variable>
#include <mutex>

#include "kube/errors.h"

namespace ifo::syncer {

namespace {
// metav1.MicroTime: RFC 3339 with microseconds, UTC.
std::string micro_time(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", std::chrono::time_point_cast<std::chrono::seconds>(t), us);
}

void wait_for(kube::Clock& clock, std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  auto deadline = clock.now() + d;
  while (!stop.load() && clock.now() < deadline) {
    auto step = std::min<kube::Clock::time_point>(deadline, clock.now() + std::chrono::milliseconds(50));
    clock.wait_until(cv, lock, step);
  }
}
}  // namespace

LeaderElector::LeaderElector(KubeApi& kube, kube::Clock& clock, LeaseOptions options,
                             std::shared_ptr<spdlog::logger> log)
    : kube_(kube), clock_(clock), options_(std::move(options)), log_(std::move(log)) {}

LeaderElector::Attempt LeaderElector::try_acquire_or_renew() {
  auto now_wall = clock_.wall_now();
  int64_t duration_s = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count());
  Object lease;
  try {
    lease = kube_.get(kube::kLeases, options_.namespace_, options_.name);
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) {
      log_->warn("lease get failed lease={}/{} error=\"{}\"", options_.namespace_, options_.name, e.what());
      return Attempt::kError;
    }
  } catch (const std::exception& e) {
    log_->warn("lease get failed lease={}/{} error=\"{}\"", options_.namespace_, options_.name, e.what());
    return Attempt::kError;
  }
  core::JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  try {
    if (!lease) {
      core::set_string(doc, "apiVersion", "coordination.k8s.io/v1", a);
      core::set_string(doc, "kind", "Lease", a);
      auto& meta = core::ensure_object(doc, "metadata", a);
      core::set_string(meta, "name", options_.name, a);
      core::set_string(meta, "namespace", options_.namespace_, a);
      auto& spec = core::ensure_object(doc, "spec", a);
      core::set_string(spec, "holderIdentity", options_.identity, a);
      core::set_member(spec, "leaseDurationSeconds", core::JsonValue(duration_s), a);
      core::set_string(spec, "acquireTime", micro_time(now_wall), a);
      core::set_string(spec, "renewTime", micro_time(now_wall), a);
      core::set_member(spec, "leaseTransitions", core::JsonValue(0), a);
      kube_.create(kube::kLeases, options_.namespace_, doc);
      observed_record_.clear();
      observed_at_ = clock_.now();
      return Attempt::kAcquired;
    }
    const core::JsonValue* spec = core::member(*lease, "spec");
    std::string holder = spec ? core::string_or(*spec, "holderIdentity", "") : "";
    std::string renew = spec ? core::string_or(*spec, "renewTime", "") : "";
    int64_t their_duration = spec ? core::get_int(*spec, "leaseDurationSeconds").value_or(duration_s) : duration_s;
    int64_t transitions = spec ? core::get_int(*spec, "leaseTransitions").value_or(0) : 0;
    std::string record = holder + "|" + renew;
    if (record != observed_record_) {
      observed_record_ = record;
      observed_at_ = clock_.now();
    }
    bool mine = holder == options_.identity;
    bool expired = clock_.now() - observed_at_ > std::chrono::seconds(their_duration);
    if (!mine && !holder.empty() && !expired) return Attempt::kHeldByOther;
    doc.CopyFrom(*lease, a);
    auto& s = core::ensure_object(doc, "spec", a);
    core::set_string(s, "holderIdentity", options_.identity, a);
    core::set_member(s, "leaseDurationSeconds", core::JsonValue(duration_s), a);
    core::set_string(s, "renewTime", micro_time(now_wall), a);
    if (!mine) {
      core::set_string(s, "acquireTime", micro_time(now_wall), a);
      core::set_member(s, "leaseTransitions", core::JsonValue(transitions + 1), a);
    }
    kube_.update(kube::kLeases, options_.namespace_, options_.name, doc);
    observed_record_.clear();
    observed_at_ = clock_.now();
    return Attempt::kAcquired;
  } catch (const kube::ApiError& e) {
    if (e.is_conflict() || e.is_already_exists()) return Attempt::kHeldByOther;  // someone else wrote first
    log_->warn("lease write failed lease={}/{} error=\"{}\"", options_.namespace_, options_.name, e.what());
    return Attempt::kError;
  } catch (const std::exception& e) {
    log_->warn("lease write failed lease={}/{} error=\"{}\"", options_.namespace_, options_.name, e.what());
    return Attempt::kError;
  }
}

bool LeaderElector::acquire(const std::atomic<bool>& stop) {
  bool announced = false;
  while (!stop.load()) {
    if (try_acquire_or_renew() == Attempt::kAcquired) {
      leading_ = true;
      last_renew_ = clock_.now();
      log_->info("leader lease acquired lease={}/{} identity={}", options_.namespace_, options_.name, options_.identity);
      return true;
    }
    if (!announced) {
      log_->info("waiting for the leader lease lease={}/{} identity={}", options_.namespace_, options_.name,
                 options_.identity);
      announced = true;
    }
    wait_for(clock_, options_.retry_period, stop);
  }
  return false;
}

bool LeaderElector::try_renew() {
  auto r = try_acquire_or_renew();
  if (r == Attempt::kAcquired) last_renew_ = clock_.now();
  return r != Attempt::kHeldByOther;
}

bool LeaderElector::hold(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    wait_for(clock_, options_.retry_period, stop);
    if (stop.load()) break;
    auto r = try_acquire_or_renew();
    if (r == Attempt::kAcquired) {
      last_renew_ = clock_.now();
      continue;
    }
    if (r == Attempt::kHeldByOther || clock_.now() - last_renew_ > options_.renew_deadline) {
      log_->error("leader lease lost lease={}/{} identity={}", options_.namespace_, options_.name, options_.identity);
      leading_ = false;
      return false;
    }
  }
  return true;
}

void LeaderElector::release() {
  if (!leading_) return;
  leading_ = false;
  try {
    Object lease = kube_.get(kube::kLeases, options_.namespace_, options_.name);
    const core::JsonValue* spec = core::member(*lease, "spec");
    if (!spec || core::string_or(*spec, "holderIdentity", "") != options_.identity) return;
    core::JsonDoc doc(rapidjson::kObjectType);
    auto& a = doc.GetAllocator();
    doc.CopyFrom(*lease, a);
    auto& s = core::ensure_object(doc, "spec", a);
    core::set_string(s, "holderIdentity", "", a);
    core::set_member(s, "leaseDurationSeconds", core::JsonValue(1), a);
    core::set_string(s, "renewTime", micro_time(clock_.wall_now()), a);
    kube_.update(kube::kLeases, options_.namespace_, options_.name, doc);
    log_->info("leader lease released lease={}/{} identity={}", options_.namespace_, options_.name, options_.identity);
  } catch (const std::exception& e) {
    log_->warn("lease release failed lease={}/{} error=\"{}\"", options_.namespace_, options_.name, e.what());
  }
}

}  // namespace ifo::syncer
