// The reconcile of one InfisicalSecret.
#include "syncer/reconciler.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

#include "core/base64.h"
#include "core/conditions.h"
#include "core/constants.h"
#include "core/consumed_keys.h"
#include "core/digest.h"
#include "core/rendered_secret.h"
#include "core/validation.h"
#include "infisical/errors.h"
#include "infisical/secrets.h"
#include "kube/errors.h"
#include "syncer/managed_configmap.h"
#include "syncer/managed_metadata.h"

namespace ifo::syncer {

namespace {

using core::JsonValue;

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

std::string method_name(core::AuthMethod m) {
  switch (m) {
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

std::map<std::string, std::string> string_map(const JsonValue* obj) {
  std::map<std::string, std::string> out;
  if (!obj || !obj->IsObject()) return out;
  for (auto it = obj->MemberBegin(); it != obj->MemberEnd(); ++it)
    if (it->value.IsString()) out[it->name.GetString()] = it->value.GetString();
  return out;
}

// Secret data decoded; undecodable values are kept as a marker that never equals real data.
std::map<std::string, std::string> secret_data(const JsonValue& secret) {
  std::map<std::string, std::string> out;
  const JsonValue* data = core::member(secret, "data");
  if (!data || !data->IsObject()) return out;
  for (auto it = data->MemberBegin(); it != data->MemberEnd(); ++it) {
    if (!it->value.IsString()) continue;
    auto decoded = core::base64_decode(it->value.GetString());
    out[it->name.GetString()] = decoded ? *decoded : std::string("\0<undecodable>", 14);
  }
  return out;
}

JsonValue string_map_json(const std::map<std::string, std::string>& m, core::JsonAlloc& a) {
  JsonValue obj(rapidjson::kObjectType);
  for (const auto& [k, v] : m) obj.AddMember(core::json_string(k, a), core::json_string(v, a), a);
  return obj;
}

std::string meta_string(const JsonValue& o, std::string_view field) {
  const JsonValue* v = core::at_path(o, {"metadata", field});
  return v && v->IsString() ? v->GetString() : "";
}

std::string key_of(const std::string& ns, const std::string& name) { return ns + "/" + name; }

// "Secret a/b, c/d", "ConfigMap a/e" or "Secret a/b and ConfigMap a/e": where a sync wrote.
std::string describe_targets(const std::vector<std::string>& secrets, const std::vector<std::string>& config_maps) {
  std::string out;
  if (!secrets.empty() || config_maps.empty()) out = fmt::format("Secret {}", fmt::join(secrets, ", "));
  if (!config_maps.empty())
    out += fmt::format("{}ConfigMap {}", out.empty() ? "" : " and ", fmt::join(config_maps, ", "));
  return out;
}

// How long the data of a referenced Secret (credentials, CA) is reused before it is read again.
constexpr std::chrono::seconds kReferencedSecretTtl{30};

std::chrono::sys_seconds wall_seconds(kube::Clock& clock) {
  return std::chrono::time_point_cast<std::chrono::seconds>(clock.wall_now());
}

}  // namespace

Reconciler::Reconciler(KubeApi& kube, SecretSource& source, Metrics& metrics, kube::Clock& clock, CacheLookups caches,
                       ReconcilerOptions options, std::shared_ptr<spdlog::logger> log)
    : kube_(kube),
      source_(source),
      metrics_(metrics),
      clock_(clock),
      caches_(std::move(caches)),
      options_(std::move(options)),
      log_(std::move(log)),
      budget_(options_.infisical_requests_per_minute / 60.0, std::max(1, options_.infisical_requests_per_minute / 6),
              clock),
      trust_inputs_(kube, clock),
      rng_(options_.jitter_seed ? options_.jitter_seed : std::random_device{}()) {}

void Reconciler::set_digest_key(std::string key) {
  std::lock_guard lock(mu_);
  digest_key_ = std::move(key);
}

std::string Reconciler::digest_key() const {
  std::lock_guard lock(mu_);
  return digest_key_;
}

std::chrono::milliseconds Reconciler::jittered(std::chrono::seconds interval) {
  std::lock_guard lock(mu_);
  std::uniform_real_distribution<double> d(0.9, 1.1);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(interval.count()) * 1000.0 * d(rng_)));
}

std::chrono::milliseconds Reconciler::retry_cap(const std::string& key) const {
  auto slash = key.find('/');
  std::string ns = key.substr(0, slash), name = slash == std::string::npos ? key : key.substr(slash + 1);
  Object cr = caches_.infisical_secret ? caches_.infisical_secret(ns, name) : nullptr;
  int64_t seconds = core::kDefaultResyncIntervalSeconds;
  if (cr) seconds = core::parse_infisical_secret(*cr).resource.spec.resync_interval_seconds();
  seconds = std::clamp<int64_t>(seconds, core::kMinResyncIntervalSeconds, core::kMaxResyncIntervalSeconds);
  return std::chrono::seconds(seconds);
}

std::chrono::milliseconds Reconciler::spread(std::chrono::seconds interval) {
  std::lock_guard lock(mu_);
  std::uniform_real_distribution<double> d(0.0, 0.1);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(interval.count()) * 1000.0 * d(rng_)));
}

std::vector<std::string> Reconciler::owners_of_secret(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = secret_owners_.find(key_of(ns, name));
  if (it == secret_owners_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<std::string> Reconciler::known_keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, _] : cr_targets_) out.push_back(k);
  return out;
}

void Reconciler::remember_own_write(const std::string& ns, const std::string& name, const Object& written) {
  const JsonValue* rv = written ? core::at_path(*written, {"metadata", "resourceVersion"}) : nullptr;
  if (rv == nullptr || !rv->IsString()) return;
  std::lock_guard lock(mu_);
  own_writes_[key_of(ns, name)] = rv->GetString();
}

bool Reconciler::is_own_write(const std::string& ns, const std::string& name, const std::string& resource_version) {
  std::lock_guard lock(mu_);
  auto it = own_writes_.find(key_of(ns, name));
  if (it == own_writes_.end() || it->second != resource_version) return false;
  own_writes_.erase(it);
  return true;
}

void Reconciler::forget_scope_data() {
  std::lock_guard lock(mu_);
  scopes_.clear();
  referenced_secrets_.clear();
  trust_inputs_.forget();
}

std::map<std::string, std::string> Reconciler::referenced_secret_data(const std::string& ns, const std::string& name) {
  std::string k = key_of(ns, name);
  {
    std::lock_guard lock(mu_);
    auto it = referenced_secrets_.find(k);
    if (it != referenced_secrets_.end() && clock_.now() - it->second.read_at < kReferencedSecretTtl)
      return it->second.data;
  }
  CachedSecret c;
  try {
    c.data = secret_data(*kube_.get(kube::kSecrets, ns, name));
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) {
      std::lock_guard lock(mu_);
      referenced_secrets_.erase(k);
    }
    throw;
  }
  c.read_at = clock_.now();
  std::lock_guard lock(mu_);
  referenced_secrets_[k] = c;
  return c.data;
}

std::vector<Object> Reconciler::workloads_of(const kube::Resource& kind, const std::string& ns) {
  if (caches_.workloads) return caches_.workloads(kind, ns);
  return kube_.list(kind, ns, "");
}

