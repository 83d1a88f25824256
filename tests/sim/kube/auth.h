// kube-sim authentication and authorization: service-account tokens (TokenRequest), their review
// (TokenReview) and their use as bearer tokens, static user tokens, and SubjectAccessReview answered
// from a rule table.
//
// Behaviour copied from kube-apiserver (pkg/serviceaccount, pkg/registry/core/serviceaccount/storage):
//   - TokenRequest (POST /api/v1/namespaces/NS/serviceaccounts/NAME/token): the ServiceAccount must
//     exist (404 `serviceaccounts "NAME" not found`); spec.expirationSeconds defaults to 3600 and may not
//     be below 600 (422); spec.audiences defaults to the API audiences (the issuer). The answer is a
//     TokenRequest with status.token (RS256 JWT, `kid` header) and status.expirationTimestamp.
//     Claims: iss, sub `system:serviceaccount:NS:NAME`, aud, exp, iat, nbf, jti,
//     kubernetes.io{namespace, serviceaccount{name, uid}} (plus boundObjectRef echoed when given).
//   - TokenReview (POST /apis/authentication.k8s.io/v1/tokenreviews): checks the signature, exp/nbf with
//     go-jose's one-minute leeway, the audience intersection (spec.audiences, default the API audiences),
//     and that the ServiceAccount still exists with the same uid. Failures answer 201 with
//     status.authenticated absent and status.error such as
//     `[invalid bearer token, service account token has expired]`.
//   - Bearer authentication: a TokenRequest JWT authenticates as the service account (groups
//     system:serviceaccounts, system:serviceaccounts:NS, system:authenticated) when its audiences
//     include the API audience, exactly as in a real cluster.
//   - SubjectAccessReview (POST /apis/authorization.k8s.io/v1/subjectaccessreviews), its Local and Self
//     forms, and (AuthOptions::authorize_requests) every API request: answered by authorize(), i.e. the
//     bootstrap policy of a real cluster (system:masters; discovery and self-reviews for everyone) and
//     then a rule table given at start-up (see parse_access_rules); an empty table allows everything.
//     With AuthOptions::rbac (--authorization-mode=RBAC) authorize() is instead RBAC over the stored
//     Roles/ClusterRoles/RoleBindings/ClusterRoleBindings (rbac.h), and SelfSubjectRulesReview
//     (`kubectl auth can-i --list`) lists the rules RBAC resolves for the requesting user.
// Not simulated: bound Pod/Secret objects (boundObjectRef is echoed into the claims but not checked),
// legacy Secret-based tokens, JWKS/OIDC discovery endpoints.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "sim/kube/rbac.h"
#include "sim/kube/server.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

// One line of the access rule table. Every field is "*" (any) or an exact value.
struct AccessRule {
  bool allow = true;
  std::string subject = "*";  // "*", "user:NAME" or "group:NAME"
  std::string verb = "*";     // get list watch create update patch delete deletecollection (non-resource: get, post, ...)
  // "secrets", "deployments.apps" (resource.group), with subresource "pods/log" or "deployments.apps/status";
  // for a non-resource request the path ("/metrics"). "secrets" does not match "secrets/status".
  std::string resource = "*";
  // "*" matches cluster-scoped requests (ns "") too; "team-a" only requests in namespace team-a.
  std::string ns = "*";
  std::string name = "*";
  int line = 0;  // where it came from, for reasons and errors
};

// The table text: one rule per line, `allow|deny SUBJECT VERB RESOURCE NAMESPACE NAME` (whitespace
// separated, all six fields), '#' comments and blank lines ignored. The first matching rule decides;
// when no rule matches the answer is not allowed. Errors name the line.
//   allow group:system:masters * * * *
//   allow user:system:serviceaccount:ops:syncer get secrets team-a *
//   deny  * * * * *
core::Result<std::vector<AccessRule>> parse_access_rules(std::string_view text);

// The kube-apiserver --token-auth-file CSV: `token,user,uid,"group1,group2"` per line.
core::Result<std::vector<StaticToken>> parse_token_file(std::string_view text);

