// Real and fake clocks.
#include "kube/clock.h"

namespace ifo::kube {

void Clock::sleep_for(duration d) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  const time_point deadline = now() + d;
  while (now() < deadline) wait_until(cv, lock, deadline);
}

Clock& real_clock() {
  static RealClock clock;
  return clock;
}

// Starts at an arbitrary fixed point far from zero, so "time_point{}" never looks like "now".
FakeClock::FakeClock()
    : now_(std::chrono::duration_cast<duration>(std::chrono::hours(1000)).count()),
      wall_base_(std::chrono::sys_days(std::chrono::year(2026) / 1 / 1)) {}

std::chrono::system_clock::time_point FakeClock::wall_now() const {
  return wall_base_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                          now() - time_point(std::chrono::duration_cast<duration>(std::chrono::hours(1000))));
}

void FakeClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) {
  if (now() >= deadline) return;
  cv.wait_for(lock, std::chrono::milliseconds(1));
}

}  // namespace ifo::kube