void Reconciler::record_event(const Object& cr, std::string_view type, std::string_view reason,
                              const std::string& message) {
  const JsonValue& o = *cr;
  std::string ns = meta_string(o, "namespace");
  std::string name = meta_string(o, "name");
  unsigned char rnd[8];
  RAND_bytes(rnd, sizeof rnd);
  std::string suffix;
  for (unsigned char c : rnd) suffix += fmt::format("{:02x}", c);
  std::string now = core::format_rfc3339(wall_seconds(clock_));
  core::JsonDoc ev(rapidjson::kObjectType);
  auto& a = ev.GetAllocator();
  core::set_string(ev, "apiVersion", "v1", a);
  core::set_string(ev, "kind", "Event", a);
  auto& meta = core::ensure_object(ev, "metadata", a);
  core::set_string(meta, "name", name + "." + suffix, a);
  core::set_string(meta, "namespace", ns, a);
  auto& inv = core::ensure_object(ev, "involvedObject", a);
  core::set_string(inv, "apiVersion", core::kApiVersion, a);
  core::set_string(inv, "kind", core::kKind, a);
  core::set_string(inv, "name", name, a);
  core::set_string(inv, "namespace", ns, a);
  core::set_string(inv, "uid", meta_string(o, "uid"), a);
  core::set_string(inv, "resourceVersion", meta_string(o, "resourceVersion"), a);
  core::set_string(ev, "type", type, a);
  core::set_string(ev, "reason", reason, a);
  core::set_string(ev, "message", message, a);
  core::ensure_object(ev, "source", a);
  core::set_string(*core::member(ev, "source"), "component", core::kSyncerFieldManager, a);
  core::set_string(ev, "reportingComponent", core::kSyncerFieldManager, a);
  core::set_string(ev, "reportingInstance", options_.identity, a);
  core::set_string(ev, "firstTimestamp", now, a);
  core::set_string(ev, "lastTimestamp", now, a);
  core::set_member(ev, "count", JsonValue(1), a);
  try {
    kube_.create(kube::kEvents, ns, ev);
  } catch (const std::exception& e) {
    log_->warn("event not recorded object={}/{} reason={} error=\"{}\"", ns, name, reason, e.what());
  }
}

std::optional<Reconciler::Failure> Reconciler::check_trust(const core::InfisicalSecret& model) {
  std::string global_host = global_host_api_of(caches_.global_config ? caches_.global_config() : nullptr);
  core::TrustInputs inputs = trust_inputs_.gather(model, options_.trust, std::move(global_host));
  std::vector<core::TrustRefusal> refusals = core::check_trust(model, options_.trust, inputs);
  if (refusals.empty()) return std::nullopt;
  std::set<std::string> reasons;
  for (const auto& r : refusals) reasons.insert(r.reason);
  for (const auto& r : reasons) metrics_.inc(kMetricTrustRefusals, {{"reason", r}});
  Failure f{refusals.front().reason, describe_refusals(refusals), std::nullopt, false};
  f.refused = true;
  return f;
}

bool Reconciler::owner_alive(const std::string& ns, const std::string& name, const std::string& uid) {
  Object owner;
  if (caches_.infisical_secret) {
    owner = caches_.infisical_secret(ns, name);
  } else {
    try {
      owner = kube_.get(kube::kInfisicalSecrets, ns, name);
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) throw;
    }
  }
  return owner && meta_string(*owner, "uid") == uid;
}

std::optional<Reconciler::Failure> Reconciler::build_request(const core::InfisicalSecret& model, SourceRequest& req,
                                                             std::string& identity_key) {
  const auto& spec = model.spec;
  const auto& auth = *spec.authentication;
  auto method = *auth.method();
  req.method = method;
  // Host: CR > ConfigMap > default; CA: CR tls.caRef > ConfigMap tls.caRef.* > system roots.
  std::string cm_host;
  std::optional<core::CaReference> ca_ref = spec.tls_ca_ref;
  if (Object cm = caches_.global_config ? caches_.global_config() : nullptr) {
    auto data = string_map(core::member(*cm, "data"));
    cm_host = global_host_api_of(cm);
    if (!ca_ref) {
      std::string n = data["tls.caRef.secretName"], ns = data["tls.caRef.secretNamespace"], k = data["tls.caRef.key"];
      if (!n.empty() || !ns.empty() || !k.empty()) {
        if (n.empty() || ns.empty() || k.empty())
          return Failure{std::string(core::kReasonInvalidSpec),
                         fmt::format("ConfigMap {}/{}: when tls.caRef is configured, all of tls.caRef.secretName, "
                                     "tls.caRef.secretNamespace and tls.caRef.key must be set",
                                     options_.operator_namespace, core::kGlobalConfigMapName),
                         std::nullopt, false};
        ca_ref = core::CaReference{n, ns, k};
      }
    }
  }
  req.host = core::resolve_host_api(spec.host_api, cm_host);
  if (ca_ref) {
    try {
      auto data = referenced_secret_data(ca_ref->secret_namespace, ca_ref->secret_name);
      auto it = data.find(ca_ref->key);
      if (it == data.end())
        return Failure{std::string(core::kReasonCredentialsNotFound),
                       fmt::format("CA Secret {}/{} has no key \"{}\"", ca_ref->secret_namespace, ca_ref->secret_name,
                                   ca_ref->key),
                       std::nullopt, false};
      req.ca_pem = it->second;
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) throw;
      return Failure{std::string(core::kReasonCredentialsNotFound),
                     fmt::format("CA Secret {}/{} not found", ca_ref->secret_namespace, ca_ref->secret_name),
                     std::nullopt, false};
    }
  }

  auto read_secret = [&](const core::SecretReference& ref, std::optional<Failure>& failure) {
    std::map<std::string, std::string> data;
    try {
      data = referenced_secret_data(ref.secret_namespace, ref.secret_name);
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) throw;
      failure = Failure{std::string(core::kReasonCredentialsNotFound),
                        fmt::format("credentials Secret {}/{} not found", ref.secret_namespace, ref.secret_name),
                        std::nullopt, true};
    }
    return data;
  };
  auto missing_key = [](const core::SecretReference& ref, std::string_view key) {
    return Failure{std::string(core::kReasonCredentialsNotFound),
                   fmt::format("credentials Secret {}/{} has no non-empty key \"{}\"", ref.secret_namespace,
                               ref.secret_name, key),
                   std::nullopt, true};
  };
  const core::MachineIdentityScope* scope = auth.machine_identity_scope();
  if (scope) {
    req.project_slug = scope->project_slug;
    req.project_id = scope->project_id;
    req.env_slug = scope->env_slug;
    req.secrets_path = scope->secrets_path;
    req.recursive = scope->recursive;
    req.secret_name = scope->secret_name;
  }
  std::string credential_fingerprint;
  switch (method) {
    case core::AuthMethod::kUniversalAuth: {
      const auto& ref = *auth.universal_auth->credentials_ref;
      std::optional<Failure> failure;
      auto data = read_secret(ref, failure);
      if (failure) return failure;
      req.client_id = data[std::string(core::kClientIdKey)];
      req.client_secret = data[std::string(core::kClientSecretKey)];
      if (req.client_id.empty()) return missing_key(ref, core::kClientIdKey);
      if (req.client_secret.empty()) return missing_key(ref, core::kClientSecretKey);
      credential_fingerprint = sha256_hex(req.client_id + '\0' + req.client_secret);
      break;
    }
    case core::AuthMethod::kServiceToken: {
      const auto& st = *auth.service_token;
      const auto& ref = *st.service_token_secret_reference;
      std::optional<Failure> failure;
      auto data = read_secret(ref, failure);
      if (failure) return failure;
      req.service_token = data[std::string(core::kServiceTokenKey)];
      req.service_token.erase(std::remove(req.service_token.begin(), req.service_token.end(), ' '),
                              req.service_token.end());
      if (req.service_token.empty()) return missing_key(ref, core::kServiceTokenKey);
      credential_fingerprint = sha256_hex(req.service_token);
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
      std::vector<std::string> audiences = k.service_account_token_audiences;
      KubeApi* kube = &kube_;
      req.kubernetes_jwt = [kube, sa_ns, sa_name, audiences]() {
        return kube->create_token(sa_ns, sa_name, audiences, 600);
      };
      req.service_account = sa_ns + "/" + sa_name;
      credential_fingerprint = sha256_hex(req.service_account);
      break;
    }
    case core::AuthMethod::kAwsIamAuth: req.identity_id = auth.aws_iam_auth->identity_id; break;
    case core::AuthMethod::kAzureAuth:
      req.identity_id = auth.azure_auth->identity_id;
      req.azure_resource = auth.azure_auth->effective_resource();
      req.azure_managed_identity_client_id = auth.azure_auth->managed_identity_client_id;
      credential_fingerprint = req.azure_resource + '\0' + req.azure_managed_identity_client_id;
      break;
    case core::AuthMethod::kLdapAuth: {
      const auto& ref = *auth.ldap_auth->credentials_ref;
      std::optional<Failure> failure;
      auto data = read_secret(ref, failure);
      if (failure) return failure;
      req.identity_id = auth.ldap_auth->identity_id;
      req.ldap_username = data[std::string(core::kLdapUsernameKey)];
      req.ldap_password = data[std::string(core::kLdapPasswordKey)];
      if (req.ldap_username.empty()) return missing_key(ref, core::kLdapUsernameKey);
      if (req.ldap_password.empty()) return missing_key(ref, core::kLdapPasswordKey);
      credential_fingerprint = sha256_hex(req.ldap_username + '\0' + req.ldap_password);
      break;
    }
    case core::AuthMethod::kGcpIdTokenAuth: req.identity_id = auth.gcp_id_token_auth->identity_id; break;
    case core::AuthMethod::kGcpIamAuth:
      req.identity_id = auth.gcp_iam_auth->identity_id;
      req.gcp_key_file = auth.gcp_iam_auth->service_account_key_file_path;
      credential_fingerprint = req.gcp_key_file;
      break;
  }
  identity_key = fmt::format("{}\n{}\n{}\n{}\n{}", req.host, method_name(method), req.identity_id,
                             credential_fingerprint, sha256_hex(req.ca_pem));
  return std::nullopt;
}

