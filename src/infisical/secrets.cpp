// Parsing of the secrets list and its deterministic merge.
#include "infisical/secrets.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/json.h"

namespace ifo::infisical {

std::string normalize_secret_path(std::string_view path) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    if (j > i) out += "/" + std::string(path.substr(i, j - i));
    i = j;
  }
  return out.empty() ? "/" : out;
}

namespace {

size_t depth(const std::string& normalized) {
  return normalized == "/" ? 0 : static_cast<size_t>(std::count(normalized.begin(), normalized.end(), '/'));
}

core::Result<RawSecret> parse_secret(const core::JsonValue& v, const std::string& where) {
  if (!v.IsObject()) return core::Result<RawSecret>::fail(where + " is not an object");
  RawSecret s;
  auto key = core::get_string(v, "secretKey");
  if (!key) return core::Result<RawSecret>::fail(where + ".secretKey is missing or not a string");
  s.key = *key;
  const auto* value = core::member(v, "secretValue");
  if (value == nullptr || !value->IsString())
    return core::Result<RawSecret>::fail(where + ".secretValue (of " + s.key + ") is missing or not a string");
  s.value.assign(value->GetString(), value->GetStringLength());
  s.id = core::string_or(v, "id", core::string_or(v, "_id", ""));
  s.path = core::string_or(v, "secretPath", "");
  s.type = core::string_or(v, "type", "shared");
  s.value_hidden = core::get_bool(v, "secretValueHidden").value_or(false);
  return s;
}

// Personal before shared, then smallest id: the tie-break inside one folder.
bool better_in_folder(const RawSecret& a, const RawSecret& b) {
  bool ap = a.type == "personal", bp = b.type == "personal";
  if (ap != bp) return ap;
  return a.id < b.id;
}

}  // namespace

core::Result<RawSecretsResponse> parse_secrets_response(std::string_view body) {
  using R = core::Result<RawSecretsResponse>;
  auto doc = core::parse_json(body);
  if (!doc.ok()) return R::fail("secrets response is not JSON: " + doc.error());
  const auto& root = **doc;
  if (!root.IsObject()) return R::fail("secrets response is not a JSON object");
  RawSecretsResponse out;
  const auto* secrets = core::member(root, "secrets");
  if (secrets == nullptr || !secrets->IsArray()) return R::fail("secrets response has no \"secrets\" array");
  size_t i = 0;
  for (const auto& s : secrets->GetArray()) {
    auto parsed = parse_secret(s, fmt::format("secrets[{}]", i++));
    if (!parsed.ok()) return R::fail(parsed.error());
    out.secrets.push_back(std::move(*parsed));
  }
  if (const auto* imports = core::member(root, "imports"); imports != nullptr) {
    if (!imports->IsArray()) return R::fail("secrets response: \"imports\" is not an array");
    size_t n = 0;
    for (const auto& imp : imports->GetArray()) {
      std::string where = fmt::format("imports[{}]", n++);
      if (!imp.IsObject()) return R::fail(where + " is not an object");
      RawImport ri;
      ri.path = core::string_or(imp, "secretPath", "");
      ri.environment = core::string_or(imp, "environment", "");
      const auto* list = core::member(imp, "secrets");
      if (list == nullptr || !list->IsArray()) return R::fail(where + ".secrets is missing or not an array");
      size_t k = 0;
      for (const auto& s : list->GetArray()) {
        auto parsed = parse_secret(s, fmt::format("{}.secrets[{}]", where, k++));
        if (!parsed.ok()) return R::fail(parsed.error());
        ri.secrets.push_back(std::move(*parsed));
      }
      out.imports.push_back(std::move(ri));
    }
  }
  return out;
}

core::Result<RawSecretsResponse> parse_single_secret_response(std::string_view body) {
  using R = core::Result<RawSecretsResponse>;
  auto doc = core::parse_json(body);
  if (!doc.ok()) return R::fail("secret response is not JSON: " + doc.error());
  const auto* secret = (*doc)->IsObject() ? core::member(**doc, "secret") : nullptr;
  if (secret == nullptr) return R::fail("secret response has no \"secret\" object");
  auto parsed = parse_secret(*secret, "secret");
  if (!parsed.ok()) return R::fail(parsed.error());
  RawSecretsResponse out;
  out.secrets.push_back(std::move(*parsed));
  return out;
}

MergedSecrets merge_secrets(const RawSecretsResponse& response) {
  MergedSecrets out;
  std::map<std::string, std::string> warnings;  // by key, so their order does not depend on the server's

  // Own secrets: group by key, pick the winner by (depth, path, personal first, id).
  std::map<std::string, std::vector<const RawSecret*>> by_key;
  for (const auto& s : response.secrets) by_key[s.key].push_back(&s);
  for (auto& [key, list] : by_key) {
    std::sort(list.begin(), list.end(), [](const RawSecret* a, const RawSecret* b) {
      std::string pa = normalize_secret_path(a->path), pb = normalize_secret_path(b->path);
      if (depth(pa) != depth(pb)) return depth(pa) < depth(pb);
      if (pa != pb) return pa < pb;
      return better_in_folder(*a, *b);
    });
    const RawSecret& winner = *list.front();
    std::set<std::string> folders;
    for (const auto* s : list) folders.insert(normalize_secret_path(s->path));
    if (folders.size() > 1) {
      std::string names;
      for (const auto& f : folders) names += (names.empty() ? "" : ", ") + f;
      warnings[key] = fmt::format(
          "secret {} is defined in several folders ({}); using the one in {} (shallowest folder, then "
          "lexicographically first path)",
          key, names, normalize_secret_path(winner.path));
    }
    if (winner.value_hidden) {
      warnings[key] = fmt::format("secret {} is left out: its value is hidden from this identity", key);
      continue;
    }
    out.values.emplace(key, winner.value);
  }

  // Imports in server order; an own key, or a key of an earlier import, is never replaced.
  std::set<std::string> taken;
  for (const auto& [key, list] : by_key) taken.insert(key);
  for (const auto& imp : response.imports) {
    std::vector<const RawSecret*> list;
    for (const auto& s : imp.secrets) list.push_back(&s);
    std::sort(list.begin(), list.end(), [](const RawSecret* a, const RawSecret* b) {
      if (a->key != b->key) return a->key < b->key;
      return better_in_folder(*a, *b);
    });
    for (const auto* s : list) {
      if (!taken.insert(s->key).second) continue;
      if (s->value_hidden) {
        warnings[s->key] = fmt::format("imported secret {} (from {}:{}) is left out: its value is hidden from this identity",
                                       s->key, imp.environment, normalize_secret_path(imp.path));
        continue;
      }
      out.values.emplace(s->key, s->value);
    }
  }
  for (auto& [k, w] : warnings) out.warnings.push_back(std::move(w));
  return out;
}

}  // namespace ifo::infisical
