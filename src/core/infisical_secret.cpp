// Parsing of the InfisicalSecret JSON into the model, plus hostAPI normalisation and resolution.
#include "core/infisical_secret.h"

#include <fmt/format.h>

#include "core/constants.h"

namespace ifo::core {

namespace {

std::string_view json_type_name(const JsonValue& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "boolean";
    case rapidjson::kObjectType: return "object";
    case rapidjson::kArrayType: return "array";
    case rapidjson::kStringType: return "string";
    case rapidjson::kNumberType: return "number";
  }
  return "value";
}

// Reads typed members and records a FieldError for each wrong type. A null member reads as absent,
// as the API server treats it. Each reader takes the parent object and its path; the member's own
// path is rendered only for an error.
class Reader {
 public:
  explicit Reader(std::vector<FieldError>& errors) : errors_(errors) {}

  void type_error(const FieldPath& path, std::string_view want, const JsonValue& got) {
    type_error(path.str(), want, got);
  }
  void type_error(std::string path, std::string_view want, const JsonValue& got) {
    errors_.push_back({std::move(path), fmt::format("must be {}, not {}", want, json_type_name(got))});
  }

  // The member when it is an object; nullptr when absent/null (no error) or of another type (error).
  const JsonValue* object(const JsonValue& parent, std::string_view name, const FieldPath& parent_path) {
    const JsonValue* v = member(parent, name);
    if (v == nullptr || v->IsNull()) return nullptr;
    if (!v->IsObject()) {
      type_error(FieldPath(parent_path, name), "an object", *v);
      return nullptr;
    }
    return v;
  }

  // True when the member exists and is not null (whatever its type).
  static bool present(const JsonValue& parent, std::string_view name) {
    const JsonValue* v = member(parent, name);
    return v != nullptr && !v->IsNull();
  }

  std::optional<std::string> str(const JsonValue& parent, std::string_view name, const FieldPath& parent_path) {
    const JsonValue* v = member(parent, name);
    if (v == nullptr || v->IsNull()) return std::nullopt;
    if (!v->IsString()) {
      type_error(FieldPath(parent_path, name), "a string", *v);
      return std::nullopt;
    }
    return std::string(v->GetString(), v->GetStringLength());
  }

  std::string str_or_empty(const JsonValue& parent, std::string_view name, const FieldPath& parent_path) {
    return str(parent, name, parent_path).value_or(std::string());
  }

  std::optional<bool> boolean(const JsonValue& parent, std::string_view name, const FieldPath& parent_path) {
    const JsonValue* v = member(parent, name);
    if (v == nullptr || v->IsNull()) return std::nullopt;
    if (!v->IsBool()) {
      type_error(FieldPath(parent_path, name), "a boolean", *v);
      return std::nullopt;
    }
    return v->GetBool();
  }

  std::optional<int64_t> integer(const JsonValue& parent, std::string_view name, const FieldPath& parent_path) {
    const JsonValue* v = member(parent, name);
    if (v == nullptr || v->IsNull()) return std::nullopt;
    if (v->IsInt64()) return v->GetInt64();
    if (v->IsNumber() && !v->IsDouble()) {
      errors_.push_back({FieldPath(parent_path, name).str(), "integer out of range"});
    } else {
      type_error(FieldPath(parent_path, name), "an integer", *v);
    }
    return std::nullopt;
  }

  std::map<std::string, std::string> string_map(const JsonValue& parent, std::string_view name,
                                                const FieldPath& parent_path) {
    std::map<std::string, std::string> out;
    const JsonValue* obj = object(parent, name, parent_path);
    if (obj == nullptr) return out;
    for (const auto& m : obj->GetObject()) {
      std::string key(m.name.GetString(), m.name.GetStringLength());
      if (!m.value.IsString()) {
        type_error(key_path(FieldPath(parent_path, name).str(), key), "a string", m.value);
        continue;
      }
      out[key] = std::string(m.value.GetString(), m.value.GetStringLength());
    }
    return out;
  }

