// DeferredValidation: a first attempt from cached answers, another once the missing ones are in.
#include "webhook/deferred_validation.h"

#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ifo::webhook {
namespace {

using Answers = std::map<std::string, AccessAnswer>;

struct Missing {
  std::string key;
  UserInfo user;
  core::AccessCheck check;
};

// The first attempt's authorizer: the cached answer, else "not known yet" and the check is noted.
class CachedOnly final : public Authorizer {
 public:
  explicit CachedOnly(AsyncAuthorizer& authorizer) : authorizer_(authorizer) {}
  std::optional<bool> allowed(const UserInfo& user, const core::AccessCheck& check) override {
    std::string key = access_key(user, check);
    if (auto it = known.find(key); it != known.end()) return it->second.kind == AccessAnswer::Kind::kAllowed;
    if (auto answer = authorizer_.cached(user, check)) {
      // Kept, so the second attempt gets the same answer even if the cache entry expires meanwhile.
      known.emplace(std::move(key),
                    AccessAnswer{*answer ? AccessAnswer::Kind::kAllowed : AccessAnswer::Kind::kDenied, ""});
      return answer;
    }
    bool noted = false;
    for (const auto& m : missing) noted = noted || m.key == key;
    if (!noted) missing.push_back({std::move(key), user, check});
    return std::nullopt;
  }
  Answers known;
  std::vector<Missing> missing;

 private:
  AsyncAuthorizer& authorizer_;
};

// The second attempt's authorizer: every answer is known (or why it could not be had).
class Answered final : public Authorizer {
 public:
  explicit Answered(const Answers& answers) : answers_(answers) {}
  std::optional<bool> allowed(const UserInfo& user, const core::AccessCheck& check) override {
    auto it = answers_.find(access_key(user, check));
    if (it == answers_.end()) throw std::runtime_error("the webhook did not ask this check; retry");
    if (it->second.kind == AccessAnswer::Kind::kUnverified) throw std::runtime_error(it->second.why);
    return it->second.kind == AccessAnswer::Kind::kAllowed;
  }

 private:
  const Answers& answers_;
};

// One deferred request: its body (the connection's buffer is not kept), when it began (the trust
// lookups' deadline counts from then), the answers so far, and where the reply goes once it is known.
struct Waiting {
  std::string body;
  DeferredValidation::Resume resume;
  std::chrono::steady_clock::time_point since;
  std::mutex mu;
  Answers answers;
  size_t remaining = 0;
};

// The attempt once every check is answered: `answers` no longer changes then, so it is read without
// the lock (an attempt may run on a pool thread and, at its deadline, again on the timer's: neither
// may wait for the other).
AsyncTrustLookup::Attempt attempt_with(const std::shared_ptr<Waiting>& waiting,
                                       const AdmissionHandler& handler) {
  return [waiting, &handler](TrustLookup& lookup) {
    Answered second(waiting->answers);
    return handler.validate(waiting->body, &second, &lookup);
  };
}

// Every check is answered: the attempt runs with the trust lookups memory holds, and only if it
// needs more does it go off the loops.
void with_answers(const std::shared_ptr<Waiting>& waiting, const AdmissionHandler& handler,
                  AsyncTrustLookup* trust) {
  if (trust == nullptr) {
    waiting->resume([waiting, &handler] {
      Answered second(waiting->answers);
      return handler.validate(waiting->body, &second);
    });
    return;
  }
  AsyncTrustLookup::Attempt attempt = attempt_with(waiting, handler);
  std::optional<Reply> now;
  try {
    now = trust->from_memory(attempt);
  } catch (...) {
    // Carried to the loop, which answers it as any failed attempt (a 500): this may be an
    // authorizer's thread.
    waiting->resume([failure = std::current_exception()]() -> Reply { std::rethrow_exception(failure); });
    return;
  }
  if (now) {
    waiting->resume([reply = std::move(*now)] { return reply; });
    return;
  }
  trust->run(std::move(attempt), waiting->resume, waiting->since);
}

}  // namespace

std::optional<Reply> DeferredValidation::validate(std::string_view body,
                                                  const std::function<Resume()>& defer) const {
  const auto since = std::chrono::steady_clock::now();
  CachedOnly first(authorizer_);
  std::optional<Reply> reply;
  if (trust_ != nullptr)
    reply =
        trust_->from_memory([&](TrustLookup& lookup) { return handler_.validate(body, &first, &lookup); });
  else
    reply = handler_.validate(body, &first);
  if (reply && !reply->pending) return reply;
  auto waiting = std::make_shared<Waiting>();
  waiting->body.assign(body);
  waiting->resume = defer();
  waiting->since = since;
  waiting->answers = std::move(first.known);
  waiting->remaining = first.missing.size();
  const AdmissionHandler& handler = handler_;
  AsyncTrustLookup* trust = trust_;
  // No check missing: the attempt needed a trust lookup that memory does not hold (only with trust_:
  // without it every attempt has a reply).
  if (first.missing.empty()) {
    trust->run(attempt_with(waiting, handler), waiting->resume, since);
    return std::nullopt;
  }
  for (auto& m : first.missing) {
    // An answer may come on this thread (refused at once) or another one; the last one goes on.
    authorizer_.ask(m.user, m.check, [waiting, key = m.key, &handler, trust](AccessAnswer answer) {
      {
        std::lock_guard lock(waiting->mu);
        waiting->answers[key] = std::move(answer);
        if (--waiting->remaining > 0) return;
      }
      with_answers(waiting, handler, trust);
    });
  }
  return std::nullopt;
}

}  // namespace ifo::webhook
