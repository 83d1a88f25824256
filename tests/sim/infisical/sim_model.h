// infisical-sim's data: projects, environments, folders, secrets, imports, identities and their auth
// configuration, parsed from the seed JSON (format in tests/sim/infisical/README.md). Not thread safe:
// the server guards one Model with a mutex.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/result.h"

namespace ifo::sim {

struct Secret {
  std::string id;
  std::string key;
  std::string value;
  std::string comment;
  std::string type = "shared";
  int64_t version = 1;
  std::string created_at;
  std::string updated_at;
  bool skip_multiline_encoding = false;
};

struct SecretImport {
  std::string id;
  std::string environment;  // slug of the imported environment
  std::string path;         // imported folder path
};

struct Folder {
  std::string id;
  std::string path;  // normalised: "/" or "/a/b"
  std::vector<Secret> secrets;
  std::vector<SecretImport> imports;  // in position order
};

struct Environment {
  std::string id;
  std::string slug;
  std::string name;
  std::map<std::string, Folder> folders;  // by path; "/" always exists
};

struct Project {
  std::string id;
  std::string slug;
  std::string name;
  std::string org_id;
  std::string created_at;
  std::vector<Environment> environments;

  Environment* env(std::string_view slug);
  const Environment* env(std::string_view slug) const;
};

struct UniversalAuthConfig {
  std::string client_id;
  std::string client_secret;
};

// LDAP Auth: the directory user the identity's LDAP configuration accepts (the real server binds to the
// directory with these; the sim compares them).
struct LdapAuthConfig {
  std::string username;
  std::string password;
};

struct KubernetesAuthConfig {
  std::string kubernetes_host;  // empty: the sim-wide default (set through /sim/kubernetes)
  std::string ca_cert;
  std::string token_reviewer_jwt;
  std::string allowed_namespaces;  // comma separated, empty: any
  std::string allowed_names;
  std::string allowed_audience;
};

struct AwsAuthConfig {
  std::string allowed_principal_arns;  // comma separated, '*' wildcards; empty: any
  std::string allowed_account_ids;
};

struct AzureAuthConfig {
  std::string tenant_id;
  std::string resource = "https://management.azure.com/";
  std::string allowed_service_principal_ids;  // comma separated object ids; empty: any
};

struct GcpAuthConfig {
  std::string type = "gce";  // "gce" (ID token) or "iam" (signJwt)
  std::string allowed_service_accounts;
  std::string allowed_projects;
  std::string allowed_zones;
};

struct Identity {
  std::string id;
  std::string name;
  int64_t access_token_ttl = 3600;
  int64_t access_token_max_ttl = 86400;
  std::vector<std::string> project_ids;  // memberships (resolved from ids or slugs)
  std::optional<UniversalAuthConfig> universal;
  std::optional<LdapAuthConfig> ldap;
  std::optional<KubernetesAuthConfig> kubernetes;
  std::optional<AwsAuthConfig> aws;
  std::optional<AzureAuthConfig> azure;
  std::optional<GcpAuthConfig> gcp;
};

struct ServiceTokenScope {
  std::string environment;
  std::string secret_path;  // may end in "/**" or "/*"
};

struct ServiceToken {
  std::string id;      // the second dot-separated part of st.<id>.<secret>.<key>
  std::string secret;  // the third part
  std::string key;     // the fourth part (not checked by the server)
  std::string name;
  std::string project_id;
  std::vector<ServiceTokenScope> scopes;
  int64_t expires_at_ms = 0;  // 0: never
  std::string created_at;
};

// AWS principals the fake STS knows. Session credentials (IMDS, ECS, AssumeRoleWithWebIdentity) are
// added at runtime with their session token.
struct AwsPrincipal {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-lived user keys
  std::string arn;
  std::string user_id;
  int64_t expires_at_ms = 0;  // 0: never
};

struct AwsRole {
  std::string arn;  // arn:aws:iam::ACCOUNT:role/NAME
};

struct AwsConfig {
  std::string region = "us-east-1";
  std::vector<AwsPrincipal> users;
  std::optional<AwsRole> instance_role;  // EC2 IMDS
  std::optional<AwsRole> ecs_role;       // ECS container credentials
  std::string ecs_authorization_token;   // expected Authorization header value (empty: none required)
  std::vector<AwsRole> web_identity_roles;
  std::string web_identity_audience = "sts.amazonaws.com";
};

struct AzureManagedIdentity {
  std::string client_id;
  std::string object_id;
};

struct AzureConfig {
  std::string tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  AzureManagedIdentity system_identity{"9c8a5c1e-1111-4c1d-9a7e-0a1b2c3d4e5f", "6d0e5b1a-2222-4b4e-8f1e-1a2b3c4d5e6f"};
  std::vector<AzureManagedIdentity> user_identities;
};

struct GcpServiceAccount {
  std::string email;
  std::string unique_id;       // numeric "sub" of ID tokens
  std::string public_key_pem;  // verifies the OAuth2 JWT-bearer assertion made with its key file
  std::string key_id;
};

struct GcpConfig {
  std::string project_id = "sim-project";
  std::string project_number = "123456789012";
  std::string zone = "us-central1-a";
  std::string instance_name = "sim-instance";
  std::string instance_id = "4242424242424242424";
  std::string default_service_account;  // email of the VM's service account
  std::vector<GcpServiceAccount> service_accounts;
};

struct KubernetesDefaults {
  std::string host;
  std::string ca_cert;
  std::string token_reviewer_jwt;
};

struct Model {
  std::vector<Project> projects;
  std::vector<Identity> identities;
  std::vector<ServiceToken> service_tokens;
  AwsConfig aws;
  AzureConfig azure;
  GcpConfig gcp;
  KubernetesDefaults kubernetes;
  std::string org_id;

