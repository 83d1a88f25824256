// AdmissionReview v1 handling for /validate-infisicalsecret and /mutate-workload, over injected
// dependencies (an authorizer for the requesting user's own rights, a lookup of what the trust policy
// needs, a digest cache for rollout hashes), so the whole decision logic runs in unit tests on JSON inputs.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/trust_policy.h"
#include "core/validation.h"

namespace ifo::webhook {

struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

// "May this user do that themselves?" (SubjectAccessReview). Throws when the question cannot be
// answered (the message says why); nullopt when the answer is not known yet (an authorizer that
// does not wait, see async_authorizer.h): validate() then answers Reply::pending.
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual std::optional<bool> allowed(const UserInfo& user, const core::AccessCheck& check) = 0;
};

// What the trust policy (DESIGN.md section 8) needs from the cluster, asked only when a spec needs it:
// a spec without hostAPI, without references into other namespaces and without kubernetesAuth asks
// nothing. Each call throws when it cannot ask (the handler then denies: fail closed). An
// implementation may answer from a short cache unless `fresh`: the handler asks again with `fresh`
// before it refuses, so a grant or opt-in made a moment ago counts.
class TrustLookup {
 public:
  virtual ~TrustLookup() = default;
  // The valid InfisicalReferenceGrants of a namespace (none when the grant kind is not served).
  virtual std::vector<core::ReferenceGrant> grants(std::string_view ns, bool fresh) = 0;
  // The annotations of a ServiceAccount; nullopt when it does not exist.
  virtual std::optional<std::map<std::string, std::string>> service_account_annotations(std::string_view ns,
                                                                                        std::string_view name,
                                                                                        bool fresh) = 0;
  // The infisical-config ConfigMap's hostAPI in the operator's namespace; "" when it or the key is absent.
  virtual std::string global_host_api(bool fresh) = 0;
};

// Per-key digests of managed Secrets, fed by a watch; no API call behind it.
class DigestSource {
 public:
  virtual ~DigestSource() = default;
  virtual bool synced() const = 0;
  // Data key -> digest of one managed Secret, shared and immutable (no copy per request); nullptr
  // when no managed Secret of that name is known.
  virtual std::shared_ptr<const std::map<std::string, std::string>> key_digests(std::string_view ns,
                                                                              std::string_view name) const = 0;
};

enum class CrossNamespacePolicy { kDeny, kAuthorize, kAllow };
std::optional<CrossNamespacePolicy> parse_policy(std::string_view text);
std::string_view policy_name(CrossNamespacePolicy p);

// An HTTP answer; `result` is the metrics label (allowed, denied, patched, bad_request, error).
// `pending`: no answer yet, because the authorizer did not know an answer validate() needs (the
// caller asks again once it does); status and body are then empty.
struct Reply {
  int status = 200;
  std::string body;
  std::string result;
  bool pending = false;
};

// `policy` decides whether the requesting user's own rights are checked (SubjectAccessReview) for
// references into other namespaces; `trust` is the trust boundary the syncer enforces, said here at
// apply time. Without a `trust_lookup` every spec that needs one is denied (fail closed).
class AdmissionHandler {
 public:
  AdmissionHandler(CrossNamespacePolicy policy, Authorizer* authorizer, const DigestSource* digests,
                   core::TrustPolicy trust = {}, TrustLookup* trust_lookup = nullptr)
      : policy_(policy), authorizer_(authorizer), digests_(digests), trust_(std::move(trust)),
        trust_lookup_(trust_lookup) {}

  Reply validate(std::string_view body) const { return validate(body, authorizer_, trust_lookup_); }
  // With another authorizer than the handler's own (the server's per-request ones).
  Reply validate(std::string_view body, Authorizer* authorizer) const {
    return validate(body, authorizer, trust_lookup_);
  }
  // With another authorizer and trust lookup than the handler's own (the server's per-attempt ones,
  // which answer from memory on an event loop and ask the API server off it: deferred_validation.h).
  Reply validate(std::string_view body, Authorizer* authorizer, TrustLookup* trust_lookup) const;
  Reply mutate(std::string_view body) const;

 private:
  // The trust policy's refusals (and lookups that failed) as field errors; asks `lookup` only for
  // what this resource needs, and confirms a refusal with fresh answers. `report` is the resource's
  // validation (without errors).
  std::vector<core::FieldError> trust_errors(const core::InfisicalSecret& resource,
                                             const core::ValidationReport& report, TrustLookup* lookup) const;

  CrossNamespacePolicy policy_;
  Authorizer* authorizer_;
  const DigestSource* digests_;
  core::TrustPolicy trust_;
  TrustLookup* trust_lookup_;
};

// A 400/413/415/500 body: a v1 Status with the message (what kube-apiserver logs when a webhook fails).
std::string status_body(int code, std::string_view message);

}  // namespace ifo::webhook
