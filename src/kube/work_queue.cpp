// The work queue: dirty/processing sets for de-duplication, a time-ordered map for delayed keys.
#include "kube/work_queue.h"

namespace ifo::kube {

WorkQueue::WorkQueue(WorkQueueOptions options, Clock& clock)
    : clock_(clock), backoff_(options.base_delay, options.max_delay) {}

void WorkQueue::add_locked(const std::string& key) {
  if (shutting_down_) return;
  if (!dirty_.insert(key).second) return;  // already queued (or queued again after processing)
  if (processing_.count(key) != 0) return;  // done() re-queues it
  queue_.push_back(key);
  cv_.notify_one();
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
  const auto ready = clock_.now() + delay;
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
  waiting_.emplace(ready, key);
  waiting_at_[key] = ready;
  cv_.notify_all();  // waiting workers recompute their deadline
}

void WorkQueue::add_rate_limited(const std::string& key) { add_after(key, backoff_.when(key)); }

void WorkQueue::add_rate_limited(const std::string& key, Clock::duration cap) {
  add_after(key, std::min(backoff_.when(key), cap));
}

void WorkQueue::forget(const std::string& key) { backoff_.forget(key); }

int WorkQueue::num_requeues(const std::string& key) const { return backoff_.num_requeues(key); }

std::optional<Clock::time_point> WorkQueue::promote_ready_locked() {
  const auto now = clock_.now();
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    std::string key = std::move(waiting_.begin()->second);
    waiting_.erase(waiting_.begin());
    waiting_at_.erase(key);
    add_locked(key);
  }
  if (waiting_.empty()) return std::nullopt;
  return waiting_.begin()->first;
}

std::optional<std::string> WorkQueue::get_impl(std::optional<Clock::time_point> deadline) {
  std::unique_lock lock(mu_);
  while (true) {
    auto next_ready = promote_ready_locked();
    if (!queue_.empty()) break;
    if (shutting_down_) return std::nullopt;
    if (deadline && clock_.now() >= *deadline) return std::nullopt;
    std::optional<Clock::time_point> wake = next_ready;
    if (deadline && (!wake || *deadline < *wake)) wake = deadline;
    if (wake) {
      clock_.wait_until(cv_, lock, *wake);
    } else {
      cv_.wait(lock);
    }
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

std::optional<std::string> WorkQueue::get() { return get_impl(std::nullopt); }

std::optional<std::string> WorkQueue::get_until(Clock::time_point deadline) { return get_impl(deadline); }

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) != 0) {
    queue_.push_back(key);
    cv_.notify_one();
  }
  if (processing_.empty()) cv_.notify_all();  // shut_down_with_drain waits for this
}

void WorkQueue::shut_down() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  waiting_.clear();
  waiting_at_.clear();
  cv_.notify_all();
}

void WorkQueue::shut_down_with_drain() {
  std::unique_lock lock(mu_);
  shutting_down_ = true;
  waiting_.clear();
  waiting_at_.clear();
  cv_.notify_all();
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
