// HeapTrimmer: the resident size every period; mallinfo2 while it moves; malloc_trim when the arenas
// hold enough free memory.
#include "syncer/heap_trimmer.h"

#include <malloc.h>

#include "core/process_metrics.h"

namespace ifo::syncer {

bool TrimDecider::should_inspect(std::optional<size_t> resident) {
  if (!resident) return true;
  const bool moved =
      !resident_at_last_move_ ||
      (*resident > *resident_at_last_move_ ? *resident - *resident_at_last_move_
                                           : *resident_at_last_move_ - *resident) >= options_.resident_step;
  if (moved) {
    resident_at_last_move_ = resident;
    checks_left_ = options_.checks_after_activity;
    return true;
  }
  if (checks_left_ > 0) {
    --checks_left_;
    return true;
  }
  if (++quiet_checks_ < options_.quiet_checks_between_reads) return false;
  quiet_checks_ = 0;
  return true;
}

bool TrimDecider::should_trim(size_t free_bytes) {
  // malloc_trim returns the free pages to the system but the arenas still count those bytes as free,
  // so the measure is growth since the last trim.
  if (free_bytes < free_at_last_trim_) free_at_last_trim_ = free_bytes;
  if (free_bytes < free_at_last_trim_ + options_.free_bytes_threshold) return false;
  free_at_last_trim_ = free_bytes;
  return true;
}

HeapTrimmer::HeapTrimmer(Options options) : options_(options), decider_(options.decider) {
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
  if (!decider_.should_inspect(core::resident_memory_bytes())) return;
  if (decider_.should_trim(mallinfo2().fordblks)) malloc_trim(0);
}

}  // namespace ifo::syncer
