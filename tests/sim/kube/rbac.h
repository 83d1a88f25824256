// kube-sim's RBAC authorizer (kube-sim --authorization-mode=RBAC): requests are authorized from the
// rbac.authorization.k8s.io/v1 Roles, ClusterRoles, RoleBindings and ClusterRoleBindings in the store,
// as kube-apiserver's RBAC authorizer does (plugin/pkg/auth/authorizer/rbac, pkg/registry/rbac/validation):
//   - Subjects: User (the username), Group (one of the user's groups), ServiceAccount (the user
//     `system:serviceaccount:NS:NAME`; a subject without namespace takes the RoleBinding's namespace and
//     never matches in a ClusterRoleBinding).
//   - ClusterRoleBindings apply everywhere; RoleBindings only to requests in their namespace (a RoleBinding
//     to a ClusterRole grants the ClusterRole's rules in the binding's namespace). A request at the cluster
//     scope (namespace "") sees ClusterRoleBindings only.
//   - A rule allows when its verbs (or `*`) hold the verb, its apiGroups (or `*`) the group, its resources
//     `*`, `RESOURCE`, `RESOURCE/SUBRESOURCE` or `*/SUBRESOURCE`, and resourceNames is empty or holds the
//     request's name (a create, a list or a watch has no name, so a rule with resourceNames does not allow
//     it, except a list or watch pinned by fieldSelector metadata.name=N, which is about N, request_info.h);
//     non-resource requests need nonResourceURLs holding the path, `*`, or a `PREFIX*` prefix of it.
//   - ClusterRoles with an aggregationRule have the rules of the ClusterRoles its selectors match (what the
//     aggregation controller writes into .rules), computed when read.
//   - A binding whose Role/ClusterRole is missing contributes nothing; when the request is refused, the
//     errors are the reason (`RBAC: role.rbac.authorization.k8s.io "x" not found`), as on the real server.
//     An allowed decision's reason names the grant:
//     `RBAC: allowed by RoleBinding "b/ns" of ClusterRole "r" to ServiceAccount "sa/ns"`.
//   - Group system:masters is allowed everything first (the apiserver's privileged-group authorizer).
//   - The bootstrap policy every cluster has is built in (not stored, so `kubectl get clusterroles` does
//     not list it): cluster-admin bound to system:masters; system:discovery, system:basic-user and
//     system:public-info-viewer bound to system:authenticated (public-info-viewer also to
//     system:unauthenticated); system:service-account-issuer-discovery bound to system:serviceaccounts.
// rules_for() is the rule resolution behind SelfSubjectRulesReview (RBACAuthorizer.RulesFor).
// Not done: the escalation check on writing Roles/bindings (a user may grant what they do not hold),
// validation of RBAC objects (empty verbs, roleRef immutability).
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "sim/kube/request_info.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

// rbacv1.PolicyRule.
struct PolicyRule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;
  std::vector<std::string> resource_names;
  std::vector<std::string> non_resource_urls;
  friend bool operator==(const PolicyRule&, const PolicyRule&) = default;
};

// The rules of a Role/ClusterRole object's `rules` array (null or not an array: none).
std::vector<PolicyRule> parse_policy_rules(const core::JsonValue* rules);

// rbac.RuleAllows: does `rule` allow the request?
bool rule_allows(const RequestAttributes& attrs, const PolicyRule& rule);

struct ResolvedRules {
  std::vector<PolicyRule> rules;  // in visiting order: bootstrap, ClusterRoleBindings, RoleBindings of ns
  std::string error;              // the aggregated errors ("" when none)
};

class RbacAuthorizer {
 public:
  explicit RbacAuthorizer(const Store& store) : store_(store) {}

  // system:masters, then RBAC over the bootstrap policy and the stored objects. Called concurrently.
  AccessDecision authorize(const RequestAttributes& attrs) const;
  // Every rule that applies to `user` in namespace `ns` ("" : cluster bindings only).
  ResolvedRules rules_for(const UserInfo& user, const std::string& ns) const;

 private:
  const Store& store_;
};

}  // namespace ifo::kubesim
