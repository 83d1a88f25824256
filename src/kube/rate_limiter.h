// Rate limiters: a QPS/burst token bucket (client-side request limit, as client-go's flowcontrol) and
// a per-item exponential backoff for work-queue retries (client-go's ItemExponentialFailureRateLimiter).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kube/clock.h"

namespace ifo::kube {

// Holds up to `burst` tokens, refilled at `qps` per second. Thread safe. qps <= 0 disables limiting.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst, Clock& clock);

  // Takes a token and returns how long the caller must wait before using it (zero when one was
  // available). Reservations queue up: the n-th caller past the burst waits n/qps.
  Clock::duration reserve();
  // reserve() then waits on the clock.
  void wait();
  // Takes a token only if one is available now.
  bool try_accept();

  double qps() const { return qps_; }
  int burst() const { return burst_; }

 private:
  void refill_locked(Clock::time_point now);

  const double qps_;
  const int burst_;
  Clock& clock_;
  std::mutex mu_;
  double tokens_;  // may go negative: outstanding reservations
  Clock::time_point last_;
};

// Per-key exponential backoff: the n-th consecutive failure of a key waits base * 2^(n-1), capped at
// max_delay; forget(key) resets it after a success.
class ItemExponentialBackoff {
 public:
  ItemExponentialBackoff(Clock::duration base_delay, Clock::duration max_delay);

  Clock::duration when(const std::string& key);
  void forget(const std::string& key);
  int num_requeues(const std::string& key) const;

 private:
  const Clock::duration base_;
  const Clock::duration max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int> failures_;
};

}  // namespace ifo::kube