Reconciler::Fetched Reconciler::fetch_scope(const SourceRequest& base, const std::string& scope_key,
                                            std::chrono::seconds resync, kube::Clock::time_point* retry_at) {
  std::shared_ptr<ScopeEntry> entry;
  {
    std::lock_guard lock(mu_);
    auto& e = scopes_[scope_key];
    if (!e) e = std::make_shared<ScopeEntry>();
    entry = e;
  }
  std::lock_guard scope_lock(entry->mu);
  // CRs reading the same scope share one fetch per interval: data younger than 80% of the interval
  // (the shortest jittered resync is 90%) is served from memory.
  auto fresh_for = std::chrono::duration_cast<kube::Clock::duration>(resync) * 8 / 10;
  if (entry->has_data && clock_.now() - entry->fetched_at < fresh_for)
    return {entry->values, false, entry->fetched_at};
  // A scope that just failed is not asked again before its retry time: the same error, no request.
  if (entry->failure && clock_.now() < entry->retry_at) {
    *retry_at = entry->retry_at;
    std::rethrow_exception(entry->failure);
  }
  // The global request budget spreads work instead of failing it: a scope that finds the budget
  // spent reserves the next free slot, and every resource that needs the scope comes back exactly
  // then, without touching its status. The slot belongs to the scope, not to the resource that
  // asked first: ten resources waiting for one scope cost one slot, and the first of them back
  // uses it for all.
  if (entry->reserved_slot) {
    if (clock_.now() < *entry->reserved_slot)
      throw Throttled{std::chrono::duration_cast<std::chrono::milliseconds>(*entry->reserved_slot - clock_.now()) +
                      std::chrono::milliseconds(1)};
    entry->reserved_slot.reset();
  } else {
    auto wait = budget_.reserve();
    if (wait > kube::Clock::duration::zero()) {
      entry->reserved_slot = clock_.now() + wait;
      throw Throttled{std::chrono::duration_cast<std::chrono::milliseconds>(wait) + std::chrono::milliseconds(1)};
    }
  }
  SourceRequest req = base;
  if (entry->has_data && !entry->etag.empty()) req.if_none_match = entry->etag;
  SourceResult r;
  try {
    r = source_.fetch(req);
    if (r.not_modified && !entry->has_data) {
      // A 304 without data in memory cannot happen when no If-None-Match was sent; refetch plainly.
      req.if_none_match.reset();
      r = source_.fetch(req);
    }
  } catch (const infisical::ApiError& e) {
    ++entry->failures;
    auto backoff = std::min<kube::Clock::duration>(
        std::chrono::milliseconds(500) * (int64_t{1} << std::min(entry->failures - 1, 20)), resync);
    if (e.retry_after()) backoff = std::max<kube::Clock::duration>(backoff, *e.retry_after());
    entry->retry_at = clock_.now() + backoff;
    entry->failure = std::current_exception();
    *retry_at = entry->retry_at;
    throw;
  }
  entry->failure = nullptr;
  entry->failures = 0;
  for (const auto& w : r.warnings) log_->warn("infisical scope warning: {}", w);
  if (r.not_modified && entry->has_data) {
    entry->fetched_at = clock_.now();
    return {entry->values, true, entry->fetched_at};
  }
  entry->values = std::move(r.values);
  entry->etag = r.etag;
  entry->has_data = true;
  entry->fetched_at = clock_.now();
  return {entry->values, true, entry->fetched_at};
}

