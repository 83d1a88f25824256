// The few protobuf requests kube-sim understands: the bodies kubectl's typed clients post as
// application/vnd.kubernetes.protobuf for `kubectl auth can-i` (SelfSubjectAccessReview), `kubectl auth
// can-i --list` (SelfSubjectRulesReview), `kubectl auth whoami` (SelfSubjectReview) and `kubectl create
// token` (TokenRequest), and the v1.Secret bodies Helm's release storage writes (create and update of
// secrets). Every other protobuf body still gets 415.
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

// The JSON form of the protobuf body of a POST to `path` when it is one of the messages above, posted
// where that kind is created (.../selfsubjectaccessreviews, .../selfsubjectrulesreviews with
// spec.namespace, .../selfsubjectreviews, .../serviceaccounts/NAME/token with spec.audiences,
// expirationSeconds and boundObjectRef), or a v1.Secret POSTed to .../namespaces/NS/secrets or PUT to
// .../secrets/NAME (metadata name, generateName, namespace, uid, resourceVersion, labels, annotations,
// finalizers; data, stringData, type, immutable), or a v1.Namespace POSTed to /api/v1/namespaces
// (`kubectl create namespace`; metadata only); nullopt otherwise.
std::optional<std::string> protobuf_request_json(std::string_view path, std::string_view body);

// The JSON form of a protobuf DeleteOptions body (a typed client's DELETE: helm uninstall purging its
// release Secrets); nullopt when the body is not one.
std::optional<std::string> protobuf_delete_json(std::string_view body);

}  // namespace ifo::kubesim
