// libFuzzer target: arbitrary bytes as an InfisicalSecret object through the parser and the validator
// (core::check_infisical_secret_json), the code the webhook and the syncer run on user specs.
// Besides crashes and sanitizer reports, it checks:
//  - no error message or path contains a value it was given outside the fields it may name
//    (names, namespaces, map keys): the secret marker must never come back;
//  - messages and paths stay bounded whatever the input size, and paths are rooted at spec/metadata;
//  - messages are valid UTF-8 when the input is (abbreviation never splits a character);
//  - the report starts with exactly the parser's type errors;
//  - an accepted spec really satisfies the rules (one auth method with its scope, valid targets,
//    interval in range, a valid hostAPI), and cross-namespace references point outside the namespace;
//  - hostAPI normalisation is idempotent and resolution never yields an empty host;
//  - status.managedKeyDigests is read only as whole, well-formed entries.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "core/infisical_secret.h"
#include "core/validation.h"
#include "fuzz_common.h"

namespace {

using namespace ifo;
using fuzz::check;

// Fields whose values the validator may quote back (they name Kubernetes objects).
bool may_be_echoed(std::string_view key) {
  return key == "name" || key == "namespace" || key == "secretName" || key == "secretNamespace";
}

void check_report(std::string_view text, std::string_view request_ns) {
  const core::ValidationReport report = core::check_infisical_secret_json(text, request_ns);
  const core::ParsedInfisicalSecret parsed = core::parse_infisical_secret_json(text);

  // Leaks: find whether the marker may legitimately come back (a name, namespace or map key has it).
  bool echo_allowed = fuzz::contains(request_ns, fuzz::kSecretMarker);
  if (auto doc = core::parse_json(text)) {
    fuzz::walk_strings(
        **doc, "",
        [&](std::string_view key, std::string_view value) {
          if (may_be_echoed(key) && fuzz::contains(value, fuzz::kSecretMarker)) echo_allowed = true;
        },
        [&](std::string_view key) {
          if (fuzz::contains(key, fuzz::kSecretMarker)) echo_allowed = true;
        });
  }
  const bool input_utf8 = fuzz::valid_utf8(text) && !fuzz::contains(text, "\\u") && !fuzz::contains(text, "\\U");
  for (const auto& e : report.errors) {
    check(e.message.size() <= 1024, "error message longer than 1024 bytes", e.message);
    check(e.path.size() <= 512, "error path longer than 512 bytes", e.path);
    check(!e.message.empty(), "empty error message", e.path);
    check(e.path.empty() || e.path.starts_with("spec") || e.path.starts_with("metadata"),
          "error path not rooted at spec or metadata", e.path);
    if (!echo_allowed) {
      check(!fuzz::contains(e.message, fuzz::kSecretMarker), "error message echoes a value", e.message);
      check(!fuzz::contains(e.path, fuzz::kSecretMarker), "error path echoes a value", e.path);
    }
    if (input_utf8) {
      check(fuzz::valid_utf8(e.message), "error message is not UTF-8", e.message);
      check(fuzz::valid_utf8(e.path), "error path is not UTF-8", e.path);
    }
  }
  if (!echo_allowed) check(!fuzz::contains(report.message(), fuzz::kSecretMarker), "report echoes a value");

  // The report begins with the parser's type errors, in order.
  check(report.errors.size() >= parsed.errors.size(), "fewer errors than the parser found");
  for (size_t i = 0; i < parsed.errors.size(); ++i)
    check(report.errors[i] == parsed.errors[i], "type error missing or reordered", parsed.errors[i].path);

  const auto& res = parsed.resource;
  const std::string ns = res.metadata.namespace_.empty() ? std::string(request_ns) : res.metadata.namespace_;

  // Cross-namespace references: outside the namespace, deduplicated, each at a spec path.
  const auto& refs = report.cross_namespace_references;
  for (size_t i = 0; i < refs.size(); ++i) {
    check(!refs[i].namespace_.empty() && refs[i].namespace_ != ns, "reference inside the namespace reported",
          refs[i].path);
    check(refs[i].path.starts_with("spec."), "reference path not under spec", refs[i].path);
    for (size_t j = 0; j < i; ++j) check(!(refs[i] == refs[j]), "duplicate cross-namespace reference", refs[i].path);
    const core::AccessCheck ac = core::access_check_for(refs[i]);
    check(ac.namespace_ == refs[i].namespace_ && !ac.verb.empty(), "access check does not match its reference");
  }

  // An accepted spec satisfies the rules.
  if (report.ok()) {
    check(parsed.ok(), "accepted although the parser found type errors");
    const auto& spec = res.spec;
    check(spec.authentication.has_value(), "accepted without spec.authentication");
    auto method = spec.authentication->method();
    check(method.has_value(), "accepted without exactly one authentication method");
    if (*method == core::AuthMethod::kServiceToken) {
      const auto& st = *spec.authentication->service_token;
      check(st.service_token_secret_reference && st.secrets_scope, "accepted service token without reference/scope");
      check(core::is_dns1123_subdomain(st.service_token_secret_reference->secret_name),
            "accepted invalid service token Secret name");
      check(st.secrets_scope->secrets_path.starts_with("/") && !st.secrets_scope->env_slug.empty(),
            "accepted invalid service token scope");
    } else {
      const core::MachineIdentityScope* scope = spec.authentication->machine_identity_scope();
      check(scope != nullptr, "accepted machine identity without secretsScope");
      check(scope->project_slug.empty() != scope->project_id.empty(), "accepted without exactly one project field");
      check(!scope->env_slug.empty() && scope->secrets_path.starts_with("/"), "accepted invalid scope");
      check(scope->secret_name.empty() || !scope->recursive, "accepted secretName with recursive");
    }
    const auto targets = spec.targets();
    const auto config_maps = spec.config_map_targets();
    check(!targets.empty() || !config_maps.empty(), "accepted without a managed Secret or ConfigMap target");
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& t : targets) {
      check(core::is_dns1123_subdomain(t.secret_name), "accepted invalid target name", t.secret_name);
      check(core::is_dns1123_label(t.secret_namespace), "accepted invalid target namespace", t.secret_namespace);
      check(t.creation_policy == core::kCreationPolicyOrphan || t.creation_policy == core::kCreationPolicyOwner,
            "accepted unknown creationPolicy", t.creation_policy);
      check(!t.owner() || ns.empty() || t.secret_namespace == ns, "accepted Owner target in another namespace");
      for (auto forbidden : core::kForbiddenSecretTypes)
        check(t.secret_type != forbidden, "accepted a forbidden Secret type", t.secret_type);
      check(seen.emplace(t.secret_namespace, t.secret_name).second, "accepted duplicate targets");
    }
    std::set<std::pair<std::string, std::string>> seen_config_maps;
    for (const auto& t : config_maps) {
      check(core::is_dns1123_subdomain(t.config_map_name), "accepted invalid ConfigMap name", t.config_map_name);
      check(core::is_dns1123_label(t.config_map_namespace), "accepted invalid ConfigMap namespace",
            t.config_map_namespace);
      check(t.creation_policy == core::kCreationPolicyOrphan || t.creation_policy == core::kCreationPolicyOwner,
            "accepted unknown ConfigMap creationPolicy", t.creation_policy);
      check(!t.owner() || ns.empty() || t.config_map_namespace == ns, "accepted Owner ConfigMap in another namespace");
      check(seen_config_maps.emplace(t.config_map_namespace, t.config_map_name).second,
            "accepted duplicate ConfigMap targets");
    }
    const int64_t interval = spec.resync_interval_seconds();
    check(interval >= core::kMinResyncIntervalSeconds && interval <= core::kMaxResyncIntervalSeconds,
          "accepted resyncInterval out of range");
    check(spec.host_api.empty() || core::is_http_url(spec.host_api), "accepted invalid hostAPI", spec.host_api);
    if (spec.tls_ca_ref) check(core::is_secret_key(spec.tls_ca_ref->key), "accepted invalid caRef key");
  }

  // status.managedKeyDigests, which the webhook trusts for rollout hashes: only whole, well-formed
  // entries are read (a kind, a place and 64-digit lowercase hex digests).
  for (const auto& e : res.status.managed_key_digests) {
    check(!e.kind.empty() && !e.namespace_.empty() && !e.name.empty(), "managedKeyDigests entry without a place");
    for (const auto& [key, digest] : e.key_digests)
      check(digest.size() == 64 && digest.find_first_not_of("0123456789abcdef") == std::string::npos,
            "managedKeyDigests entry read with a malformed digest", key);
  }

  // hostAPI normalisation.
  const std::string& host = res.spec.host_api;
  const std::string once = core::normalize_host_api(host);
  check(core::normalize_host_api(once) == once, "normalize_host_api is not idempotent", host);
  check(once.empty() || once.ends_with("/api"), "normalized hostAPI does not end with /api", host);
  check(!core::resolve_host_api(host, host).empty(), "resolve_host_api returned an empty host");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // A CREATE review may carry the namespace only in the request: check with and without one.
  check_report(text, size % 2 == 0 ? std::string_view("apps") : std::string_view());
  return 0;
}
