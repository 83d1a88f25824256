// The labels and annotations of a managed object (Secret or ConfigMap), by upstream v0.11's rules
// (reference/upstream-v0.11-infisicalsecret.md section 3.6) plus this operator's own: one rule for
// both kinds of target.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/infisical_secret.h"
#include "core/json.h"

namespace ifo::syncer {

inline constexpr std::string_view kOwnAnnotationPrefix = "secrets.infisical.com/";

// Whether a label or annotation key of the InfisicalSecret is copied to the objects it writes: not a
// system key (kubectl.kubernetes.io/, kubernetes.io/, k8s.io/, helm.sh/, *.kubernetes.io/, *.k8s.io/)
// and not one of ours.
bool propagated(const std::string& key);

struct ManagedMetadata {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  // template.metadata was given (even `{}`): the labels and annotations are exactly the template's
  // (plus ours), and on update the object's other labels and non-system annotations are dropped.
  bool exact = false;
};

// What the object should carry: with template.metadata exactly the template's labels and annotations,
// otherwise the resource's own (system keys excluded); either way the managed-by label our watch
// selects on and the binding annotations (DESIGN.md section 8: the object belongs to this
// InfisicalSecret, by UID). The caller adds its version (and digest) annotations.
ManagedMetadata desired_metadata(const core::InfisicalSecret& model,
                                 const std::optional<core::SecretTemplate>& tmpl);

// The labels and annotations an update writes: what others put on the object is kept (unless
// `desired.exact`, which keeps only existing system annotations), then `desired` is laid over it.
ManagedMetadata merged_metadata(const ManagedMetadata& desired,
                                const std::map<std::string, std::string>& labels,
                                const std::map<std::string, std::string>& annotations);

// metadata.ownerReferences of a target created with creationPolicy Owner: the InfisicalSecret as its
// controller, blocking owner deletion, so Kubernetes garbage-collects the object with it.
core::JsonValue owner_references(const core::InfisicalSecret& model, core::JsonAlloc& a);

}  // namespace ifo::syncer
