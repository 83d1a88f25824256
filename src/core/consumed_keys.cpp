// Walks a pod spec for Secret references.
#include "core/consumed_keys.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/field_error.h"

namespace ifo::core {

namespace {

const JsonValue* array_member(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = member(obj, name);
  return v != nullptr && v->IsArray() ? v : nullptr;
}

std::optional<std::string_view> nonempty_string(const JsonValue& obj, std::string_view name) {
  auto s = get_string_view(obj, name);
  if (!s || s->empty()) return std::nullopt;
  return s;
}

// A Secret consumed whole, or only the keys in `items` (when `items` is a non-empty list).
void whole_or_items(const JsonValue& src, std::string_view secret, std::vector<ConsumedKey>& out) {
  const JsonValue* items = array_member(src, "items");
  if (items == nullptr || items->Empty()) {
    out.push_back({std::string(secret), std::nullopt});
    return;
  }
  for (const auto& item : items->GetArray()) {
    if (auto key = nonempty_string(item, "key")) out.push_back({std::string(secret), std::string(*key)});
  }
}

void from_containers(const JsonValue& pod_spec, std::string_view field, std::vector<ConsumedKey>& out) {
  const JsonValue* containers = array_member(pod_spec, field);
  if (containers == nullptr) return;
  for (const auto& c : containers->GetArray()) {
    if (const JsonValue* env = array_member(c, "env")) {
      for (const auto& e : env->GetArray()) {
        const JsonValue* ref = at_path(e, {"valueFrom", "secretKeyRef"});
        if (ref == nullptr) continue;
        auto name = nonempty_string(*ref, "name");
        auto key = nonempty_string(*ref, "key");
        if (name && key) out.push_back({std::string(*name), std::string(*key)});
      }
    }
    if (const JsonValue* env_from = array_member(c, "envFrom")) {
      for (const auto& e : env_from->GetArray()) {
        const JsonValue* ref = member(e, "secretRef");
        if (ref == nullptr) continue;
        if (auto name = nonempty_string(*ref, "name")) out.push_back({std::string(*name), std::nullopt});
      }
    }
  }
}

void from_volumes(const JsonValue& pod_spec, std::vector<ConsumedKey>& out) {
  const JsonValue* volumes = array_member(pod_spec, "volumes");
  if (volumes == nullptr) return;
  for (const auto& v : volumes->GetArray()) {
    if (const JsonValue* secret = member(v, "secret")) {
      if (auto name = nonempty_string(*secret, "secretName")) whole_or_items(*secret, *name, out);
    }
    if (const JsonValue* sources = at_path(v, {"projected", "sources"}); sources != nullptr && sources->IsArray()) {
      for (const auto& s : sources->GetArray()) {
        const JsonValue* secret = member(s, "secret");
        if (secret == nullptr) continue;
        if (auto name = nonempty_string(*secret, "name")) whole_or_items(*secret, *name, out);
      }
    }
  }
}

}  // namespace

std::vector<ConsumedKey> consumed_secret_keys(const JsonValue& pod_spec) {
  std::vector<ConsumedKey> all;
  if (!pod_spec.IsObject()) return all;
  all.reserve(8);
  from_containers(pod_spec, "initContainers", all);
  from_containers(pod_spec, "containers", all);
  from_containers(pod_spec, "ephemeralContainers", all);
  from_volumes(pod_spec, all);

  // Sorted, a Secret's whole-Secret entry (no key) comes before its single keys, which it covers.
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  size_t kept = 0;
  std::optional<size_t> whole;  // where the last kept whole-Secret entry is
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].key && whole && all[*whole].secret == all[i].secret) continue;
    if (kept != i) all[kept] = std::move(all[i]);
    if (!all[kept].key) whole = kept;
    ++kept;
  }
  all.resize(kept);
  return all;
}

Result<std::vector<ConsumedKey>> consumed_secret_keys_of_object(const JsonValue& object) {
  using R = Result<std::vector<ConsumedKey>>;
  std::string kind = get_string(object, "kind").value_or("");
  const JsonValue* pod_spec = nullptr;
  if (kind == "Pod") {
    pod_spec = member(object, "spec");
  } else if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "ReplicaSet" ||
             kind == "Job") {
    pod_spec = at_path(object, {"spec", "template", "spec"});
  } else if (kind == "CronJob") {
    pod_spec = at_path(object, {"spec", "jobTemplate", "spec", "template", "spec"});
  } else {
    return R::fail(kind.empty() ? std::string("object has no kind") : fmt::format("kind {} has no pod template", abbreviate(kind)));
  }
  if (pod_spec == nullptr || !pod_spec->IsObject()) return R::fail(fmt::format("{} has no pod spec", abbreviate(kind)));
  return consumed_secret_keys(*pod_spec);
}

bool consumes_secret(const std::vector<ConsumedKey>& keys, std::string_view secret) {
  return std::any_of(keys.begin(), keys.end(), [&](const ConsumedKey& k) { return k.secret == secret; });
}

}  // namespace ifo::core
