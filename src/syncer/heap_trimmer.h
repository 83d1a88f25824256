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
#include <thread>

namespace ifo::syncer {

class HeapTrimmer {
 public:
  struct Options {
    std::chrono::milliseconds period{1000};
    // malloc_trim only when the arenas' free bytes grew by this much since the last trim: a quiet
    // syncer frees little between checks, and a check alone (mallinfo2) costs microseconds.
    size_t free_bytes_threshold = 4 * 1024 * 1024;
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
  size_t free_at_last_trim_ = 0;  // the thread's own
  std::thread thread_;
};

}  // namespace ifo::syncer
