// status.managedKeyDigests: writing and lenient reading.
#include "core/managed_digests.h"

#include <algorithm>
#include <optional>

#include "core/constants.h"

namespace ifo::core {

namespace {

bool is_hex_digest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A keyDigests-shaped object: data key -> 64-digit lowercase hex digest.
std::optional<KeyDigests> read_digests(const JsonValue* digests) {
  if (digests == nullptr || !digests->IsObject()) return std::nullopt;
  KeyDigests out;
  for (const auto& m : digests->GetObject()) {
    if (!m.value.IsString()) return std::nullopt;
    std::string_view d(m.value.GetString(), m.value.GetStringLength());
    if (!is_hex_digest(d)) return std::nullopt;
    // A key twice is not something the syncer writes: the entry is not trusted.
    if (!out.emplace(std::string(m.name.GetString(), m.name.GetStringLength()), std::string(d)).second)
      return std::nullopt;
  }
  return out;
}

std::optional<ManagedKeyDigests> read_entry(const JsonValue& item) {
  if (!item.IsObject()) return std::nullopt;
  ManagedKeyDigests e;
  e.kind = string_or(item, "kind", "");
  e.namespace_ = string_or(item, "namespace", "");
  e.name = string_or(item, "name", "");
  if (e.kind.empty() || e.namespace_.empty() || e.name.empty()) return std::nullopt;
  auto digests = read_digests(member(item, kManagedKeyDigestsKey));
  if (!digests) return std::nullopt;
  e.key_digests = std::move(*digests);
  if (const JsonValue* previous = member(item, kManagedPreviousKeyDigestsKey)) {
    e.previous_key_digests = read_digests(previous);
    if (!e.previous_key_digests) return std::nullopt;
  }
  return e;
}

JsonValue digests_json(const KeyDigests& digests, JsonAlloc& a) {
  JsonValue out(rapidjson::kObjectType);
  // The map's keys are unique: AddMember without set_member's search keeps this linear in the keys.
  for (const auto& [k, d] : digests) out.AddMember(json_string(k, a), json_string(d, a), a);
  return out;
}

}  // namespace

JsonValue managed_key_digests_json(const std::vector<ManagedKeyDigests>& entries, JsonAlloc& a) {
  JsonValue list(rapidjson::kArrayType);
  for (const auto& e : entries) {
    JsonValue item(rapidjson::kObjectType);
    set_string(item, "kind", e.kind, a);
    set_string(item, "namespace", e.namespace_, a);
    set_string(item, "name", e.name, a);
    set_member(item, kManagedKeyDigestsKey, digests_json(e.key_digests, a), a);
    if (e.previous_key_digests)
      set_member(item, kManagedPreviousKeyDigestsKey, digests_json(*e.previous_key_digests, a), a);
    list.PushBack(std::move(item), a);
  }
  return list;
}

std::vector<ManagedKeyDigests> read_managed_key_digests(const JsonValue& list) {
  std::vector<ManagedKeyDigests> out;
  if (!list.IsArray()) return out;
  for (const auto& item : list.GetArray())
    if (auto e = read_entry(item)) out.push_back(std::move(*e));
  return out;
}

}  // namespace ifo::core