  std::vector<std::string> string_list(const JsonValue& parent, std::string_view name, const FieldPath& parent_path) {
    std::vector<std::string> out;
    const JsonValue* v = member(parent, name);
    if (v == nullptr || v->IsNull()) return out;
    const FieldPath path(parent_path, name);
    if (!v->IsArray()) {
      type_error(path, "an array", *v);
      return out;
    }
    size_t i = 0;
    for (const auto& item : v->GetArray()) {
      if (item.IsString()) out.emplace_back(item.GetString(), item.GetStringLength());
      else type_error(FieldPath(path, i), "a string", item);
      ++i;
    }
    return out;
  }

  // A sub-object that is present (even with a wrong type, so "exactly one" still counts it).
  template <typename T, typename Fn>
  std::optional<T> block(const JsonValue& parent, std::string_view name, const FieldPath& parent_path, Fn read) {
    if (!present(parent, name)) return std::nullopt;
    T out{};
    if (const JsonValue* obj = object(parent, name, parent_path)) read(*obj, FieldPath(parent_path, name), out);
    return out;
  }

 private:
  std::vector<FieldError>& errors_;
};

std::optional<SecretReference> read_secret_ref(Reader& r, const JsonValue& parent, std::string_view name,
                                               const FieldPath& parent_path) {
  return r.block<SecretReference>(parent, name, parent_path,
                                  [&](const JsonValue& o, const FieldPath& p, SecretReference& out) {
                                    out.secret_name = r.str_or_empty(o, "secretName", p);
                                    out.secret_namespace = r.str_or_empty(o, "secretNamespace", p);
                                  });
}

std::optional<MachineIdentityScope> read_mi_scope(Reader& r, const JsonValue& parent, const FieldPath& parent_path) {
  return r.block<MachineIdentityScope>(
      parent, "secretsScope", parent_path, [&](const JsonValue& o, const FieldPath& p, MachineIdentityScope& out) {
        out.project_slug = r.str_or_empty(o, "projectSlug", p);
        out.project_id = r.str_or_empty(o, "projectId", p);
        out.env_slug = r.str_or_empty(o, "envSlug", p);
        out.secrets_path = r.str_or_empty(o, "secretsPath", p);
        out.recursive = r.boolean(o, "recursive", p).value_or(false);
        out.secret_name = r.str_or_empty(o, "secretName", p);
      });
}

Authentication read_authentication(Reader& r, const JsonValue& a, const FieldPath& p) {
  Authentication out;
  out.universal_auth = r.block<UniversalAuth>(a, "universalAuth", p, [&](const JsonValue& o, const FieldPath& mp, UniversalAuth& m) {
    m.credentials_ref = read_secret_ref(r, o, "credentialsRef", mp);
    m.secrets_scope = read_mi_scope(r, o, mp);
  });
  out.kubernetes_auth = r.block<KubernetesAuth>(a, "kubernetesAuth", p, [&](const JsonValue& o, const FieldPath& mp, KubernetesAuth& m) {
    m.identity_id = r.str_or_empty(o, "identityId", mp);
    m.service_account_ref = r.block<ServiceAccountReference>(
        o, "serviceAccountRef", mp, [&](const JsonValue& so, const FieldPath& sp, ServiceAccountReference& sa) {
          sa.name = r.str_or_empty(so, "name", sp);
          sa.namespace_ = r.str_or_empty(so, "namespace", sp);
        });
    m.auto_create_service_account_token = r.boolean(o, "autoCreateServiceAccountToken", mp).value_or(false);
    m.service_account_token_audiences = r.string_list(o, "serviceAccountTokenAudiences", mp);
    m.secrets_scope = read_mi_scope(r, o, mp);
  });
  out.aws_iam_auth = r.block<AwsIamAuth>(a, "awsIamAuth", p, [&](const JsonValue& o, const FieldPath& mp, AwsIamAuth& m) {
    m.identity_id = r.str_or_empty(o, "identityId", mp);
    m.secrets_scope = read_mi_scope(r, o, mp);
  });
  out.azure_auth = r.block<AzureAuth>(a, "azureAuth", p, [&](const JsonValue& o, const FieldPath& mp, AzureAuth& m) {
    m.identity_id = r.str_or_empty(o, "identityId", mp);
    m.resource = r.str_or_empty(o, "resource", mp);
    m.managed_identity_client_id = r.str_or_empty(o, "azureManagedIdentityClientId", mp);
    m.secrets_scope = read_mi_scope(r, o, mp);
  });
  out.gcp_id_token_auth = r.block<GcpIdTokenAuth>(a, "gcpIdTokenAuth", p, [&](const JsonValue& o, const FieldPath& mp, GcpIdTokenAuth& m) {
    m.identity_id = r.str_or_empty(o, "identityId", mp);
    m.secrets_scope = read_mi_scope(r, o, mp);
  });
  out.gcp_iam_auth = r.block<GcpIamAuth>(a, "gcpIamAuth", p, [&](const JsonValue& o, const FieldPath& mp, GcpIamAuth& m) {
    m.identity_id = r.str_or_empty(o, "identityId", mp);
    m.service_account_key_file_path = r.str_or_empty(o, "serviceAccountKeyFilePath", mp);
    m.secrets_scope = read_mi_scope(r, o, mp);
  });
  out.service_token = r.block<ServiceTokenAuth>(a, "serviceToken", p, [&](const JsonValue& o, const FieldPath& mp, ServiceTokenAuth& m) {
    m.service_token_secret_reference = read_secret_ref(r, o, "serviceTokenSecretReference", mp);
    m.secrets_scope = r.block<ServiceTokenScope>(o, "secretsScope", mp, [&](const JsonValue& so, const FieldPath& sp, ServiceTokenScope& sc) {
      sc.env_slug = r.str_or_empty(so, "envSlug", sp);
      sc.secrets_path = r.str_or_empty(so, "secretsPath", sp);
      sc.recursive = r.boolean(so, "recursive", sp).value_or(false);
    });
  });
  out.ldap_auth = r.block<LdapAuth>(a, "ldapAuth", p, [&](const JsonValue& o, const FieldPath& mp, LdapAuth& m) {
    m.identity_id = r.str_or_empty(o, "identityId", mp);
    m.credentials_ref = read_secret_ref(r, o, "credentialsRef", mp);
    m.secrets_scope = read_mi_scope(r, o, mp);
  });
  // Only its presence matters (validation refuses it); its fields are kept by the CRD, not read.
  out.legacy_service_account = Reader::present(a, "serviceAccount");
  return out;
}

// Upstream resolves the service-token Secret field by field: serviceTokenSecretReference's name and
// namespace, each falling back to spec.tokenSecretReference's when empty.
void apply_legacy_token_reference(const SecretReference& legacy, ServiceTokenAuth& st) {
  SecretReference ref = st.service_token_secret_reference.value_or(SecretReference{});
  if (ref.secret_name.empty() && !legacy.secret_name.empty()) {
    ref.secret_name = legacy.secret_name;
    st.secret_name_from_legacy = true;
  }
  if (ref.secret_namespace.empty() && !legacy.secret_namespace.empty()) {
    ref.secret_namespace = legacy.secret_namespace;
    st.secret_namespace_from_legacy = true;
  }
  if (st.service_token_secret_reference || st.secret_name_from_legacy || st.secret_namespace_from_legacy)
    st.service_token_secret_reference = std::move(ref);
}

// A target's `template`, the same for Secret and ConfigMap targets.
std::optional<SecretTemplate> read_template(Reader& r, const JsonValue& o, const FieldPath& p) {
  return r.block<SecretTemplate>(o, "template", p, [&](const JsonValue& to, const FieldPath& tp, SecretTemplate& tm) {
    tm.include_all_secrets = r.boolean(to, "includeAllSecrets", tp).value_or(false);
    tm.data = r.string_map(to, "data", tp);
    tm.has_metadata = Reader::present(to, "metadata");
    if (const JsonValue* m = r.object(to, "metadata", tp)) {
      const FieldPath mp(tp, "metadata");
      tm.labels = r.string_map(*m, "labels", mp);
      tm.annotations = r.string_map(*m, "annotations", mp);
    }
  });
}

// `t.path` is set by the caller (it is kept, and set even when the target is not an object).
void read_target(Reader& r, const JsonValue& o, const FieldPath& p, ManagedSecretTarget& t) {
  t.secret_name = r.str_or_empty(o, "secretName", p);
  t.secret_namespace = r.str_or_empty(o, "secretNamespace", p);
  std::string type = r.str_or_empty(o, "secretType", p);
  if (!type.empty()) t.secret_type = std::move(type);
  if (auto cp = r.str(o, "creationPolicy", p)) t.creation_policy = std::move(*cp);
  t.template_ = read_template(r, o, p);
}

void read_config_map_target(Reader& r, const JsonValue& o, const FieldPath& p, ManagedConfigMapTarget& t) {
  t.config_map_name = r.str_or_empty(o, "configMapName", p);
  t.config_map_namespace = r.str_or_empty(o, "configMapNamespace", p);
  if (auto cp = r.str(o, "creationPolicy", p)) t.creation_policy = std::move(*cp);
  t.template_ = read_template(r, o, p);
}

// A list of targets at spec.<name>: absent/null stays nullopt; an item that is not an object is an
// error at its index and reads as an empty target (so indexes keep matching the JSON).
template <typename T, typename Fn>
std::optional<std::vector<T>> read_target_list(Reader& r, const JsonValue& s, std::string_view name,
                                               const FieldPath& p, Fn read_item) {
  if (!Reader::present(s, name)) return std::nullopt;
  const FieldPath lp(p, name);
  std::vector<T> out;
  const JsonValue* list = member(s, name);
  if (!list->IsArray()) {
    r.type_error(lp, "an array", *list);
    return out;
  }
  size_t i = 0;
  for (const auto& item : list->GetArray()) {
    const FieldPath ip(lp, i++);
    T t;
    t.path = ip.str();
    if (item.IsObject()) read_item(r, item, ip, t);
    else r.type_error(t.path, "an object", item);
    out.push_back(std::move(t));
  }
  return out;
}

InfisicalSecretSpec read_spec(Reader& r, const JsonValue& s, const FieldPath& p) {
  InfisicalSecretSpec spec;
  spec.host_api = r.str_or_empty(s, "hostAPI", p);
  spec.resync_interval = r.integer(s, "resyncInterval", p);
  spec.instant_updates = r.boolean(s, "instantUpdates", p).value_or(false);
  spec.sync_config = r.block<SyncConfig>(s, "syncConfig", p, [&](const JsonValue& o, const FieldPath& sp, SyncConfig& c) {
    c.resync_interval = r.str_or_empty(o, "resyncInterval", sp);
    c.instant_updates = r.boolean(o, "instantUpdates", sp).value_or(false);
  });
  spec.authentication = r.block<Authentication>(s, "authentication", p, [&](const JsonValue& o, const FieldPath& ap, Authentication& a) {
    a = read_authentication(r, o, ap);
  });
  spec.token_secret_reference = read_secret_ref(r, s, "tokenSecretReference", p);
  if (spec.token_secret_reference && spec.authentication && spec.authentication->service_token)
    apply_legacy_token_reference(*spec.token_secret_reference, *spec.authentication->service_token);
  spec.managed_secret_reference = r.block<ManagedSecretTarget>(
      s, "managedSecretReference", p, [&](const JsonValue& o, const FieldPath& tp, ManagedSecretTarget& t) {
        read_target(r, o, tp, t);
      });
  if (spec.managed_secret_reference) spec.managed_secret_reference->path = FieldPath(p, "managedSecretReference").str();
  spec.managed_kube_secret_references =
      read_target_list<ManagedSecretTarget>(r, s, "managedKubeSecretReferences", p, read_target);
  spec.managed_kube_config_map_references =
      read_target_list<ManagedConfigMapTarget>(r, s, "managedKubeConfigMapReferences", p, read_config_map_target);
  if (const JsonValue* tls = r.object(s, "tls", p)) {
    const FieldPath tls_path(p, "tls");
    spec.tls_ca_ref = r.block<CaReference>(*tls, "caRef", tls_path, [&](const JsonValue& o, const FieldPath& cp, CaReference& c) {
      c.secret_name = r.str_or_empty(o, "secretName", cp);
      c.secret_namespace = r.str_or_empty(o, "secretNamespace", cp);
      c.key = r.str_or_empty(o, "key", cp);
    });
  }
  return spec;
}

ObjectMeta read_metadata(Reader& r, const JsonValue& m, const FieldPath& p) {
  ObjectMeta meta;
  meta.name = r.str_or_empty(m, "name", p);
  meta.namespace_ = r.str_or_empty(m, "namespace", p);
  meta.uid = r.str_or_empty(m, "uid", p);
  meta.resource_version = r.str_or_empty(m, "resourceVersion", p);
  meta.generation = r.integer(m, "generation", p).value_or(0);
  meta.labels = r.string_map(m, "labels", p);
  meta.annotations = r.string_map(m, "annotations", p);
  meta.deletion_timestamp = r.str_or_empty(m, "deletionTimestamp", p);
  return meta;
}

// Lenient: status is written by the syncer and the API server, not by users.
InfisicalSecretStatus read_status(const JsonValue& s) {
  InfisicalSecretStatus st;
  if (const JsonValue* c = member(s, "conditions")) st.conditions = conditions_from_json(*c);
  st.observed_generation = get_int(s, "observedGeneration").value_or(0);
  st.last_sync_time = string_or(s, "lastSyncTime", "");
  st.synced_keys = get_int(s, "syncedKeys").value_or(0);
  if (const JsonValue* ms = member(s, "managedSecrets"); ms != nullptr && ms->IsArray()) {
    for (const auto& item : ms->GetArray()) {
      if (item.IsString()) st.managed_secrets.emplace_back(item.GetString(), item.GetStringLength());
    }
  }
  if (const JsonValue* kd = member(s, kStatusManagedKeyDigests))
    st.managed_key_digests = read_managed_key_digests(*kd);
  return st;
}

}  // namespace

