// The one protobuf request kube-sim understands: kubectl auth can-i posts its SelfSubjectAccessReview
// as application/vnd.kubernetes.protobuf (every other protobuf body still gets 415).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ifo::kubesim {

// The JSON form of a protobuf-encoded authorization.k8s.io/v1 SelfSubjectAccessReview ("k8s\0" +
// runtime.Unknown{typeMeta, raw}): its spec.resourceAttributes (namespace, verb, group, version,
// resource, subresource, name) or spec.nonResourceAttributes (path, verb). nullopt when the body is not
// such a message.
std::optional<std::string> self_subject_access_review_json(std::string_view body);

}  // namespace ifo::kubesim