std::shared_ptr<const Reconciler::CheckedSpec> Reconciler::checked_spec(const std::string& key, const JsonValue& cr,
                                                                        const core::InfisicalSecret& model) {
  const int64_t generation = model.metadata.generation;
  {
    std::lock_guard lock(mu_);
    auto it = checked_specs_.find(key);
    if (it != checked_specs_.end() && generation > 0 && it->second->uid == model.metadata.uid &&
        it->second->generation == generation)
      return it->second;
  }
  auto checked = std::make_shared<CheckedSpec>();
  checked->uid = model.metadata.uid;
  checked->generation = generation;
  auto report = core::check_infisical_secret(cr);
  checked->ok = report.ok();
  if (!checked->ok) checked->message = "invalid spec: " + report.message();
  auto compile = [&](const auto& targets, std::vector<std::optional<core::CompiledTemplate>>& slots) {
    for (const auto& t : targets) {
      auto& slot = slots.emplace_back();
      if (!checked->ok || !t.template_) continue;
      // Validation has just parsed the same text, so this cannot fail; if it ever did, it is the spec's fault.
      auto compiled = core::compile_template(*t.template_, t.path);
      if (!compiled) {
        checked->ok = false;
        checked->message = "invalid spec: " + compiled.error();
        continue;
      }
      slot = std::move(*compiled);
    }
  };
  compile(model.spec.targets(), checked->templates);
  compile(model.spec.config_map_targets(), checked->config_map_templates);
  std::lock_guard lock(mu_);
  if (generation > 0) checked_specs_[key] = checked;
  return checked;
}

std::optional<Reconciler::Failure> Reconciler::render_targets(
    const std::vector<std::optional<core::CompiledTemplate>>& templates, const std::map<std::string, std::string>& values,
    const std::string& secrets_path, std::chrono::sys_seconds now, std::vector<std::map<std::string, std::string>>& out) {
  std::optional<core::TemplateData> secrets;  // built once, and only when a target has a template
  for (size_t i = 0; i < templates.size() && i < out.size(); ++i) {
    if (!templates[i]) continue;
    // Every key gets the scope's folder: the fetch keeps one value per key, not its folder, so in a
    // recursive scope `.KEY.SecretPath` is the scope's path rather than the sub-folder's.
    if (!secrets) secrets = core::template_data(values, infisical::normalize_secret_path(secrets_path));
    auto data = core::render_secret_data(*secrets, &*templates[i], now.time_since_epoch().count());
    if (!data) return Failure{std::string(core::kReasonTemplateFailed), data.error(), std::nullopt, false};
    out[i] = std::move(*data);
  }
  return std::nullopt;
}

Reconciler::SecretWrite Reconciler::write_managed_secret(const core::InfisicalSecret& model,
                                                         const core::ManagedSecretTarget& target,
                                                         const std::map<std::string, std::string>& values,
                                                         std::optional<Failure>& failure, bool fresh_read) {
  SecretWrite out;
  const std::string& ns = target.secret_namespace;
  const std::string& name = target.secret_name;
  const std::string hmac_key = digest_key();
  core::KeyDigests digests = core::key_digests(hmac_key, values);

  // Desired metadata (managed_metadata.h: template.metadata or the resource's own, the managed-by
  // label and the binding), plus the version and the digests rollouts read.
  ManagedMetadata desired = desired_metadata(model, target.template_);
  desired.annotations[std::string(core::kVersionAnnotation)] = core::secret_version_digest(hmac_key, values);
  desired.annotations[std::string(core::kKeyDigestsAnnotation)] = core::encode_key_digests(digests);

  // The watch cache first; fresh_read (after the cache proved stale) asks the API server. Without a
  // cache (tests of the reconciler alone) every reconcile reads. With one, a Secret the cache does not
  // hold is created straight away: the cache sees only Secrets with our label, so a foreign Secret of
  // that name answers the create with 409 AlreadyExists, and only then is it read (fresh_read) and
  // judged. That saves a GET per new Secret (10,000 at bench/syncer-scale's initial sync).
  Object existing = caches_.managed_secret && !fresh_read ? caches_.managed_secret(ns, name) : nullptr;
  if (!existing && (fresh_read || !caches_.managed_secret)) {
    try {
      existing = kube_.get(kube::kSecrets, ns, name);
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) throw;
    }
  }

  core::JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  if (!existing) {
    core::set_string(doc, "apiVersion", "v1", a);
    core::set_string(doc, "kind", "Secret", a);
    auto& meta = core::ensure_object(doc, "metadata", a);
    core::set_string(meta, "name", name, a);
    core::set_string(meta, "namespace", ns, a);
    core::set_member(meta, "labels", string_map_json(desired.labels, a), a);
    core::set_member(meta, "annotations", string_map_json(desired.annotations, a), a);
    if (target.owner()) core::set_member(meta, "ownerReferences", owner_references(model, a), a);
    core::set_string(doc, "type", target.secret_type.empty() ? "Opaque" : target.secret_type, a);
    std::map<std::string, std::string> encoded;
    for (const auto& [k, v] : values) encoded[k] = core::base64_encode(v);
    core::set_member(doc, "data", string_map_json(encoded, a), a);
    try {
      out.secret = kube_.create(kube::kSecrets, ns, doc);
    } catch (const kube::ApiError& e) {
      // The cache had not seen it yet (e.g. its watch is reconnecting): read it and update it instead.
      if (!e.is_already_exists() || fresh_read) throw;
      return write_managed_secret(model, target, values, failure, true);
    }
    out.written = out.data_changed = true;
    remember_own_write(ns, name, out.secret);
    metrics_.inc(kMetricSecretWrites, {{"operation", "create"}});
    log_->info("managed secret created secret={}/{} keys={} object={}/{}", ns, name, values.size(),
               model.metadata.namespace_, model.metadata.name);
    return out;
  }

  const JsonValue& ex = *existing;
  auto ex_labels = string_map(core::at_path(ex, {"metadata", "labels"}));
  auto ex_annotations = string_map(core::at_path(ex, {"metadata", "annotations"}));
  // Bound to this resource, or claimable (ours from before the binding, upstream's, adopted on
  // purpose): written, and the write stamps the binding. Bound to another live resource, or foreign:
  // never written.
  core::Claim claim = core::claim_managed_secret(
      ex, model, [this](const std::string& owner_ns, const std::string& owner_name, const std::string& owner_uid) {
        return owner_alive(owner_ns, owner_name, owner_uid);
      });
  if (claim.decision == core::ClaimDecision::kConflict) {
    failure = Failure{std::string(core::kReasonSecretConflict), claim.message, std::nullopt, false};
    return out;
  }
  auto ex_data = secret_data(ex);
  bool data_same = ex_data == values;
  // Update: keep what others put on the Secret (type, owners; other labels and annotations unless
  // template.metadata says exactly which), replace data.
  const ManagedMetadata merged = merged_metadata(desired, ex_labels, ex_annotations);
  bool meta_same = merged.labels == ex_labels && merged.annotations == ex_annotations;
  if (data_same && meta_same) {
    out.secret = existing;
    return out;
  }
  doc.CopyFrom(ex, a);
  auto& meta = core::ensure_object(doc, "metadata", a);
  core::set_member(meta, "labels", string_map_json(merged.labels, a), a);
  core::set_member(meta, "annotations", string_map_json(merged.annotations, a), a);
  core::remove_member(meta, "managedFields");
  std::map<std::string, std::string> encoded;
  for (const auto& [k, v] : values) encoded[k] = core::base64_encode(v);
  core::set_member(doc, "data", string_map_json(encoded, a), a);
  core::remove_member(doc, "stringData");
  try {
    out.secret = kube_.update(kube::kSecrets, ns, name, doc);
  } catch (const kube::ApiError& e) {
    // Deleted since the cached read (the watch has not told us yet): create it afresh now rather
    // than failing until the cache catches up.
    if (!e.is_not_found() || fresh_read) throw;
    return write_managed_secret(model, target, values, failure, true);
  }
  out.written = true;
  out.data_changed = !data_same;
  out.previous = data_same ? digests : core::key_digests(hmac_key, ex_data);
  remember_own_write(ns, name, out.secret);
  metrics_.inc(kMetricSecretWrites, {{"operation", "update"}});
  log_->info("managed secret updated secret={}/{} data_changed={} claimed={} object={}/{}", ns, name, !data_same,
             claim.decision == core::ClaimDecision::kClaim, model.metadata.namespace_, model.metadata.name);
  return out;
}