std::string_view auth_method_field(AuthMethod m) {
  switch (m) {
    case AuthMethod::kUniversalAuth: return "universalAuth";
    case AuthMethod::kKubernetesAuth: return "kubernetesAuth";
    case AuthMethod::kAwsIamAuth: return "awsIamAuth";
    case AuthMethod::kAzureAuth: return "azureAuth";
    case AuthMethod::kGcpIdTokenAuth: return "gcpIdTokenAuth";
    case AuthMethod::kGcpIamAuth: return "gcpIamAuth";
    case AuthMethod::kServiceToken: return "serviceToken";
    case AuthMethod::kLdapAuth: return "ldapAuth";
  }
  return "unknown";
}

std::vector<AuthMethod> Authentication::present_methods() const {
  std::vector<AuthMethod> out;
  if (universal_auth) out.push_back(AuthMethod::kUniversalAuth);
  if (kubernetes_auth) out.push_back(AuthMethod::kKubernetesAuth);
  if (aws_iam_auth) out.push_back(AuthMethod::kAwsIamAuth);
  if (azure_auth) out.push_back(AuthMethod::kAzureAuth);
  if (gcp_id_token_auth) out.push_back(AuthMethod::kGcpIdTokenAuth);
  if (gcp_iam_auth) out.push_back(AuthMethod::kGcpIamAuth);
  if (service_token) out.push_back(AuthMethod::kServiceToken);
  if (ldap_auth) out.push_back(AuthMethod::kLdapAuth);
  return out;
}

