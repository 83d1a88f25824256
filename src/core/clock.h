// The one injected time source of every layer (kube, infisical, syncer): a monotonic clock plus wall
// time, and a fake that only tests move. Core is otherwise pure code; RealClock is the only place in
// the product that reads the system time, everything else is handed a Clock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace ifo::core {

class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;
  using wall_time_point = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time, for deadlines, backoff and cache ages.
  virtual time_point now() const = 0;
  // Wall time, for timestamps written into objects or requests (Lease renewTime, Event lastTimestamp,
  // SigV4 dates) and for comparing with expiry times a server stated.
  virtual wall_time_point wall_now() const = 0;
  // Waits on cv (its mutex held through `lock`) until notified or until this clock reaches deadline.
  // May return early (spurious wake-up): callers re-check their condition in a loop.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) = 0;

  // Sleeps until the clock has advanced by d (a fake clock: until a test steps it that far).
  void sleep_for(duration d);
};

class RealClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  wall_time_point wall_now() const override { return std::chrono::system_clock::now(); }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) override {
    cv.wait_until(lock, deadline);
  }
};

// One process-wide real clock; it holds no state, so sharing it is not a mutable global.
Clock& real_clock();

// Time moves only when a test calls step(), which moves monotonic and wall time together. Waiters poll
// it every millisecond of real time, so a step is noticed promptly without the clock having to know
// every condition variable.
class FakeClock final : public Clock {
 public:
  // Wall time starts at 2026-01-01T00:00:00Z.
  FakeClock();
  // Wall time starts at wall_start (e.g. a simulator's idea of now, so that signed dates match).
  explicit FakeClock(wall_time_point wall_start);
  time_point now() const override { return time_point(duration(now_.load())); }
  wall_time_point wall_now() const override;
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) override;
  void step(duration d) { now_.fetch_add(d.count()); }

 private:
  std::atomic<duration::rep> now_;
  wall_time_point wall_base_;  // wall time when now() was at its start
};

}  // namespace ifo::core
