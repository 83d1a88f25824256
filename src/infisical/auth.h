// The eight ways to obtain an Infisical access token. Credentials arrive as plain values or callbacks:
// nothing here knows about Kubernetes objects.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include "infisical/aws.h"
#include "infisical/cloud_env.h"
#include "infisical/http_call.h"
#include "infisical/token_cache.h"

namespace ifo::infisical {

struct UniversalAuth {
  std::string client_id;
  std::string client_secret;
};

struct KubernetesAuth {
  std::string identity_id;
  // "namespace/name" of the service account: part of the cache key, so that two service accounts never
  // share a token even when they map to the same identity.
  std::string service_account;
  // Called for EVERY login (never cached): returns a fresh service-account JWT (TokenRequest).
  std::function<std::string()> service_account_jwt;
};

struct AwsIamAuth {
  std::string identity_id;
};

struct AzureAuth {
  std::string identity_id;
  std::string resource = "https://management.azure.com/";
  std::string managed_identity_client_id;  // user-assigned identity; empty: system-assigned
};

struct GcpIdTokenAuth {
  std::string identity_id;
};

struct GcpIamAuth {
  std::string identity_id;
  std::string service_account_key_file;  // path of the JSON key file inside the operator's pod
};

struct ServiceTokenAuth {
  std::string token;  // "st.<id>.<secret>.<key>"
};

struct LdapAuth {
  std::string identity_id;
  std::string username;
  std::string password;
};

using AuthConfig = std::variant<UniversalAuth, KubernetesAuth, AwsIamAuth, AzureAuth, GcpIdTokenAuth, GcpIamAuth,
                                ServiceTokenAuth, LdapAuth>;

// "universal-auth", "kubernetes-auth", "aws-auth", "azure-auth", "gcp-id-token-auth", "gcp-iam-auth",
// "service-token", "ldap-auth".
std::string_view method_name(const AuthConfig& auth);
// The identity part of the token cache key: differs whenever the credentials differ (secrets enter only
// as a truncated SHA-256), so a caller with wrong credentials never borrows another caller's token.
std::string cache_identity(const AuthConfig& auth);
// Names the identity in logs and errors: client id, identity id (and LDAP username), or the service token's
// id. No secret.
std::string display_identity(const AuthConfig& auth);

struct LoginContext {
  const HttpCall& infisical;  // the Infisical host's connection
  std::string base_url;       // ".../api"
  const HttpCall& cloud;      // metadata services, STS, Google OAuth2/IAM
  const CloudEnv& env;
  AwsCredentialProvider& aws;
  const core::Clock& clock;
};

// Logs in; throws ApiError whose message names the method, the identity and the reason.
Token login(const AuthConfig& auth, const LoginContext& ctx);
// POST /api/v1/auth/token/renew.
Token renew_token(const LoginContext& ctx, const std::string& access_token, std::string_view display);

// Parses {"accessToken","expiresIn","accessTokenMaxTTL"}; throws ApiError(kInvalidResponse).
Token parse_login_response(std::string_view body, std::string_view what);

}  // namespace ifo::infisical
