// Maps a SourceRequest onto the Infisical client's auth and scope types.
#include "syncer/infisical_source.h"

#include <chrono>

#include "core/constants.h"

namespace ifo::syncer {

SourceResult InfisicalSource::fetch(const SourceRequest& r) {
  infisical::AuthConfig auth;
  switch (r.method) {
    case core::AuthMethod::kUniversalAuth: auth = infisical::UniversalAuth{r.client_id, r.client_secret}; break;
    case core::AuthMethod::kKubernetesAuth: {
      infisical::KubernetesAuth k;
      k.identity_id = r.identity_id;
      k.service_account = r.service_account;
      k.service_account_jwt = r.kubernetes_jwt;
      auth = std::move(k);
      break;
    }
    case core::AuthMethod::kAwsIamAuth: auth = infisical::AwsIamAuth{r.identity_id}; break;
    case core::AuthMethod::kAzureAuth: {
      infisical::AzureAuth a;
      a.identity_id = r.identity_id;
      if (!r.azure_resource.empty()) a.resource = r.azure_resource;
      a.managed_identity_client_id = r.azure_managed_identity_client_id;
      auth = std::move(a);
      break;
    }
    case core::AuthMethod::kGcpIdTokenAuth: auth = infisical::GcpIdTokenAuth{r.identity_id}; break;
    case core::AuthMethod::kGcpIamAuth: auth = infisical::GcpIamAuth{r.identity_id, r.gcp_key_file}; break;
    case core::AuthMethod::kServiceToken: auth = infisical::ServiceTokenAuth{r.service_token}; break;
    case core::AuthMethod::kLdapAuth:
      auth = infisical::LdapAuth{r.identity_id, r.ldap_username, r.ldap_password};
      break;
  }
  infisical::HostConfig host{r.host, r.ca_pem};
  infisical::SecretsScope scope;
  scope.project_id = r.project_id;
  scope.project_slug = r.project_slug;
  scope.environment = r.env_slug;
  scope.path = r.secrets_path.empty() ? "/" : r.secrets_path;
  scope.recursive = r.recursive;
  scope.secret_name = r.secret_name;
  infisical::FetchOptions options;
  if (r.if_none_match) options.known_etag = *r.if_none_match;
  infisical::SecretsResult res = timed_fetch(host, auth, scope, options);
  SourceResult out;
  out.not_modified = res.not_modified;
  out.values = std::move(res.secrets);
  out.etag = std::move(res.etag);
  out.warnings = std::move(res.warnings);
  out.rate_limit = std::move(res.rate_limit);
  return out;
}

infisical::SecretsResult InfisicalSource::timed_fetch(const infisical::HostConfig& host,
                                                      const infisical::AuthConfig& auth,
                                                      const infisical::SecretsScope& scope,
                                                      const infisical::FetchOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  try {
    infisical::SecretsResult res = client_.fetch_secrets(host, auth, scope, options);
    if (metrics_) metrics_->observe(kMetricFetchDuration, {{"result", res.not_modified ? "not_modified" : "ok"}}, seconds());
    return res;
  } catch (...) {
    if (metrics_) metrics_->observe(kMetricFetchDuration, {{"result", "error"}}, seconds());
    throw;
  }
}

void InfisicalSource::export_metrics(infisical::Client& client, Metrics& metrics) {
  auto& m = client.metrics();
  for (const auto& row : m.requests.snapshot())
    metrics.set_counter(kMetricInfisicalRequests, {{"endpoint", row.endpoint}, {"status", std::to_string(row.status)}},
                        static_cast<double>(row.count));
  metrics.set_counter(kMetricTokenCache, {{"result", "hit"}}, static_cast<double>(m.token_cache_hits.load()));
  metrics.set_counter(kMetricTokenCache, {{"result", "miss"}}, static_cast<double>(m.token_cache_misses.load()));
}

}  // namespace ifo::syncer
