// The InfisicalSecret custom resource as a C++ value, parsed from its JSON with field-path errors.
// Parsing checks only JSON types (a wrong type is an error naming the field, never a crash);
// semantic rules (required fields, one auth method, names, ranges) live in core/validation.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/conditions.h"
#include "core/field_error.h"
#include "core/json.h"
#include "core/managed_digests.h"

namespace ifo::core {

// A reference to a Secret in a namespace (upstream KubeSecretReference).
struct SecretReference {
  std::string secret_name;
  std::string secret_namespace;
  bool operator==(const SecretReference&) const = default;
};

// Where a machine identity reads secrets (upstream MachineIdentityScopeInWorkspace).
struct MachineIdentityScope {
  std::string project_slug;  // exactly one of project_slug / project_id (validation)
  std::string project_id;
  std::string env_slug;
  std::string secrets_path;
  bool recursive = false;
  std::string secret_name;  // non-empty: only this one secret (never with recursive, validation)
  bool operator==(const MachineIdentityScope&) const = default;
};

// Where a service token reads secrets (the project comes from the token).
struct ServiceTokenScope {
  std::string env_slug;
  std::string secrets_path;
  bool recursive = false;
  bool operator==(const ServiceTokenScope&) const = default;
};

struct ServiceAccountReference {
  std::string name;
  std::string namespace_;
  bool operator==(const ServiceAccountReference&) const = default;
};

// The eight authentication methods, in the order the CRD lists them.
enum class AuthMethod {
  kUniversalAuth,
  kKubernetesAuth,
  kAwsIamAuth,
  kAzureAuth,
  kGcpIdTokenAuth,
  kGcpIamAuth,
  kServiceToken,
  kLdapAuth
};
inline constexpr AuthMethod kAllAuthMethods[] = {AuthMethod::kUniversalAuth, AuthMethod::kKubernetesAuth,
                                                 AuthMethod::kAwsIamAuth,    AuthMethod::kAzureAuth,
                                                 AuthMethod::kGcpIdTokenAuth, AuthMethod::kGcpIamAuth,
                                                 AuthMethod::kServiceToken,  AuthMethod::kLdapAuth};
// The CRD field name: "universalAuth", "kubernetesAuth", ...
std::string_view auth_method_field(AuthMethod m);

struct UniversalAuth {
  std::optional<SecretReference> credentials_ref;  // Secret with keys clientId, clientSecret
  std::optional<MachineIdentityScope> secrets_scope;
};

struct KubernetesAuth {
  std::string identity_id;
  std::optional<ServiceAccountReference> service_account_ref;
  bool auto_create_service_account_token = false;
  std::vector<std::string> service_account_token_audiences;
  std::optional<MachineIdentityScope> secrets_scope;
};

struct AwsIamAuth {
  std::string identity_id;
  std::optional<MachineIdentityScope> secrets_scope;
};

inline constexpr std::string_view kDefaultAzureResource = "https://management.azure.com/";
struct AzureAuth {
  std::string identity_id;
  std::string resource;  // empty = kDefaultAzureResource
  std::string managed_identity_client_id;  // azureManagedIdentityClientId: a user-assigned identity; empty: system
  std::optional<MachineIdentityScope> secrets_scope;
  std::string effective_resource() const { return resource.empty() ? std::string(kDefaultAzureResource) : resource; }
};

struct GcpIdTokenAuth {
  std::string identity_id;
  std::optional<MachineIdentityScope> secrets_scope;
};

struct GcpIamAuth {
  std::string identity_id;
  std::string service_account_key_file_path;  // a file inside the operator pod
  std::optional<MachineIdentityScope> secrets_scope;
};

struct ServiceTokenAuth {
  // Secret with key infisicalToken. Each field that is empty here is taken from the legacy
  // spec.tokenSecretReference when that is set (upstream's per-field fallback), and marked below.
  std::optional<SecretReference> service_token_secret_reference;
  bool secret_name_from_legacy = false;
  bool secret_namespace_from_legacy = false;
  std::optional<ServiceTokenScope> secrets_scope;
};

struct LdapAuth {
  std::string identity_id;
  std::optional<SecretReference> credentials_ref;  // Secret with keys username, password
  std::optional<MachineIdentityScope> secrets_scope;
};

// spec.authentication: each block is present when its key is in the JSON (and not null).
struct Authentication {
  std::optional<UniversalAuth> universal_auth;
  std::optional<KubernetesAuth> kubernetes_auth;
  std::optional<AwsIamAuth> aws_iam_auth;
  std::optional<AzureAuth> azure_auth;
  std::optional<GcpIdTokenAuth> gcp_id_token_auth;
  std::optional<GcpIamAuth> gcp_iam_auth;
  std::optional<ServiceTokenAuth> service_token;
  std::optional<LdapAuth> ldap_auth;
  // The legacy Infisical service account block is present. Infisical retired service accounts, so it is
  // not an AuthMethod: validation refuses it with the way to migrate.
  bool legacy_service_account = false;

