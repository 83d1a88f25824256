// Unit tests for the client-side token bucket and the RFC 3339 helpers the kube module writes.
#include <doctest/doctest.h>

#include <chrono>

#include "kube/meta.h"
#include "kube/rate_limiter.h"

using namespace std::chrono_literals;
using ifo::core::FakeClock;
using ifo::kube::TokenBucket;

TEST_CASE("the bucket allows a burst, then spaces requests at 1/qps") {
  FakeClock clock;
  TokenBucket b(10, 3, clock);
  CHECK(b.reserve() == 0ms);
  CHECK(b.reserve() == 0ms);
  CHECK(b.reserve() == 0ms);
  // Past the burst: the 4th waits 100ms, the 5th 200ms (reservations queue).
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(b.reserve()) == 100ms);
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(b.reserve()) == 200ms);
  clock.step(200ms);
  CHECK_FALSE(b.try_accept());  // the two reservations used the refill
  clock.step(100ms);
  CHECK(b.try_accept());
}

TEST_CASE("the bucket refills to at most burst after idling") {
  FakeClock clock;
  TokenBucket b(2, 2, clock);
  CHECK(b.try_accept());
  CHECK(b.try_accept());
  CHECK_FALSE(b.try_accept());
  clock.step(1h);
  CHECK(b.try_accept());
  CHECK(b.try_accept());
  CHECK_FALSE(b.try_accept());
  clock.step(500ms);
  CHECK(b.try_accept());
}

TEST_CASE("a sustained rate converges to qps") {
  FakeClock clock;
  TokenBucket b(5, 1, clock);
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) {  // 10 seconds in 10ms steps
    clock.step(10ms);
    if (b.try_accept()) ++accepted;
  }
  CHECK(accepted >= 49);
  CHECK(accepted <= 51);
}

TEST_CASE("qps <= 0 disables limiting") {
  FakeClock clock;
  TokenBucket b(0, 1, clock);
  for (int i = 0; i < 100; ++i) CHECK(b.reserve() == 0ms);
}

TEST_CASE("wait() blocks until the fake clock grants the token") {
  FakeClock clock;
  TokenBucket b(1, 1, clock);
  b.wait();
  std::atomic<bool> done{false};
  std::thread t([&] {
    b.wait();
    done = true;
  });
  std::this_thread::sleep_for(20ms);  // a wrong implementation would have returned
  CHECK_FALSE(done.load());
  clock.step(1s);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  CHECK(done.load());
  t.join();
}

TEST_CASE("times format and parse as Kubernetes writes them") {
  using namespace std::chrono;
  auto t = sys_days(year(2026) / 3 / 4) + 5h + 6min + 7s + 890123us;
  CHECK(ifo::kube::format_time(t) == "2026-03-04T05:06:07Z");
  CHECK(ifo::kube::format_micro_time(t) == "2026-03-04T05:06:07.890123Z");
  auto back = ifo::kube::parse_time("2026-03-04T05:06:07.890123Z");
  REQUIRE(back);
  CHECK(*back == time_point_cast<system_clock::duration>(t));
  auto offset = ifo::kube::parse_time("2026-03-04T07:06:07+02:00");
  REQUIRE(offset);
  CHECK(*offset == time_point_cast<system_clock::duration>(sys_days(year(2026) / 3 / 4) + 5h + 6min + 7s));
  CHECK_FALSE(ifo::kube::parse_time("2026-03-04 05:06:07"));
  CHECK_FALSE(ifo::kube::parse_time("2026-13-04T05:06:07Z"));
  CHECK_FALSE(ifo::kube::parse_time(""));
}