namespace {

std::string hash_over(const std::string& ns, const std::vector<core::ConsumedKey>& consumed,
                      const std::map<std::string, core::KeyDigests>& known) {
  return core::rollout_hash(ns, consumed, [&known](std::string_view name) -> const core::KeyDigests* {
    auto it = known.find(std::string(name));
    return it == known.end() ? nullptr : &it->second;
  });
}

// True when every Secret in `consumed` has digests in `known` (no consumed Secret is missing).
bool knows_all(const std::vector<core::ConsumedKey>& consumed, const std::map<std::string, core::KeyDigests>& known) {
  return std::all_of(consumed.begin(), consumed.end(),
                     [&known](const core::ConsumedKey& c) { return known.count(c.secret) != 0; });
}

std::string_view cause_name(core::RolloutCause cause) {
  switch (cause) {
    case core::RolloutCause::kStartup: return "startup";
    case core::RolloutCause::kDataChanged: return "data_changed";
    case core::RolloutCause::kDataUnchanged: return "data_unchanged";
  }
  return "unknown";
}

}  // namespace

std::map<std::string, core::KeyDigests> Reconciler::consumed_digests(const std::string& ns,
                                                                     const std::vector<core::ConsumedKey>& consumed,
                                                                     const std::map<std::string, Object>& fresh,
                                                                     bool read_missing) {
  std::map<std::string, core::KeyDigests> known;
  for (const auto& c : consumed) {
    if (known.count(c.secret)) continue;
    Object s;
    if (auto it = fresh.find(c.secret); it != fresh.end()) s = it->second;
    else if (caches_.managed_secret) s = caches_.managed_secret(ns, c.secret);
    if (!s && read_missing) {
      try {
        s = kube_.get(kube::kSecrets, ns, c.secret);
      } catch (const kube::ApiError& e) {
        if (!e.is_not_found()) throw;
      }
      const JsonValue* by = s ? core::at_path(*s, {"metadata", "labels", core::kManagedByLabel}) : nullptr;
      if (!by || !by->IsString() || std::string_view(by->GetString()) != core::kManagedByValue) s = nullptr;
    }
    if (!s) continue;
    const JsonValue* ann = core::at_path(*s, {"metadata", "annotations"});
    auto text = ann ? core::get_string_view(*ann, core::kKeyDigestsAnnotation) : std::nullopt;
    if (!text) continue;
    auto digests = core::decode_key_digests(*text);
    if (!digests) continue;
    known.emplace(c.secret, std::move(*digests));
  }
  return known;
}

bool Reconciler::apply_rollout(const kube::Resource& kind, const std::string& ns, const std::string& name,
                               core::RolloutAction action, core::RolloutCause cause, const std::string& hash,
                               const core::RolloutMarks& marks, RolloutCounts& counts) {
  if (action == core::RolloutAction::kNone) return true;
  const bool roll = action == core::RolloutAction::kRoll;
  try {
    kube_.merge_patch(kind, ns, name,
                      roll ? core::roll_patch(hash, marks.baseline.has_value()) : core::baseline_patch(hash));
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) return false;  // deleted meanwhile
    throw;
  }
  if (roll) {
    ++counts.rolled;
    metrics_.inc(kMetricRollouts, {{"kind", std::string(kind.kind)}});
    log_->info("rollout triggered workload={}/{}/{} cause={}", kind.kind, ns, name, cause_name(cause));
  } else {
    ++counts.baselined;
    metrics_.inc(kMetricRolloutBaselines, {{"kind", std::string(kind.kind)}});
    log_->info("rollout baseline recorded workload={}/{}/{} cause={}", kind.kind, ns, name, cause_name(cause));
  }
  return true;
}

RolloutCounts Reconciler::roll_consumers(const std::string& ns, const std::map<std::string, WrittenSecret>& written,
                                         const std::map<std::string, Object>& fresh, const Object& cr) {
  RolloutCounts counts;
  for (const kube::Resource* kind : {&kube::kDeployments, &kube::kStatefulSets, &kube::kDaemonSets}) {
    std::vector<Object> items = workloads_of(*kind, ns);
    for (const auto& w : items) {
      auto ann = string_map(core::at_path(*w, {"metadata", "annotations"}));
      if (ann[std::string(core::kAutoReloadAnnotation)] != "true") continue;
      const JsonValue* pod_spec = core::at_path(*w, {"spec", "template", "spec"});
      if (!pod_spec) continue;
      std::vector<core::ConsumedKey> consumed = core::consumed_secret_keys(*pod_spec);
      // A workload that consumes none of the written Secrets is not looked at further: this walks
      // every opted-in workload of the namespace, and reading digests for each would cost a parse of a
      // cached Secret per workload per reconcile.
      bool relevant = false, data_changed = false;
      for (const auto& c : consumed) {
        auto it = written.find(c.secret);
        if (it == written.end()) continue;
        relevant = true;
        data_changed = data_changed || it->second.data_changed;
      }
      if (!relevant) continue;
      std::map<std::string, core::KeyDigests> known = consumed_digests(ns, consumed, fresh, false);
      if (known.empty()) continue;
      const core::RolloutMarks marks = core::rollout_marks(*w);
      // A workload without a hash or a baseline may get a baseline, which must not miss a Secret that
      // another worker has just written and the watch cache does not show yet: ask the API server.
      if (!marks.effective() && !knows_all(consumed, known)) known = consumed_digests(ns, consumed, fresh, true);
      const std::string hash = hash_over(ns, consumed, known);
      // Without a hash or a baseline, what its pods run with is told by the data the written Secrets
      // had before this write. A Secret that did not exist changed nothing for them (they could not
      // start without it), unless they refer to it as optional (they did).
      std::string previous_hash = hash;
      if (data_changed && !marks.effective()) {
        const std::vector<std::string> optional = core::optionally_consumed_secrets(*pod_spec);
        std::map<std::string, core::KeyDigests> before = known;
        for (const auto& [secret, write] : written) {
          if (!before.count(secret)) continue;
          if (write.previous) before[secret] = *write.previous;
          else if (std::binary_search(optional.begin(), optional.end(), secret)) before.erase(secret);
        }
        previous_hash = hash_over(ns, consumed, before);
      }
      const core::RolloutCause cause =
          data_changed ? core::RolloutCause::kDataChanged : core::RolloutCause::kDataUnchanged;
      const core::RolloutAction action =
          core::decide_rollout(marks, hash, cause, previous_hash, knows_all(consumed, known));
      std::string name = meta_string(*w, "name");
      const int rolled_before = counts.rolled;
      if (!apply_rollout(*kind, ns, name, action, cause, hash, marks, counts)) continue;
      if (cr && counts.rolled > rolled_before)
        record_event(cr, "Normal", "RolloutTriggered",
                     fmt::format("{} {}/{} consumes a changed key; its pods are rolled", kind->kind, ns, name));
    }
  }
  return counts;
}

