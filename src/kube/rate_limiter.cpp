// Token bucket and per-item exponential backoff.
#include "kube/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace ifo::kube {

TokenBucket::TokenBucket(double qps, int burst, Clock& clock)
    : qps_(qps), burst_(std::max(burst, 1)), clock_(clock), tokens_(static_cast<double>(std::max(burst, 1))),
      last_(clock.now()) {}

void TokenBucket::refill_locked(Clock::time_point now) {
  if (now <= last_) return;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(static_cast<double>(burst_), tokens_ + elapsed * qps_);
  last_ = now;
}

Clock::duration TokenBucket::reserve() {
  if (qps_ <= 0) return Clock::duration::zero();
  std::lock_guard lock(mu_);
  refill_locked(clock_.now());
  tokens_ -= 1.0;
  if (tokens_ >= 0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / qps_));
}

void TokenBucket::wait() {
  const auto d = reserve();
  if (d > Clock::duration::zero()) clock_.sleep_for(d);
}

bool TokenBucket::try_accept() {
  if (qps_ <= 0) return true;
  std::lock_guard lock(mu_);
  refill_locked(clock_.now());
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

ItemExponentialBackoff::ItemExponentialBackoff(Clock::duration base_delay, Clock::duration max_delay)
    : base_(base_delay), max_(max_delay) {}

Clock::duration ItemExponentialBackoff::when(const std::string& key) {
  int exp = 0;
  {
    std::lock_guard lock(mu_);
    exp = failures_[key]++;
  }
  // 2^exp overflows long before it matters; compare in floating point and cap.
  const double factor = std::pow(2.0, std::min(exp, 62));
  const double delay = static_cast<double>(base_.count()) * factor;
  if (delay >= static_cast<double>(max_.count())) return max_;
  return Clock::duration(static_cast<Clock::duration::rep>(delay));
}

void ItemExponentialBackoff::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int ItemExponentialBackoff::num_requeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

}  // namespace ifo::kube
