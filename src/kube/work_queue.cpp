// The work queue: dirty/processing sets for de-duplication, a time-ordered map for delayed keys.
#include "kube/work_queue.h"

namespace ifo::kube {

WorkQueue::WorkQueue(WorkQueueOptions options, Clock& clock)
    : clock_(clock),
      granularity_(options.granularity),
      backoff_(options.base_delay, options.max_delay),
      on_queue_wait_(std::move(options.on_queue_wait)) {}

bool WorkQueue::add_locked(const std::string& key, bool wake) {
  if (shutting_down_) return false;
  if (!dirty_.insert(key).second) return false;  // already queued (or queued again after processing)
  ++adds_;
  added_at_[key] = clock_.now();
  if (processing_.count(key) != 0) return false;  // done() re-queues it
  queue_.push_back(key);
  if (wake) wake_for_queued_locked();
  return true;
}

void WorkQueue::wake_for_queued_locked() {
  // An idle worker if there is one; else the timer, which is idle too.
  if (idle_ > 0) cv_.notify_one();
  else if (timer_taken_) timer_cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  add_locked(key);
}

void WorkQueue::add_after(const std::string& key, Clock::duration delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  if (delay <= Clock::duration::zero()) {
    add_locked(key);
    return;
  }
  auto ready = clock_.now() + delay;
  if (granularity_ > Clock::duration::zero())
    if (const auto late = ready.time_since_epoch() % granularity_; late > Clock::duration::zero())
      ready += granularity_ - late;
  auto it = waiting_at_.find(key);
  if (it != waiting_at_.end()) {
    if (it->second <= ready) return;  // already due sooner
    auto range = waiting_.equal_range(it->second);
    for (auto w = range.first; w != range.second; ++w) {
      if (w->second == key) {
        waiting_.erase(w);
        break;
      }
    }
  }
  const bool earliest = waiting_.empty() || ready < waiting_.begin()->first;
  waiting_.emplace(ready, key);
  waiting_at_[key] = ready;
  // Only a new earliest time changes anyone's wait: the timer's, or an idle worker becomes the timer.
  // (Waking every worker per add, 10,000 times per resync at bench/syncer-scale, was most of an idle
  // syncer's CPU.)
  if (!earliest) return;
  if (timer_taken_)
    timer_cv_.notify_one();
  else
    cv_.notify_one();
}

void WorkQueue::add_rate_limited(const std::string& key) { add_after(key, backoff_.when(key)); }

void WorkQueue::add_rate_limited(const std::string& key, Clock::duration cap) {
  add_after(key, std::min(backoff_.when(key), cap));
}

void WorkQueue::forget(const std::string& key) { backoff_.forget(key); }

int WorkQueue::num_requeues(const std::string& key) const { return backoff_.num_requeues(key); }

std::optional<Clock::time_point> WorkQueue::promote_ready_locked() {
  const auto now = clock_.now();
  // The caller takes one of the keys it queues itself: others are woken for the rest only.
  bool first = true;
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    std::string key = std::move(waiting_.begin()->second);
    waiting_.erase(waiting_.begin());
    waiting_at_.erase(key);
    if (add_locked(key, !first)) first = false;
  }
  if (waiting_.empty()) return std::nullopt;
  return waiting_.begin()->first;
}

std::optional<std::string> WorkQueue::get_impl(std::optional<Clock::time_point> deadline) {
  std::unique_lock lock(mu_);
  // One idle caller at a time (the timer) waits for the earliest delayed key; the others wait until a
  // key is queued, or until the timer leaves and hands its role on.
  bool timer = false;
  auto leave = [&] {
    if (!timer) return;
    timer_taken_ = false;
    if (!waiting_.empty()) cv_.notify_one();
  };
  while (true) {
    auto next_ready = promote_ready_locked();
    if (!queue_.empty()) break;
    if (shutting_down_ || (deadline && clock_.now() >= *deadline)) {
      leave();
      return std::nullopt;
    }
    if (!timer && !timer_taken_ && next_ready) timer = timer_taken_ = true;
    if (timer && !next_ready) timer = timer_taken_ = false;
    std::optional<Clock::time_point> wake = timer ? next_ready : std::nullopt;
    if (deadline && (!wake || *deadline < *wake)) wake = deadline;
    std::condition_variable& cv = timer ? timer_cv_ : cv_;
    if (!timer) ++idle_;
    if (wake) {
      clock_.wait_until(cv, lock, *wake);
    } else {
      cv.wait(lock);
    }
    if (!timer) --idle_;
  }
  leave();
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  std::optional<Clock::duration> waited;
  if (auto it = added_at_.find(key); it != added_at_.end()) {
    waited = clock_.now() - it->second;
    added_at_.erase(it);
  }
  lock.unlock();
  if (waited && on_queue_wait_) on_queue_wait_(*waited);
  return key;
}

uint64_t WorkQueue::adds() const {
  std::lock_guard lock(mu_);
  return adds_;
}

std::optional<std::string> WorkQueue::get() { return get_impl(std::nullopt); }

std::optional<std::string> WorkQueue::get_until(Clock::time_point deadline) { return get_impl(deadline); }

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) != 0) {
    queue_.push_back(key);
    wake_for_queued_locked();
  }
  if (processing_.empty()) cv_.notify_all();  // shut_down_with_drain waits for this
}

void WorkQueue::shut_down() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  waiting_.clear();
  waiting_at_.clear();
  cv_.notify_all();
  timer_cv_.notify_all();
}

void WorkQueue::shut_down_with_drain() {
  std::unique_lock lock(mu_);
  shutting_down_ = true;
  waiting_.clear();
  waiting_at_.clear();
  cv_.notify_all();
  timer_cv_.notify_all();
  cv_.wait(lock, [this] { return processing_.empty(); });
}

bool WorkQueue::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t WorkQueue::waiting_len() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

}  // namespace ifo::kube
