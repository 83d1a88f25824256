// SarAuthorizer: SubjectAccessReviews on a bounded pool with deadlines, sharing and a short cache.
#include "webhook/sar_authorizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <utility>

namespace ifo::webhook {
namespace {

// Answers older than the TTL are dropped when the cache reaches this size; if every one is still
// fresh the cache is emptied (answers live only a second or so anyway).
constexpr size_t kMaxCachedAnswers = 10000;

AccessAnswer unverified(std::string why) {
  return AccessAnswer{AccessAnswer::Kind::kUnverified, std::move(why)};
}

}  // namespace

SarAuthorizer::SarAuthorizer(kube::Api& api, SarAuthorizerOptions options) : api_(api), options_(options) {
  options_.threads = std::max<size_t>(options_.threads, 1);
  options_.max_pending = std::max<size_t>(options_.max_pending, 1);
  senders_.reserve(options_.threads);
  for (size_t i = 0; i < options_.threads; ++i) senders_.emplace_back([this] { send_reviews(); });
  timer_ = std::thread([this] { expire_waiters(); });
}

SarAuthorizer::~SarAuthorizer() {
  std::vector<Waiter> left;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [key, check] : pending_)
      for (auto& w : check->waiters) left.push_back(std::move(w));
    for (auto& [key, check] : pending_) check->waiters.clear();
    queue_.clear();
  }
  work_cv_.notify_all();
  timer_cv_.notify_all();
  for (auto& w : left) w.done(unverified("the webhook is shutting down"));
  for (auto& t : senders_) t.join();
  timer_.join();
}

size_t SarAuthorizer::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

size_t SarAuthorizer::waiting() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, check] : pending_) n += check->waiters.size();
  return n;
}

std::optional<bool> SarAuthorizer::cached_locked(const std::string& key, Clock::time_point now) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    cache_.erase(it);
    return std::nullopt;
  }
  return it->second.allowed;
}

std::optional<bool> SarAuthorizer::cached(const UserInfo& user, const core::AccessCheck& check) {
  const std::string key = access_key(user, check);
  std::lock_guard lock(mu_);
  return cached_locked(key, Clock::now());
}

void SarAuthorizer::ask(const UserInfo& user, const core::AccessCheck& check,
                        std::function<void(AccessAnswer)> done) {
  std::string key = access_key(user, check);
  const auto now = Clock::now();
  std::optional<AccessAnswer> at_once;
  {
    std::lock_guard lock(mu_);
    if (auto known = cached_locked(key, now)) {
      at_once = AccessAnswer{*known ? AccessAnswer::Kind::kAllowed : AccessAnswer::Kind::kDenied, ""};
    } else if (stopping_) {
      at_once = unverified("the webhook is shutting down");
    } else if (auto it = pending_.find(key); it != pending_.end()) {
      // The same check is queued or being sent: this request shares its review.
      it->second->waiters.push_back({std::move(done), now + options_.deadline});
    } else if (pending_.size() >= options_.max_pending) {
      refused_busy_.fetch_add(1);
      at_once = unverified(
          fmt::format("{} SubjectAccessReviews are already waiting for the API server (the limit); "
                      "retry in a few seconds",
                      options_.max_pending));
    } else {
      auto c = std::make_shared<Check>();
      c->key = key;
      c->subject = kube::AccessReviewSubject{user.username, user.uid, user.groups, user.extra};
      c->attributes = kube::ResourceAttributes{check.namespace_, check.verb,        check.group, "v1",
                                               check.resource,   check.subresource, check.name};
      c->waiters.push_back({std::move(done), now + options_.deadline});
      pending_.emplace(std::move(key), c);
      queue_.push_back(std::move(c));
      work_cv_.notify_one();
    }
  }
  if (at_once) {
    done(std::move(*at_once));
    return;
  }
  timer_cv_.notify_one();  // a new waiter may have the earliest deadline
}

void SarAuthorizer::send_reviews() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Check> c = std::move(queue_.front());
    queue_.pop_front();
    c->sending = true;
    lock.unlock();
    AccessAnswer answer;
    std::optional<bool> allowed;
    try {
      sent_.fetch_add(1);
      allowed = api_.create_subject_access_review(c->subject, c->attributes).allowed;
      answer.kind = *allowed ? AccessAnswer::Kind::kAllowed : AccessAnswer::Kind::kDenied;
    } catch (const std::exception& e) {
      // kube errors name the verb and path, never the token or the request body.
      answer = unverified(fmt::format("the SubjectAccessReview failed: {}", e.what()));
    }
    lock.lock();
    const auto now = Clock::now();
    if (allowed) {
      if (cache_.size() >= kMaxCachedAnswers)
        std::erase_if(cache_, [now](const auto& e) { return e.second.expires <= now; });
      if (cache_.size() >= kMaxCachedAnswers) cache_.clear();
      cache_[c->key] = Cached{*allowed, now + options_.cache_ttl};
    }
    std::vector<Waiter> waiters = std::move(c->waiters);
    c->waiters.clear();
    pending_.erase(c->key);
    lock.unlock();
    for (auto& w : waiters) w.done(answer);
    lock.lock();
  }
}

void SarAuthorizer::expire_waiters() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = Clock::now();
    std::vector<Waiter> expired;
    std::optional<Clock::time_point> next;
    for (auto it = pending_.begin(); it != pending_.end();) {
      Check& c = *it->second;
      auto late = std::stable_partition(c.waiters.begin(), c.waiters.end(),
                                        [now](const Waiter& w) { return w.deadline > now; });
      std::move(late, c.waiters.end(), std::back_inserter(expired));
      c.waiters.erase(late, c.waiters.end());
      for (const auto& w : c.waiters) next = next ? std::min(*next, w.deadline) : w.deadline;
      if (c.waiters.empty() && !c.sending) {
        // Nobody waits for it any more and no thread has taken it: it is not sent at all.
        queue_.erase(std::remove(queue_.begin(), queue_.end(), it->second), queue_.end());
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (!expired.empty()) {
      timed_out_.fetch_add(expired.size());
      lock.unlock();
      const auto ms = options_.deadline.count();
      for (auto& w : expired)
        w.done(unverified(
            fmt::format("the API server did not answer the SubjectAccessReview within {}ms; retry", ms)));
      lock.lock();
      continue;  // waiters may have come meanwhile
    }
    if (next)
      timer_cv_.wait_until(lock, *next);
    else
      timer_cv_.wait(lock);
  }
}

}  // namespace ifo::webhook
