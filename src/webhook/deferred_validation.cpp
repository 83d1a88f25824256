// DeferredValidation: a first attempt from cached answers, a second once the missing ones are in.
#include "webhook/deferred_validation.h"

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

// One deferred request: its body (the connection's buffer is not kept), the answers so far, and
// where the second attempt goes once the last one comes.
struct Waiting {
  std::string body;
  DeferredValidation::Resume resume;
  std::mutex mu;
  Answers answers;
  size_t remaining = 0;
};

}  // namespace

std::optional<Reply> DeferredValidation::validate(std::string_view body,
                                                  const std::function<Resume()>& defer) const {
  CachedOnly first(authorizer_);
  Reply reply = handler_.validate(body, &first);
  if (!reply.pending) return reply;
  auto waiting = std::make_shared<Waiting>();
  waiting->body.assign(body);
  waiting->resume = defer();
  waiting->answers = std::move(first.known);
  waiting->remaining = first.missing.size();
  const AdmissionHandler& handler = handler_;
  for (auto& m : first.missing) {
    // An answer may come on this thread (refused at once) or another one; the last one resumes.
    authorizer_.ask(m.user, m.check, [waiting, key = m.key, &handler](AccessAnswer answer) {
      {
        std::lock_guard lock(waiting->mu);
        waiting->answers[key] = std::move(answer);
        if (--waiting->remaining > 0) return;
      }
      waiting->resume([waiting, &handler] {
        std::lock_guard lock(waiting->mu);
        Answered second(waiting->answers);
        return handler.validate(waiting->body, &second);
      });
    });
  }
  return std::nullopt;
}

}  // namespace ifo::webhook