RolloutCounts Reconciler::check_all_workloads(const std::vector<std::string>& namespaces) {
  std::vector<std::string> scopes = namespaces.empty() ? std::vector<std::string>{""} : namespaces;
  RolloutCounts counts;
  for (const auto& scope_ns : scopes) {
    for (const kube::Resource* kind : {&kube::kDeployments, &kube::kStatefulSets, &kube::kDaemonSets}) {
      for (const auto& w : workloads_of(*kind, scope_ns)) {
        auto ann = string_map(core::at_path(*w, {"metadata", "annotations"}));
        if (ann[std::string(core::kAutoReloadAnnotation)] != "true") continue;
        const JsonValue* pod_spec = core::at_path(*w, {"spec", "template", "spec"});
        if (!pod_spec) continue;
        std::string ns = meta_string(*w, "namespace");
        std::vector<core::ConsumedKey> consumed = core::consumed_secret_keys(*pod_spec);
        std::map<std::string, core::KeyDigests> known = consumed_digests(ns, consumed, {}, false);
        if (known.empty()) continue;  // consumes no managed Secret (yet)
        const std::string hash = hash_over(ns, consumed, known);
        const core::RolloutMarks marks = core::rollout_marks(*w);
        const core::RolloutCause cause = core::RolloutCause::kStartup;
        const core::RolloutAction action = core::decide_rollout(marks, hash, cause, hash, knows_all(consumed, known));
        apply_rollout(*kind, ns, meta_string(*w, "name"), action, cause, hash, marks, counts);
      }
    }
  }
  return counts;
}

bool Reconciler::drop_upstream_finalizer(const JsonValue& cr, const std::string& ns, const std::string& name) {
  const JsonValue* finalizers = core::at_path(cr, {"metadata", "finalizers"});
  if (finalizers == nullptr || !finalizers->IsArray()) return false;
  std::string kept;
  bool found = false;
  for (const auto& f : finalizers->GetArray()) {
    if (!f.IsString()) continue;
    std::string_view v(f.GetString(), f.GetStringLength());
    if (v == core::kUpstreamFinalizer) {
      found = true;
      continue;
    }
    if (!kept.empty()) kept += ',';
    core::append_json_string(kept, v);
  }
  if (!found) return false;
  // The resourceVersion makes the patch conditional: a finalizer added meanwhile is never lost (a
  // 409 brings the resource back with backoff).
  std::string patch = R"({"metadata":{"finalizers":[)" + kept + R"(],"resourceVersion":)";
  core::append_json_string(patch, meta_string(cr, "resourceVersion"));
  patch += "}}";
  try {
    kube_.merge_patch(kube::kInfisicalSecrets, ns, name, patch);
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) return true;
    throw;
  }
  log_->info("upstream finalizer removed object={}/{} finalizer={}", ns, name, core::kUpstreamFinalizer);
  return true;
}

