// /validate without blocking an event loop on SubjectAccessReviews. The first attempt runs at once
// with the answers the authorizer has cached (most requests need none, or a recent one); when it
// needs others, they are asked (AsyncAuthorizer::ask, which answers each by its deadline) and the
// request is validated a second time, with those answers, once every one has come.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "webhook/admission.h"
#include "webhook/async_authorizer.h"

namespace ifo::webhook {

class DeferredValidation {
 public:
  // Takes the second attempt (validate() over the answers: in-memory, it asks the authorizer
  // nothing) once every check is answered; called once, from any thread.
  using Resume = std::function<void(std::function<Reply()> second_attempt)>;

  DeferredValidation(const AdmissionHandler& handler, AsyncAuthorizer& authorizer)
      : handler_(handler), authorizer_(authorizer) {}

  // The reply when it is known now. Otherwise calls `defer` (once, before anything is asked) for where
  // the second attempt goes, asks the missing checks and returns nullopt.
  std::optional<Reply> validate(std::string_view body, const std::function<Resume()>& defer) const;

 private:
  const AdmissionHandler& handler_;
  AsyncAuthorizer& authorizer_;
};

}  // namespace ifo::webhook