  Project* project_by_id(std::string_view id);
  Project* project_by_slug(std::string_view slug);
  Identity* identity_by_id(std::string_view id);
  Identity* identity_by_client_id(std::string_view client_id);
  ServiceToken* service_token_by_id(std::string_view id);
};

// Fresh identifiers and timestamps. One per server; tests may re-seed.
class IdSource {
 public:
  IdSource();
  std::string uuid();
  std::string hex(size_t bytes);
  std::mt19937_64& engine() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

// "2024-10-01T12:00:00.000Z" for a Unix time in milliseconds.
std::string iso_time(int64_t unix_ms);

// "/" for "", "/a/b" for "a/b/" and "/a//b": the server's secretPath normalisation.
std::string normalize_path(std::string_view path);

// Parses the seed document. Errors name the JSON path of the offending field.
core::Result<Model> parse_seed(std::string_view json, IdSource& ids, int64_t now_ms);

// Upserts a secret (a new version when it exists); creates the folder chain as needed.
// Returns the stored secret's version.
int64_t set_secret(Project& p, Environment& env, std::string_view path, std::string_view key, std::string_view value,
                   std::string_view comment, std::string_view type, IdSource& ids, int64_t now_ms);
bool delete_secret(Environment& env, std::string_view path, std::string_view key);
Folder& ensure_folder(Environment& env, std::string_view path, IdSource& ids);

struct RawQuery {
  std::string environment;
  std::string secret_path = "/";
  bool recursive = false;
  bool include_imports = false;
  bool expand = false;
};

// The body of GET /api/v3/secrets/raw for a resolved project, as the real server shapes it:
// secrets[] sorted by id, imports[] per folder and import position (absent unless include_imports,
// but [] when the environment or folder does not exist), references expanded when asked.
std::string render_secrets_raw(const Project& project, const RawQuery& q);

// The body of GET /api/v3/secrets/raw/{secretName}: {"secret": {...}} with the list's secret shape, the
// folder's own shared secret first, then (with include_imports) the first import that has it; nullopt
// when there is none (the server answers 404 "Secret not found"). q.recursive is ignored.
std::optional<std::string> render_secret_raw(const Project& project, const RawQuery& q, std::string_view secret_key);

// Expands ${KEY} and ${env.a.b.KEY} references in `value` the way the real server does: missing
// references stay as written, at most 10 levels deep, cycles are not followed.
std::string expand_references(const Project& project, std::string_view environment, std::string_view secret_path,
                              std::string_view secret_key, std::string_view value);

// The unwrapped project object of GET /api/v2/workspace/{slug}.
std::string render_project(const Project& p);

}  // namespace ifo::sim
