// The InfisicalSecret rules: one auth method and its required fields, names, paths, ranges, targets.
#include "core/validation.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "core/go_template.h"
#include "core/rendered_secret.h"

namespace ifo::core {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool is_qualified_part(std::string_view s) {
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// "Opaque", "example.com/my-type": an optional DNS subdomain prefix and a qualified name.
bool is_custom_secret_type(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return is_qualified_part(s);
  return is_dns1123_subdomain(s.substr(0, slash)) && is_qualified_part(s.substr(slash + 1));
}

bool reserved_type_prefix(std::string_view type) {
  auto slash = type.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view prefix = type.substr(0, slash);
  constexpr std::string_view kK8s = "kubernetes.io";
  return prefix == kK8s || (prefix.size() > kK8s.size() && prefix.ends_with(kK8s) &&
                            prefix[prefix.size() - kK8s.size() - 1] == '.');
}

std::string quoted_list(const std::vector<std::string_view>& items) {
  std::string out;
  for (auto i : items) {
    if (!out.empty()) out += ", ";
    out += i;
  }
  return out;
}

class Validator {
 public:
  Validator(const InfisicalSecret& r, std::string_view request_namespace)
      : r_(r), ns_(r.metadata.namespace_.empty() ? std::string(request_namespace) : r.metadata.namespace_) {}

  ValidationReport run() {
    const auto& spec = r_.spec;
    if (!spec.host_api.empty() && !is_http_url(spec.host_api)) {
      error("spec.hostAPI", "must be an absolute http:// or https:// URL with a host (no query or fragment)");
    }
    if (spec.resync_interval) {
      int64_t v = *spec.resync_interval;
      if (v < kMinResyncIntervalSeconds) {
        error("spec.resyncInterval", fmt::format("must be at least {} seconds", kMinResyncIntervalSeconds));
      } else if (v > kMaxResyncIntervalSeconds) {
        error("spec.resyncInterval", fmt::format("must be at most {} seconds (7 days)", kMaxResyncIntervalSeconds));
      }
    }
    if (spec.sync_config && !spec.sync_config->resync_interval.empty()) {
      auto v = parse_resync_interval(spec.sync_config->resync_interval);
      if (!v) {
        error("spec.syncConfig.resyncInterval",
              fmt::format("{:?} is not a number followed by s, m, h, d or w (for example 30s or 5m)",
                          spec.sync_config->resync_interval));
      } else if (*v < kMinResyncIntervalSeconds) {
        error("spec.syncConfig.resyncInterval", fmt::format("must be at least {}s", kMinResyncIntervalSeconds));
      } else if (*v > kMaxResyncIntervalSeconds) {
        error("spec.syncConfig.resyncInterval", "must be at most 7d");
      }
    }
    authentication();
    legacy_token_reference();
    targets();
    if (spec.tls_ca_ref) ca_ref(*spec.tls_ca_ref);
    return std::move(report_);
  }

 private:
  // Paths are FieldPaths, rendered only here: a valid spec builds no path strings.
  void error(std::string path, std::string message) { report_.errors.push_back({std::move(path), std::move(message)}); }
  void error(const FieldPath& path, std::string message) { error(path.str(), std::move(message)); }

  void cross(ReferenceKind kind, const std::string& ns, const std::string& name, const FieldPath& path) {
    if (ns.empty() || ns == ns_) return;
    CrossNamespaceReference ref{kind, ns, name, path.str()};
    auto& refs = report_.cross_namespace_references;
    if (std::find(refs.begin(), refs.end(), ref) == refs.end()) refs.push_back(std::move(ref));
  }

  void required(const std::string& value, const FieldPath& path) {
    if (value.empty()) error(path, "required");
  }

  void namespace_field(const std::string& value, const FieldPath& path) {
    if (value.empty()) error(path, "required");
    else if (!is_dns1123_label(value)) {
      error(path, "must be a valid namespace name (lowercase letters, digits and '-', at most 63 characters)");
    }
  }

