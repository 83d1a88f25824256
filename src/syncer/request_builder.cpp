// Building the Infisical request of one InfisicalSecret.
#include "syncer/request_builder.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>

#include "core/constants.h"
#include "kube/errors.h"
#include "syncer/object_fields.h"
#include "syncer/trust_inputs.h"

namespace ifo::syncer {

namespace {

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

core::SyncFailure credentials_not_found(std::string message, bool auth) {
  core::SyncFailure f(core::kReasonCredentialsNotFound, std::move(message));
  f.auth = auth;
  return f;
}

core::SyncFailure missing_key(const core::SecretReference& ref, std::string_view key) {
  return credentials_not_found(fmt::format("credentials Secret {}/{} has no non-empty key \"{}\"",
                                           ref.secret_namespace, ref.secret_name, key),
                               true);
}

}  // namespace

std::string_view auth_strategy_name(core::AuthMethod method) {
  switch (method) {
    case core::AuthMethod::kUniversalAuth: return "UNIVERSAL_MACHINE_IDENTITY";
    case core::AuthMethod::kKubernetesAuth: return "KUBERNETES_AUTH_MACHINE_IDENTITY";
    case core::AuthMethod::kAwsIamAuth: return "AWS_IAM_MACHINE_IDENTITY";
    case core::AuthMethod::kAzureAuth: return "AZURE_MACHINE_IDENTITY";
    case core::AuthMethod::kGcpIdTokenAuth: return "GCP_ID_TOKEN_MACHINE_IDENTITY";
    case core::AuthMethod::kGcpIamAuth: return "GCP_IAM_MACHINE_IDENTITY";
    case core::AuthMethod::kServiceToken: return "SERVICE_TOKEN";
    case core::AuthMethod::kLdapAuth: return "LDAP_MACHINE_IDENTITY";
  }
  return "UNKNOWN";
}

RequestBuilder::RequestBuilder(kube::Api& kube, core::Clock& clock, std::string operator_namespace)
    : kube_(kube), clock_(clock), operator_namespace_(std::move(operator_namespace)) {}

void RequestBuilder::forget() {
  std::lock_guard lock(mu_);
  referenced_secrets_.clear();
  ++generation_;
}

uint64_t RequestBuilder::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void RequestBuilder::refresh(const std::vector<std::string>& secrets) {
  // Every idle resync of every resource comes here: while all of them are fresh (the common case),
  // one lock and one lookup each, no key built.
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.now();
    if (std::all_of(secrets.begin(), secrets.end(),
                    [&](const std::string& k) { return fresh_locked(k, now); }))
      return;
  }
  for (const auto& k : secrets) {
    const auto slash = k.find('/');
    if (slash != std::string::npos) referenced_secret(k.substr(0, slash), k.substr(slash + 1));
  }
}

const RequestBuilder::CachedSecret* RequestBuilder::fresh_locked(const std::string& key,
                                                                 core::Clock::time_point now) const {
  auto it = referenced_secrets_.find(key);
  return it != referenced_secrets_.end() && now - it->second.read_at < kReferencedSecretTtl ? &it->second
                                                                                            : nullptr;
}

std::optional<std::map<std::string, std::string>> RequestBuilder::referenced_secret(
    const std::string& ns, const std::string& name, std::vector<std::string>* read) {
  const std::string k = key_of(ns, name);
  if (read) read->push_back(k);
  {
    std::lock_guard lock(mu_);
    if (const CachedSecret* kept = fresh_locked(k, clock_.now())) return kept->data;
  }
  CachedSecret c;
  try {
    c.data = secret_data(*kube_.get(kube::kSecrets, ns, name));
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
    std::lock_guard lock(mu_);
    if (referenced_secrets_.erase(k) > 0) ++generation_;
    return std::nullopt;
  }
  c.read_at = clock_.now();
  std::lock_guard lock(mu_);
  auto [it, added] = referenced_secrets_.try_emplace(k);
  if (!added && it->second.data != c.data) ++generation_;
  it->second = c;
  return c.data;
}

