// The time source of the Infisical client, injected so that tests control token expiry without sleeping.
#pragma once

#include <atomic>
#include <chrono>

namespace ifo::infisical {

class Clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to (tests, simulations).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = time_point(std::chrono::seconds(1767225600)))  // 2026-01-01
      : now_(start.time_since_epoch().count()) {}
  time_point now() const override { return time_point(time_point::duration(now_.load())); }
  void advance(std::chrono::system_clock::duration d) { now_ += d.count(); }
  void set(time_point t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<time_point::rep> now_;
};

}  // namespace ifo::infisical