  void name_field(const std::string& value, const FieldPath& path) {
    if (value.empty()) error(path, "required");
    else if (!is_dns1123_subdomain(value)) {
      error(path, "must be a valid name (lowercase letters, digits, '-' and '.', at most 253 characters)");
    }
  }

  void secret_ref(const std::optional<SecretReference>& ref, const FieldPath& path, ReferenceKind kind) {
    if (!ref) {
      error(path, "required");
      return;
    }
    name_field(ref->secret_name, FieldPath(path, "secretName"));
    namespace_field(ref->secret_namespace, FieldPath(path, "secretNamespace"));
    cross(kind, ref->secret_namespace, ref->secret_name, path);
  }

  void secrets_path(const std::string& value, const FieldPath& path) {
    if (value.empty()) error(path, "required");
    else if (value.front() != '/') error(path, "must start with '/'");
  }

  void mi_scope(const std::optional<MachineIdentityScope>& scope, const FieldPath& method_path) {
    const FieldPath p(method_path, "secretsScope");
    if (!scope) {
      error(p, "required");
      return;
    }
    if (scope->project_slug.empty() && scope->project_id.empty()) {
      error(p, "exactly one of projectSlug or projectId is required; neither is set");
    } else if (!scope->project_slug.empty() && !scope->project_id.empty()) {
      error(p, "exactly one of projectSlug or projectId is required; both are set");
    }
    required(scope->env_slug, FieldPath(p, "envSlug"));
    secrets_path(scope->secrets_path, FieldPath(p, "secretsPath"));
    // Upstream's runtime check, with its words: one named secret has no sub-folders to walk.
    if (!scope->secret_name.empty() && scope->recursive)
      error(p, "recursive mode is not supported when secretName is specified");
    // The name becomes a path segment of the request URL: a folder separator, a dot segment (which the
    // HTTP client would resolve to another endpoint) or a control character never names a secret.
    const std::string& n = scope->secret_name;
    if (!n.empty() && (n == "." || n == ".." || n.find('/') != std::string::npos ||
                       std::any_of(n.begin(), n.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })))
      error(FieldPath(p, "secretName"), "must be the key of one secret: no '/', no control characters, not '.' or '..'");
  }

