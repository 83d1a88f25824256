// Creating and updating managed Secrets and ConfigMaps.
#include "syncer/managed_writer.h"

#include <vector>

#include "core/base64.h"
#include "core/constants.h"
#include "core/trust_policy.h"
#include "core/utf8.h"
#include "kube/errors.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

namespace {

using core::JsonValue;

// `values` as the kind's .data holds them.
JsonValue data_json(const ManagedKind& kind, const std::map<std::string, std::string>& values, core::JsonAlloc& a) {
  if (kind.encoding == ManagedKind::Encoding::kString) return string_map_json(values, a);
  std::map<std::string, std::string> encoded;
  for (const auto& [k, v] : values) encoded[k] = core::base64_encode(v);
  return string_map_json(encoded, a);
}

// An object's .data as values (the inverse of data_json).
std::map<std::string, std::string> data_of(const ManagedKind& kind, const JsonValue& object) {
  if (kind.encoding == ManagedKind::Encoding::kString) return string_map(core::member(object, "data"));
  return secret_data(object);
}

// A write of a watched object, announced to the index for as long as it is in flight (ends as failed
// unless `sent` records the server's answer).
class WriteInFlight {
 public:
  WriteInFlight(ManagedIndex& index, const ManagedKind& kind, const ManagedTarget& target)
      : index_(kind.watched ? &index : nullptr), target_(target) {
    if (index_ != nullptr) index_->begin_write(target_.ns, target_.name);
  }
  ~WriteInFlight() {
    if (index_ != nullptr) index_->end_write(target_.ns, target_.name, nullptr);
  }
  WriteInFlight(const WriteInFlight&) = delete;
  WriteInFlight& operator=(const WriteInFlight&) = delete;

  const Object& sent(const Object& written) {
    if (index_ != nullptr) index_->end_write(target_.ns, target_.name, written);
    index_ = nullptr;
    return written;
  }

 private:
  ManagedIndex* index_;
  const ManagedTarget& target_;
};

}  // namespace

ManagedTarget managed_target(const core::ManagedSecretTarget& target) {
  return {target.secret_namespace, target.secret_name, target.template_, target.owner(),
          target.secret_type.empty() ? std::string(core::kDefaultSecretType) : target.secret_type};
}

ManagedTarget managed_target(const core::ManagedConfigMapTarget& target) {
  return {target.config_map_namespace, target.config_map_name, target.template_, target.owner(), ""};
}

ManagedWriter::ManagedWriter(kube::Api& kube, Metrics& metrics, ManagedIndex& index, Lookup watch_cache,
                             OwnerAlive owner_alive, std::shared_ptr<spdlog::logger> log)
    : kube_(kube),
      metrics_(metrics),
      index_(index),
      watch_cache_(std::move(watch_cache)),
      owner_alive_(std::move(owner_alive)),
      log_(std::move(log)) {}

ManagedWrite ManagedWriter::write(const ManagedKind& kind, const core::InfisicalSecret& resource,
                                  const ManagedTarget& target, const std::map<std::string, std::string>& values,
                                  std::string_view digest_key) {
  if (kind.encoding == ManagedKind::Encoding::kBase64)
    return write_stored(kind, resource, target, values, digest_key, false);
  // Strings are written as the API server will store them (a template may produce any bytes, e.g.
  // `b64dec` of binary data), so comparing with what it holds stays exact and an unchanged sync writes
  // nothing.
  std::map<std::string, std::string> stored;
  for (const auto& [k, v] : values) stored.emplace_hint(stored.end(), k, core::go_decoded_utf8(v));
  return write_stored(kind, resource, target, stored, digest_key, false);
}

Object ManagedWriter::read_existing(const ManagedKind& kind, const ManagedTarget& target, bool fresh_read) {
  // The watch cache first; fresh_read (after the cache proved stale) asks the API server. Without a
  // cache (tests of the reconciler alone, or a kind that is not watched) every write reads. With one,
  // an object the cache does not hold is created straight away: the cache sees only objects with our
  // label, so a foreign one of that name answers the create with 409 AlreadyExists, and only then is
  // it read (fresh_read) and judged. That saves a GET per new Secret (10,000 at bench/syncer-scale's
  // initial sync).
  const bool cached = kind.watched && watch_cache_;
  Object existing = cached && !fresh_read ? watch_cache_(target.ns, target.name) : nullptr;
  if (!existing && (fresh_read || !cached)) {
    try {
      existing = kube_.get(kind.resource, target.ns, target.name);
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) throw;
    }
  }
  return existing;
}

ManagedWrite ManagedWriter::write_stored(const ManagedKind& kind, const core::InfisicalSecret& resource,
                                         const ManagedTarget& target, const std::map<std::string, std::string>& values,
                                         std::string_view digest_key, bool fresh_read) {
  // Desired metadata (managed_metadata.h: template.metadata or the resource's own, the managed-by
  // label and the binding), plus the version and the digests rollouts read.
  ManagedMetadata desired = desired_metadata(resource, target.template_);
  desired.annotations[std::string(core::kVersionAnnotation)] = core::secret_version_digest(digest_key, values);
  std::optional<core::KeyDigests> digests;
  if (kind.key_digests) {
    digests = core::key_digests(digest_key, target.ns, target.name, values);
    desired.annotations[std::string(core::kKeyDigestsAnnotation)] = core::encode_key_digests(*digests);
  }
  Object existing = read_existing(kind, target, fresh_read);
  ManagedWrite out = existing ? update(kind, resource, target, values, digest_key, desired, existing, fresh_read)
                              : create(kind, resource, target, values, digest_key, desired, fresh_read);
  if (!out.conflict) out.digests = std::move(digests);
  return out;
}

