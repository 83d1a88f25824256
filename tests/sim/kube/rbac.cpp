// The RBAC authorizer over the stored rbac.authorization.k8s.io/v1 objects (see rbac.h).
#include "sim/kube/rbac.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>

#include "sim/kube/selector.h"

namespace ifo::kubesim {

namespace {

using core::JsonValue;

constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";
constexpr std::string_view kMastersGroup = "system:masters";
constexpr std::string_view kServiceAccountPrefix = "system:serviceaccount:";

struct Subject {
  std::string kind;  // User, Group, ServiceAccount
  std::string name;
  std::string ns;
};

struct Binding {
  std::string name;
  std::string ns;  // "" for a ClusterRoleBinding
  std::string role_kind;
  std::string role_name;
  std::vector<Subject> subjects;
};

struct BootstrapRole {
  std::string name;
  std::vector<PolicyRule> rules;
};

std::vector<std::string> strings_of(const JsonValue* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->IsArray()) return out;
  for (const auto& s : v->GetArray()) {
    if (s.IsString()) out.emplace_back(s.GetString(), s.GetStringLength());
  }
  return out;
}

bool has(const std::vector<std::string>& v, std::string_view s) { return std::find(v.begin(), v.end(), s) != v.end(); }

PolicyRule resource_rule(std::vector<std::string> groups, std::vector<std::string> resources,
                         std::vector<std::string> verbs) {
  PolicyRule r;
  r.api_groups = std::move(groups);
  r.resources = std::move(resources);
  r.verbs = std::move(verbs);
  return r;
}

PolicyRule url_rule(std::vector<std::string> urls, std::vector<std::string> verbs) {
  PolicyRule r;
  r.non_resource_urls = std::move(urls);
  r.verbs = std::move(verbs);
  return r;
}

// The part of kube-apiserver's bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy) that
// concerns every user: the ClusterRoles and their ClusterRoleBindings (named as the roles).
const std::vector<BootstrapRole>& bootstrap_roles() {
  static const std::vector<BootstrapRole> roles = {
      {"cluster-admin", {resource_rule({"*"}, {"*"}, {"*"}), url_rule({"*"}, {"*"})}},
      {"system:discovery",
       {url_rule({"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
                  "/version", "/version/"},
                 {"get"})}},
      {"system:basic-user",
       {resource_rule({"authentication.k8s.io"}, {"selfsubjectreviews"}, {"create"}),
        resource_rule({"authorization.k8s.io"}, {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}, {"create"})}},
      {"system:public-info-viewer", {url_rule({"/healthz", "/livez", "/readyz", "/version", "/version/"}, {"get"})}},
      {"system:service-account-issuer-discovery",
       {url_rule({"/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks",
                  "/openid/v1/jwks/"},
                 {"get"})}},
  };
  return roles;
}

const std::vector<Binding>& bootstrap_bindings() {
  static const std::vector<Binding> bindings = {
      {"cluster-admin", "", "ClusterRole", "cluster-admin", {{"Group", "system:masters", ""}}},
      {"system:discovery", "", "ClusterRole", "system:discovery", {{"Group", "system:authenticated", ""}}},
      {"system:basic-user", "", "ClusterRole", "system:basic-user", {{"Group", "system:authenticated", ""}}},
      {"system:public-info-viewer",
       "",
       "ClusterRole",
       "system:public-info-viewer",
       {{"Group", "system:authenticated", ""}, {"Group", "system:unauthenticated", ""}}},
      {"system:service-account-issuer-discovery",
       "",
       "ClusterRole",
       "system:service-account-issuer-discovery",
       {{"Group", "system:serviceaccounts", ""}}},
  };
  return bindings;
}

Binding parse_binding(const JsonValue& obj) {
  Binding b;
  if (const JsonValue* md = core::member(obj, "metadata"); md && md->IsObject()) {
    b.name = core::string_or(*md, "name", "");
    b.ns = core::string_or(*md, "namespace", "");
  }
  if (const JsonValue* ref = core::member(obj, "roleRef"); ref && ref->IsObject()) {
    b.role_kind = core::string_or(*ref, "kind", "");
    b.role_name = core::string_or(*ref, "name", "");
  }
  if (const JsonValue* subjects = core::member(obj, "subjects"); subjects && subjects->IsArray()) {
    for (const auto& s : subjects->GetArray()) {
      if (!s.IsObject()) continue;
      b.subjects.push_back(
          {core::string_or(s, "kind", ""), core::string_or(s, "name", ""), core::string_or(s, "namespace", "")});
    }
  }
  return b;
}

// appliesToUser.
bool applies_to(const UserInfo& user, const Subject& s, const std::string& binding_ns) {
  if (s.kind == "User") return user.username == s.name;
  if (s.kind == "Group") return has(user.groups, s.name);
  if (s.kind == "ServiceAccount") {
    const std::string& ns = s.ns.empty() ? binding_ns : s.ns;
    if (ns.empty()) return false;
    return user.username == fmt::format("{}{}:{}", kServiceAccountPrefix, ns, s.name);
  }
  return false;
}

// describeSubject.
std::string describe_subject(const Subject& s, const std::string& binding_ns) {
  if (s.kind == "ServiceAccount") return fmt::format("{} \"{}/{}\"", s.kind, s.name, s.ns.empty() ? binding_ns : s.ns);
  return fmt::format("{} \"{}\"", s.kind, s.name);
}

// clusterRoleBindingDescriber / roleBindingDescriber.
std::string describe_binding(const Binding& b, const Subject& s) {
  if (b.ns.empty())
    return fmt::format("ClusterRoleBinding \"{}\" of {} \"{}\" to {}", b.name, b.role_kind, b.role_name,
                       describe_subject(s, ""));
  return fmt::format("RoleBinding \"{}/{}\" of {} \"{}\" to {}", b.name, b.ns, b.role_kind, b.role_name,
                     describe_subject(s, b.ns));
}

// Go's utilerrors.NewAggregate(errs).Error(): one message as is, several de-duplicated in brackets.
std::string aggregate(const std::vector<std::string>& errors) {
  if (errors.empty()) return "";
  if (errors.size() == 1) return errors[0];
  std::vector<std::string> seen;
  for (const auto& e : errors) {
    if (!has(seen, e)) seen.push_back(e);
  }
  if (seen.size() == 1) return seen[0];
  std::string out = "[";
  for (size_t i = 0; i < seen.size(); ++i) out += (i ? ", " : "") + seen[i];
  return out + "]";
}

using Visitor = std::function<bool(const std::string* source, const PolicyRule* rule, const std::string* error)>;

class Resolver {
 public:
  explicit Resolver(const Store& store) : store_(store) {}