  void authentication() {
    const FieldPath p("spec.authentication");
    const auto& auth = r_.spec.authentication;
    const size_t present = auth ? auth->present_methods().size() : 0;
    // A spec whose only auth is a legacy form gets that form's own error below, not "none is set".
    const bool legacy_only = present == 0 && ((auth && auth->legacy_service_account) || r_.spec.token_secret_reference);
    if (present != 1 && !legacy_only) {
      std::vector<std::string_view> all;
      for (auto m : kAllAuthMethods) all.push_back(auth_method_field(m));
      if (present == 0) {
        error(p, fmt::format("exactly one authentication method is required ({}); none is set", quoted_list(all)));
      } else {
        std::vector<std::string_view> names;
        for (auto m : auth->present_methods()) names.push_back(auth_method_field(m));
        error(p, fmt::format("exactly one authentication method is required; {} are set", quoted_list(names)));
      }
    }
    if (!auth) return;
    // Every present block is checked, so one round of fixes resolves all reported problems.
    if (const auto& m = auth->universal_auth) {
      const FieldPath mp(p, "universalAuth");
      secret_ref(m->credentials_ref, FieldPath(mp, "credentialsRef"), ReferenceKind::kCredentialsSecret);
      mi_scope(m->secrets_scope, mp);
    }
    if (const auto& m = auth->kubernetes_auth) {
      const FieldPath mp(p, "kubernetesAuth");
      required(m->identity_id, FieldPath(mp, "identityId"));
      const FieldPath sp(mp, "serviceAccountRef");
      if (!m->service_account_ref) {
        error(sp, "required");
      } else {
        name_field(m->service_account_ref->name, FieldPath(sp, "name"));
        namespace_field(m->service_account_ref->namespace_, FieldPath(sp, "namespace"));
        cross(ReferenceKind::kServiceAccount, m->service_account_ref->namespace_, m->service_account_ref->name, sp);
      }
      const FieldPath audiences(mp, "serviceAccountTokenAudiences");
      for (size_t i = 0; i < m->service_account_token_audiences.size(); ++i) {
        if (m->service_account_token_audiences[i].empty()) error(FieldPath(audiences, i), "must not be empty");
      }
      mi_scope(m->secrets_scope, mp);
    }
    if (const auto& m = auth->aws_iam_auth) {
      const FieldPath mp(p, "awsIamAuth");
      required(m->identity_id, FieldPath(mp, "identityId"));
      mi_scope(m->secrets_scope, mp);
    }
    if (const auto& m = auth->azure_auth) {
      const FieldPath mp(p, "azureAuth");
      required(m->identity_id, FieldPath(mp, "identityId"));
      mi_scope(m->secrets_scope, mp);
    }
    if (const auto& m = auth->gcp_id_token_auth) {
      const FieldPath mp(p, "gcpIdTokenAuth");
      required(m->identity_id, FieldPath(mp, "identityId"));
      mi_scope(m->secrets_scope, mp);
    }
    if (const auto& m = auth->gcp_iam_auth) {
      const FieldPath mp(p, "gcpIamAuth");
      required(m->identity_id, FieldPath(mp, "identityId"));
      required(m->service_account_key_file_path, FieldPath(mp, "serviceAccountKeyFilePath"));
      mi_scope(m->secrets_scope, mp);
    }
    if (const auto& m = auth->service_token) {
      const FieldPath mp(p, "serviceToken");
      const FieldPath rp(mp, "serviceTokenSecretReference");
      const FieldPath legacy("spec.tokenSecretReference");
      if (!m->service_token_secret_reference) {
        error(rp, "required");
      } else {
        // A field taken from spec.tokenSecretReference is reported there, where the user wrote it.
        const auto& ref = *m->service_token_secret_reference;
        name_field(ref.secret_name, FieldPath(m->secret_name_from_legacy ? legacy : rp, "secretName"));
        namespace_field(ref.secret_namespace, FieldPath(m->secret_namespace_from_legacy ? legacy : rp, "secretNamespace"));
        cross(ReferenceKind::kCredentialsSecret, ref.secret_namespace, ref.secret_name,
              m->secret_namespace_from_legacy ? legacy : rp);
      }
      const FieldPath sp(mp, "secretsScope");
      if (!m->secrets_scope) {
        error(sp, "required");
      } else {
        required(m->secrets_scope->env_slug, FieldPath(sp, "envSlug"));
        secrets_path(m->secrets_scope->secrets_path, FieldPath(sp, "secretsPath"));
      }
    }
    if (const auto& m = auth->ldap_auth) {
      const FieldPath mp(p, "ldapAuth");
      required(m->identity_id, FieldPath(mp, "identityId"));
      secret_ref(m->credentials_ref, FieldPath(mp, "credentialsRef"), ReferenceKind::kCredentialsSecret);
      mi_scope(m->secrets_scope, mp);
    }
    if (auth->legacy_service_account) {
      error(FieldPath(p, "serviceAccount"),
            "Infisical retired service accounts, so this legacy method can no longer log in; migrate to a machine "
            "identity: create one with Universal Auth in Infisical, store its clientId and clientSecret in a Secret "
            "and use spec.authentication.universalAuth (credentialsRef, secretsScope) instead");
    }
  }

