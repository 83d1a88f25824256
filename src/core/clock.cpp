// Real and fake clocks.
#include "core/clock.h"

namespace ifo::core {

namespace {

// The fake monotonic clock starts at an arbitrary fixed point far from zero, so that
// "time_point{}" never looks like "now".
constexpr Clock::duration kFakeStart = std::chrono::hours(1000);

}  // namespace

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

FakeClock::FakeClock() : FakeClock(std::chrono::sys_days(std::chrono::year(2026) / 1 / 1)) {}

FakeClock::FakeClock(wall_time_point wall_start) : now_(kFakeStart.count()), wall_base_(wall_start) {}

Clock::wall_time_point FakeClock::wall_now() const {
  return wall_base_ + std::chrono::duration_cast<wall_time_point::duration>(now() - time_point(kFakeStart));
}

void FakeClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) {
  if (now() >= deadline) return;
  cv.wait_for(lock, std::chrono::milliseconds(1));
}

}  // namespace ifo::core