std::variant<std::string, core::SyncFailure> RequestBuilder::ca_pem(const core::CaReference& ref,
                                                                    std::vector<std::string>& read) {
  auto data = referenced_secret(ref.secret_namespace, ref.secret_name, &read);
  if (!data)
    return credentials_not_found(fmt::format("CA Secret {}/{} not found", ref.secret_namespace, ref.secret_name),
                                 false);
  auto it = data->find(ref.key);
  if (it == data->end())
    return credentials_not_found(
        fmt::format("CA Secret {}/{} has no key \"{}\"", ref.secret_namespace, ref.secret_name, ref.key), false);
  return it->second;
}

std::variant<BuiltRequest, core::SyncFailure> RequestBuilder::build(const core::InfisicalSecret& resource,
                                                                    const Object& global_config) {
  const auto& spec = resource.spec;
  BuiltRequest out;
  SourceRequest& req = out.request;
  req.method = *spec.authentication->method();
  // Host: CR > ConfigMap > default; CA: CR tls.caRef > ConfigMap tls.caRef.* > system roots.
  std::string cm_host;
  std::optional<core::CaReference> ca_ref = spec.tls_ca_ref;
  if (global_config) {
    auto data = string_map(core::member(*global_config, "data"));
    cm_host = global_host_api_of(global_config);
    std::string n = data["tls.caRef.secretName"], ns = data["tls.caRef.secretNamespace"], k = data["tls.caRef.key"];
    if (!ca_ref && (!n.empty() || !ns.empty() || !k.empty())) {
      if (n.empty() || ns.empty() || k.empty())
        return core::SyncFailure(core::kReasonInvalidSpec,
                                 fmt::format("ConfigMap {}/{}: when tls.caRef is configured, all of "
                                             "tls.caRef.secretName, tls.caRef.secretNamespace and tls.caRef.key "
                                             "must be set",
                                             operator_namespace_, core::kGlobalConfigMapName));
      ca_ref = core::CaReference{n, ns, k};
    }
  }
  req.host = core::resolve_host_api(spec.host_api, cm_host);
  if (ca_ref) {
    auto pem = ca_pem(*ca_ref, out.secrets_read);
    if (auto* failure = std::get_if<core::SyncFailure>(&pem)) return std::move(*failure);
    req.ca_pem = std::get<std::string>(std::move(pem));
  }
  if (const core::MachineIdentityScope* scope = spec.authentication->machine_identity_scope()) {
    req.project_slug = scope->project_slug;
    req.project_id = scope->project_id;
    req.env_slug = scope->env_slug;
    req.secrets_path = scope->secrets_path;
    req.recursive = scope->recursive;
    req.secret_name = scope->secret_name;
  }
  std::string fingerprint;
  if (auto failure = add_credentials(*spec.authentication, req, fingerprint, out.secrets_read))
    return std::move(*failure);
  const std::string identity_key = fmt::format("{}\n{}\n{}\n{}\n{}", req.host, auth_strategy_name(req.method),
                                               req.identity_id, fingerprint, sha256_hex(req.ca_pem));
  out.scope_key = fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}", identity_key, req.project_slug, req.project_id,
                              req.env_slug, req.secrets_path, req.recursive,
                              req.method == core::AuthMethod::kServiceToken, req.secret_name);
  return out;
}