  // spec.tokenSecretReference (legacy) only stands in for empty fields of
  // authentication.serviceToken.serviceTokenSecretReference (applied by the parser).
  void legacy_token_reference() {
    const auto& ref = r_.spec.token_secret_reference;
    if (!ref) return;
    const FieldPath p("spec.tokenSecretReference");
    const auto& auth = r_.spec.authentication;
    if (!auth || !auth->service_token) {
      // Upstream sends the token with an empty environment and folder and leaves the scope to the
      // server; here the scope is stated, and next to another method the token would be a second,
      // competing source of credentials.
      error(p, auth && !auth->present_methods().empty()
                   ? "is the legacy service-token Secret, used only with spec.authentication.serviceToken; remove it "
                     "(upstream tries this token before the authentication method that is set: two sources of "
                     "credentials)"
                   : "needs spec.authentication.serviceToken with its secretsScope (envSlug, secretsPath), which says "
                     "what to read; tokenSecretReference only names the Secret with the service token");
    }
    // With serviceToken, the fields it uses are checked there, at this path; the others are ignored.
  }

  void target(const ManagedSecretTarget& t) {
    const FieldPath p(t.path);
    name_field(t.secret_name, FieldPath(p, "secretName"));
    namespace_field(t.secret_namespace, FieldPath(p, "secretNamespace"));
    const std::string& type = t.secret_type;
    if (std::find(std::begin(kForbiddenSecretTypes), std::end(kForbiddenSecretTypes), type) !=
        std::end(kForbiddenSecretTypes)) {
      error(FieldPath(p, "secretType"), fmt::format("{} is not allowed for a managed Secret", type));
    } else if (std::find(std::begin(kAllowedBuiltinSecretTypes), std::end(kAllowedBuiltinSecretTypes), type) ==
               std::end(kAllowedBuiltinSecretTypes)) {
      if (reserved_type_prefix(type)) {
        std::vector<std::string_view> allowed(std::begin(kAllowedBuiltinSecretTypes), std::end(kAllowedBuiltinSecretTypes));
        error(FieldPath(p, "secretType"), fmt::format("unknown built-in Secret type; use one of {} or a custom type",
                                                      quoted_list(allowed)));
      } else if (!is_custom_secret_type(type)) {
        error(FieldPath(p, "secretType"), "must be a valid Secret type such as Opaque or example.com/my-type");
      }
    }
    if (t.creation_policy != kCreationPolicyOrphan && t.creation_policy != kCreationPolicyOwner) {
      error(FieldPath(p, "creationPolicy"), fmt::format("must be {} or {}", kCreationPolicyOrphan, kCreationPolicyOwner));
    } else if (t.owner() && !t.secret_namespace.empty() && !ns_.empty() && t.secret_namespace != ns_) {
      error(FieldPath(p, "secretNamespace"),
            fmt::format("must be the InfisicalSecret's own namespace \"{}\" when creationPolicy is Owner "
                        "(Kubernetes forbids cross-namespace owner references)",
                        abbreviate(ns_)));
    }
    cross(ReferenceKind::kManagedSecret, t.secret_namespace, t.secret_name, p);
    if (t.template_) secret_template(*t.template_, t.path, "Secret");
  }

  // The same rules as a Secret target: names, creationPolicy, Owner only in the own namespace, template.
  void config_map_target(const ManagedConfigMapTarget& t) {
    const FieldPath p(t.path);
    name_field(t.config_map_name, FieldPath(p, "configMapName"));
    namespace_field(t.config_map_namespace, FieldPath(p, "configMapNamespace"));
    if (t.creation_policy != kCreationPolicyOrphan && t.creation_policy != kCreationPolicyOwner) {
      error(FieldPath(p, "creationPolicy"), fmt::format("must be {} or {}", kCreationPolicyOrphan, kCreationPolicyOwner));
    } else if (t.owner() && !t.config_map_namespace.empty() && !ns_.empty() && t.config_map_namespace != ns_) {
      error(FieldPath(p, "configMapNamespace"),
            fmt::format("must be the InfisicalSecret's own namespace \"{}\" when creationPolicy is Owner "
                        "(Kubernetes forbids cross-namespace owner references)",
                        abbreviate(ns_)));
    }
    cross(ReferenceKind::kManagedConfigMap, t.config_map_namespace, t.config_map_name, p);
    if (t.template_) secret_template(*t.template_, t.path, "ConfigMap");
  }

