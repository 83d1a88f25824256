// Unit tests for the work queue: de-duplication, one worker per key, backoff, forget, delayed adds, shutdown.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kube/work_queue.h"
#include "test_helpers.h"

using namespace std::chrono_literals;
using ifo::core::FakeClock;
using ifo::kube::WorkQueue;
using ifo::kube::WorkQueueOptions;

namespace {
// Polls a condition with a real-time deadline (threads are involved), never a fixed sleep.
template <typename F>
bool eventually(F f) {
  return ifo::test::eventually(f, 5s, 1ms);
}
}  // namespace

TEST_CASE("a key added many times before a worker takes it is handed out once") {
  FakeClock clock;
  WorkQueue q({}, clock);
  q.add("ns/a");
  q.add("ns/b");
  q.add("ns/a");
  q.add("ns/a");
  CHECK(q.len() == 2);
  auto k1 = q.get();
  auto k2 = q.get();
  REQUIRE(k1);
  REQUIRE(k2);
  CHECK(*k1 == "ns/a");  // FIFO
  CHECK(*k2 == "ns/b");
  CHECK(q.len() == 0);
}

TEST_CASE("adds count keys queued, not repeats; each key handed out reports how long it waited") {
  FakeClock clock;
  std::vector<std::chrono::milliseconds> waits;
  WorkQueueOptions options;
  options.on_queue_wait = [&](ifo::kube::Clock::duration d) {
    waits.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(d));
  };
  WorkQueue q(options, clock);
  q.add("a");
  clock.step(300ms);
  q.add("b");
  q.add("a");  // already queued: no add
  CHECK(q.adds() == 2);
  clock.step(200ms);
  REQUIRE(q.get() == std::optional<std::string>("a"));
  REQUIRE(q.get() == std::optional<std::string>("b"));
  CHECK(waits == std::vector<std::chrono::milliseconds>{500ms, 200ms});
  // Added again while processed: one more add, its wait counted from that add, through done().
  q.add("a");
  CHECK(q.adds() == 3);
  clock.step(50ms);
  q.done("a");
  REQUIRE(q.get() == std::optional<std::string>("a"));
  CHECK(waits.back() == 50ms);
  // A delayed key is added when its delay runs out.
  q.done("a");
  q.add_after("a", 1s);
  CHECK(q.adds() == 3);
  clock.step(1s);
  REQUIRE(q.get() == std::optional<std::string>("a"));
  CHECK(q.adds() == 4);
}

TEST_CASE("a key added while it is being processed waits for done() and is then handed out once") {
  FakeClock clock;
  WorkQueue q({}, clock);
  q.add("k");
  auto k = q.get();
  REQUIRE(k);
  q.add("k");
  q.add("k");
  CHECK(q.len() == 0);  // not handed to a second worker while the first has it
  auto none = q.get_until(clock.now());
  CHECK_FALSE(none);
  q.done("k");
  CHECK(q.len() == 1);
  auto again = q.get();
  REQUIRE(again);
  CHECK(*again == "k");
  q.done("k");
  CHECK(q.len() == 0);
}

TEST_CASE("with several workers, one key is never processed by two of them at once") {
  WorkQueue q;  // real clock: real threads
  std::mutex mu;
  std::set<std::string> in_flight;
  std::atomic<int> overlaps{0};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.get()) {
        {
          std::lock_guard lock(mu);
          if (!in_flight.insert(*key).second) ++overlaps;
        }
        std::this_thread::yield();
        {
          std::lock_guard lock(mu);
          in_flight.erase(*key);
        }
        ++processed;
        q.done(*key);
      }
    });
  }
  for (int i = 0; i < 2000; ++i) q.add("key-" + std::to_string(i % 3));
  CHECK(eventually([&] { return q.len() == 0; }));
  q.shut_down_with_drain();
  for (auto& t : workers) t.join();
  CHECK(overlaps == 0);
  CHECK(processed >= 3);
  CHECK(processed <= 2000);
}