struct AuthOptions {
  std::string issuer = "https://kubernetes.default.svc.cluster.local";
  std::vector<std::string> api_audiences;  // empty: {issuer}
  std::vector<AccessRule> rules;           // empty: allow everything
  // Authorize every API request with authorize() (kube-sim --authorize-requests); off: only the
  // access reviews consult it.
  bool authorize_requests = false;
  // --authorization-mode=RBAC: authorize() is RBAC over the stored RBAC objects (rbac.h) instead of the
  // table (which must then be empty), and every API request is authorized (authorize_requests).
  bool rbac = false;
  // The server's static user tokens, so that TokenReview also authenticates them (audience-agnostic
  // tokens count only for the API audiences, as kube-apiserver wraps them).
  std::vector<StaticToken> static_tokens;
  Store::Clock clock;                      // null: system_clock::now
};

class ServiceAccountAuth {
 public:
  // Generates the RS256 signing key (RSA-2048). `store` provides ServiceAccounts.
  ServiceAccountAuth(Store& store, AuthOptions options);

  // CreateHandler for ("", "serviceaccounts", "token"): the TokenRequest answer. Throws StatusError.
  core::JsonDoc token_request(const CreateCall& call);
  // CreateHandler for ("authentication.k8s.io", "tokenreviews", "").
  core::JsonDoc token_review(const CreateCall& call);
  // CreateHandlers for ("authorization.k8s.io", "subjectaccessreviews" | "localsubjectaccessreviews" |
  // "selfsubjectaccessreviews", ""): answered by authorize() over the table; a SelfSubjectAccessReview
  // for the requesting user (so `kubectl auth can-i` works), a Local one in the path's namespace.
  core::JsonDoc subject_access_review(const CreateCall& call);
  core::JsonDoc local_subject_access_review(const CreateCall& call);
  core::JsonDoc self_subject_access_review(const CreateCall& call);
  // CreateHandler for ("authorization.k8s.io", "selfsubjectrulesreviews", ""): spec.namespace required
  // (400 `no namespace on request`); status.resourceRules/nonResourceRules as RBAC resolves them for the
  // requesting user in that namespace (evaluationError when a binding's role is missing). Without RBAC:
  // everything (`*`) when the table is empty, else no rules, incomplete, and an evaluationError saying the
  // table cannot be listed.
  core::JsonDoc self_subject_rules_review(const CreateCall& call);
  // authorize() over this module's table, or RBAC (the KubeSim authorizer when authorize_requests is set).
  AccessDecision authorize(const RequestAttributes& attrs) const;
  // Authenticator: a valid service-account JWT for the API audience -> its user; nullopt otherwise.
  std::optional<UserInfo> authenticate(std::string_view token) const;

  const std::string& public_key_pem() const { return public_pem_; }
  uint64_t tokens_issued() const { return issued_.load(); }

  struct Review {
    bool authenticated = false;
    UserInfo user;
    std::vector<std::string> audiences;
    std::string error;
  };
  // TokenReview logic; `audiences` empty: the API audiences.
  Review review(std::string_view token, const std::vector<std::string>& audiences) const;

 private:
  std::chrono::system_clock::time_point now() const;
  core::JsonDoc access_review(const CreateCall& call, const std::string& kind, const std::string& path_namespace);

  Store& store_;
  AuthOptions options_;
  std::string private_pem_;
  std::string public_pem_;
  std::string kid_;
  std::atomic<uint64_t> issued_{0};
  RbacAuthorizer rbac_;
};

// The rule table alone (pure): the first rule matching attrs' user or one of its groups, verb,
// "resource[.group][/subresource]" (or the path of a non-resource request), namespace and name decides;
// no match is no (reason "", as RBAC); `rules` empty allows all.
AccessDecision decide_access(const std::vector<AccessRule>& rules, const RequestAttributes& attrs);

// A cluster's authorizer chain over the table (pure): group system:masters may do everything; the
// bootstrap ClusterRoles every cluster binds allow GET of /healthz /livez /readyz /version to anyone,
// GET of /api* /apis* /openapi* (system:discovery) and creating selfsubjectaccessreviews,
// selfsubjectrulesreviews and selfsubjectreviews (system:basic-user) to group system:authenticated;
// everything else is decide_access.
AccessDecision authorize(const std::vector<AccessRule>& rules, const RequestAttributes& attrs);

}  // namespace ifo::kubesim
