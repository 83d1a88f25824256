// Where the reconciler gets secret values: a narrow interface over the Infisical client, so the
// reconciler holds no HTTP details and tests can count and fail fetches.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/infisical_secret.h"
#include "infisical/rate_limit.h"

namespace ifo::syncer {

struct SourceRequest {
  std::string host;    // API base ending in /api
  std::string ca_pem;  // extra CA trusted for this host (tls.caRef); empty: system roots
  core::AuthMethod method = core::AuthMethod::kUniversalAuth;
  std::string client_id, client_secret;  // universal auth
  std::string ldap_username, ldap_password;  // LDAP auth
  std::string service_token;             // service token
  std::string identity_id;               // the other machine-identity methods
  std::function<std::string()> kubernetes_jwt;  // kubernetes auth: a fresh service-account token per login
  std::string service_account;                  // kubernetes auth: "namespace/name"
  std::string azure_resource;
  std::string azure_managed_identity_client_id;  // empty: the system-assigned identity
  std::string gcp_key_file;
  std::string project_slug, project_id, env_slug, secrets_path;
  bool recursive = false;
  std::string secret_name;  // non-empty: only this secret (the result then has no ETag)
  std::optional<std::string> if_none_match;  // last ETag, only when the caller still holds that data
};

struct SourceResult {
  bool not_modified = false;  // 304: the data of if_none_match is current
  std::map<std::string, std::string> values;
  std::string etag;
  std::vector<std::string> warnings;  // never contain values
  // The server's rate-limit headers on the answer, when this fetch received one of its own.
  std::optional<infisical::RateLimitAdvice> rate_limit;
};

// fetch() throws infisical::ApiError on any failure. Thread safe.
class SecretSource {
 public:
  virtual ~SecretSource() = default;
  virtual SourceResult fetch(const SourceRequest& request) = 0;
  // Closes the idle connections to every Infisical host, after a burst that will not come again.
  virtual void close_idle_connections() {}
};

}  // namespace ifo::syncer