  // DefaultRuleResolver.VisitRulesFor: ClusterRoleBindings (the bootstrap ones first), then the
  // RoleBindings of `ns`. The visitor returns false to stop.
  void visit(const UserInfo& user, const std::string& ns, const Visitor& visitor) const {
    std::vector<Binding> cluster_bindings = bootstrap_bindings();
    for (const auto& o : store_.list(kRbacGroup, "clusterrolebindings", "").items)
      cluster_bindings.push_back(parse_binding(o->value()));
    if (!visit_bindings(user, cluster_bindings, "", visitor)) return;
    if (ns.empty()) return;
    std::vector<Binding> role_bindings;
    for (const auto& o : store_.list(kRbacGroup, "rolebindings", ns).items) role_bindings.push_back(parse_binding(o->value()));
    visit_bindings(user, role_bindings, ns, visitor);
  }

 private:
  bool visit_bindings(const UserInfo& user, const std::vector<Binding>& bindings, const std::string& ns,
                      const Visitor& visitor) const {
    for (const auto& b : bindings) {
      const Subject* subject = nullptr;
      for (const auto& s : b.subjects) {
        if (applies_to(user, s, ns)) {
          subject = &s;
          break;
        }
      }
      if (subject == nullptr) continue;
      std::string error;
      std::vector<PolicyRule> rules = role_rules(b.role_kind, b.role_name, ns, error);
      if (!error.empty()) {
        if (!visitor(nullptr, nullptr, &error)) return false;
        continue;
      }
      const std::string source = describe_binding(b, *subject);
      for (const auto& r : rules) {
        if (!visitor(&source, &r, nullptr)) return false;
      }
    }
    return true;
  }

  // GetRoleReferenceRules.
  std::vector<PolicyRule> role_rules(const std::string& kind, const std::string& name, const std::string& ns,
                                     std::string& error) const {
    if (kind == "Role") {
      ObjectPtr role = store_.get(kRbacGroup, "roles", ns, name);
      if (!role) {
        error = fmt::format("role.rbac.authorization.k8s.io \"{}\" not found", name);
        return {};
      }
      return parse_policy_rules(core::member(role->value(), "rules"));
    }
    if (kind == "ClusterRole") return cluster_role_rules(name, error);
    error = fmt::format("unsupported role reference kind: \"{}\"", kind);
    return {};
  }

