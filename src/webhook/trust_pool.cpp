// TrustPool: validation attempts that need the API server, on a bounded pool with a deadline.
#include "webhook/trust_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <utility>

namespace ifo::webhook {
namespace {

// The attempt's reply as Done takes it; an exception travels with it to where the reply is sent (the
// server answers it with a 500), instead of ending a pool thread.
std::function<Reply()> settle(const AsyncTrustLookup::Attempt& attempt, TrustLookup& lookup) {
  try {
    return [reply = attempt(lookup)] { return reply; };
  } catch (...) {
    return [failure = std::current_exception()]() -> Reply { std::rethrow_exception(failure); };
  }
}

constexpr std::string_view kShuttingDown = "the webhook is shutting down; retry";

}  // namespace

TrustPool::TrustPool(KubeTrustLookup& lookup, TrustPoolOptions options) : lookup_(lookup), options_(options) {
  options_.threads = std::max<size_t>(options_.threads, 1);
  options_.max_pending = std::max<size_t>(options_.max_pending, 1);
  workers_.reserve(options_.threads);
  for (size_t i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { work(); });
  timer_ = std::thread([this] { expire(); });
}

TrustPool::~TrustPool() {
  std::vector<std::shared_ptr<Job>> left;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& job : unanswered_)
      if (!job->answered) {
        job->answered = true;
        left.push_back(job);
      }
    unanswered_.clear();
    queue_.clear();
  }
  work_cv_.notify_all();
  timer_cv_.notify_all();
  for (auto& job : left) answer_from_memory(*job, std::string(kShuttingDown));
  for (auto& t : workers_) t.join();
  timer_.join();
}

size_t TrustPool::pending() const {
  std::lock_guard lock(mu_);
  return pending_;
}

std::optional<Reply> TrustPool::from_memory(const Attempt& attempt) {
  KubeTrustLookup::CacheOnly memory(lookup_, "the answer is not in the webhook's cache");
  Reply reply = attempt(memory);
  if (memory.missed()) return std::nullopt;
  return reply;
}

void TrustPool::answer_from_memory(Job& job, const std::string& why) {
  KubeTrustLookup::CacheOnly memory(lookup_, why);
  job.done(settle(job.attempt, memory));
}

void TrustPool::run(Attempt attempt, Done done, Clock::time_point since) {
  auto job = std::make_shared<Job>();
  job->attempt = std::move(attempt);
  job->done = std::move(done);
  job->deadline = since + options_.deadline;
  std::string refused;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = kShuttingDown;
    } else if (pending_ >= options_.max_pending) {
      refused_busy_.fetch_add(1);
      refused = fmt::format(
          "{} admission requests are already waiting for the API server to answer the webhook's lookups (the "
          "limit); retry in a few seconds",
          options_.max_pending);
    } else {
      ++pending_;
      queue_.push_back(job);
      unanswered_.push_back(job);
      work_cv_.notify_one();
    }
  }
  if (!refused.empty()) {
    job->answered = true;
    answer_from_memory(*job, refused);
    return;
  }
  timer_cv_.notify_one();  // this job may have the earliest deadline
}

void TrustPool::work() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Job> job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    // The lookups may block here for a whole API request (or several): no event loop waits on them.
    std::function<Reply()> reply = settle(job->attempt, lookup_);
    lock.lock();
    --pending_;
    const bool ours = !job->answered;  // else the deadline answered it meanwhile: this reply is dropped
    job->answered = true;
    std::erase(unanswered_, job);
    if (!ours) continue;
    lock.unlock();
    job->done(std::move(reply));
    lock.lock();
  }
}

void TrustPool::expire() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = Clock::now();
    std::vector<std::shared_ptr<Job>> late;
    std::optional<Clock::time_point> next;
    for (auto it = unanswered_.begin(); it != unanswered_.end();) {
      const std::shared_ptr<Job>& job = *it;
      if (job->deadline > now) {
        next = next ? std::min(*next, job->deadline) : job->deadline;
        ++it;
        continue;
      }
      job->answered = true;
      // Not taken by a thread yet: nobody waits for it any more, so it is not run at all.
      if (auto queued = std::find(queue_.begin(), queue_.end(), job); queued != queue_.end()) {
        queue_.erase(queued);
        --pending_;
      }
      late.push_back(job);
      it = unanswered_.erase(it);
    }
    if (!late.empty()) {
      timed_out_.fetch_add(late.size());
      lock.unlock();
      const std::string why =
          fmt::format("the API server did not answer within {}ms; retry", options_.deadline.count());
      for (auto& job : late) answer_from_memory(*job, why);
      lock.lock();
      continue;  // jobs may have come meanwhile
    }
    if (next)
      timer_cv_.wait_until(lock, *next);
    else
      timer_cv_.wait(lock);
  }
}

}  // namespace ifo::webhook
