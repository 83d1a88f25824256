// Creating and updating managed ConfigMaps.
#include "syncer/managed_configmap.h"

#include <algorithm>

#include "core/constants.h"
#include "core/digest.h"
#include "core/trust_policy.h"
#include "kube/errors.h"
#include "syncer/managed_metadata.h"

namespace ifo::syncer {

namespace {

using core::JsonValue;

std::map<std::string, std::string> string_map(const JsonValue* obj) {
  std::map<std::string, std::string> out;
  if (!obj || !obj->IsObject()) return out;
  for (auto it = obj->MemberBegin(); it != obj->MemberEnd(); ++it)
    if (it->value.IsString())
      out[std::string(it->name.GetString(), it->name.GetStringLength())] =
          std::string(it->value.GetString(), it->value.GetStringLength());
  return out;
}

JsonValue string_map_json(const std::map<std::string, std::string>& m, core::JsonAlloc& a) {
  JsonValue obj(rapidjson::kObjectType);
  for (const auto& [k, v] : m) obj.AddMember(core::json_string(k, a), core::json_string(v, a), a);
  return obj;
}

// The well-formed UTF-8 sequences (RFC 3629 table 3-7: no overlong forms, no surrogates, nothing
// above U+10FFFF) by their lead byte: its range, the sequence length and the range of the second byte.
struct Utf8Lead {
  unsigned char first, last;
  size_t len;
  unsigned char lo, hi;
};
constexpr Utf8Lead kUtf8Leads[] = {{0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF},
                                   {0xE1, 0xEC, 3, 0x80, 0xBF}, {0xED, 0xED, 3, 0x80, 0x9F},
                                   {0xEE, 0xEF, 3, 0x80, 0xBF}, {0xF0, 0xF0, 4, 0x90, 0xBF},
                                   {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F}};

// The length of the well-formed UTF-8 sequence at s[i], or 0 when there is none.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  if (byte(i) < 0x80) return 1;
  for (const Utf8Lead& lead : kUtf8Leads) {
    if (byte(i) < lead.first || byte(i) > lead.last) continue;
    if (i + lead.len > s.size() || byte(i + 1) < lead.lo || byte(i + 1) > lead.hi) return 0;
    for (size_t k = 2; k < lead.len; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return lead.len;
  }
  return 0;
}

// ConfigMap data are strings, and the API server decodes JSON as Go does: each byte that does not
// start a well-formed UTF-8 sequence becomes U+FFFD. Writing the value it will store keeps the
// comparison with what it holds exact (a template may produce any bytes, e.g. `b64dec` of binary data).
std::string as_stored(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (size_t len = utf8_sequence(s, i)) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

ConfigMapWrite write(KubeApi& kube, const core::InfisicalSecret& model,
                     const core::ManagedConfigMapTarget& target,
                     const std::map<std::string, std::string>& values, std::string_view digest_key,
                     const OwnerAlive& owner_alive, Metrics& metrics, spdlog::logger& log, bool retried) {
  ConfigMapWrite out;
  const std::string& ns = target.config_map_namespace;
  const std::string& name = target.config_map_name;
  ManagedMetadata desired = desired_metadata(model, target.template_);
  desired.annotations[std::string(core::kVersionAnnotation)] =
      core::secret_version_digest(digest_key, values);

  Object existing;
  try {
    existing = kube.get(kube::kConfigMaps, ns, name);
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
  }

  core::JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  if (!existing) {
    core::set_string(doc, "apiVersion", "v1", a);
    core::set_string(doc, "kind", kube::kConfigMaps.kind, a);
    auto& meta = core::ensure_object(doc, "metadata", a);
    core::set_string(meta, "name", name, a);
    core::set_string(meta, "namespace", ns, a);
    core::set_member(meta, "labels", string_map_json(desired.labels, a), a);
    core::set_member(meta, "annotations", string_map_json(desired.annotations, a), a);
    if (target.owner()) core::set_member(meta, "ownerReferences", owner_references(model, a), a);
    core::set_member(doc, "data", string_map_json(values, a), a);
    try {
      out.config_map = kube.create(kube::kConfigMaps, ns, doc);
    } catch (const kube::ApiError& e) {
      // Created by someone else since the read: judge it as an existing ConfigMap.
      if (!e.is_already_exists() || retried) throw;
      return write(kube, model, target, values, digest_key, owner_alive, metrics, log, true);
    }
    out.written = true;
    metrics.inc(kMetricConfigMapWrites, {{"operation", "create"}});
    log.info("managed configmap created configmap={}/{} keys={} object={}/{}", ns, name, values.size(),
             model.metadata.namespace_, model.metadata.name);
    return out;
  }

  const JsonValue& ex = *existing;
  // The same binding as a managed Secret: ours, or claimable (ours from before, upstream's, adopted on
  // purpose), is written; bound to another live InfisicalSecret, or foreign, is never written.
  core::Claim claim = core::claim_managed_secret(ex, model, owner_alive, kube::kConfigMaps.kind);
  if (claim.decision == core::ClaimDecision::kConflict) {
    out.conflict = std::move(claim.message);
    return out;
  }
  const bool data_same = string_map(core::member(ex, "data")) == values;
  // A binaryData key that is also one of ours would make the update invalid (a key may be in only one
  // of them): ours wins. Other binaryData is left alone, as upstream leaves it.
  std::vector<std::string> clashing;
  if (const JsonValue* binary = core::member(ex, "binaryData"); binary && binary->IsObject())
    for (auto it = binary->MemberBegin(); it != binary->MemberEnd(); ++it)
      if (std::string key(it->name.GetString(), it->name.GetStringLength()); values.count(key))
        clashing.push_back(key);
  const auto ex_labels = string_map(core::at_path(ex, {"metadata", "labels"}));
  const auto ex_annotations = string_map(core::at_path(ex, {"metadata", "annotations"}));
  const ManagedMetadata merged = merged_metadata(desired, ex_labels, ex_annotations);
  if (data_same && clashing.empty() && merged.labels == ex_labels && merged.annotations == ex_annotations) {
    out.config_map = existing;
    return out;
  }
  doc.CopyFrom(ex, a);
  auto& meta = core::ensure_object(doc, "metadata", a);
  core::set_member(meta, "labels", string_map_json(merged.labels, a), a);
  core::set_member(meta, "annotations", string_map_json(merged.annotations, a), a);
  core::remove_member(meta, "managedFields");
  core::set_member(doc, "data", string_map_json(values, a), a);
  if (!clashing.empty()) {
    JsonValue* binary = core::member(doc, "binaryData");
    for (const auto& key : clashing) core::remove_member(*binary, key);
    if (binary->ObjectEmpty()) core::remove_member(doc, "binaryData");
  }
  try {
    out.config_map = kube.update(kube::kConfigMaps, ns, name, doc);
  } catch (const kube::ApiError& e) {
    // Deleted since the read: create it afresh.
    if (!e.is_not_found() || retried) throw;
    return write(kube, model, target, values, digest_key, owner_alive, metrics, log, true);
  }
  out.written = true;
  metrics.inc(kMetricConfigMapWrites, {{"operation", "update"}});
  log.info("managed configmap updated configmap={}/{} data_changed={} claimed={} object={}/{}", ns, name,
           !data_same, claim.decision == core::ClaimDecision::kClaim, model.metadata.namespace_,
           model.metadata.name);
  return out;
}

}  // namespace

ConfigMapWrite write_managed_config_map(KubeApi& kube, const core::InfisicalSecret& model,
                                        const core::ManagedConfigMapTarget& target,
                                        const std::map<std::string, std::string>& values,
                                        std::string_view digest_key, const OwnerAlive& owner_alive,
                                        Metrics& metrics, spdlog::logger& log) {
  std::map<std::string, std::string> stored;
  for (const auto& [k, v] : values) stored.emplace_hint(stored.end(), k, as_stored(v));
  return write(kube, model, target, stored, digest_key, owner_alive, metrics, log, false);
}

std::vector<std::string> config_map_keys(const core::InfisicalSecretSpec& spec) {
  std::vector<std::string> out;
  if (spec.managed_kube_config_map_references)
    for (const auto& t : *spec.managed_kube_config_map_references)
      out.push_back(t.config_map_namespace + "/" + t.config_map_name);
  return out;
}

}  // namespace ifo::syncer