std::optional<core::SyncFailure> RequestBuilder::add_credentials(const core::Authentication& auth,
                                                                 SourceRequest& req, std::string& fingerprint,
                                                                 std::vector<std::string>& secrets_read) {
  // The data of a credentials Secret (into `data`), or the failure naming it.
  std::map<std::string, std::string> data;
  auto read = [&](const core::SecretReference& ref) -> std::optional<core::SyncFailure> {
    auto found = referenced_secret(ref.secret_namespace, ref.secret_name, &secrets_read);
    if (!found)
      return credentials_not_found(
          fmt::format("credentials Secret {}/{} not found", ref.secret_namespace, ref.secret_name), true);
    data = std::move(*found);
    return std::nullopt;
  };
  // Two keys of a credentials Secret that must both be non-empty.
  auto read_pair = [&](const core::SecretReference& ref, std::string_view first_key, std::string& first,
                       std::string_view second_key, std::string& second) -> std::optional<core::SyncFailure> {
    if (auto failure = read(ref)) return failure;
    first = data[std::string(first_key)];
    second = data[std::string(second_key)];
    if (first.empty()) return missing_key(ref, first_key);
    if (second.empty()) return missing_key(ref, second_key);
    return std::nullopt;
  };
  switch (req.method) {
    case core::AuthMethod::kUniversalAuth:
      if (auto failure = read_pair(*auth.universal_auth->credentials_ref, core::kClientIdKey, req.client_id,
                                   core::kClientSecretKey, req.client_secret))
        return failure;
      fingerprint = sha256_hex(req.client_id + '\0' + req.client_secret);
      break;
    case core::AuthMethod::kServiceToken: {
      const auto& st = *auth.service_token;
      const auto& ref = *st.service_token_secret_reference;
      if (auto failure = read(ref)) return failure;
      req.service_token = data[std::string(core::kServiceTokenKey)];
      req.service_token.erase(std::remove(req.service_token.begin(), req.service_token.end(), ' '),
                              req.service_token.end());
      if (req.service_token.empty()) return missing_key(ref, core::kServiceTokenKey);
      fingerprint = sha256_hex(req.service_token);
      if (st.secrets_scope) {
        req.env_slug = st.secrets_scope->env_slug;
        req.secrets_path = st.secrets_scope->secrets_path;
        req.recursive = st.secrets_scope->recursive;
      }
      break;
    }
    case core::AuthMethod::kKubernetesAuth: {
      const auto& k = *auth.kubernetes_auth;
      req.identity_id = k.identity_id;
      std::string sa_ns = k.service_account_ref->namespace_;
      std::string sa_name = k.service_account_ref->name;
      kube::TokenRequestOptions token;
      token.audiences = k.service_account_token_audiences;
      token.expiration_seconds = 600;
      kube::Api* kube = &kube_;
      // A fresh ServiceAccount token per login.
      req.kubernetes_jwt = [kube, sa_ns, sa_name, token]() {
        return kube->create_token(sa_ns, sa_name, token).token;
      };
      req.service_account = sa_ns + "/" + sa_name;
      fingerprint = sha256_hex(req.service_account);
      break;
    }
    case core::AuthMethod::kAwsIamAuth: req.identity_id = auth.aws_iam_auth->identity_id; break;
    case core::AuthMethod::kAzureAuth:
      req.identity_id = auth.azure_auth->identity_id;
      req.azure_resource = auth.azure_auth->effective_resource();
      req.azure_managed_identity_client_id = auth.azure_auth->managed_identity_client_id;
      fingerprint = req.azure_resource + '\0' + req.azure_managed_identity_client_id;
      break;
    case core::AuthMethod::kLdapAuth:
      req.identity_id = auth.ldap_auth->identity_id;
      if (auto failure = read_pair(*auth.ldap_auth->credentials_ref, core::kLdapUsernameKey, req.ldap_username,
                                   core::kLdapPasswordKey, req.ldap_password))
        return failure;
      fingerprint = sha256_hex(req.ldap_username + '\0' + req.ldap_password);
      break;
    case core::AuthMethod::kGcpIdTokenAuth: req.identity_id = auth.gcp_id_token_auth->identity_id; break;
    case core::AuthMethod::kGcpIamAuth:
      req.identity_id = auth.gcp_iam_auth->identity_id;
      req.gcp_key_file = auth.gcp_iam_auth->service_account_key_file_path;
      fingerprint = req.gcp_key_file;
      break;
  }
  return std::nullopt;
}

}  // namespace ifo::syncer