ReconcileOutcome Reconciler::reconcile(const std::string& key) {
  auto slash = key.find('/');
  std::string ns = key.substr(0, slash), name = slash == std::string::npos ? key : key.substr(slash + 1);
  Object cr = caches_.infisical_secret ? caches_.infisical_secret(ns, name) : nullptr;
  if (!cr) {
    std::lock_guard lock(mu_);
    if (auto it = cr_targets_.find(key); it != cr_targets_.end()) {
      for (const auto& t : it->second) secret_owners_[t].erase(key);
      cr_targets_.erase(it);
    }
    pending_rollouts_.erase(key);
    checked_specs_.erase(key);
    return {ReconcileOutcome::Next::kForget, {}, "deleted"};
  }
  if (drop_upstream_finalizer(*cr, ns, name) && !meta_string(*cr, "deletionTimestamp").empty())
    return {ReconcileOutcome::Next::kForget, {}, "deleted"};
  if (!meta_string(*cr, "deletionTimestamp").empty()) return {ReconcileOutcome::Next::kForget, {}, "deleted"};

  core::ParsedInfisicalSecret parsed = core::parse_infisical_secret(*cr);
  const core::InfisicalSecret& model = parsed.resource;
  std::vector<core::Condition> conditions = model.status.conditions;
  std::shared_ptr<const CheckedSpec> checked = checked_spec(key, *cr, model);
  if (!checked->ok) {
    Failure f{std::string(core::kReasonInvalidSpec), checked->message, std::nullopt, false};
    return finish(cr, model, conditions, f, 0, false, {});
  }

  // Remember which Secrets this resource writes, so watch events on them come back here.
  std::vector<std::string> managed;
  for (const auto& t : model.spec.targets()) managed.push_back(key_of(t.secret_namespace, t.secret_name));
  {
    std::lock_guard lock(mu_);
    auto& old = cr_targets_[key];
    for (const auto& t : old) secret_owners_[t].erase(key);
    old = managed;
    for (const auto& t : managed) secret_owners_[t].insert(key);
  }

  // The trust boundary, before anything it governs is read (credentials, CA), minted (a token), sent
  // (to Infisical) or written (the managed Secrets).
  if (auto f = check_trust(model)) return finish(cr, model, conditions, f, 0, false, managed);

  SourceRequest req;
  std::string identity_key;
  if (auto f = build_request(model, req, identity_key)) return finish(cr, model, conditions, f, 0, false, managed);
  std::string scope_key = fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}", identity_key, req.project_slug, req.project_id,
                                      req.env_slug, req.secrets_path, req.recursive, req.method == core::AuthMethod::kServiceToken,
                                      req.secret_name);
  auto resync = std::chrono::seconds(model.spec.resync_interval_seconds());

  Fetched fetched;
  kube::Clock::time_point scope_retry_at{};
  try {
    fetched = fetch_scope(req, scope_key, resync, &scope_retry_at);
  } catch (const Throttled& t) {
    metrics_.inc(kMetricThrottled);
    return {ReconcileOutcome::Next::kRequeueAfter, t.after, "throttled"};
  } catch (const infisical::ApiError& e) {
    Failure f;
    f.message = e.what();
    f.retry_after = e.retry_after();
    if (e.kind() == infisical::ErrorKind::kRateLimited) {
      f.reason = core::kReasonRateLimited;
    } else if (e.kind() == infisical::ErrorKind::kHostNotAllowed) {
      // Refused at connect time (a refused address range) or a redirect to another host: nothing was sent.
      f.reason = core::kReasonHostNotAllowed;
      metrics_.inc(kMetricTrustRefusals, {{"reason", f.reason}});
    } else if (e.kind() == infisical::ErrorKind::kUnauthorized || e.kind() == infisical::ErrorKind::kForbidden ||
               e.kind() == infisical::ErrorKind::kCredentialSource || e.kind() == infisical::ErrorKind::kInvalidConfig) {
      f.reason = core::kReasonAuthFailed;
      f.auth = true;
    } else {
      f.reason = core::kReasonFetchFailed;
    }
    ReconcileOutcome out = finish(cr, model, conditions, f, 0, false, managed);
    // Come back exactly when the scope may be asked again (every resource reading it does the same,
    // and the first one asks for all).
    if (out.result == "error" && scope_retry_at != kube::Clock::time_point{}) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(scope_retry_at - clock_.now());
      out = {ReconcileOutcome::Next::kRequeueAfter, std::max(wait, std::chrono::milliseconds(0)) + std::chrono::milliseconds(5),
             "error"};
    }
    return out;
  }
  auto now = wall_seconds(clock_);
  upsert_condition(conditions,
                   {std::string(core::kConditionLoadedToken), std::string(core::kStatusTrue), "OK",
                    fmt::format("Infisical controller has loaded the Infisical token in provided Kubernetes secret, "
                                "using {} authentication strategy",
                                method_name(req.method)),
                    "", model.metadata.generation},
                   now);

  // Every target's data before any write: a template that fails to render leaves all of this
  // resource's Secrets and ConfigMaps exactly as they are. (Upstream writes the targets before the
  // failing one and skips the rest; we are stricter, so a resource never ends half-synced.)
  const std::vector<core::ManagedSecretTarget> targets = model.spec.targets();
  std::vector<std::map<std::string, std::string>> rendered(targets.size());
  if (auto f = render_targets(checked->templates, fetched.values, req.secrets_path, now, rendered))
    return finish(cr, model, conditions, f, 0, false, managed);
  const std::vector<core::ManagedConfigMapTarget> config_maps = model.spec.config_map_targets();
  std::vector<std::map<std::string, std::string>> config_map_rendered(config_maps.size());
  if (auto f = render_targets(checked->config_map_templates, fetched.values, req.secrets_path, now, config_map_rendered))
    return finish(cr, model, conditions, f, 0, false, managed);
  // The API server's own limits, checked before anything is written, so the reason names the keys
  // (a 422 halfway through would leave the resource half-synced and say less).
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& data = i < checked->templates.size() && checked->templates[i] ? rendered[i] : fetched.values;
    auto ok = core::check_storable_data(
        data, fmt::format("Secret {}/{}", targets[i].secret_namespace, targets[i].secret_name));
    if (!ok)
      return finish(cr, model, conditions,
                    Failure{std::string(core::kReasonDataNotStorable), ok.error(), std::nullopt, false}, 0, false, managed);
  }
  for (size_t i = 0; i < config_maps.size(); ++i) {
    const auto& data =
        i < checked->config_map_templates.size() && checked->config_map_templates[i] ? config_map_rendered[i] : fetched.values;
    auto ok = core::check_storable_data(
        data, fmt::format("ConfigMap {}/{}", config_maps[i].config_map_namespace, config_maps[i].config_map_name));
    if (!ok)
      return finish(cr, model, conditions,
                    Failure{std::string(core::kReasonDataNotStorable), ok.error(), std::nullopt, false}, 0, false, managed);
  }

  std::optional<Failure> failure;
  bool any_written = false;
  std::map<std::string, std::map<std::string, Object>> fresh_by_ns;
  std::map<std::string, std::map<std::string, WrittenSecret>> written_by_ns;  // ns -> Secret -> what the write did
  try {
    for (size_t i = 0; i < targets.size(); ++i) {
      const core::ManagedSecretTarget& target = targets[i];
      const auto& data = i < checked->templates.size() && checked->templates[i] ? rendered[i] : fetched.values;
      SecretWrite w = write_managed_secret(model, target, data, failure);
      if (failure) break;
      any_written = any_written || w.written;
      if (w.secret) fresh_by_ns[target.secret_namespace][target.secret_name] = w.secret;
      if (w.written) written_by_ns[target.secret_namespace][target.secret_name] = {w.data_changed, w.previous};
    }
  } catch (const kube::ApiError& e) {
    if (e.is_conflict()) return {ReconcileOutcome::Next::kBackoff, {}, "conflict"};
    failure = Failure{std::string(core::kReasonWriteFailed), std::string("writing the managed Secret: ") + e.what(),
                      e.retry_after(), false};
  }
  // ConfigMap targets after the Secrets, bound the same way; they take no part in rollouts (upstream's
  // auto-reload follows Secrets only).
  try {
    const std::string hmac_key = digest_key();
    const OwnerAlive alive = [this](const std::string& owner_ns, const std::string& owner_name,
                                    const std::string& owner_uid) { return owner_alive(owner_ns, owner_name, owner_uid); };
    for (size_t i = 0; !failure && i < config_maps.size(); ++i) {
      const auto& data =
          i < checked->config_map_templates.size() && checked->config_map_templates[i] ? config_map_rendered[i] : fetched.values;
      ConfigMapWrite w = write_managed_config_map(kube_, model, config_maps[i], data, hmac_key, alive, metrics_, *log_);
      if (w.conflict) failure = Failure{std::string(core::kReasonSecretConflict), *w.conflict, std::nullopt, false};
      any_written = any_written || w.written;
    }
  } catch (const kube::ApiError& e) {
    if (e.is_conflict()) return {ReconcileOutcome::Next::kBackoff, {}, "conflict"};
    failure = Failure{std::string(core::kReasonWriteFailed), std::string("writing the managed ConfigMap: ") + e.what(),
                      e.retry_after(), false};
  }
  if (failure) return finish(cr, model, conditions, failure, 0, false, managed);

  if (any_written)
    record_event(cr, "Normal", "Synced",
                 fmt::format("synced {} keys into {}", fetched.values.size(),
                             describe_targets(managed, config_map_keys(model.spec))));
  // Rollouts (and baselines) still owed from an earlier reconcile whose workload patch failed, for
  // current targets. Their consumers are judged by the data before that earlier write, which is
  // what pods may still run with.
  {
    std::lock_guard lock(mu_);
    if (auto it = pending_rollouts_.find(key); it != pending_rollouts_.end()) {
      for (const auto& [wns, secrets] : it->second)
        for (const auto& [sname, owed] : secrets) {
          if (std::find(managed.begin(), managed.end(), key_of(wns, sname)) == managed.end()) continue;
          auto [entry, inserted] = written_by_ns[wns].try_emplace(sname, owed);
          if (inserted) continue;  // not written this time
          entry->second.data_changed = entry->second.data_changed || owed.data_changed;
          if (owed.previous) entry->second.previous = owed.previous;
        }
    }
    if (written_by_ns.empty()) pending_rollouts_.erase(key);
    else pending_rollouts_[key] = written_by_ns;
  }
  int rolled = 0;
  bool any_data_changed = false;
  for (const auto& [wns, written] : written_by_ns) {
    rolled += roll_consumers(wns, written, fresh_by_ns[wns], cr).rolled;
    for (const auto& [_, w] : written) any_data_changed = any_data_changed || w.data_changed;
  }
  if (!written_by_ns.empty()) {
    std::lock_guard lock(mu_);
    pending_rollouts_.erase(key);
  }
  if (any_data_changed)
    upsert_condition(conditions,
                     {std::string(core::kConditionAutoRedeploy), std::string(core::kStatusTrue), "OK",
                      fmt::format("Infisical has found {} deployments which are ready to be auto redeployed when "
                                  "secrets change",
                                  rolled),
                      "", model.metadata.generation},
                     now);
  // The next sync is due when the scope's data turns one interval old, plus a spread of up to 10% so
  // the resources of a scope do not come back at once. The first one back refreshes the scope and
  // the others share that answer, so each scope costs one request per interval however many
  // resources read it (requeueing each resource one interval after its own reconcile would let
  // their phases drift apart and refresh a busy scope every 80% of an interval).
  auto due = fetched.fetched_at + std::chrono::duration_cast<kube::Clock::duration>(resync) - clock_.now();
  auto next_sync = std::max<std::chrono::milliseconds>(std::chrono::duration_cast<std::chrono::milliseconds>(due),
                                                       std::chrono::seconds(1)) +
                   spread(resync);
  return finish(cr, model, conditions, std::nullopt, static_cast<int>(fetched.values.size()), any_written, managed,
                next_sync);
}

