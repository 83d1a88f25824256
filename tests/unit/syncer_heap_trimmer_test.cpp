// The heap trimmer's decisions: read the arenas only while the resident size moves (and a few checks
// after), trim when their free bytes grew by the threshold since the last trim. The system calls
// themselves are not exercised here: the sanitizers' allocator is not glibc's (mallinfo2 would see
// nothing); bench/syncer-scale's peak RSS and idle CPU cover them.
#include <doctest/doctest.h>

#include <optional>

#include "syncer/heap_trimmer.h"

using ifo::syncer::TrimDecider;

namespace {

constexpr size_t kMiB = 1024 * 1024;

TrimDecider decider() {
  TrimDecider::Options o;
  o.resident_step = 1 * kMiB;
  o.checks_after_activity = 3;
  o.quiet_checks_between_reads = 10;
  o.free_bytes_threshold = 4 * kMiB;
  return TrimDecider(o);
}

}  // namespace

TEST_CASE("a still resident size stops the arena reads a few checks after it last moved") {
  TrimDecider d = decider();
  CHECK(d.should_inspect(60 * kMiB));  // the first check: a move from nothing
  CHECK(d.should_inspect(60 * kMiB));
  CHECK(d.should_inspect(60 * kMiB + 100 * 1024));  // less than a step: not a move
  CHECK(d.should_inspect(60 * kMiB));
  // Idle: one arena walk in ten checks, for a creep below the step.
  int reads = 0;
  for (int i = 0; i < 100; ++i) reads += d.should_inspect(60 * kMiB) ? 1 : 0;
  CHECK(reads == 10);
  // Growth by a step is activity again, and so is shrinking (a trim, or the system taking pages).
  CHECK(d.should_inspect(62 * kMiB));
  for (int i = 0; i < 3; ++i) CHECK(d.should_inspect(62 * kMiB));
  CHECK_FALSE(d.should_inspect(62 * kMiB));
  CHECK_FALSE(d.should_inspect(62 * kMiB));
  CHECK(d.should_inspect(58 * kMiB));
}

TEST_CASE("slow creep counts from the last move, not from the last check") {
  TrimDecider d = decider();
  CHECK(d.should_inspect(10 * kMiB));
  for (int i = 0; i < 3; ++i) CHECK(d.should_inspect(10 * kMiB));
  size_t resident = 10 * kMiB;
  int inspected = 0;
  for (int i = 0; i < 10; ++i) {  // 10 x 200 KiB: two steps of 1 MiB
    resident += 200 * 1024;
    inspected += d.should_inspect(resident) ? 1 : 0;
  }
  CHECK(inspected >= 2);
}

TEST_CASE("without a resident size every check reads the arenas") {
  TrimDecider d = decider();
  for (int i = 0; i < 10; ++i) CHECK(d.should_inspect(std::nullopt));
}

TEST_CASE("a trim when free bytes grew by the threshold since the last trim or the least seen after it") {
  TrimDecider d = decider();
  CHECK_FALSE(d.should_trim(3 * kMiB));
  CHECK(d.should_trim(4 * kMiB));        // 4 MiB more than at the start (0)
  CHECK_FALSE(d.should_trim(7 * kMiB));  // only 3 more than at that trim
  CHECK_FALSE(d.should_trim(1 * kMiB));  // live data took some back: the least seen is the base now
  CHECK(d.should_trim(5 * kMiB));
}
