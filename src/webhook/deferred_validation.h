// /validate without blocking an event loop on the API server. The first attempt runs at once with
// the answers the authorizer has cached and the trust lookups memory holds (most requests need none,
// or recent ones); when it needs SubjectAccessReviews, they are asked (AsyncAuthorizer::ask, which
// answers each by its deadline) and the request is validated again, with those answers, once every
// one has come; when it needs a trust lookup that memory does not hold, that attempt runs off the
// loops (AsyncTrustLookup::run, which answers by the same deadline).
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "webhook/admission.h"
#include "webhook/async_authorizer.h"
#include "webhook/async_trust_lookup.h"

namespace ifo::webhook {

class DeferredValidation {
 public:
  // Takes the reply once every check and lookup is answered (a function: in-memory work, which the
  // loop runs, or a reply already made); called once, from any thread.
  using Resume = std::function<void(std::function<Reply()> second_attempt)>;

  // Without `trust`, trust lookups go to the handler's own TrustLookup (which may block the loop:
  // tests and benchmarks only).
  DeferredValidation(const AdmissionHandler& handler, AsyncAuthorizer& authorizer,
                     AsyncTrustLookup* trust = nullptr)
      : handler_(handler), authorizer_(authorizer), trust_(trust) {}

  // The reply when it is known now. Otherwise calls `defer` (once, before anything is asked) for where
  // the second attempt goes, asks the missing checks and returns nullopt.
  std::optional<Reply> validate(std::string_view body, const std::function<Resume()>& defer) const;

 private:
  const AdmissionHandler& handler_;
  AsyncAuthorizer& authorizer_;
  AsyncTrustLookup* trust_;
};

}  // namespace ifo::webhook