  // Each data entry must name a valid data key of the target's kind (Secret and ConfigMap keys follow
  // the same rule) and parse, so a broken template is refused at `kubectl apply` with its key and
  // Go's line instead of failing at every sync.
  void secret_template(const SecretTemplate& tmpl, const std::string& target_path, std::string_view kind) {
    for (const auto& [key, text] : tmpl.data) {
      if (!is_secret_key(key)) {
        error(template_entry_path(target_path, key),
              fmt::format("must be a valid {} key ([-._a-zA-Z0-9]+, at most 253 characters, not \".\" or \"..\")",
                          kind));
        continue;
      }
      if (auto parsed = GoTemplate::parse(text, kSecretTemplateName); !parsed)
        error(template_entry_path(target_path, key), parsed.error());
    }
  }

  // The singular target first, then the plural list, in order (InfisicalSecretSpec::targets),
  // visited in place rather than copied.
  template <typename Fn>
  void for_each_target(Fn fn) const {
    const auto& spec = r_.spec;
    if (spec.managed_secret_reference) fn(*spec.managed_secret_reference);
    if (spec.managed_kube_secret_references)
      for (const auto& t : *spec.managed_kube_secret_references) fn(t);
  }

  void targets() {
    const auto& spec = r_.spec;
    bool plural = spec.managed_kube_secret_references.has_value() && !spec.managed_kube_secret_references->empty();
    // Upstream needs at least one target of either kind: a resource may write only ConfigMaps.
    bool config_maps =
        spec.managed_kube_config_map_references.has_value() && !spec.managed_kube_config_map_references->empty();
    if (spec.managed_secret_reference && plural) {
      error("spec.managedKubeSecretReferences", "must not be set together with spec.managedSecretReference");
    } else if (!spec.managed_secret_reference && !plural && !config_maps) {
      if (spec.managed_kube_secret_references) {
        error("spec.managedKubeSecretReferences",
              "must not be empty (or set spec.managedSecretReference or spec.managedKubeConfigMapReferences)");
      } else if (spec.managed_kube_config_map_references) {
        error("spec.managedKubeConfigMapReferences",
              "must not be empty (or set spec.managedSecretReference or spec.managedKubeSecretReferences)");
      } else {
        error("spec.managedSecretReference",
              "required (or a non-empty spec.managedKubeSecretReferences or spec.managedKubeConfigMapReferences)");
      }
    }
    std::vector<const ManagedSecretTarget*> seen;
    for_each_target([&](const ManagedSecretTarget& t) {
      target(t);
      for (const ManagedSecretTarget* earlier : seen) {
        if (!t.secret_name.empty() && t.secret_name == earlier->secret_name &&
            t.secret_namespace == earlier->secret_namespace) {
          error(t.path, fmt::format("duplicate target {}/{} (also {})", abbreviate(t.secret_namespace),
                                    abbreviate(t.secret_name), earlier->path));
          break;
        }
      }
      seen.push_back(&t);
    });
    // A ConfigMap and a Secret of the same name are different objects; two ConfigMap targets are not.
    if (!spec.managed_kube_config_map_references) return;
    const auto& maps = *spec.managed_kube_config_map_references;
    for (size_t i = 0; i < maps.size(); ++i) {
      const ManagedConfigMapTarget& t = maps[i];
      config_map_target(t);
      for (size_t j = 0; j < i; ++j) {
        if (!t.config_map_name.empty() && t.config_map_name == maps[j].config_map_name &&
            t.config_map_namespace == maps[j].config_map_namespace) {
          error(t.path, fmt::format("duplicate target {}/{} (also {})", abbreviate(t.config_map_namespace),
                                    abbreviate(t.config_map_name), maps[j].path));
          break;
        }
      }
    }
  }

  void ca_ref(const CaReference& c) {
    const FieldPath p("spec.tls.caRef");
    name_field(c.secret_name, FieldPath(p, "secretName"));
    namespace_field(c.secret_namespace, FieldPath(p, "secretNamespace"));
    if (c.key.empty()) error(FieldPath(p, "key"), "required");
    else if (!is_secret_key(c.key)) error(FieldPath(p, "key"), "must be a valid Secret key ([-._a-zA-Z0-9]+)");
    cross(ReferenceKind::kCaSecret, c.secret_namespace, c.secret_name, p);
  }