ReconcileOutcome Reconciler::finish(const Object& cr, const core::InfisicalSecret& model,
                                    std::vector<core::Condition> conditions, const std::optional<Failure>& failure,
                                    int synced_keys, bool synced_now, const std::vector<std::string>& managed,
                                    std::optional<std::chrono::milliseconds> next_sync) {
  auto now = wall_seconds(clock_);
  int64_t gen = model.metadata.generation;
  const core::Condition* prev_ready = core::find_condition(model.status.conditions, core::kConditionReady);
  std::string prev_reason = prev_ready ? prev_ready->reason : "";
  auto upsert = [&](std::string_view type, std::string_view status, std::string_view reason, std::string message) {
    core::upsert_condition(conditions,
                           {std::string(type), std::string(status), std::string(reason), std::move(message), "", gen},
                           now);
  };
  int64_t keys = model.status.synced_keys;
  std::string last_sync = model.status.last_sync_time;
  if (model.spec.wants_instant_updates()) {
    upsert(core::kConditionInstantUpdates, core::kStatusFalse, core::kReasonPolling,
           fmt::format("instant updates were requested, but this operator does not subscribe to Infisical's event "
                       "stream; it polls Infisical every {}s instead (spec.syncConfig.resyncInterval)",
                       model.spec.resync_interval_seconds()));
  } else {
    std::erase_if(conditions, [](const core::Condition& c) { return c.type == core::kConditionInstantUpdates; });
  }
  ReconcileOutcome out;
  if (failure) {
    upsert(core::kConditionReady, core::kStatusFalse, failure->reason, failure->message);
    if (failure->reason != core::kReasonInvalidSpec) {
      if (failure->auth)
        upsert(core::kConditionLoadedToken, core::kStatusFalse, "Error",
               "Failed to load Infisical Token from the provided Kubernetes secret because: " + failure->message);
      upsert(core::kConditionReadyToSync, core::kStatusFalse, "Error",
             "Failed to sync secrets. This can be caused by invalid access token or an invalid API host that is "
             "set. Error: " + failure->message);
      upsert(core::kConditionAutoRedeploy, core::kStatusFalse, "Stopped",
             "Auto redeployment has been stopped because the operator failed to sync secrets. Error: " +
                 failure->message);
    }
    if (failure->reason != prev_reason)
      record_event(cr, "Warning", failure->reason, failure->message);
    log_->warn("reconcile failed object={}/{} reason={} error=\"{}\"", model.metadata.namespace_, model.metadata.name,
               failure->reason, failure->message);
    if (failure->reason == core::kReasonInvalidSpec) {
      out = {ReconcileOutcome::Next::kForget, {}, "invalid"};
    } else if (failure->refused) {
      // Not a generation change but a grant, an annotation or the admin's policy admits it: look again
      // at the resync interval.
      out = {ReconcileOutcome::Next::kRequeueAfter,
             jittered(std::chrono::seconds(model.spec.resync_interval_seconds())), "refused"};
    } else if (failure->reason == core::kReasonSecretConflict) {
      out = {ReconcileOutcome::Next::kRequeueAfter, jittered(std::chrono::seconds(model.spec.resync_interval_seconds())),
             "conflict"};
    } else if (failure->reason == core::kReasonTemplateFailed || failure->reason == core::kReasonDataNotStorable) {
      // Only a change of the secrets it reads (or of the spec, which requeues at once) can mend it.
      out = {ReconcileOutcome::Next::kRequeueAfter, jittered(std::chrono::seconds(model.spec.resync_interval_seconds())),
             "error"};
    } else if (failure->retry_after) {
      out = {ReconcileOutcome::Next::kRequeueAfter,
             std::chrono::duration_cast<std::chrono::milliseconds>(*failure->retry_after) + jittered(std::chrono::seconds(1)),
             "error"};
    } else {
      out = {ReconcileOutcome::Next::kBackoff, {}, "error"};
    }
  } else {
    upsert(core::kConditionReady, core::kStatusTrue, core::kReasonSynced,
           fmt::format("{} keys synced into {}", synced_keys, describe_targets(managed, config_map_keys(model.spec))));
    upsert(core::kConditionReadyToSync, core::kStatusTrue, "OK",
           fmt::format("Infisical controller has started syncing your secrets. Last reconcile synced {} secrets",
                       synced_keys));
    if (!core::find_condition(conditions, core::kConditionAutoRedeploy) ||
        !core::condition_is_true(conditions, core::kConditionAutoRedeploy))
      upsert(core::kConditionAutoRedeploy, core::kStatusTrue, "OK",
             "Infisical has found 0 deployments which are ready to be auto redeployed when secrets change");
    keys = synced_keys;
    // lastSyncTime moves when the managed Secret was written or the resource became ready, so that an
    // unchanged resync writes nothing.
    if (synced_now || last_sync.empty() || prev_reason != core::kReasonSynced) last_sync = core::format_rfc3339(now);
    if (prev_reason != core::kReasonSynced && !synced_now && prev_ready)
      record_event(cr, "Normal", "Synced", "secrets are in sync again");
    out = {ReconcileOutcome::Next::kRequeueAfter,
           next_sync ? *next_sync : jittered(std::chrono::seconds(model.spec.resync_interval_seconds())),
           synced_now ? "synced" : "unchanged"};
  }

  // One status write, only when something changed.
  bool changed = conditions != model.status.conditions || gen != model.status.observed_generation ||
                 keys != model.status.synced_keys || last_sync != model.status.last_sync_time ||
                 (!failure && managed != model.status.managed_secrets);
  if (!changed) return out;
  core::JsonDoc patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  auto& status = core::ensure_object(patch, "status", a);
  core::set_member(status, "conditions", core::conditions_to_json(conditions, a), a);
  core::set_member(status, "observedGeneration", JsonValue(static_cast<int64_t>(gen)), a);
  if (!last_sync.empty()) core::set_string(status, "lastSyncTime", last_sync, a);
  core::set_member(status, "syncedKeys", JsonValue(static_cast<int64_t>(keys)), a);
  if (!failure) {
    JsonValue list(rapidjson::kArrayType);
    for (const auto& m : managed) list.PushBack(core::json_string(m, a), a);
    core::set_member(status, "managedSecrets", std::move(list), a);
  }
  try {
    kube_.patch_status(kube::kInfisicalSecrets, model.metadata.namespace_, model.metadata.name, core::to_json(patch));
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) return {ReconcileOutcome::Next::kForget, {}, "deleted"};
    throw;
  }
  return out;
}

}  // namespace ifo::syncer
