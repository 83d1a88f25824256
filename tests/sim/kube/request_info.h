// What an API request asks to do, as kube-apiserver's authorization filter sees it: the attributes
// (k8s.io/apiserver request.RequestInfoFactory + authorizer.Attributes), an authorizer's decision, and
// the 403 the server writes when the answer is no (responsewriters.Forbidden).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "sim/kube/store.h"

namespace ifo::kubesim {

struct RequestAttributes {
  UserInfo user;
  // get list watch create update patch delete deletecollection; non-resource: the method in lower case
  std::string verb;
  bool resource_request = false;
  std::string path;  // the URL path (what non-resource rules match)
  std::string api_group, api_version, resource, subresource, ns, name;
};

// RequestInfoFactory.NewRequestInfo for `method path?watch=W&fieldSelector=F` (both as decoded query
// values, "" when absent):
//   - /api/V/... and /apis/G/V/... with a resource are resource requests; anything shorter (/api, /api/v1,
//     /apis/G/V) and every other path is a non-resource request whose verb is the method in lower case.
//   - /namespaces/NS/RESOURCE/... sets the namespace (also /namespaces/NS and /namespaces/NS/status|finalize,
//     whose resource is namespaces and name NS); /watch/... makes the verb watch.
//   - GET without a name: watch when W is present and not 0/false, list otherwise; a list or watch with
//     fieldSelector metadata.name=N is about name N. DELETE without a name: deletecollection.
// `user` is left empty.
RequestAttributes request_attributes(std::string_view method, std::string_view path, std::string_view watch,
                                     std::string_view field_selector);

// ?watch=VALUE asks for a watch unless VALUE is "", "0" or "false" (any case), as ListOptions decodes it.
bool watch_requested(std::string_view value);

struct AccessDecision {
  bool allowed = false;
  bool denied = false;  // an explicit deny (rather than no opinion)
  std::string reason;   // "" as RBAC leaves it; appended to the 403 message when set
};

// Decides one authenticated request; called on HTTP worker threads, concurrently.
using Authorizer = std::function<AccessDecision(const RequestAttributes&)>;

// The 403 kube-apiserver writes for a refused request, e.g. `secrets "db" is forbidden: User "alice" cannot
// get resource "secrets" in API group "" in the namespace "team-a"`; without a name `secrets is forbidden:
// ...`, without a namespace `... at the cluster scope`, for a path `forbidden: User "alice" cannot get path
// "/metrics"`; ": REASON" appended when the authorizer gave one; details {name, group, kind: resource}.
StatusError request_forbidden(const RequestAttributes& attrs, std::string_view reason);

}  // namespace ifo::kubesim