ManagedWrite ManagedWriter::create(const ManagedKind& kind, const core::InfisicalSecret& resource,
                                   const ManagedTarget& target, const std::map<std::string, std::string>& values,
                                   std::string_view digest_key, const ManagedMetadata& desired, bool fresh_read) {
  core::JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  core::set_string(doc, "apiVersion", kind.resource.api_version(), a);
  core::set_string(doc, "kind", kind.resource.kind, a);
  auto& meta = core::ensure_object(doc, "metadata", a);
  core::set_string(meta, "name", target.name, a);
  core::set_string(meta, "namespace", target.ns, a);
  core::set_member(meta, "labels", string_map_json(desired.labels, a), a);
  core::set_member(meta, "annotations", string_map_json(desired.annotations, a), a);
  if (target.owner) core::set_member(meta, "ownerReferences", owner_references(resource, a), a);
  if (!target.type.empty()) core::set_string(doc, "type", target.type, a);
  core::set_member(doc, "data", data_json(kind, values, a), a);
  ManagedWrite out;
  try {
    WriteInFlight flight(index_, kind, target);
    out.object = flight.sent(kube_.create(kind.resource, target.ns, doc, write_options()));
  } catch (const kube::ApiError& e) {
    // The cache had not seen it yet (e.g. its watch is reconnecting), or it was created since the
    // read: read it and judge it as an existing object.
    if (!e.is_already_exists() || fresh_read) throw;
    return write_stored(kind, resource, target, values, digest_key, true);
  }
  out.written = out.data_changed = true;
  metrics_.inc(kind.write_metric, {{"operation", "create"}});
  log_->info("managed {} created {}={}/{} keys={} object={}/{}", kind.noun, kind.noun, target.ns, target.name,
             values.size(), resource.metadata.namespace_, resource.metadata.name);
  return out;
}

ManagedWrite ManagedWriter::update(const ManagedKind& kind, const core::InfisicalSecret& resource,
                                   const ManagedTarget& target, const std::map<std::string, std::string>& values,
                                   std::string_view digest_key, const ManagedMetadata& desired,
                                   const Object& existing, bool fresh_read) {
  ManagedWrite out;
  const JsonValue& ex = *existing;
  // Bound to this resource, or claimable (ours from before the binding, upstream's, adopted on
  // purpose): written, and the write stamps the binding. Bound to another live resource, or foreign:
  // never written.
  core::Claim claim = core::claim_managed_secret(ex, resource, owner_alive_, kind.resource.kind);
  if (claim.decision == core::ClaimDecision::kConflict) {
    out.conflict = std::move(claim.message);
    return out;
  }
  const std::map<std::string, std::string> ex_data = data_of(kind, ex);
  const bool data_same = ex_data == values;
  // A key of ours also in the exclusive field would make the update invalid (a key may be in only one
  // of them): ours wins. Its other keys are left alone, as upstream leaves them.
  std::vector<std::string> clashing;
  const JsonValue* exclusive = kind.exclusive_field.empty() ? nullptr : core::member(ex, kind.exclusive_field);
  if (exclusive && exclusive->IsObject())
    for (auto it = exclusive->MemberBegin(); it != exclusive->MemberEnd(); ++it)
      if (std::string key(it->name.GetString(), it->name.GetStringLength()); values.count(key))
        clashing.push_back(key);
  // Keep what others put on the object (type, owners; other labels and annotations unless
  // template.metadata says exactly which), replace data.
  const auto ex_labels = string_map(core::at_path(ex, {"metadata", "labels"}));
  const auto ex_annotations = string_map(core::at_path(ex, {"metadata", "annotations"}));
  const ManagedMetadata merged = merged_metadata(desired, ex_labels, ex_annotations);
  if (data_same && clashing.empty() && merged.labels == ex_labels && merged.annotations == ex_annotations) {
    out.object = existing;
    return out;
  }
  core::JsonDoc doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.CopyFrom(ex, a);
  auto& meta = core::ensure_object(doc, "metadata", a);
  core::set_member(meta, "labels", string_map_json(merged.labels, a), a);
  core::set_member(meta, "annotations", string_map_json(merged.annotations, a), a);
  core::remove_member(meta, "managedFields");
  core::set_member(doc, "data", data_json(kind, values, a), a);
  if (!clashing.empty()) {
    JsonValue* field = core::member(doc, kind.exclusive_field);
    for (const auto& key : clashing) core::remove_member(*field, key);
    if (field->ObjectEmpty()) core::remove_member(doc, kind.exclusive_field);
  }
  try {
    WriteInFlight flight(index_, kind, target);
    out.object = flight.sent(kube_.update(kind.resource, target.ns, doc, write_options()));
  } catch (const kube::ApiError& e) {
    // Deleted since the read (for a cached read: the watch has not told us yet): create it afresh now
    // rather than failing until the cache catches up.
    if (!e.is_not_found() || fresh_read) throw;
    return write_stored(kind, resource, target, values, digest_key, true);
  }
  out.written = true;
  out.data_changed = !data_same;
  if (kind.key_digests) out.previous = core::key_digests(digest_key, target.ns, target.name, ex_data);
  metrics_.inc(kind.write_metric, {{"operation", "update"}});
  log_->info("managed {} updated {}={}/{} data_changed={} claimed={} object={}/{}", kind.noun, kind.noun, target.ns,
             target.name, !data_same, claim.decision == core::ClaimDecision::kClaim, resource.metadata.namespace_,
             resource.metadata.name);
  return out;
}

}  // namespace ifo::syncer