std::optional<AuthMethod> Authentication::method() const {
  auto all = present_methods();
  if (all.size() != 1) return std::nullopt;
  return all.front();
}

const MachineIdentityScope* Authentication::machine_identity_scope() const {
  auto m = method();
  if (!m) return nullptr;
  const std::optional<MachineIdentityScope>* s = nullptr;
  switch (*m) {
    case AuthMethod::kUniversalAuth: s = &universal_auth->secrets_scope; break;
    case AuthMethod::kKubernetesAuth: s = &kubernetes_auth->secrets_scope; break;
    case AuthMethod::kAwsIamAuth: s = &aws_iam_auth->secrets_scope; break;
    case AuthMethod::kAzureAuth: s = &azure_auth->secrets_scope; break;
    case AuthMethod::kGcpIdTokenAuth: s = &gcp_id_token_auth->secrets_scope; break;
    case AuthMethod::kGcpIamAuth: s = &gcp_iam_auth->secrets_scope; break;
    case AuthMethod::kLdapAuth: s = &ldap_auth->secrets_scope; break;
    case AuthMethod::kServiceToken: return nullptr;
  }
  return s != nullptr && s->has_value() ? &**s : nullptr;
}

std::optional<int64_t> parse_resync_interval(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return std::nullopt;
  }
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
    if (n > kMaxResyncIntervalSeconds) return std::nullopt;
  }
  return n * unit;
}

