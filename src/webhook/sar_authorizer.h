// SubjectAccessReviews for the admission handler, asked off the event loops: a small pool of threads
// sends them, identical checks in flight share one review, answers are cached briefly, every waiter
// gets an answer by its deadline (shorter than the API server's webhook timeout), and the number of
// distinct checks pending is bounded, so forged reviews with random user names cannot pile up.
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
#include <unordered_map>
#include <vector>

#include "kube/api.h"
#include "webhook/async_authorizer.h"

namespace ifo::webhook {

struct SarAuthorizerOptions {
  std::chrono::milliseconds cache_ttl{1000};  // how long an answer is reused
  // A waiter not answered within this gets "could not verify"; below the webhook's timeoutSeconds
  // (the chart's default is 5 s), so the API server gets that denial instead of a timeout.
  std::chrono::milliseconds deadline{3000};
  size_t threads = 4;  // reviews sent at once
  // Distinct checks queued or being asked; one more is refused at once ("could not verify"). A
  // check stays counted until its review returns, even after its waiters had their deadline.
  size_t max_pending = 64;
};

class SarAuthorizer final : public AsyncAuthorizer {
 public:
  using Clock = std::chrono::steady_clock;

  SarAuthorizer(kube::Api& api, SarAuthorizerOptions options = {});
  // Answers every waiter ("shutting down") and joins the threads (after the reviews being sent return).
  ~SarAuthorizer() override;
  SarAuthorizer(const SarAuthorizer&) = delete;
  SarAuthorizer& operator=(const SarAuthorizer&) = delete;

  std::optional<bool> cached(const UserInfo& user, const core::AccessCheck& check) override;
  void ask(const UserInfo& user, const core::AccessCheck& check,
           std::function<void(AccessAnswer)> done) override;

  // For tests and metrics.
  uint64_t reviews_sent() const { return sent_.load(); }
  uint64_t refused_busy() const { return refused_busy_.load(); }
  uint64_t timed_out() const { return timed_out_.load(); }
  size_t pending() const;  // distinct checks queued or being sent
  size_t waiting() const;  // requests waiting for them

 private:
  struct Waiter {
    std::function<void(AccessAnswer)> done;
    Clock::time_point deadline;
  };
  struct Check {
    std::string key;
    kube::AccessReviewSubject subject;
    kube::ResourceAttributes attributes;
    std::vector<Waiter> waiters;
    bool sending = false;
  };
  struct Cached {
    bool allowed;
    Clock::time_point expires;
  };

  std::optional<bool> cached_locked(const std::string& key, Clock::time_point now);
  void send_reviews();
  void expire_waiters();

  kube::Api& api_;
  SarAuthorizerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable timer_cv_;
  std::unordered_map<std::string, std::shared_ptr<Check>> pending_;  // queued or being sent, by key
  std::deque<std::shared_ptr<Check>> queue_;                         // not yet taken by a thread
  std::unordered_map<std::string, Cached> cache_;
  bool stopping_ = false;
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> refused_busy_{0};
  std::atomic<uint64_t> timed_out_{0};
  std::vector<std::thread> senders_;
  std::thread timer_;
};

}  // namespace ifo::webhook
