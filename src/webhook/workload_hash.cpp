// Rollout hash inputs from the digest cache.
// TODO(core): consumed keys and the hash itself move to core (shared with the syncer) when they land
// on main; until then this follows the syncer's interim encoding exactly.
#include "webhook/workload_hash.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <optional>
#include <set>

namespace ifo::webhook {
namespace {

namespace c = ifo::core;

const c::JsonValue* array_member(const c::JsonValue& o, std::string_view name) {
  const c::JsonValue* v = c::member(o, name);
  return v && v->IsArray() ? v : nullptr;
}

void length_prefixed(std::string& out, std::string_view s) {
  out += fmt::format("{}:", s.size());
  out += s;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

struct Input {
  std::string secret;
  std::string key;
  std::optional<std::string> digest;
};

std::string hash_inputs(const std::string& ns, const std::vector<Input>& inputs) {
  std::vector<std::string> parts;
  for (const auto& in : inputs) {
    std::string p;
    length_prefixed(p, ns + "/" + in.secret);
    length_prefixed(p, in.key);
    length_prefixed(p, in.digest ? *in.digest : std::string("-missing-"));
    p += in.digest ? "1" : "0";
    parts.push_back(std::move(p));
  }
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  std::string msg;
  for (const auto& p : parts) length_prefixed(msg, p);
  return sha256_hex(msg);
}

}  // namespace

Consumed consumed_keys(const c::JsonValue& pod_spec) {
  std::set<std::pair<std::string, std::string>> refs;
  for (std::string_view list : {"containers", "initContainers"}) {
    const c::JsonValue* containers = array_member(pod_spec, list);
    if (!containers) continue;
    for (const auto& ctr : containers->GetArray()) {
      if (const auto* env = array_member(ctr, "env"))
        for (const auto& e : env->GetArray()) {
          const auto* ref = c::at_path(e, {"valueFrom", "secretKeyRef"});
          if (!ref) continue;
          auto name = c::get_string(*ref, "name");
          auto key = c::get_string(*ref, "key");
          if (name && key) refs.insert({*name, *key});
        }
      if (const auto* env_from = array_member(ctr, "envFrom"))
        for (const auto& e : env_from->GetArray())
          if (const auto* ref = c::member(e, "secretRef"))
            if (auto name = c::get_string(*ref, "name")) refs.insert({*name, ""});
    }
  }
  auto add_source = [&](const c::JsonValue& src, std::string_view name_field) {
    auto name = c::get_string(src, name_field);
    if (!name) return;
    const auto* items = array_member(src, "items");
    if (!items || items->Empty()) {
      refs.insert({*name, ""});
      return;
    }
    for (const auto& item : items->GetArray())
      if (auto key = c::get_string(item, "key")) refs.insert({*name, *key});
  };
  if (const auto* volumes = array_member(pod_spec, "volumes"))
    for (const auto& vol : volumes->GetArray()) {
      if (const auto* s = c::member(vol, "secret"); s && s->IsObject()) add_source(*s, "secretName");
      if (const auto* sources = c::at_path(vol, {"projected", "sources"}); sources && sources->IsArray())
        for (const auto& src : sources->GetArray())
          if (const auto* s = c::member(src, "secret"); s && s->IsObject()) add_source(*s, "name");
    }
  Consumed out;
  for (const auto& [secret, key] : refs) {
    if (!key.empty() && refs.count({secret, ""})) continue;
    out.emplace_back(secret, key);
  }
  return out;
}

std::string rollout_hash(const std::string& ns, const Consumed& consumed, const DigestSource& digests) {
  std::vector<Input> inputs;
  for (const auto& [secret, key] : consumed) {
    auto known = digests.key_digests(ns, secret);
    if (!known) {
      inputs.push_back({secret, key, std::nullopt});
    } else if (key.empty()) {
      for (const auto& [k, d] : *known) inputs.push_back({secret, k, d});
    } else {
      auto it = known->find(key);
      inputs.push_back({secret, key, it == known->end() ? std::nullopt : std::optional(it->second)});
    }
  }
  return hash_inputs(ns, inputs);
}

}  // namespace ifo::webhook
