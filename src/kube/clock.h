// Time as a parameter: a monotonic clock plus wall time, with a fake for tests that never sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace ifo::kube {

class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time, for deadlines and backoff.
  virtual time_point now() const = 0;
  // Wall time, for timestamps written into objects (Lease renewTime, Event lastTimestamp).
  virtual std::chrono::system_clock::time_point wall_now() const = 0;
  // Waits on cv (its mutex held through `lock`) until notified or until this clock reaches deadline.
  // May return early (spurious wake-up): callers re-check their condition in a loop.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) = 0;

  // Sleeps until the clock has advanced by d (a fake clock: until a test steps it that far).
  void sleep_for(duration d);
};

class RealClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now(); }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) override {
    cv.wait_until(lock, deadline);
  }
};

// One process-wide real clock; it holds no state, so sharing it is not a mutable global.
Clock& real_clock();

// Time moves only when a test calls step(). Waiters poll it every millisecond of real time, so a
// step is noticed promptly without the clock having to know every condition variable.
class FakeClock final : public Clock {
 public:
  FakeClock();
  time_point now() const override { return time_point(duration(now_.load())); }
  std::chrono::system_clock::time_point wall_now() const override;
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) override;
  void step(duration d) { now_.fetch_add(d.count()); }

 private:
  std::atomic<duration::rep> now_;
  std::chrono::system_clock::time_point wall_base_;
};

}  // namespace ifo::kube
