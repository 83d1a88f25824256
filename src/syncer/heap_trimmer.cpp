// HeapTrimmer: mallinfo2 every period, malloc_trim when the arenas hold enough free memory.
#include "syncer/heap_trimmer.h"

#include <malloc.h>

namespace ifo::syncer {

HeapTrimmer::HeapTrimmer(Options options) : options_(options) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, options_.period, [this] { return stop_; })) {
      lock.unlock();
      check();
      lock.lock();
    }
  });
}

HeapTrimmer::~HeapTrimmer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HeapTrimmer::check() {
  // malloc_trim returns the free pages to the system but the arenas still count those bytes as free,
  // so the measure is growth: trim when the arenas hold `threshold` more free bytes than at the last
  // trim (or than the least seen since, when live data took some back).
  const size_t free_bytes = mallinfo2().fordblks;
  if (free_bytes < free_at_last_trim_) free_at_last_trim_ = free_bytes;
  if (free_bytes < free_at_last_trim_ + options_.free_bytes_threshold) return;
  malloc_trim(0);
  free_at_last_trim_ = free_bytes;
}

}  // namespace ifo::syncer
