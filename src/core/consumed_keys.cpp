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

// Calls visit(secret, key, optional) for every Secret reference of a pod spec: key is nullopt for a
// whole Secret (envFrom; a volume or projected source without `items`), and each listed key otherwise.
template <typename Visit>
void whole_or_items(const JsonValue& src, std::string_view secret, bool optional, Visit& visit) {
  const JsonValue* items = array_member(src, "items");
  if (items == nullptr || items->Empty()) {
    visit(secret, std::nullopt, optional);
    return;
  }
  for (const auto& item : items->GetArray()) {
    if (auto key = nonempty_string(item, "key")) visit(secret, key, optional);
  }
}

bool is_optional(const JsonValue& ref) { return get_bool(ref, "optional").value_or(false); }

template <typename Visit>
void from_containers(const JsonValue& pod_spec, std::string_view field, Visit& visit) {
  const JsonValue* containers = array_member(pod_spec, field);
  if (containers == nullptr) return;
  for (const auto& c : containers->GetArray()) {
    if (const JsonValue* env = array_member(c, "env")) {
      for (const auto& e : env->GetArray()) {
        const JsonValue* ref = at_path(e, {"valueFrom", "secretKeyRef"});
        if (ref == nullptr) continue;
        auto name = nonempty_string(*ref, "name");
        auto key = nonempty_string(*ref, "key");
        if (name && key) visit(*name, key, is_optional(*ref));
      }
    }
    if (const JsonValue* env_from = array_member(c, "envFrom")) {
      for (const auto& e : env_from->GetArray()) {
        const JsonValue* ref = member(e, "secretRef");
        if (ref == nullptr) continue;
        if (auto name = nonempty_string(*ref, "name")) visit(*name, std::nullopt, is_optional(*ref));
      }
    }
  }
}

template <typename Visit>
void from_volumes(const JsonValue& pod_spec, Visit& visit) {
  const JsonValue* volumes = array_member(pod_spec, "volumes");
  if (volumes == nullptr) return;
  for (const auto& v : volumes->GetArray()) {
    if (const JsonValue* secret = member(v, "secret")) {
      if (auto name = nonempty_string(*secret, "secretName"))
        whole_or_items(*secret, *name, is_optional(*secret), visit);
    }
    if (const JsonValue* sources = at_path(v, {"projected", "sources"}); sources != nullptr && sources->IsArray()) {
      for (const auto& s : sources->GetArray()) {
        const JsonValue* secret = member(s, "secret");
        if (secret == nullptr) continue;
        if (auto name = nonempty_string(*secret, "name"))
          whole_or_items(*secret, *name, is_optional(*secret), visit);
      }
    }
  }
}

template <typename Visit>
void visit_secret_refs(const JsonValue& pod_spec, Visit&& visit) {
  if (!pod_spec.IsObject()) return;
  from_containers(pod_spec, "initContainers", visit);
  from_containers(pod_spec, "containers", visit);
  from_containers(pod_spec, "ephemeralContainers", visit);
  from_volumes(pod_spec, visit);
}

}  // namespace

std::vector<ConsumedKey> consumed_secret_keys(const JsonValue& pod_spec) {
  std::vector<ConsumedKey> all;
  if (!pod_spec.IsObject()) return all;
  all.reserve(8);
  visit_secret_refs(pod_spec, [&all](std::string_view secret, std::optional<std::string_view> key, bool) {
    all.push_back({std::string(secret), key ? std::optional<std::string>(*key) : std::nullopt});
  });

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

std::vector<std::string> optionally_consumed_secrets(const JsonValue& pod_spec) {
  std::vector<std::string> out;
  visit_secret_refs(pod_spec, [&out](std::string_view secret, std::optional<std::string_view>, bool optional) {
    if (optional) out.emplace_back(secret);
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool consumes_secret(const std::vector<ConsumedKey>& keys, std::string_view secret) {
  return std::any_of(keys.begin(), keys.end(), [&](const ConsumedKey& k) { return k.secret == secret; });
}

}  // namespace ifo::core
