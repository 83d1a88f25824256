// A rate-limited, delaying work queue of keys with client-go semantics
// (workqueue.TypedRateLimitingInterface).
//
//  - De-duplication: a key added several times before a worker takes it is processed once.
//  - A key is never processed by two workers at once: a key added while being processed is marked
//    dirty and queued again only when the worker calls done(key).
//  - add_after(key, d) queues the key once d has passed on the injected clock (resync, Retry-After);
//    if the key is already waiting, the earlier time wins.
//  - add_rate_limited(key) waits base * 2^failures (capped); forget(key) after a success resets it.
//  - shut_down(): no new keys are accepted, delayed ones are dropped, get() hands out what is still
//    queued and then returns nullopt; workers finish in-flight keys and call done() as usual.
//    shut_down_with_drain() additionally blocks until every in-flight key is done.
//
// Worker loop:
//   while (auto key = queue.get()) {
//     try { reconcile(*key); queue.forget(*key); } catch (...) { queue.add_rate_limited(*key); }
//     queue.done(*key);
//   }
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "kube/clock.h"
#include "kube/rate_limiter.h"

namespace ifo::kube {

struct WorkQueueOptions {
  // Per-key retry backoff (client-go: 5ms .. 1000s; controllers often cap lower).
  Clock::duration base_delay = std::chrono::milliseconds(5);
  Clock::duration max_delay = std::chrono::minutes(5);
  // add_after rounds a key's ready time up to a multiple of this on the queue's clock, so that keys
  // due close together are handed out together: one wake-up of the workers for many keys instead of
  // one each (a controller requeueing 10,000 keys per resync, spread over seconds). 0: exact times.
  Clock::duration granularity = Clock::duration::zero();
  // Called (outside the queue's lock) with how long each key handed out by get() waited in the queue
  // since it was added (client-go's workqueue_queue_duration_seconds).
  std::function<void(Clock::duration)> on_queue_wait;
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {}, Clock& clock = real_clock());
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  void add_after(const std::string& key, Clock::duration delay);
  void add_rate_limited(const std::string& key);
  // The same, but never waiting longer than cap (e.g. the resource's own resync interval, so that a
  // failure never delays it more than a resync would); the failure count still grows.
  void add_rate_limited(const std::string& key, Clock::duration cap);
  void forget(const std::string& key);
  int num_requeues(const std::string& key) const;

  // Blocks until a key is ready; nullopt once shut down and empty.
  std::optional<std::string> get();
  // Like get() but gives up at deadline (nullopt) - for loops that also watch something else.
  std::optional<std::string> get_until(Clock::time_point deadline);
  void done(const std::string& key);

  void shut_down();
  void shut_down_with_drain();
  bool shutting_down() const;

  // Keys ready to be handed out (the queue depth metric).
  size_t len() const;
  // Keys waiting for their add_after delay.
  size_t waiting_len() const;
  // Adds that queued a key (client-go's workqueue_adds_total: an add of a key already queued is not
  // one), whether by add, a delay that ran out, a retry or done() re-queueing a dirty key.
  uint64_t adds() const;

 private:
  // Queues the key unless it is queued or being processed (then false); `wake`: wakes someone for it.
  bool add_locked(const std::string& key, bool wake = true);
  // Wakes someone for a key just queued: an idle caller, else the timer.
  void wake_for_queued_locked();
  // Moves keys whose time has come into the queue; returns the earliest remaining ready time.
  std::optional<Clock::time_point> promote_ready_locked();
  std::optional<std::string> get_impl(std::optional<Clock::time_point> deadline);

  Clock& clock_;
  Clock::duration granularity_;
  ItemExponentialBackoff backoff_;
  mutable std::mutex mu_;
  std::condition_variable cv_;        // idle callers: a key was queued, or the timer role is free
  std::condition_variable timer_cv_;  // the timer: a delayed key earlier than its wait was added
  bool timer_taken_ = false;          // an idle caller waits for the earliest delayed key
  int idle_ = 0;                      // callers waiting on cv_
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;
  std::unordered_set<std::string> processing_;
  std::multimap<Clock::time_point, std::string> waiting_;
  std::unordered_map<std::string, Clock::time_point> waiting_at_;
  std::function<void(Clock::duration)> on_queue_wait_;
  uint64_t adds_ = 0;
  std::unordered_map<std::string, Clock::time_point> added_at_;  // dirty keys: when they were added
  bool shutting_down_ = false;
};

}  // namespace ifo::kube