  const InfisicalSecret& r_;
  std::string ns_;
  ValidationReport report_;
};

}  // namespace

std::string_view reference_kind_name(ReferenceKind k) {
  switch (k) {
    case ReferenceKind::kCredentialsSecret: return "credentials Secret";
    case ReferenceKind::kServiceAccount: return "service account";
    case ReferenceKind::kManagedSecret: return "managed Secret";
    case ReferenceKind::kCaSecret: return "CA Secret";
    case ReferenceKind::kManagedConfigMap: return "managed ConfigMap";
  }
  return "reference";
}

AccessCheck access_check_for(const CrossNamespaceReference& ref) {
  switch (ref.kind) {
    case ReferenceKind::kCredentialsSecret:
    case ReferenceKind::kCaSecret: return {"get", "", "secrets", "", ref.namespace_, ref.name};
    case ReferenceKind::kServiceAccount: return {"create", "", "serviceaccounts", "token", ref.namespace_, ref.name};
    case ReferenceKind::kManagedSecret: return {"create", "", "secrets", "", ref.namespace_, ""};
    case ReferenceKind::kManagedConfigMap: return {"create", "", "configmaps", "", ref.namespace_, ""};
  }
  return {};
}

ValidationReport validate_infisical_secret(const InfisicalSecret& resource, std::string_view request_namespace) {
  return Validator(resource, request_namespace).run();
}

ValidationReport check_infisical_secret(const JsonValue& object, std::string_view request_namespace) {
  ParsedInfisicalSecret parsed = parse_infisical_secret(object);
  if (!object.IsObject()) {
    ValidationReport r;
    r.errors = std::move(parsed.errors);
    return r;
  }
  ValidationReport report = validate_infisical_secret(parsed.resource, request_namespace);
  std::vector<FieldError> rules = std::move(report.errors);
  report.errors = parsed.errors;
  for (auto& e : rules) {
    bool shadowed = std::any_of(parsed.errors.begin(), parsed.errors.end(),
                                [&](const FieldError& t) { return path_within(e.path, t.path); });
    if (!shadowed) report.errors.push_back(std::move(e));
  }
  return report;
}

ValidationReport check_infisical_secret_json(std::string_view text, std::string_view request_namespace) {
  auto doc = parse_json(text);
  if (!doc.ok()) {
    ValidationReport r;
    r.errors.push_back({"", doc.error()});
    return r;
  }
  return check_infisical_secret(**doc, request_namespace);
}

bool is_dns1123_label(std::string_view s) {
  if (s.empty() || s.size() > 63 || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lower_alnum(c) || c == '-'; });
}

bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    // Subdomain labels follow the label rule without the 63-character limit per label.
    if (label.empty() || !lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return lower_alnum(c) || c == '-'; })) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool is_secret_key(std::string_view s) {
  if (s.empty() || s.size() > 253 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; });
}

bool is_http_url(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("https://")) rest = s.substr(8);
  else if (s.starts_with("http://")) rest = s.substr(7);
  else return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '?' || c == '#' || c == '\\') return false;
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
  std::string_view host = authority;
  if (authority.front() == '[') {  // IPv6 literal
    auto close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return false;
    authority = after.empty() ? std::string_view{} : after;
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    authority = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
    if (host.empty()) return false;
    if (!std::all_of(host.begin(), host.end(), [](char c) { return alnum(c) || c == '-' || c == '.' || c == '_'; })) {
      return false;
    }
  }
  if (!authority.empty()) {  // ":port"
    std::string_view port = authority.substr(1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
      return false;
    }
    int n = 0;
    for (char c : port) n = n * 10 + (c - '0');
    if (n < 1 || n > 65535) return false;
  }
  return true;
}

}  // namespace ifo::core
