// Describes a REST resource (group, version, plural name, scope, kind) and builds its URL paths.
#pragma once

#include <string>
#include <string_view>

#include "core/constants.h"

namespace ifo::kube {

// A resource the client can address. Custom resources are described the same way as built-ins.
// Members are views: descriptors are meant to be constants (below) or to outlive the calls using them.
struct Resource {
  std::string_view group;     // "" for the core group
  std::string_view version;   // "v1"
  std::string_view resource;  // plural, lower case: "secrets"
  bool namespaced = true;
  std::string_view kind;      // "Secret"

  // "v1" for the core group, "apps/v1" otherwise.
  std::string api_version() const;
  // "/api/v1" or "/apis/apps/v1".
  std::string group_version_path() const;
  // The collection path: ".../namespaces/NS/secrets"; namespace_ empty on a namespaced resource
  // addresses all namespaces (list/watch only). Ignored for cluster-scoped resources.
  std::string collection_path(std::string_view namespace_) const;
  // ".../namespaces/NS/secrets/NAME[/SUBRESOURCE]", name and subresource percent-encoded.
  std::string object_path(std::string_view namespace_, std::string_view name, std::string_view subresource = {}) const;
};

inline constexpr Resource kNamespaces{"", "v1", "namespaces", false, "Namespace"};
inline constexpr Resource kSecrets{"", "v1", "secrets", true, "Secret"};
inline constexpr Resource kConfigMaps{"", "v1", "configmaps", true, "ConfigMap"};
inline constexpr Resource kServiceAccounts{"", "v1", "serviceaccounts", true, "ServiceAccount"};
inline constexpr Resource kEvents{"", "v1", "events", true, "Event"};
inline constexpr Resource kDeployments{"apps", "v1", "deployments", true, "Deployment"};
inline constexpr Resource kStatefulSets{"apps", "v1", "statefulsets", true, "StatefulSet"};
inline constexpr Resource kDaemonSets{"apps", "v1", "daemonsets", true, "DaemonSet"};
inline constexpr Resource kLeases{"coordination.k8s.io", "v1", "leases", true, "Lease"};
inline constexpr Resource kInfisicalSecrets{core::kGroup, core::kVersion, core::kResource, true, core::kKind};
inline constexpr Resource kInfisicalReferenceGrants{core::kGroup, core::kVersion, core::kGrantResource, true,
                                                    core::kGrantKind};
inline constexpr Resource kSubjectAccessReviews{"authorization.k8s.io", "v1", "subjectaccessreviews", false,
                                                "SubjectAccessReview"};
inline constexpr Resource kTokenReviews{"authentication.k8s.io", "v1", "tokenreviews", false, "TokenReview"};
inline constexpr Resource kMutatingWebhookConfigurations{"admissionregistration.k8s.io", "v1",
                                                         "mutatingwebhookconfigurations", false,
                                                         "MutatingWebhookConfiguration"};
inline constexpr Resource kValidatingWebhookConfigurations{"admissionregistration.k8s.io", "v1",
                                                           "validatingwebhookconfigurations", false,
                                                           "ValidatingWebhookConfiguration"};
inline constexpr Resource kCustomResourceDefinitions{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                                     false, "CustomResourceDefinition"};

// "namespace/name", or "name" for cluster-scoped objects (client-go's MetaNamespaceKeyFunc).
std::string object_key(std::string_view namespace_, std::string_view name);
// Splits a key made by object_key.
std::pair<std::string, std::string> split_key(std::string_view key);

}  // namespace ifo::kube
