// The data a managed Secret gets: every fetched secret, or what the target's `template` makes of them,
// by upstream v0.11's rules (reference/upstream-v0.11-infisicalsecret.md section 2).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/go_template.h"
#include "core/infisical_secret.h"
#include "core/result.h"

namespace ifo::core {

// The name Go's messages give every `data` entry, as upstream names it.
inline constexpr std::string_view kSecretTemplateName = "secret-templates";

// A target's template with every `data` entry parsed: parse once per spec generation, render at every
// reconcile. Copies share the parsed trees.
struct CompiledTemplate {
  bool include_all_secrets = false;
  std::vector<std::pair<std::string, GoTemplate>> data;  // Secret key -> template, sorted by key
  std::string target_path;                               // "spec.managedKubeSecretReferences[0]", for errors
};

// "spec.managedKubeSecretReferences[0].template.data[DSN]": where a data entry is declared.
std::string template_entry_path(std::string_view target_path, std::string_view key);

// Parses every entry of the target's template. The error is the first entry that does not parse,
// named by its path, with Go's line: `<target>.template.data[DSN]: template: secret-templates:1: ...`.
Result<CompiledTemplate> compile_template(const SecretTemplate& tmpl, std::string_view target_path);

// The fetched secrets as templates see them (`.KEY.Value`, `.KEY.SecretPath`), every key in one folder.
TemplateData template_data(const std::map<std::string, std::string>& values, std::string_view secret_path);

// The Secret data, as upstream writes it:
//  - no template (nullptr): every secret;
//  - include_all_secrets: every secret, then each data entry rendered (a data entry wins on a clash);
//  - otherwise only the data entries, so `template: {}` gives an empty Secret.
// A missing key renders `<no value>` (Go's behaviour), not an error. An execution error names the entry
// and Go's position: `<target>.template.data[DSN]: template: secret-templates:1:3: executing ...`;
// its cause is withheld when it contains a secret value (a function that quotes its input, `fail`).
Result<std::map<std::string, std::string>> render_secret_data(const TemplateData& secrets,
                                                              const CompiledTemplate* tmpl, int64_t unix_now);

// The API server's limits on a Secret's or ConfigMap's data (ValidateSecret/ValidateConfigMap): every
// key a valid config key ([-._a-zA-Z0-9]+, at most 253 characters) and the values together at most
// 1 MiB. `object` names the target ("Secret default/app-secrets"). The error names the offending keys
// (never a value) and, for the size, the largest keys with their sizes, so the user knows what to move.
inline constexpr size_t kMaxObjectDataBytes = 1048576;
bool is_config_key(std::string_view key);
Result<bool> check_storable_data(const std::map<std::string, std::string>& data, std::string_view object);

}  // namespace ifo::core