TEST_CASE("per-key backoff doubles from the base to the cap, forget() resets it, keys are independent") {
  FakeClock clock;
  WorkQueueOptions opt;
  opt.base_delay = 5ms;
  opt.max_delay = 1000ms;
  WorkQueue q(opt, clock);
  // Measure each delay: the key must not be ready just before it and must be ready right at it.
  std::vector<std::chrono::milliseconds> expected = {5ms, 10ms, 20ms, 40ms, 80ms, 160ms, 320ms, 640ms, 1000ms, 1000ms};
  for (auto want : expected) {
    CAPTURE(want.count());
    q.add_rate_limited("a");
    clock.step(want - 1ms);
    CHECK_FALSE(q.get_until(clock.now()));
    clock.step(1ms);
    auto k = q.get_until(clock.now());
    REQUIRE(k);
    CHECK(*k == "a");
    q.done("a");
  }
  CHECK(q.num_requeues("a") == 10);
  CHECK(q.num_requeues("b") == 0);
  q.forget("a");
  CHECK(q.num_requeues("a") == 0);
  q.add_rate_limited("a");
  clock.step(5ms);
  CHECK(q.get_until(clock.now()));
}

TEST_CASE("add_rate_limited with a cap: doubles up to the cap, never past it, while the failure count grows") {
  FakeClock clock;
  WorkQueueOptions opt;
  opt.base_delay = 500ms;
  opt.max_delay = std::chrono::minutes(5);
  WorkQueue q(opt, clock);
  std::vector<std::chrono::milliseconds> expected = {500ms, 1000ms, 2000ms, 4000ms, 5000ms, 5000ms, 5000ms};
  for (auto want : expected) {
    CAPTURE(want.count());
    q.add_rate_limited("a", 5s);
    clock.step(want - 1ms);
    CHECK_FALSE(q.get_until(clock.now()));
    clock.step(1ms);
    auto k = q.get_until(clock.now());
    REQUIRE(k);
    q.done("a");
  }
  CHECK(q.num_requeues("a") == 7);
  // Without the cap the next wait is the uncapped exponential one (500 ms * 2^7 = 64 s).
  q.add_rate_limited("a");
  clock.step(63s);
  CHECK_FALSE(q.get_until(clock.now()));
  clock.step(1s);
  CHECK(q.get_until(clock.now()));
}

TEST_CASE("add_after hands the key out only once the fake clock reaches its time; the earliest time wins") {
  FakeClock clock;
  WorkQueue q({}, clock);
  q.add_after("x", 10s);
  q.add_after("x", 3s);   // earlier: replaces
  q.add_after("x", 20s);  // later: ignored
  CHECK(q.waiting_len() == 1);
  clock.step(2s);
  CHECK_FALSE(q.get_until(clock.now()));
  clock.step(1s);
  auto k = q.get_until(clock.now());
  REQUIRE(k);
  CHECK(*k == "x");
  q.done("x");
  CHECK(q.waiting_len() == 0);
  // Nothing else comes later: the 10s and 20s requests were merged.
  clock.step(30s);
  CHECK_FALSE(q.get_until(clock.now()));
}

TEST_CASE("a worker blocked in get() wakes when a delayed key becomes due") {
  FakeClock clock;
  WorkQueue q({}, clock);
  std::atomic<bool> got{false};
  std::thread worker([&] {
    if (auto k = q.get()) {
      got = true;
      q.done(*k);
    }
  });
  q.add_after("later", 1min);
  // The worker must not take it early.
  std::this_thread::sleep_for(20ms);  // give a wrong implementation the chance to hand it out early
  CHECK_FALSE(got.load());
  clock.step(1min);
  CHECK(eventually([&] { return got.load(); }));
  q.shut_down();
  worker.join();
}

TEST_CASE("a delayed add of a key that is also queued now does not produce a second copy") {
  FakeClock clock;
  WorkQueue q({}, clock);
  q.add("k");
  q.add_after("k", 1s);
  clock.step(1s);
  auto k = q.get_until(clock.now());
  REQUIRE(k);
  CHECK_FALSE(q.get_until(clock.now()));  // the delayed add merged into the queued one
}

