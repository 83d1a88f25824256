// Semantic validation of an InfisicalSecret, shared by the webhook (admission) and the syncer
// (specs admitted before the webhook existed). Returns every violation, each with its field path,
// plus the references into other namespaces that the webhook's policy must authorise.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/field_error.h"
#include "core/infisical_secret.h"
#include "core/json.h"

namespace ifo::core {

// What a cross-namespace reference points at (decides which permission the webhook checks).
enum class ReferenceKind {
  kCredentialsSecret,  // universal/ldapAuth.credentialsRef, serviceToken.serviceTokenSecretReference: get secrets
  kServiceAccount,     // kubernetesAuth.serviceAccountRef: create serviceaccounts/token
  kManagedSecret,      // a managed Secret target: create (and update) secrets
  kCaSecret,           // tls.caRef: get secrets
  kManagedConfigMap,   // a managed ConfigMap target: create (and update) configmaps
};
std::string_view reference_kind_name(ReferenceKind k);  // "credentials Secret", "service account", ...

struct CrossNamespaceReference {
  ReferenceKind kind;
  std::string namespace_;
  std::string name;
  std::string path;  // the field that holds it, e.g. "spec.authentication.universalAuth.credentialsRef"
  bool operator==(const CrossNamespaceReference&) const = default;
};

// The SubjectAccessReview resourceAttributes that stand for "the user may do this themselves".
struct AccessCheck {
  std::string verb;         // "get" | "create"
  std::string group;        // "" (core)
  std::string resource;     // "secrets" | "serviceaccounts" | "configmaps"
  std::string subresource;  // "token" for service accounts, else ""
  std::string namespace_;
  std::string name;  // empty for "create" (RBAC cannot restrict create by name)
};
AccessCheck access_check_for(const CrossNamespaceReference& ref);

struct ValidationReport {
  std::vector<FieldError> errors;
  // References whose namespace differs from the InfisicalSecret's; in declaration order, deduplicated.
  std::vector<CrossNamespaceReference> cross_namespace_references;
  bool ok() const { return errors.empty(); }
  std::string message() const { return format_field_errors(errors); }
};

// Validates the model. `request_namespace` stands in for metadata.namespace when that is empty (an
// AdmissionReview for a CREATE may carry the namespace only in the request).
ValidationReport validate_infisical_secret(const InfisicalSecret& resource, std::string_view request_namespace = {});

// Parse + validate a JSON object: type errors first, then rule violations (a rule violation under a
// field that already has a type error is dropped, so each field is reported once).
ValidationReport check_infisical_secret(const JsonValue& object, std::string_view request_namespace = {});
ValidationReport check_infisical_secret_json(std::string_view text, std::string_view request_namespace = {});

// Name rules (Kubernetes apimachinery): DNS-1123 label (namespaces, <= 63) and subdomain (<= 253).
bool is_dns1123_label(std::string_view s);
bool is_dns1123_subdomain(std::string_view s);
// A valid Secret (and ConfigMap) data key: [-._a-zA-Z0-9]+, at most 253 characters, not "." or "..".
bool is_secret_key(std::string_view s);
// An absolute http(s) URL with a host, optional port and path, and no query, fragment or whitespace.
bool is_http_url(std::string_view s);

// Built-in Secret types that a managed Secret may use; other "kubernetes.io/" types are refused.
inline constexpr std::string_view kAllowedBuiltinSecretTypes[] = {
    "Opaque", "kubernetes.io/basic-auth", "kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson",
    "kubernetes.io/ssh-auth", "kubernetes.io/tls"};
// Types that would let an InfisicalSecret mint cluster credentials.
inline constexpr std::string_view kForbiddenSecretTypes[] = {"kubernetes.io/service-account-token",
                                                             "bootstrap.kubernetes.io/token"};

}  // namespace ifo::core
