// Labels and annotations of managed Secrets and ConfigMaps.
#include "syncer/managed_metadata.h"

#include "core/constants.h"

namespace ifo::syncer {

namespace {

constexpr std::string_view kPropagationExcludedPrefixes[] = {"kubectl.kubernetes.io/", "kubernetes.io/",
                                                             "k8s.io/", "helm.sh/", kOwnAnnotationPrefix};

std::string key_of(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

}  // namespace

bool propagated(const std::string& key) {
  for (auto prefix : kPropagationExcludedPrefixes) {
    if (key.starts_with(prefix)) return false;
    // "x.kubernetes.io/..." and "x.k8s.io/..." are system keys too.
    auto slash = key.find('/');
    if (slash != std::string::npos) {
      std::string_view domain(key.data(), slash);
      if (domain.ends_with(".kubernetes.io") || domain.ends_with(".k8s.io")) return false;
    }
  }
  return true;
}

ManagedMetadata desired_metadata(const core::InfisicalSecret& model,
                                 const std::optional<core::SecretTemplate>& tmpl) {
  ManagedMetadata out;
  out.exact = tmpl && tmpl->has_metadata;
  if (out.exact) {
    out.labels = tmpl->labels;
    out.annotations = tmpl->annotations;
  } else {
    for (const auto& [k, v] : model.metadata.labels)
      if (propagated(k)) out.labels[k] = v;
    for (const auto& [k, v] : model.metadata.annotations)
      if (propagated(k)) out.annotations[k] = v;
  }
  out.labels[std::string(core::kManagedByLabel)] = std::string(core::kManagedByValue);
  out.annotations[std::string(core::kOwnerAnnotation)] =
      key_of(model.metadata.namespace_, model.metadata.name);
  out.annotations[std::string(core::kOwnerUidAnnotation)] = model.metadata.uid;
  return out;
}

ManagedMetadata merged_metadata(const ManagedMetadata& desired,
                                const std::map<std::string, std::string>& labels,
                                const std::map<std::string, std::string>& annotations) {
  ManagedMetadata out;
  out.exact = desired.exact;
  if (desired.exact) {
    for (const auto& [k, v] : annotations)
      if (!propagated(k) && !k.starts_with(kOwnAnnotationPrefix)) out.annotations[k] = v;
  } else {
    out.labels = labels;
    out.annotations = annotations;
  }
  for (const auto& [k, v] : desired.labels) out.labels[k] = v;
  for (const auto& [k, v] : desired.annotations) out.annotations[k] = v;
  return out;
}

core::JsonValue owner_references(const core::InfisicalSecret& model, core::JsonAlloc& a) {
  core::JsonValue refs(rapidjson::kArrayType);
  core::JsonValue ref(rapidjson::kObjectType);
  core::set_string(ref, "apiVersion", core::kApiVersion, a);
  core::set_string(ref, "kind", core::kKind, a);
  core::set_string(ref, "name", model.metadata.name, a);
  core::set_string(ref, "uid", model.metadata.uid, a);
  core::set_member(ref, "controller", core::JsonValue(true), a);
  core::set_member(ref, "blockOwnerDeletion", core::JsonValue(true), a);
  refs.PushBack(ref, a);
  return refs;
}

}  // namespace ifo::syncer