int64_t InfisicalSecretSpec::resync_interval_seconds() const {
  if (sync_config && !sync_config->resync_interval.empty())
    if (auto s = parse_resync_interval(sync_config->resync_interval)) return *s;
  return resync_interval.value_or(kDefaultResyncIntervalSeconds);
}

std::vector<ManagedSecretTarget> InfisicalSecretSpec::targets() const {
  std::vector<ManagedSecretTarget> out;
  if (managed_secret_reference) out.push_back(*managed_secret_reference);
  if (managed_kube_secret_references) {
    out.insert(out.end(), managed_kube_secret_references->begin(), managed_kube_secret_references->end());
  }
  return out;
}

std::vector<ManagedConfigMapTarget> InfisicalSecretSpec::config_map_targets() const {
  return managed_kube_config_map_references.value_or(std::vector<ManagedConfigMapTarget>{});
}

ParsedInfisicalSecret parse_infisical_secret(const JsonValue& object) {
  ParsedInfisicalSecret out;
  Reader r(out.errors);
  if (!object.IsObject()) {
    r.type_error("", "an object", object);
    return out;
  }
  const FieldPath root("");
  if (const JsonValue* m = r.object(object, "metadata", root)) out.resource.metadata = read_metadata(r, *m, FieldPath(root, "metadata"));
  if (const JsonValue* s = r.object(object, "spec", root)) {
    out.resource.spec = read_spec(r, *s, FieldPath(root, "spec"));
  } else if (!Reader::present(object, "spec")) {
    out.errors.push_back({"spec", "required"});
  }
  if (const JsonValue* st = member(object, "status"); st != nullptr && st->IsObject()) {
    out.resource.status = read_status(*st);
  }
  return out;
}

ParsedInfisicalSecret parse_infisical_secret_json(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc.ok()) {
    ParsedInfisicalSecret out;
    out.errors.push_back({"", doc.error()});
    return out;
  }
  return parse_infisical_secret(**doc);
}

std::string normalize_host_api(std::string_view host_api) {
  while (!host_api.empty() && host_api.back() == '/') host_api.remove_suffix(1);
  if (host_api.empty()) return {};
  std::string out(host_api);
  constexpr std::string_view kSuffix = "/api";
  if (out.size() < kSuffix.size() || out.compare(out.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    out += kSuffix;
  }
  return out;
}

std::string resolve_host_api(std::string_view cr_host_api, std::string_view configmap_host_api) {
  if (std::string n = normalize_host_api(cr_host_api); !n.empty()) return n;
  while (!configmap_host_api.empty() && configmap_host_api.back() == '/') configmap_host_api.remove_suffix(1);
  if (!configmap_host_api.empty()) return std::string(configmap_host_api);
  return std::string(kDefaultHostApi);
}

}  // namespace ifo::core
