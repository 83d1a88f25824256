// The trust boundary: grants, the host allow-list, ServiceAccount opt-in and managed-Secret binding.
#include "core/trust_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "core/constants.h"
#include "core/text.h"
#include "core/validation.h"

namespace ifo::core {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::vector<std::string> split_commas(std::string_view v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string_view::npos) comma = v.size();
    std::string_view item = v.substr(start, comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

std::map<std::string, std::string> string_map_of(const JsonValue* v) {
  std::map<std::string, std::string> out;
  if (v == nullptr || !v->IsObject()) return out;
  for (const auto& m : v->GetObject())
    if (m.value.IsString())
      out.emplace(std::string(m.name.GetString(), m.name.GetStringLength()),
                  std::string(m.value.GetString(), m.value.GetStringLength()));
  return out;
}

bool same_host(const HostParts& a, const HostParts& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

std::string grant_yaml(const std::string& grant_ns, const std::string& from_ns, const std::string& kind,
                       const std::string& name) {
  return fmt::format(
      "apiVersion: {}\n"
      "kind: {}\n"
      "metadata:\n"
      "  name: {}-from-{}\n"
      "  namespace: {}\n"
      "spec:\n"
      "  from:\n"
      "  - namespace: {}\n"
      "  to:\n"
      "  - kind: {}\n"
      "    name: {}\n",
      kApiVersion, kGrantKind, lower(kind), from_ns, grant_ns, from_ns, kind, name);
}

}  // namespace

ParsedReferenceGrant parse_reference_grant(const JsonValue& object) {
  ParsedReferenceGrant out;
  auto& g = out.grant;
  auto err = [&](std::string path, std::string msg) { out.errors.push_back({std::move(path), std::move(msg)}); };
  if (!object.IsObject()) {
    err("", "must be an object");
    return out;
  }
  if (const JsonValue* meta = member(object, "metadata")) {
    g.namespace_ = string_or(*meta, "namespace", "");
    g.name = string_or(*meta, "name", "");
  }
  const JsonValue* spec = member(object, "spec");
  if (spec == nullptr || !spec->IsObject()) {
    err("spec", "required");
    return out;
  }
  const JsonValue* from = member(*spec, "from");
  if (from == nullptr || !from->IsArray() || from->Empty()) {
    err("spec.from", "must be a non-empty list");
  } else {
    for (rapidjson::SizeType i = 0; i < from->Size(); ++i) {
      const JsonValue& f = (*from)[i];
      std::string ns = f.IsObject() ? string_or(f, "namespace", "") : "";
      if (!is_dns1123_label(ns)) err(fmt::format("spec.from[{}].namespace", i), "must be a namespace name");
      else g.from_namespaces.push_back(ns);
    }
  }
  const JsonValue* to = member(*spec, "to");
  if (to == nullptr || !to->IsArray() || to->Empty()) {
    err("spec.to", "must be a non-empty list");
  } else {
    for (rapidjson::SizeType i = 0; i < to->Size(); ++i) {
      const JsonValue& t = (*to)[i];
      ReferenceGrant::To item;
      item.kind = t.IsObject() ? string_or(t, "kind", "") : "";
      item.name = t.IsObject() ? string_or(t, "name", "") : "";
      bool kind_ok = std::find(std::begin(kGrantableKinds), std::end(kGrantableKinds), item.kind) !=
                     std::end(kGrantableKinds);
      if (!kind_ok) err(fmt::format("spec.to[{}].kind", i), "must be Secret, ServiceAccount or ConfigMap");
      else if (!item.name.empty() && !is_dns1123_subdomain(item.name))
        err(fmt::format("spec.to[{}].name", i), "must be an object name");
      else g.to.push_back(std::move(item));
    }
  }
  return out;
}

std::vector<TrustReference> trust_references(const InfisicalSecret& resource) {
  std::vector<TrustReference> out;
  const std::string& own = resource.metadata.namespace_;
  auto add = [&](std::string kind, const std::string& ns, const std::string& name, std::string path, std::string role) {
    out.push_back({std::move(kind), ns.empty() ? own : ns, name, std::move(path), std::move(role)});
  };
  const auto& spec = resource.spec;
  if (spec.authentication) {
    const auto& a = *spec.authentication;
    if (a.universal_auth && a.universal_auth->credentials_ref)
      add("Secret", a.universal_auth->credentials_ref->secret_namespace, a.universal_auth->credentials_ref->secret_name,
          "spec.authentication.universalAuth.credentialsRef", "credentials Secret");
    if (a.ldap_auth && a.ldap_auth->credentials_ref)
      add("Secret", a.ldap_auth->credentials_ref->secret_namespace, a.ldap_auth->credentials_ref->secret_name,
          "spec.authentication.ldapAuth.credentialsRef", "LDAP credentials Secret");
    if (a.service_token && a.service_token->service_token_secret_reference)
      add("Secret", a.service_token->service_token_secret_reference->secret_namespace,
          a.service_token->service_token_secret_reference->secret_name,
          // The namespace decides the grant: name the field it came from.
          a.service_token->secret_namespace_from_legacy ? "spec.tokenSecretReference"
                                                        : "spec.authentication.serviceToken.serviceTokenSecretReference",
          "service-token Secret");
    if (a.kubernetes_auth && a.kubernetes_auth->service_account_ref)
      add("ServiceAccount", a.kubernetes_auth->service_account_ref->namespace_,
          a.kubernetes_auth->service_account_ref->name, "spec.authentication.kubernetesAuth.serviceAccountRef",
          "service account");
  }
  if (spec.tls_ca_ref) add("Secret", spec.tls_ca_ref->secret_namespace, spec.tls_ca_ref->secret_name, "spec.tls.caRef", "CA Secret");
  for (const auto& t : spec.targets()) add("Secret", t.secret_namespace, t.secret_name, t.path, "managed Secret");
  if (spec.managed_kube_config_map_references)
    for (const auto& t : *spec.managed_kube_config_map_references)
      add("ConfigMap", t.config_map_namespace, t.config_map_name, t.path, "managed ConfigMap");
  return out;
}

Result<HostParts> parse_host_api(std::string_view url) {
  using R = Result<HostParts>;
  if (!is_http_url(url)) return R::fail(fmt::format("{:?} is not an absolute http:// or https:// URL", url));
  HostParts h;
  std::string_view rest;
  if (url.starts_with("https://")) {
    h.scheme = "https";
    h.port = 443;
    rest = url.substr(8);
  } else {
    h.scheme = "http";
    h.port = 80;
    rest = url.substr(7);
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  std::string_view host = authority, port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) port = authority.substr(close + 2);
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (!port.empty()) {
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535)
      return R::fail(fmt::format("{:?} has an invalid port", url));
    h.port = p;
  }
  h.host = lower(host);
  if (!h.host.empty() && h.host.back() == '.') h.host.pop_back();  // "app.infisical.com." is the same host
  if (h.host.empty()) return R::fail(fmt::format("{:?} has no host", url));
  return h;
}

bool host_allowed(const std::vector<std::string>& allowed_hosts, const HostParts& host) {
  for (const auto& raw : allowed_hosts) {
    std::string entry = lower(raw);
    if (entry == "*") return true;
    std::string_view name = entry;
    std::optional<int> port;
    // "host:port"; an IPv6 literal keeps its brackets ("[::1]:8443"), so its colons are not a port.
    size_t colon = name.rfind(':');
    bool has_port = colon != std::string_view::npos && (name.front() != '[' || name.find(']') < colon);
    if (has_port) {
      int p = 0;
      auto digits = name.substr(colon + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
      if (ec != std::errc() || end != digits.data() + digits.size()) continue;
      port = p;
      name = name.substr(0, colon);
    }
    if (port && *port != host.port) continue;
    if (name.starts_with("*.")) {
      std::string_view suffix = name.substr(1);  // ".example.com"
      if (host.host.size() > suffix.size() && std::string_view(host.host).ends_with(suffix)) return true;
    } else if (name == host.host) {
      return true;
    }
  }
  return false;
}

bool reference_allowed(const TrustPolicy& policy, std::span<const ReferenceGrant> grants,
                       std::string_view from_namespace, std::string_view kind, std::string_view ns,
                       std::string_view name) {
  if (ns == from_namespace || policy.cross_namespace_without_grant) return true;
  return std::any_of(grants.begin(), grants.end(), [&](const ReferenceGrant& g) {
    // Only the referenced namespace can grant: a grant elsewhere (the referrer's own one) says nothing.
    if (g.namespace_ != ns) return false;
    if (std::find(g.from_namespaces.begin(), g.from_namespaces.end(), from_namespace) == g.from_namespaces.end())
      return false;
    return std::any_of(g.to.begin(), g.to.end(), [&](const ReferenceGrant::To& t) {
      return t.kind == kind && (t.name.empty() || t.name == name);
    });
  });
}

std::vector<TrustRefusal> check_trust(const InfisicalSecret& resource, const TrustPolicy& policy,
                                      const TrustInputs& inputs) {
  std::vector<TrustRefusal> out;
  const std::string& own = resource.metadata.namespace_;

  // The host. A spec without hostAPI uses the admin's global host or Infisical Cloud: both chosen by
  // the admin. A spec's own host must be the global host or on the allow-list, and https.
  if (!resource.spec.host_api.empty()) {
    std::string url = normalize_host_api(resource.spec.host_api);
    auto host = parse_host_api(url);
    if (!host) {
      out.push_back({std::string(kReasonHostNotAllowed), "spec.hostAPI", host.error(), "fix spec.hostAPI"});
    } else {
      std::optional<HostParts> global;
      if (!inputs.global_host_api.empty())
        if (auto g = parse_host_api(inputs.global_host_api)) global = *g;
      bool is_global = global && same_host(*global, *host);
      if (!is_global) {
        if (host->scheme == "http" && !policy.allow_http) {
          out.push_back({std::string(kReasonHostNotAllowed), "spec.hostAPI",
                         fmt::format("hostAPI {} uses http://, which would send credentials and secrets unencrypted; "
                                     "use https://",
                                     host->host),
                         "use https://, or an admin allows http with --allow-insecure-http "
                         "(chart value security.allowInsecureHttp)"});
        } else if (!host_allowed(policy.allowed_hosts, *host)) {
          out.push_back({std::string(kReasonHostNotAllowed), "spec.hostAPI",
                         fmt::format("hostAPI host {} is not on the operator's list of allowed Infisical hosts, so "
                                     "no credentials are sent to it",
                                     host->host),
                         fmt::format("an admin adds {} to --allowed-hosts (chart value security.allowedHosts)",
                                     host->host)});
        }
      }
    }
  }

  for (const TrustReference& ref : trust_references(resource)) {
    if (!reference_allowed(policy, inputs.grants, own, ref.kind, ref.namespace_, ref.name)) {
      out.push_back({std::string(kReasonReferenceNotGranted), ref.path,
                     fmt::format("the {} {}/{} is in another namespace, and no {} in namespace {} lets "
                                 "InfisicalSecrets of namespace {} refer to it",
                                 ref.role, ref.namespace_, ref.name, kGrantKind, ref.namespace_, own),
                     grant_yaml(ref.namespace_, own, ref.kind, ref.name)});
      continue;
    }
    if (ref.kind == "ServiceAccount" && !policy.cross_namespace_without_grant) {
      const auto& k = *resource.spec.authentication->kubernetes_auth;
      bool opted_in = false;
      if (inputs.service_account_annotations) {
        auto it = inputs.service_account_annotations->find(std::string(kKubernetesAuthIdentitiesAnnotation));
        if (it != inputs.service_account_annotations->end()) {
          for (const auto& id : split_commas(it->second))
            if (id == "*" || id == k.identity_id) opted_in = true;
        }
      }
      if (!opted_in) {
        out.push_back({std::string(kReasonServiceAccountNotOptedIn), ref.path,
                       fmt::format("ServiceAccount {}/{} {} annotation {} naming identity {}, so no token is minted "
                                   "for it",
                                   ref.namespace_, ref.name,
                                   inputs.service_account_annotations ? "has no" : "was not found, or has no",
                                   kKubernetesAuthIdentitiesAnnotation, k.identity_id),
                       fmt::format("kubectl annotate serviceaccount -n {} {} {}={}", ref.namespace_, ref.name,
                                   kKubernetesAuthIdentitiesAnnotation, k.identity_id)});
      }
    }
  }
  return out;
}

Claim claim_managed_secret(const JsonValue& existing, const InfisicalSecret& resource,
                           const std::function<bool(const std::string&, const std::string&, const std::string&)>& owner_alive,
                           std::string_view kind) {
  const auto& me = resource.metadata;
  auto labels = string_map_of(at_path(existing, {"metadata", "labels"}));
  auto annotations = string_map_of(at_path(existing, {"metadata", "annotations"}));
  std::string secret_ns = at_path(existing, {"metadata", "namespace"}) && at_path(existing, {"metadata", "namespace"})->IsString()
                              ? at_path(existing, {"metadata", "namespace"})->GetString()
                              : me.namespace_;
  std::string secret_name = at_path(existing, {"metadata", "name"}) && at_path(existing, {"metadata", "name"})->IsString()
                                ? at_path(existing, {"metadata", "name"})->GetString()
                                : "";
  const bool adopt = [&] {
    auto it = me.annotations.find(std::string(kAdoptAnnotation));
    return it != me.annotations.end() && it->second == "true" && secret_ns == me.namespace_;
  }();

  // The bound owner: our annotations, else a controller ownerReference to an InfisicalSecret.
  std::string owner_uid, owner_ns = secret_ns, owner_name;
  if (auto it = annotations.find(std::string(kOwnerUidAnnotation)); it != annotations.end()) {
    owner_uid = it->second;
    if (auto o = annotations.find(std::string(kOwnerAnnotation)); o != annotations.end()) {
      auto slash = o->second.find('/');
      if (slash != std::string::npos) {
        owner_ns = o->second.substr(0, slash);
        owner_name = o->second.substr(slash + 1);
      }
    }
  } else if (const JsonValue* refs = at_path(existing, {"metadata", "ownerReferences"}); refs && refs->IsArray()) {
    for (const auto& r : refs->GetArray()) {
      if (!r.IsObject() || string_or(r, "kind", "") != kKind) continue;
      if (!string_or(r, "apiVersion", "").starts_with(std::string(kGroup) + "/")) continue;
      owner_uid = string_or(r, "uid", "");
      owner_name = string_or(r, "name", "");
      break;
    }
  }
  const std::string where = fmt::format("{} {}/{}", kind, secret_ns, secret_name);
  if (!owner_uid.empty()) {
    if (owner_uid == me.uid) return {ClaimDecision::kOwned, {}};
    if (owner_name.empty() || owner_alive(owner_ns, owner_name, owner_uid))
      return {ClaimDecision::kConflict,
              fmt::format("{} is managed by InfisicalSecret {}/{}; two InfisicalSecrets cannot write one {}",
                          where, owner_ns, owner_name.empty() ? "(unknown)" : owner_name, kind)};
    // Deleted and created again under the same name (a GitOps re-create): the same namespace's user
    // made both, so the new object takes over what the old one wrote.
    if (adopt || (owner_ns == me.namespace_ && owner_name == me.name)) return {ClaimDecision::kClaim, {}};
    return {ClaimDecision::kConflict,
            fmt::format("{} was written for InfisicalSecret {}/{}, which no longer exists; set annotation {}: \"true\" "
                        "on this InfisicalSecret to take it over",
                        where, owner_ns, owner_name, kAdoptAnnotation)};
  }
  const bool ours = labels[std::string(kManagedByLabel)] == kManagedByValue;
  const bool upstream = annotations.count(std::string(kVersionAnnotation)) > 0;
  if (ours || upstream || adopt) return {ClaimDecision::kClaim, {}};
  return {ClaimDecision::kConflict,
          secret_ns == me.namespace_
              ? fmt::format("{} exists and was not created by this operator; set annotation {}: \"true\" on the "
                            "InfisicalSecret to adopt it",
                            where, kAdoptAnnotation)
              : fmt::format("{} exists in another namespace and was not created by this operator; it is never "
                            "adopted across namespaces",
                            where)};
}

}  // namespace ifo::core