  std::vector<PolicyRule> cluster_role_rules(const std::string& name, std::string& error) const {
    ObjectPtr role = store_.get(kRbacGroup, "clusterroles", "", name);
    if (!role) {
      for (const auto& b : bootstrap_roles()) {
        if (b.name == name) return b.rules;
      }
      error = fmt::format("clusterrole.rbac.authorization.k8s.io \"{}\" not found", name);
      return {};
    }
    const JsonValue* agg = core::at_path(role->value(), {"aggregationRule", "clusterRoleSelectors"});
    if (agg == nullptr || !agg->IsArray() || agg->Empty()) return parse_policy_rules(core::member(role->value(), "rules"));
    // What the clusterrole-aggregation controller writes: the rules of every other ClusterRole a
    // selector matches, in name order, without duplicates.
    std::vector<LabelSelector> selectors;
    for (const auto& s : agg->GetArray()) {
      try {
        if (s.IsObject()) selectors.push_back(LabelSelector::from_json(s));
      } catch (const StatusError&) {
      }
    }
    std::vector<PolicyRule> rules;
    for (const auto& o : store_.list(kRbacGroup, "clusterroles", "").items) {
      const JsonValue* md = core::member(o->value(), "metadata");
      if (md == nullptr || core::string_or(*md, "name", "") == name) continue;
      const JsonValue* labels = core::member(*md, "labels");
      bool selected = std::any_of(selectors.begin(), selectors.end(),
                                  [&](const LabelSelector& sel) { return !sel.empty() && sel.matches(labels); });
      if (!selected) continue;
      for (auto& r : parse_policy_rules(core::member(o->value(), "rules"))) {
        if (std::find(rules.begin(), rules.end(), r) == rules.end()) rules.push_back(std::move(r));
      }
    }
    return rules;
  }

  const Store& store_;
};

}  // namespace

std::vector<PolicyRule> parse_policy_rules(const JsonValue* rules) {
  std::vector<PolicyRule> out;
  if (rules == nullptr || !rules->IsArray()) return out;
  for (const auto& r : rules->GetArray()) {
    if (!r.IsObject()) continue;
    PolicyRule p;
    p.verbs = strings_of(core::member(r, "verbs"));
    p.api_groups = strings_of(core::member(r, "apiGroups"));
    p.resources = strings_of(core::member(r, "resources"));
    p.resource_names = strings_of(core::member(r, "resourceNames"));
    p.non_resource_urls = strings_of(core::member(r, "nonResourceURLs"));
    out.push_back(std::move(p));
  }
  return out;
}

bool rule_allows(const RequestAttributes& attrs, const PolicyRule& rule) {
  const bool verb = has(rule.verbs, "*") || has(rule.verbs, attrs.verb);
  if (!verb) return false;
  if (!attrs.resource_request) {
    for (const auto& u : rule.non_resource_urls) {
      if (u == "*" || u == attrs.path) return true;
      if (!u.empty() && u.back() == '*') {
        std::string prefix = u;
        while (!prefix.empty() && prefix.back() == '*') prefix.pop_back();  // strings.TrimRight(u, "*")
        if (attrs.path.compare(0, prefix.size(), prefix) == 0) return true;
      }
    }
    return false;
  }
  if (!has(rule.api_groups, "*") && !has(rule.api_groups, attrs.api_group)) return false;
  const std::string combined = attrs.subresource.empty() ? attrs.resource : attrs.resource + "/" + attrs.subresource;
  bool resource = false;
  for (const auto& r : rule.resources) {
    if (r == "*" || r == combined) {
      resource = true;
      break;
    }
    if (attrs.subresource.empty()) continue;
    if (r.size() == attrs.subresource.size() + 2 && r.compare(0, 2, "*/") == 0 &&
        r.compare(2, std::string::npos, attrs.subresource) == 0) {
      resource = true;
      break;
    }
  }
  if (!resource) return false;
  return rule.resource_names.empty() || has(rule.resource_names, attrs.name);
}

AccessDecision RbacAuthorizer::authorize(const RequestAttributes& attrs) const {
  AccessDecision d;
  if (has(attrs.user.groups, kMastersGroup)) {
    d.allowed = true;  // the privileged-group authorizer answers before RBAC, without a reason
    return d;
  }
  std::vector<std::string> errors;
  Resolver(store_).visit(attrs.user, attrs.ns, [&](const std::string* source, const PolicyRule* rule,
                                                   const std::string* error) {
    if (error != nullptr) {
      errors.push_back(*error);
      return true;
    }
    if (rule != nullptr && rule_allows(attrs, *rule)) {
      d.allowed = true;
      d.reason = "RBAC: allowed by " + *source;
      return false;
    }
    return true;
  });
  if (!d.allowed && !errors.empty()) d.reason = "RBAC: " + aggregate(errors);
  return d;
}

ResolvedRules RbacAuthorizer::rules_for(const UserInfo& user, const std::string& ns) const {
  ResolvedRules out;
  std::vector<std::string> errors;
  Resolver(store_).visit(user, ns, [&](const std::string*, const PolicyRule* rule, const std::string* error) {
    if (error != nullptr) errors.push_back(*error);
    if (rule != nullptr) out.rules.push_back(*rule);
    return true;
  });
  out.error = aggregate(errors);
  return out;
}

}  // namespace ifo::kubesim
