// The trust policy's lookups off the event loops: a validation attempt that needs an answer the
// KubeTrustLookup's cache does not hold runs on a small pool of threads, where the lookup may wait for
// the API server; every request gets its reply by the deadline (shorter than the API server's webhook
// timeout), and the number of attempts waiting is bounded, so forged reviews naming random namespaces
// cannot pile up behind a slow API server.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "webhook/async_trust_lookup.h"
#include "webhook/trust_lookup.h"

namespace ifo::webhook {

struct TrustPoolOptions {
  // A request whose lookups have not been answered this long after it began is denied with "could
  // not verify"; below the webhook's timeoutSeconds (the chart's default is 5 s), like the
  // SubjectAccessReviews' deadline (the same flag, --authorization-timeout).
  std::chrono::milliseconds deadline{3000};
  size_t threads = 2;  // attempts run at once
  // Attempts queued or running; one more is denied at once. An attempt stays counted until its lookups
  // return, even after its request had its answer at the deadline.
  size_t max_pending = 64;
};

class TrustPool final : public AsyncTrustLookup {
 public:
  TrustPool(KubeTrustLookup& lookup, TrustPoolOptions options = {});
  // Answers every waiting request ("shutting down") and joins the threads (after the lookups running return).
  ~TrustPool() override;
  TrustPool(const TrustPool&) = delete;
  TrustPool& operator=(const TrustPool&) = delete;

  std::optional<Reply> from_memory(const Attempt& attempt) override;
  void run(Attempt attempt, Done done, Clock::time_point since) override;

  // For tests and metrics.
  uint64_t timed_out() const { return timed_out_.load(); }
  uint64_t refused_busy() const { return refused_busy_.load(); }
  size_t pending() const;  // attempts queued or running

 private:
  struct Job {
    Attempt attempt;
    Done done;
    Clock::time_point deadline;
    bool answered = false;  // `done` has been called (or is being called) for it
  };

  // `done` with the reply of `attempt` from memory, where what memory lacks fails with `why`.
  void answer_from_memory(Job& job, const std::string& why);
  void work();
  void expire();

  KubeTrustLookup& lookup_;
  TrustPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable timer_cv_;
  std::deque<std::shared_ptr<Job>> queue_;        // not yet taken by a thread
  std::vector<std::shared_ptr<Job>> unanswered_;  // queued or running, still owed an answer
  size_t pending_ = 0;                            // queued or running
  bool stopping_ = false;
  std::atomic<uint64_t> timed_out_{0};
  std::atomic<uint64_t> refused_busy_{0};
  std::vector<std::thread> workers_;
  std::thread timer_;
};

}  // namespace ifo::webhook