TEST_CASE("shut_down: queued keys are still handed out, then get() returns nullopt; adds are ignored") {
  FakeClock clock;
  WorkQueue q({}, clock);
  q.add("a");
  q.add_after("b", 1s);
  q.shut_down();
  q.add("c");
  auto a = q.get();
  REQUIRE(a);
  CHECK(*a == "a");
  CHECK_FALSE(q.get());
  CHECK(q.shutting_down());
}

TEST_CASE("shut_down_with_drain waits for the in-flight key to finish") {
  WorkQueue q;
  q.add("slow");
  auto k = q.get();
  REQUIRE(k);
  std::atomic<bool> drained{false};
  std::thread stopper([&] {
    q.shut_down_with_drain();
    drained = true;
  });
  std::this_thread::sleep_for(20ms);  // a wrong implementation would return already
  CHECK_FALSE(drained.load());
  q.done(*k);
  CHECK(eventually([&] { return drained.load(); }));
  stopper.join();
}

TEST_CASE("shut_down wakes workers blocked in get()") {
  WorkQueue q;
  std::atomic<int> exited{0};
  std::vector<std::thread> ws;
  for (int i = 0; i < 3; ++i)
    ws.emplace_back([&] {
      while (q.get()) {
      }
      ++exited;
    });
  q.shut_down();
  for (auto& t : ws) t.join();
  CHECK(exited == 3);
}

TEST_CASE(
    "idle workers share one timer: every delayed key is handed out once, on time, whatever the order of "
    "adds") {
  FakeClock clock;
  WorkQueue q({}, clock);
  std::mutex mu;
  std::map<std::string, int> handed;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] {
      while (auto k = q.get()) {
        {
          std::lock_guard lock(mu);
          ++handed[*k];
        }
        q.done(*k);
      }
    });
  // Later keys first, then earlier ones (each a new earliest time), with workers idle in between.
  for (int i = 40; i >= 1; --i) q.add_after("k" + std::to_string(i), std::chrono::seconds(i));
  auto count = [&] {
    std::lock_guard lock(mu);
    return handed.size();
  };
  for (int s = 1; s <= 40; ++s) {
    clock.step(1s);
    const size_t due = static_cast<size_t>(s) + (s > 20 ? 1 : 0);  // "extra" is due at 20.5 s
    CHECK(eventually([&] { return count() == due; }));
    // One more added at the earliest time while the others wait.
    if (s == 20) q.add_after("extra", 500ms);
  }
  CHECK(eventually([&] { return count() == 41; }));
  q.shut_down();
  for (auto& t : workers) t.join();
  for (const auto& [k, n] : handed) CHECK_MESSAGE(n == 1, k);
}

TEST_CASE("with a granularity, keys due close together are handed out together, never early") {
  FakeClock clock;
  WorkQueueOptions opt;
  opt.granularity = 100ms;
  WorkQueue q(opt, clock);
  clock.step(1000ms - clock.now().time_since_epoch() % 1000ms);  // on a step
  q.add_after("a", 10ms);
  q.add_after("b", 60ms);
  q.add_after("c", 100ms);
  q.add_after("d", 130ms);
  clock.step(99ms);
  CHECK_FALSE(q.get_until(clock.now()));  // "a" was due at 10 ms: not before the step at 100 ms
  clock.step(1ms);
  std::set<std::string> got;
  while (auto k = q.get_until(clock.now())) got.insert(*k);
  CHECK(got == std::set<std::string>{"a", "b", "c"});
  clock.step(99ms);
  CHECK_FALSE(q.get_until(clock.now()));
  clock.step(1ms);
  auto d = q.get_until(clock.now());
  REQUIRE(d);
  CHECK(*d == "d");
}

TEST_CASE("a key added now reaches the only worker while it waits for a delayed one") {
  WorkQueue q;  // real clock: the worker really waits
  q.add_after("in-an-hour", std::chrono::hours(1));
  std::atomic<bool> got_now{false};
  std::thread worker([&] {
    while (auto k = q.get()) {
      if (*k == "now") got_now = true;
      q.done(*k);
    }
  });
  std::this_thread::sleep_for(50ms);  // let the worker start waiting for the delayed key
  q.add("now");
  CHECK(eventually([&] { return got_now.load(); }));
  q.shut_down();
  worker.join();
}
