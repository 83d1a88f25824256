// Access checks (SubjectAccessReviews) asked without waiting: the answer when it is known now, else
// a callback once it is, so the event loops never block on the API server.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/validation.h"
#include "webhook/admission.h"

namespace ifo::webhook {

// The outcome of one access check. kUnverified carries why it could not be answered (the API server
// failed or was too slow, or too many checks were pending): the request is denied with that message.
struct AccessAnswer {
  enum class Kind { kAllowed, kDenied, kUnverified };
  Kind kind = Kind::kUnverified;
  std::string why;  // kUnverified: no secret values, no tokens
};

class AsyncAuthorizer {
 public:
  virtual ~AsyncAuthorizer() = default;
  // The answer when it is known now (a recent one is cached); never blocks.
  virtual std::optional<bool> cached(const UserInfo& user, const core::AccessCheck& check) = 0;
  // Asks; never blocks. `done` is called exactly once, on another thread, or on this one before
  // ask() returns when the check is refused at once (too many pending). It must not block either.
  virtual void ask(const UserInfo& user, const core::AccessCheck& check,
                   std::function<void(AccessAnswer)> done) = 0;
};

// What identifies a check: the whole user (name, uid, groups, extra) and the whole question. Equal
// keys get one SubjectAccessReview and share its answer.
std::string access_key(const UserInfo& user, const core::AccessCheck& check);

}  // namespace ifo::webhook
