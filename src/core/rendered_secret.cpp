// Upstream's template rules over the Go text/template engine, with errors that name the entry.
#include "core/rendered_secret.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "core/field_error.h"

namespace ifo::core {

namespace {

// Go's execution errors read `template: NAME:L:C: executing "NAME" at <NODE>: CAUSE` (or `template:
// NAME: CAUSE`). The position and NODE come from the template text, which is in the spec; CAUSE may
// quote a function's input (`error calling fail: <value>`). When CAUSE holds any secret value it is
// replaced, so no value reaches a condition, an event or a log. The
// search starts at the first ">: " after " at <", so a node that itself contains ">: " only makes the
// checked part longer.
std::string without_secret_values(std::string message, const TemplateData& secrets) {
  const std::string head = fmt::format("template: {}:", kSecretTemplateName);
  size_t cause = 0;
  if (message.starts_with(head)) {
    cause = head.size();
    if (size_t at = message.find(" at <", cause); at != std::string::npos) {
      size_t end = message.find(">: ", at);
      cause = end == std::string::npos ? at : end + 3;
    }
  }
  std::string_view checked = std::string_view(message).substr(cause);
  for (const auto& [key, secret] : secrets) {
    if (secret.value.empty() || checked.find(secret.value) == std::string_view::npos) continue;
    message.resize(cause);
    message += "(the rest of this error is withheld: it contains a secret value)";
    break;
  }
  return message;
}

}  // namespace

std::string template_entry_path(std::string_view target_path, std::string_view key) {
  return key_path(fmt::format("{}.template.data", target_path), key);
}

Result<CompiledTemplate> compile_template(const SecretTemplate& tmpl, std::string_view target_path) {
  CompiledTemplate out;
  out.include_all_secrets = tmpl.include_all_secrets;
  out.target_path = std::string(target_path);
  out.data.reserve(tmpl.data.size());
  for (const auto& [key, text] : tmpl.data) {
    auto parsed = GoTemplate::parse(text, kSecretTemplateName);
    if (!parsed) return Error{fmt::format("{}: {}", template_entry_path(target_path, key), parsed.error())};
    out.data.emplace_back(key, std::move(*parsed));
  }
  return out;
}

TemplateData template_data(const std::map<std::string, std::string>& values, std::string_view secret_path) {
  TemplateData out;
  for (const auto& [key, value] : values)
    out.emplace_hint(out.end(), key, TemplateSecret{value, std::string(secret_path)});
  return out;
}

Result<std::map<std::string, std::string>> render_secret_data(const TemplateData& secrets,
                                                              const CompiledTemplate* tmpl,
                                                              int64_t unix_now) {
  std::map<std::string, std::string> out;
  if (tmpl == nullptr || tmpl->include_all_secrets) {
    for (const auto& [key, secret] : secrets) out.emplace_hint(out.end(), key, secret.value);
  }
  if (tmpl == nullptr) return out;
  for (const auto& [key, parsed] : tmpl->data) {
    auto text = render(parsed, secrets, unix_now);
    if (!text) {
      return Error{fmt::format("{}: {}", template_entry_path(tmpl->target_path, key),
                               without_secret_values(text.error(), secrets))};
    }
    out.insert_or_assign(key, std::move(*text));
  }
  return out;
}

bool is_config_key(std::string_view key) {
  if (key.empty() || key.size() > 253) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

Result<bool> check_storable_data(const std::map<std::string, std::string>& data, std::string_view object) {
  std::vector<std::string> bad;
  size_t total = 0;
  for (const auto& [key, value] : data) {
    if (!is_config_key(key)) bad.push_back(key);
    total += value.size();
  }
  auto quoted = [](const std::vector<std::string>& keys) {
    std::string out;
    for (size_t i = 0; i < keys.size() && i < 5; ++i) {
      if (i) out += ", ";
      // A key is a name, not a value, but it came from outside: print at most 80 bytes of it, escaped.
      out += '"';
      for (unsigned char c : keys[i].substr(0, 80)) out += (c < 0x20 || c >= 0x7f || c == '"') ? fmt::format("\\x{:02x}", c) : std::string(1, static_cast<char>(c));
      out += keys[i].size() > 80 ? "...\"" : "\"";
    }
    if (keys.size() > 5) out += fmt::format(" and {} more", keys.size() - 5);
    return out;
  };
  if (!bad.empty())
    return Result<bool>::fail(fmt::format(
        "{} cannot hold the key{} {}: a Kubernetes data key consists of letters, digits, '-', '_' or '.' and has at "
        "most 253 characters; rename the secret in Infisical or map it to a valid key with a template",
        object, bad.size() == 1 ? "" : "s", quoted(bad)));
  if (total > kMaxObjectDataBytes) {
    std::vector<std::pair<size_t, std::string>> by_size;
    for (const auto& [key, value] : data) by_size.emplace_back(value.size(), key);
    std::sort(by_size.begin(), by_size.end(), std::greater<>());
    std::string largest;
    for (size_t i = 0; i < by_size.size() && i < 3; ++i)
      largest += fmt::format("{}{} ({} bytes)", i ? ", " : "", by_size[i].second, by_size[i].first);
    return Result<bool>::fail(fmt::format(
        "{} would hold {} bytes of data; Kubernetes allows at most {}; the largest keys: {}; split the scope or "
        "select keys with a template",
        object, total, kMaxObjectDataBytes, largest));
  }
  return true;
}

}  // namespace ifo::core
