// Gives freed heap memory back to the system while the syncer runs. glibc keeps what its arenas free
// (holes between live blocks stay resident until malloc_trim), and a syncer's heap churns: each
// reconcile parses and drops JSON documents around the objects its caches keep. At 10,000
// InfisicalSecrets those free holes were about a fifth of the resident memory (bench/syncer-scale,
// heaptrack: 40 MiB live at the peak of 67 MiB resident), which counts against the Pod's limit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>

namespace ifo::syncer {

// When to look at the arenas and when to trim, apart from the system calls.
//
// Reading the arenas' free bytes (mallinfo2) walks every free list of every arena under its lock:
// about 2 ms on the syncer's fragmented heap at 10,000 resources, a sixth of an idle syncer's CPU
// when done every second (perf, bench/syncer-scale). The resident size is a cheap read, and free
// bytes cannot grow by much while it stands still: memory freed after it was taken from the system
// raised the resident size first, and memory taken from the free lists and given back leaves them as
// they were. So the arenas are read while the resident size moves and for a few checks after (the
// frees that follow an allocation burst), and otherwise once in a while (a creep below the step).
class TrimDecider {
 public:
  struct Options {
    size_t resident_step = 512 * 1024;    // a move of the resident size that counts as activity
    int checks_after_activity = 5;        // checks that still read the arenas after the last move
    int quiet_checks_between_reads = 30;  // while still, the arenas are read once in this many checks
    // Trim when the arenas' free bytes grew by this much since the last trim (or since the least seen
    // after it, when live data took some back).
    size_t free_bytes_threshold = 4 * 1024 * 1024;
  };
  explicit TrimDecider(Options options) : options_(options) {}

  // Whether this check reads the arenas, given the resident size now (nullopt: unknown, so always).
  bool should_inspect(std::optional<size_t> resident_bytes);
  // Whether to trim now, given the arenas' free bytes.
  bool should_trim(size_t free_bytes);

 private:
  Options options_;
  std::optional<size_t> resident_at_last_move_;
  int checks_left_ = 0;
  int quiet_checks_ = 0;
  size_t free_at_last_trim_ = 0;
};

class HeapTrimmer {
 public:
  struct Options {
    std::chrono::milliseconds period{1000};
    TrimDecider::Options decider;
  };
  explicit HeapTrimmer(Options options);
  HeapTrimmer() : HeapTrimmer(Options{}) {}
  ~HeapTrimmer();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

 private:
  // One check, made by the thread every period.
  void check();

  Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  TrimDecider decider_;  // the thread's own
  std::thread thread_;
};

}  // namespace ifo::syncer