  // The blocks present, in kAllAuthMethods order.
  std::vector<AuthMethod> present_methods() const;
  // The method when exactly one block is present.
  std::optional<AuthMethod> method() const;
  // The machine-identity scope of the single method (nullptr for service token or when ambiguous).
  const MachineIdentityScope* machine_identity_scope() const;
};

inline constexpr std::string_view kCreationPolicyOrphan = "Orphan";
inline constexpr std::string_view kCreationPolicyOwner = "Owner";
inline constexpr std::string_view kDefaultSecretType = "Opaque";

// A target's `template` (upstream v0.11): which keys the managed Secret gets and how each is made.
// Rendering: core/rendered_secret.h.
struct SecretTemplate {
  bool include_all_secrets = false;           // every fetched secret too, then `data` (data wins)
  std::map<std::string, std::string> data;    // Secret key -> Go text/template
  bool has_metadata = false;                  // `metadata` present (even `{}`): labels/annotations are exactly these
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

// One managed Secret the operator writes (upstream ManagedKubeSecretConfig).
struct ManagedSecretTarget {
  std::string secret_name;
  std::string secret_namespace;
  std::string secret_type = std::string(kDefaultSecretType);          // absent or "" reads as Opaque
  std::string creation_policy = std::string(kCreationPolicyOrphan);  // absent reads as Orphan
  std::string path;  // where it was declared: "spec.managedSecretReference" or "spec.managedKubeSecretReferences[2]"
  std::optional<SecretTemplate> template_;  // at path + ".template"
  bool owner() const { return creation_policy == kCreationPolicyOwner; }
};

// One managed ConfigMap the operator writes (upstream ManagedKubeConfigMapConfig). Its data is rendered
// as a Secret target's is, and written into `.data` as strings.
struct ManagedConfigMapTarget {
  std::string config_map_name;
  std::string config_map_namespace;
  std::string creation_policy = std::string(kCreationPolicyOrphan);  // absent reads as Orphan
  std::string path;  // where it was declared: "spec.managedKubeConfigMapReferences[0]"
  std::optional<SecretTemplate> template_;  // at path + ".template"
  bool owner() const { return creation_policy == kCreationPolicyOwner; }
};

// spec.tls.caRef: a PEM CA bundle in a Secret key, trusted for the Infisical host.
struct CaReference {
  std::string secret_name;
  std::string secret_namespace;
  std::string key;
};

inline constexpr int64_t kDefaultResyncIntervalSeconds = 60;
inline constexpr int64_t kMinResyncIntervalSeconds = 5;
inline constexpr int64_t kMaxResyncIntervalSeconds = 7 * 24 * 3600;  // 604800

// spec.syncConfig (upstream v0.11): when present it wins over resyncInterval and instantUpdates.
struct SyncConfig {
  std::string resync_interval;  // "<number><s|m|h|d|w>", e.g. "30s", "5m"; "" = unset
  bool instant_updates = false;
};
// "<number><s|m|h|d|w>" (upstream's syncConfig.resyncInterval syntax) as seconds; nullopt when it is
// not of that form or overflows.
std::optional<int64_t> parse_resync_interval(std::string_view text);

struct InfisicalSecretSpec {
  std::string host_api;                   // as written; see normalize_host_api / resolve_host_api
  std::optional<int64_t> resync_interval;  // seconds; absent = kDefaultResyncIntervalSeconds
  std::optional<SyncConfig> sync_config;
  bool instant_updates = false;  // deprecated top-level form, used only without syncConfig
  std::optional<Authentication> authentication;
  // spec.tokenSecretReference (legacy) as written; already applied to authentication.serviceToken.
  std::optional<SecretReference> token_secret_reference;
  std::optional<ManagedSecretTarget> managed_secret_reference;
  std::optional<std::vector<ManagedSecretTarget>> managed_kube_secret_references;
  std::optional<std::vector<ManagedConfigMapTarget>> managed_kube_config_map_references;
  std::optional<CaReference> tls_ca_ref;

  // syncConfig.resyncInterval when set (validation refuses one it cannot read), else resyncInterval,
  // else the default.
  int64_t resync_interval_seconds() const;
  // Whether the spec asks for instant updates (syncConfig.instantUpdates, else instantUpdates).
  bool wants_instant_updates() const { return sync_config ? sync_config->instant_updates : instant_updates; }
  // Every managed Secret target: the singular form (if any) first, then the plural list, in order.
  std::vector<ManagedSecretTarget> targets() const;
  // Every managed ConfigMap target, in order (empty when the list is absent).
  std::vector<ManagedConfigMapTarget> config_map_targets() const;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string deletion_timestamp;  // empty unless being deleted
};

// status as the syncer writes it (read leniently: the API server owns its shape).
struct InfisicalSecretStatus {
  std::vector<Condition> conditions;
  int64_t observed_generation = 0;
  std::string last_sync_time;  // RFC 3339
  int64_t synced_keys = 0;
  std::vector<std::string> managed_secrets;  // "namespace/name" of each target written
  // The key digests of each managed Secret, for the webhook (status.managedKeyDigests).
  std::vector<ManagedKeyDigests> managed_key_digests;
};

struct InfisicalSecret {
  ObjectMeta metadata;
  InfisicalSecretSpec spec;
  InfisicalSecretStatus status;
};

// The model plus every type error found; the model holds whatever could be read.
struct ParsedInfisicalSecret {
  InfisicalSecret resource;
  std::vector<FieldError> errors;
  bool ok() const { return errors.empty(); }
};

// Reads an InfisicalSecret object (apiVersion/kind are not checked). A missing `spec` is an error
// at path "spec"; a wrong JSON type is an error at the field's path and the field reads as absent.
ParsedInfisicalSecret parse_infisical_secret(const JsonValue& object);
// Same, from JSON text; unparseable text is one error with an empty path.
ParsedInfisicalSecret parse_infisical_secret_json(std::string_view text);

// Upstream's hostAPI normalisation: trailing '/' trimmed, "/api" appended unless already there.
// "" stays "".
std::string normalize_host_api(std::string_view host_api);
// Host resolution: the CR's hostAPI (normalised) > the infisical-config ConfigMap's hostAPI (used as
// written, trailing '/' trimmed) > kDefaultHostApi. Empty values count as unset.
std::string resolve_host_api(std::string_view cr_host_api, std::string_view configmap_host_api);

}  // namespace ifo::core
