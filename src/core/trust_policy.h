// The trust boundary (DESIGN.md section 8): which references, hosts and service-account tokens an
// InfisicalSecret may use. One pure decision shared by the syncer (which enforces it on every
// reconcile, before anything is read, minted, sent or written) and the webhook (which says the same
// earlier); each process feeds it what it can know (grants, ServiceAccount annotations, the host).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/field_error.h"
#include "core/infisical_secret.h"
#include "core/json.h"
#include "core/result.h"

namespace ifo::core {

// An InfisicalReferenceGrant (secrets.infisical.com/v1alpha1), in the namespace that grants:
//   spec.from[]: {namespace}          InfisicalSecrets of these namespaces may refer ...
//   spec.to[]:   {kind, name?}        ... to objects of this kind (Secret, ServiceAccount, ConfigMap) of
//                                      the grant's namespace; name omitted: any object of that kind.
struct ReferenceGrant {
  struct To {
    std::string kind;
    std::string name;  // empty: any
  };
  std::string namespace_;  // the granting namespace (metadata.namespace)
  std::string name;
  std::vector<std::string> from_namespaces;
  std::vector<To> to;
};
inline constexpr std::string_view kGrantableKinds[] = {"Secret", "ServiceAccount", "ConfigMap"};

// Reads a grant object; errors name the field ("spec.to[1].kind: ..."). A grant with errors grants nothing.
struct ParsedReferenceGrant {
  ReferenceGrant grant;
  std::vector<FieldError> errors;
  bool ok() const { return errors.empty(); }
};
ParsedReferenceGrant parse_reference_grant(const JsonValue& object);

// The admin's choices (operator flags / chart values `security.*`).
struct TrustPolicy {
  // Upstream-compatible mode: cross-namespace references need no grant and Kubernetes auth needs no
  // ServiceAccount opt-in. Never the default.
  bool cross_namespace_without_grant = false;
  // Hosts a spec's hostAPI may name: "app.infisical.com", "*.example.com" (any subdomain), with an
  // optional ":port" (without one any port matches); "*" allows every host. Compared ASCII
  // case-insensitively. The admin's global host (infisical-config ConfigMap) is always allowed.
  std::vector<std::string> allowed_hosts = {"app.infisical.com", "us.infisical.com", "eu.infisical.com"};
  // http:// hosts from a spec (the admin's global host is used as written).
  bool allow_http = false;
};

// What the calling process knows when it decides.
struct TrustInputs {
  std::string global_host_api;  // the infisical-config ConfigMap's hostAPI ("" when unset)
  // Grants of every namespace the resource refers into (others are ignored).
  std::vector<ReferenceGrant> grants;
  // kubernetesAuth: the annotations of the referenced ServiceAccount; nullopt when it was not read
  // (not found: the token request then fails on its own; the policy refuses to mint without it).
  std::optional<std::map<std::string, std::string>> service_account_annotations;
};

struct TrustRefusal {
  std::string reason;   // kReasonReferenceNotGranted | kReasonHostNotAllowed | kReasonServiceAccountNotOptedIn
  std::string path;     // the field that holds the refused reference, e.g. "spec.hostAPI"
  std::string message;  // what was refused and why (names, never values)
  std::string remedy;   // what admits it: an InfisicalReferenceGrant as YAML, or a kubectl command
};

// A reference from an InfisicalSecret to an object that the trust rules govern.
struct TrustReference {
  std::string kind;  // "Secret", "ServiceAccount", "ConfigMap"
  std::string namespace_;
  std::string name;
  std::string path;
  std::string role;  // "credentials Secret", "CA Secret", "managed Secret", "service account", ...
};
// Every reference of the resource (same namespace too), in declaration order.
std::vector<TrustReference> trust_references(const InfisicalSecret& resource);

// The host part of a hostAPI URL, lower-cased, with scheme and port: {"https", "app.infisical.com", 443}.
struct HostParts {
  std::string scheme;
  std::string host;
  int port = 0;
};
Result<HostParts> parse_host_api(std::string_view url);
// True when host[:port] matches one allow-list entry (see TrustPolicy::allowed_hosts).
bool host_allowed(const std::vector<std::string>& allowed_hosts, const HostParts& host);

// Whether InfisicalSecrets of namespace `from_namespace` may use the `kind` object `ns`/`name`: always in
// their own namespace; in another one only when a grant of that namespace among `grants` lets
// `from_namespace` refer to that kind (and that name, if the grant names one), or in upstream-compatible
// mode. The one grant rule: check_trust applies it to a spec's references, the webhook's digest cache to
// the managed Secrets an InfisicalSecret publishes digests for.
bool reference_allowed(const TrustPolicy& policy, std::span<const ReferenceGrant> grants,
                       std::string_view from_namespace, std::string_view kind, std::string_view ns,
                       std::string_view name);

// Every refusal for this resource under the policy, in declaration order; empty: allowed. Checks:
// cross-namespace references against the grants of the referenced namespace; the resolved host
// (spec.hostAPI, else the global host) against the allow-list and scheme; a Kubernetes-auth
// ServiceAccount's opt-in annotation for the spec's identityId.
std::vector<TrustRefusal> check_trust(const InfisicalSecret& resource, const TrustPolicy& policy,
                                      const TrustInputs& inputs);

// Whether a reconcile of `resource` may write an existing managed Secret or ConfigMap (DESIGN.md
// section 8: a managed object is bound to the UID of the InfisicalSecret that created or adopted it).
enum class ClaimDecision {
  kOwned,     // bound to this resource: write it
  kClaim,     // unbound and claimable (ours from an earlier version, upstream's, or adopted on purpose):
              // write it and bind it
  kConflict,  // bound to another resource, or foreign and not adopted: never written
};
struct Claim {
  ClaimDecision decision;
  std::string message;  // kConflict: why, and what would let the resource take it over
};
// `existing` is the managed object (a Secret, or a ConfigMap: both are bound by the same annotations,
// and `kind` names it in messages); `owner_alive(namespace, name, uid)` says whether that
// InfisicalSecret still exists with that UID. Adoption (annotation secrets.infisical.com/adopt: "true")
// works only within the resource's own namespace.
Claim claim_managed_secret(const JsonValue& existing, const InfisicalSecret& resource,
                           const std::function<bool(const std::string&, const std::string&, const std::string&)>& owner_alive,
                           std::string_view kind = "Secret");

}  // namespace ifo::core
