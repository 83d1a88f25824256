// kube-sim with --authorize-requests: every request is authorized against the access rule table as a
// real API server with RBAC authorizes it, and refused with kube-apiserver's own 403; without the
// option nothing is refused. With --authorization-mode=RBAC: authorized from the stored Roles,
// ClusterRoles and their bindings as kube-apiserver's RBAC authorizer does, and SelfSubjectRulesReview
// (kubectl auth can-i --list) lists the rules.
#include <doctest/doctest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/json.h"
#include "net/http_client.h"
#include "sim/kube/modules.h"
#include "sim/kube/server.h"

using namespace ifo;
using namespace ifo::kubesim;

namespace {

// A tenant who may do everything with Secrets and InfisicalSecrets in team-a only, and a
// service account that may only get Secrets there.
constexpr const char* kRules = R"(
allow user:alice * secrets team-a *
allow user:alice * infisicalsecrets.secrets.infisical.com team-a *
deny  user:alice * configmaps team-a *
allow user:system:serviceaccount:team-a:tenant get secrets team-a *
)";

constexpr const char* kCrd = R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
  "metadata":{"name":"infisicalsecrets.secrets.infisical.com"},
  "spec":{"group":"secrets.infisical.com","scope":"Namespaced",
    "names":{"kind":"InfisicalSecret","plural":"infisicalsecrets","singular":"infisicalsecret","listKind":"InfisicalSecretList"},
    "versions":[{"name":"v1alpha1","served":true,"storage":true,"subresources":{"status":{}},
      "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}})";

constexpr const char* kAdmin = "admin-token";  // user "ops", not in system:masters: the admin token alone
constexpr const char* kAlice = "alice-token";
constexpr const char* kCarol = "carol-token";  // group system:masters

Options sim_options() {
  Options o;
  o.tokens = {StaticToken{kAdmin, UserInfo{"ops", "ops", {}, {}}},
              StaticToken{kAlice, UserInfo{"alice", "alice", {}, {}}},
              StaticToken{kCarol, UserInfo{"carol", "carol", {"system:masters"}, {}}}};
  o.admin_token = kAdmin;
  return o;
}

struct Cluster {
  // authorize: --authorize-requests over kRules; rbac: --authorization-mode=RBAC (no table).
  explicit Cluster(bool authorize, bool rbac = false) : sim(sim_options()) {
    ModulesOptions mo;
    if (rbac) {
      auto flag = parse_module_flag("--authorization-mode", "RBAC", mo);
      REQUIRE(flag.ok());
      REQUIRE(*flag);
    } else {
      auto rules = parse_access_rules(kRules);
      REQUIRE(rules.ok());
      mo.auth.rules = *rules;
      mo.auth.authorize_requests = authorize;
    }
    modules = install_modules(sim, std::move(mo));
    sim.start();
    client = std::make_unique<net::HttpClient>(net::TlsOptions{sim.ca_pem(), "", "", false});
    for (const char* ns : {"team-a", "team-b"}) {
      REQUIRE(
          call("POST", "/api/v1/namespaces", std::string(R"({"metadata":{"name":")") + ns + R"("}})", kAdmin)
              .status == 201);
      REQUIRE(call("POST", std::string("/api/v1/namespaces/") + ns + "/secrets",
                   R"({"metadata":{"name":"db"},"stringData":{"password":"x"}})", kAdmin)
                  .status == 201);
    }
    REQUIRE(
        call("POST", "/api/v1/namespaces/team-a/serviceaccounts", R"({"metadata":{"name":"tenant"}})", kAdmin)
            .status == 201);
    REQUIRE(call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kCrd, kAdmin).status ==
            201);
  }
  net::Response call(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& token) {
    net::Request r;
    r.method = method;
    r.url = sim.url() + path;
    r.body = body;
    if (!body.empty())
      r.headers.push_back(
          {"Content-Type", method == "PATCH" ? "application/merge-patch+json" : "application/json"});
    r.headers.push_back({"Authorization", "Bearer " + token});
    return client->perform(r);
  }
  net::Response get(const std::string& path, const std::string& token) {
    return call("GET", path, "", token);
  }

  KubeSim sim;
  std::unique_ptr<Modules> modules;
  std::unique_ptr<net::HttpClient> client;
};

std::string str_at(const core::JsonValue& v, std::initializer_list<std::string_view> path) {
  const core::JsonValue* p = core::at_path(v, path);
  return p && p->IsString() ? p->GetString() : "";
}

// Checks a 403 Status as kube-apiserver's authorization filter writes it.
void check_forbidden(const net::Response& r, const std::string& message, const std::string& name,
                     const std::string& group, const std::string& kind) {
  CHECK(r.status == 403);
  auto d = core::parse_json(r.body);
  REQUIRE_MESSAGE(d.ok(), r.body);
  const core::JsonValue& s = **d;
  CHECK(str_at(s, {"kind"}) == "Status");
  CHECK(str_at(s, {"status"}) == "Failure");
  CHECK(str_at(s, {"reason"}) == "Forbidden");
  CHECK(str_at(s, {"message"}) == message);
  CHECK(core::get_int(s, "code").value_or(0) == 403);
  CHECK(str_at(s, {"details", "name"}) == name);
  CHECK(str_at(s, {"details", "group"}) == group);
  CHECK(str_at(s, {"details", "kind"}) == kind);
  CHECK((group.empty() == (core::at_path(s, {"details", "group"}) == nullptr)));
}

bool review_allowed(Cluster& c, const std::string& token, const std::string& attributes) {
  auto r = c.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                  R"({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":)" +
                      attributes + "}",
                  token);
  REQUIRE_MESSAGE(r.status == 201, r.body);
  auto d = core::parse_json(r.body);
  REQUIRE(d.ok());
  CHECK(str_at(**d, {"kind"}) == "SelfSubjectAccessReview");
  const core::JsonValue* allowed = core::at_path(**d, {"status", "allowed"});
  REQUIRE(allowed != nullptr);
  return allowed->GetBool();
}

// A protobuf length-delimited field (every field below is one; lengths stay under 128).
std::string pb_field(int number, const std::string& payload) {
  return std::string(1, static_cast<char>(number << 3 | 2)) + static_cast<char>(payload.size()) + payload;
}

// The body kubectl auth can-i posts: "k8s\0" + runtime.Unknown{typeMeta, raw: SelfSubjectAccessReview}.
std::string protobuf_review(const std::string& verb, const std::string& resource, const std::string& ns) {
  std::string attributes = pb_field(1, ns) + pb_field(2, verb) + pb_field(3, "") + pb_field(5, resource);
  std::string review = pb_field(1, "") + pb_field(2, pb_field(1, attributes)) + pb_field(3, "");
  std::string type_meta = pb_field(1, "authorization.k8s.io/v1") + pb_field(2, "SelfSubjectAccessReview");
  return std::string("k8s\0", 4) + pb_field(1, type_meta) + pb_field(2, review) + pb_field(3, "") +
         pb_field(4, "");
}

}  // namespace

TEST_CASE("request attributes are kube-apiserver's RequestInfo") {
  struct Case {
    const char* method;
    const char* path;
    const char* watch;
    const char* field_selector;
    const char* verb;
    bool resource_request;
    const char* group;
    const char* resource;
    const char* subresource;
    const char* ns;
    const char* name;
  };
  const Case cases[] = {
      {"GET", "/api/v1/namespaces/team-a/secrets/db", "", "", "get", true, "", "secrets", "", "team-a", "db"},
      {"GET", "/api/v1/namespaces/team-a/secrets", "", "", "list", true, "", "secrets", "", "team-a", ""},
      {"GET", "/api/v1/namespaces/team-a/secrets", "true", "", "watch", true, "", "secrets", "", "team-a",
       ""},
      {"GET", "/api/v1/namespaces/team-a/secrets", "false", "", "list", true, "", "secrets", "", "team-a",
       ""},
      {"GET", "/api/v1/namespaces/team-a/secrets", "1", "metadata.name=db", "watch", true, "", "secrets", "",
       "team-a", "db"},
      {"GET", "/api/v1/watch/namespaces/team-a/secrets", "", "", "watch", true, "", "secrets", "", "team-a",
       ""},
      {"GET", "/api/v1/secrets", "", "type=Opaque,metadata.name==db", "list", true, "", "secrets", "", "",
       "db"},
      {"POST", "/api/v1/namespaces/x/serviceaccounts/default/token", "", "", "create", true, "",
       "serviceaccounts", "token", "x", "default"},
      {"PUT", "/apis/apps/v1/namespaces/x/deployments/web/status", "", "", "update", true, "apps",
       "deployments", "status", "x", "web"},
      {"PATCH", "/apis/secrets.infisical.com/v1alpha1/namespaces/x/infisicalsecrets/s", "", "", "patch", true,
       "secrets.infisical.com", "infisicalsecrets", "", "x", "s"},
      {"DELETE", "/api/v1/namespaces/x/configmaps", "", "", "deletecollection", true, "", "configmaps", "",
       "x", ""},
      {"DELETE", "/api/v1/namespaces/x/configmaps/c", "", "", "delete", true, "", "configmaps", "", "x", "c"},
      {"GET", "/api/v1/namespaces/team-a", "", "", "get", true, "", "namespaces", "", "team-a", "team-a"},
      {"PUT", "/api/v1/namespaces/team-a/finalize", "", "", "update", true, "", "namespaces", "finalize",
       "team-a", "team-a"},
      {"POST", "/api/v1/namespaces", "", "", "create", true, "", "namespaces", "", "", ""},
      {"GET", "/apis/apps/v1", "", "", "get", false, "", "", "", "", ""},
      {"GET", "/api", "", "", "get", false, "", "", "", "", ""},
      {"POST", "/metrics", "", "", "post", false, "", "", "", "", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.path);
    RequestAttributes a = request_attributes(c.method, c.path, c.watch, c.field_selector);
    CHECK(a.verb == c.verb);
    CHECK(a.resource_request == c.resource_request);
    CHECK(a.api_group == c.group);
    CHECK(a.resource == c.resource);
    CHECK(a.subresource == c.subresource);
    CHECK(a.ns == c.ns);
    CHECK(a.name == c.name);
    CHECK(a.path == c.path);
  }
}

TEST_CASE("with --authorize-requests a tenant may do what the rule table allows, in its own namespace only") {
  Cluster c(true);
  // Allowed: Secrets and InfisicalSecrets in team-a, every verb.
  CHECK(c.call("POST", "/api/v1/namespaces/team-a/secrets",
               R"({"metadata":{"name":"app"},"stringData":{"k":"v"}})", kAlice)
            .status == 201);
  CHECK(c.get("/api/v1/namespaces/team-a/secrets/app", kAlice).status == 200);
  CHECK(c.get("/api/v1/namespaces/team-a/secrets", kAlice).status == 200);
  CHECK(
      c.call("PATCH", "/api/v1/namespaces/team-a/secrets/app", R"({"metadata":{"labels":{"a":"b"}}})", kAlice)
          .status == 200);
  CHECK(c.call("DELETE", "/api/v1/namespaces/team-a/secrets/app", "", kAlice).status == 200);
  CHECK(
      c.call(
           "POST", "/apis/secrets.infisical.com/v1alpha1/namespaces/team-a/infisicalsecrets",
           R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","metadata":{"name":"s"},"spec":{}})",
           kAlice)
          .status == 201);
  CHECK(c.get("/apis/secrets.infisical.com/v1alpha1/namespaces/team-a/infisicalsecrets", kAlice).status ==
        200);

  // Another namespace.
  check_forbidden(
      c.get("/api/v1/namespaces/team-b/secrets/db", kAlice),
      R"(secrets "db" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team-b")",
      "db", "", "secrets");
  check_forbidden(
      c.get("/api/v1/namespaces/team-b/secrets", kAlice),
      R"(secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "team-b")",
      "", "", "secrets");
  check_forbidden(
      c.get("/apis/secrets.infisical.com/v1alpha1/namespaces/team-b/infisicalsecrets", kAlice),
      R"(infisicalsecrets.secrets.infisical.com is forbidden: User "alice" cannot list resource "infisicalsecrets" in API group "secrets.infisical.com" in the namespace "team-b")",
      "", "secrets.infisical.com", "infisicalsecrets");
  // A watch of one object (kubectl get -w NAME) is about that name.
  check_forbidden(
      c.get("/api/v1/namespaces/team-b/secrets?fieldSelector=metadata.name%3Ddb&watch=true", kAlice),
      R"(secrets "db" is forbidden: User "alice" cannot watch resource "secrets" in API group "" in the namespace "team-b")",
      "db", "", "secrets");
  // The cluster scope (every namespace) is not the tenant's namespace.
  check_forbidden(
      c.get("/api/v1/secrets", kAlice),
      R"(secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" at the cluster scope)",
      "", "", "secrets");
  // Subresources are resources of their own.
  check_forbidden(
      c.call("POST", "/api/v1/namespaces/team-a/serviceaccounts/tenant/token", R"({"spec":{}})", kAlice),
      R"(serviceaccounts "tenant" is forbidden: User "alice" cannot create resource "serviceaccounts/token" in API group "" in the namespace "team-a")",
      "tenant", "", "serviceaccounts");
  check_forbidden(
      c.call("PATCH", "/apis/secrets.infisical.com/v1alpha1/namespaces/team-a/infisicalsecrets/s/status",
             R"({"status":{"x":1}})", kAlice),
      R"(infisicalsecrets.secrets.infisical.com "s" is forbidden: User "alice" cannot patch resource "infisicalsecrets/status" in API group "secrets.infisical.com" in the namespace "team-a")",
      "s", "secrets.infisical.com", "infisicalsecrets");
  // Its own namespace object is not a Secret; a resource that does not exist is refused, not 404.
  check_forbidden(
      c.get("/api/v1/namespaces/team-a", kAlice),
      R"(namespaces "team-a" is forbidden: User "alice" cannot get resource "namespaces" in API group "" in the namespace "team-a")",
      "team-a", "", "namespaces");
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/nosuchthings", kAlice),
      R"(nosuchthings is forbidden: User "alice" cannot list resource "nosuchthings" in API group "" in the namespace "team-a")",
      "", "", "nosuchthings");
  // An explicit deny rule's reason follows the message, as an authorizer's reason does.
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/configmaps", kAlice),
      R"(configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "team-a": kube-sim access rule on line 4 denies it)",
      "", "", "configmaps");
  // Nothing was written by the refused requests.
  CHECK(c.get("/apis/secrets.infisical.com/v1alpha1/namespaces/team-a/infisicalsecrets/s", kAdmin)
            .body.find(R"("x":1)") == std::string::npos);
}

TEST_CASE("with --authorize-requests discovery, version and self reviews are open to every user") {
  Cluster c(true);
  for (const char* path :
       {"/api", "/api/v1", "/apis", "/apis/apps/v1", "/apis/secrets.infisical.com/v1alpha1", "/version",
        "/openapi/v3", "/openapi/v3/api/v1"}) {
    CAPTURE(path);
    CHECK(c.get(path, kAlice).status == 200);
  }
  // kubectl auth can-i: a SelfSubjectAccessReview for the requesting user, from the same table.
  CHECK(review_allowed(
      c, kAlice, R"({"resourceAttributes":{"verb":"create","resource":"secrets","namespace":"team-a"}})"));
  CHECK_FALSE(review_allowed(
      c, kAlice, R"({"resourceAttributes":{"verb":"get","resource":"secrets","namespace":"team-b"}})"));
  CHECK_FALSE(review_allowed(
      c, kAlice,
      R"({"resourceAttributes":{"verb":"create","resource":"serviceaccounts","subresource":"token","namespace":"team-a"}})"));
  CHECK(review_allowed(c, kAlice, R"({"nonResourceAttributes":{"verb":"get","path":"/apis"}})"));
  CHECK(review_allowed(c, kCarol, R"({"resourceAttributes":{"verb":"delete","resource":"nodes"}})"));
  // kubectl auth can-i sends its review as protobuf.
  for (auto [ns, allowed] : {std::pair{"team-a", true}, std::pair{"team-b", false}}) {
    CAPTURE(ns);
    net::Request pr;
    pr.method = "POST";
    pr.url = c.sim.url() + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    pr.body = protobuf_review("get", "secrets", ns);
    pr.headers = {{"Content-Type", "application/vnd.kubernetes.protobuf"},
                  {"Authorization", std::string("Bearer ") + kAlice}};
    auto r = c.client->perform(pr);
    CHECK(r.status == 201);
    CHECK(r.body.find(std::string(R"("status":{"allowed":)") + (allowed ? "true" : "false")) !=
          std::string::npos);
    CHECK(r.body.find(std::string(R"("namespace":")") + ns +
                      R"(","verb":"get","group":"","resource":"secrets")") != std::string::npos);
  }
  // A denial without a matching rule carries no reason, as RBAC's (kubectl prints a bare "no").
  auto r = c.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                  R"({"spec":{"resourceAttributes":{"verb":"get","resource":"pods","namespace":"team-a"}}})",
                  kAlice);
  CHECK(r.status == 201);
  CHECK(r.body.find(R"("status":{"allowed":false})") != std::string::npos);
  // Other paths need a rule.
  check_forbidden(
      c.call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"mine"}})", kAlice),
      R"(namespaces is forbidden: User "alice" cannot create resource "namespaces" in API group "" at the cluster scope)",
      "", "", "namespaces");
}

TEST_CASE(
    "with --authorize-requests the admin token and system:masters may do everything; service accounts are "
    "users") {
  Cluster c(true);
  for (const char* token : {kAdmin, kCarol}) {
    CAPTURE(token);
    CHECK(c.get("/api/v1/secrets", token).status == 200);
    CHECK(c.get("/api/v1/namespaces/team-b/secrets/db", token).status == 200);
    CHECK(
        c.call("POST", "/api/v1/namespaces/team-b/configmaps", R"({"metadata":{"generateName":"c-"}})", token)
            .status == 201);
  }
  CHECK(c.get("/sim/counters", kAdmin).status == 200);

  auto tr =
      c.call("POST", "/api/v1/namespaces/team-a/serviceaccounts/tenant/token", R"({"spec":{}})", kAdmin);
  REQUIRE(tr.status == 201);
  auto d = core::parse_json(tr.body);
  REQUIRE(d.ok());
  const std::string sa_token = str_at(**d, {"status", "token"});
  REQUIRE_FALSE(sa_token.empty());
  CHECK(c.get("/api/v1/namespaces/team-a/secrets/db", sa_token).status == 200);
  CHECK(c.get("/api", sa_token).status == 200);
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/secrets", sa_token),
      R"(secrets is forbidden: User "system:serviceaccount:team-a:tenant" cannot list resource "secrets" in API group "" in the namespace "team-a")",
      "", "", "secrets");
}

TEST_CASE("without --authorize-requests every authenticated user may do everything, as before") {
  Cluster c(false);
  CHECK(c.get("/api/v1/namespaces/team-b/secrets/db", kAlice).status == 200);
  CHECK(c.get("/api/v1/secrets", kAlice).status == 200);
  CHECK(c.call("POST", "/api/v1/namespaces/team-a/serviceaccounts/tenant/token", R"({"spec":{}})", kAlice)
            .status == 201);
  CHECK(c.call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"mine"}})", kAlice).status == 201);
  CHECK(c.get("/api/v1/namespaces/team-a/nosuchthings", kAlice).status == 404);
  // The access reviews still answer from the table.
  CHECK_FALSE(review_allowed(
      c, kAlice, R"({"resourceAttributes":{"verb":"get","resource":"secrets","namespace":"team-b"}})"));
  CHECK(review_allowed(c, kAlice,
                       R"({"resourceAttributes":{"verb":"get","resource":"secrets","namespace":"team-a"}})"));
  // Unauthenticated is still 401.
  CHECK(c.get("/api/v1/secrets", "wrong").status == 401);
}

// ---- --authorization-mode=RBAC ----------------------------------------------------------------------

namespace {

constexpr const char* kRbac = "/apis/rbac.authorization.k8s.io/v1";

void create(Cluster& c, const std::string& path, const std::string& body) {
  auto r = c.call("POST", path, body, kAdmin);
  REQUIRE_MESSAGE(r.status == 201, path, " ", r.body);
}

void role(Cluster& c, const std::string& ns, const std::string& name, const std::string& rules) {
  create(c, std::string(kRbac) + "/namespaces/" + ns + "/roles",
         R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":")" + name +
             R"("},"rules":)" + rules + "}");
}

void cluster_role(Cluster& c, const std::string& name, const std::string& rules, const std::string& extra = "") {
  create(c, std::string(kRbac) + "/clusterroles",
         R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":")" + name +
             R"("},"rules":)" + rules + extra + "}");
}

// A RoleBinding (ns non-empty) or ClusterRoleBinding of role_kind/role_name to `subjects` (a JSON array).
void bind(Cluster& c, const std::string& ns, const std::string& name, const std::string& role_kind,
          const std::string& role_name, const std::string& subjects) {
  const std::string kind = ns.empty() ? "ClusterRoleBinding" : "RoleBinding";
  const std::string path =
      ns.empty() ? std::string(kRbac) + "/clusterrolebindings" : std::string(kRbac) + "/namespaces/" + ns + "/rolebindings";
  create(c, path,
         R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":")" + kind + R"(","metadata":{"name":")" + name +
             R"("},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":")" + role_kind + R"(","name":")" +
             role_name + R"("},"subjects":)" + subjects + "}");
}

std::string sa_token(Cluster& c, const std::string& ns, const std::string& name) {
  auto tr = c.call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name + "/token", R"({"spec":{}})", kAdmin);
  REQUIRE_MESSAGE(tr.status == 201, tr.body);
  auto d = core::parse_json(tr.body);
  REQUIRE(d.ok());
  return str_at(**d, {"status", "token"});
}

core::JsonDoc review(Cluster& c, const std::string& kind_path, const std::string& body, const std::string& token) {
  auto r = c.call("POST", "/apis/authorization.k8s.io/v1/" + kind_path, body, token);
  REQUIRE_MESSAGE(r.status == 201, r.body);
  auto d = core::parse_json(r.body);
  REQUIRE(d.ok());
  core::JsonDoc out;
  out.CopyFrom(**d, out.GetAllocator());
  return out;
}

// One line per rule of a SelfSubjectRulesReview status: "verbs|apiGroups|resources|resourceNames" with
// comma-joined lists, or "urls|verbs" for non-resource rules.
std::vector<std::string> rule_lines(const core::JsonValue& status, const char* key) {
  std::vector<std::string> out;
  const core::JsonValue* rules = core::member(status, key);
  REQUIRE(rules != nullptr);
  REQUIRE(rules->IsArray());
  auto join = [](const core::JsonValue& r, const char* field) {
    std::string s;
    const core::JsonValue* v = core::member(r, field);
    if (v == nullptr) return s;
    for (const auto& x : v->GetArray()) s += (s.empty() ? "" : ",") + std::string(x.GetString());
    return s;
  };
  for (const auto& r : rules->GetArray()) {
    if (std::string(key) == "resourceRules")
      out.push_back(join(r, "verbs") + "|" + join(r, "apiGroups") + "|" + join(r, "resources") + "|" +
                    join(r, "resourceNames"));
    else
      out.push_back(join(r, "nonResourceURLs") + "|" + join(r, "verbs"));
  }
  return out;
}

// status.FIELD of a review, which must be a bool.
bool status_bool(const core::JsonValue& v, const char* field) {
  const core::JsonValue* b = core::at_path(v, {"status", field});
  REQUIRE(b != nullptr);
  REQUIRE(b->IsBool());
  return b->GetBool();
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string pb_varint(uint64_t v) {
  std::string out;
  do {
    auto b = static_cast<char>(v & 0x7f);
    v >>= 7;
    if (v) b = static_cast<char>(b | 0x80);
    out += b;
  } while (v);
  return out;
}

// "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}.
std::string pb_unknown(const std::string& api_version, const std::string& kind, const std::string& raw) {
  return std::string("k8s\0", 4) + pb_field(1, pb_field(1, api_version) + pb_field(2, kind)) + pb_field(2, raw) +
         pb_field(3, "") + pb_field(4, "");
}

net::Response post_protobuf(Cluster& c, const std::string& path, const std::string& body, const std::string& token) {
  net::Request pr;
  pr.method = "POST";
  pr.url = c.sim.url() + path;
  pr.body = body;
  pr.headers = {{"Content-Type", "application/vnd.kubernetes.protobuf"},
                {"Accept", "application/vnd.kubernetes.protobuf,application/json"},
                {"Authorization", "Bearer " + token}};
  return c.client->perform(pr);
}

}  // namespace

TEST_CASE("RBAC rules match as kube-apiserver's RuleAllows") {
  auto req = [](const char* method, const char* path, const char* field_selector = "") {
    RequestAttributes a = request_attributes(method, path, "", field_selector);
    return a;
  };
  PolicyRule get_secrets{{"get"}, {""}, {"secrets"}, {}, {}};
  CHECK(rule_allows(req("GET", "/api/v1/namespaces/a/secrets/db"), get_secrets));
  CHECK_FALSE(rule_allows(req("GET", "/api/v1/namespaces/a/secrets"), get_secrets));           // list
  CHECK_FALSE(rule_allows(req("GET", "/api/v1/namespaces/a/configmaps/db"), get_secrets));     // resource
  CHECK_FALSE(rule_allows(req("GET", "/apis/apps/v1/namespaces/a/deployments/d"), get_secrets));  // group
  CHECK_FALSE(rule_allows(req("GET", "/api/v1/namespaces/a/secrets/db/status"), get_secrets));  // subresource

  PolicyRule wildcard{{"*"}, {"*"}, {"*"}, {}, {}};
  CHECK(rule_allows(req("DELETE", "/apis/apps/v1/namespaces/a/deployments"), wildcard));
  CHECK(rule_allows(req("PUT", "/apis/apps/v1/namespaces/a/deployments/d/status"), wildcard));
  CHECK_FALSE(rule_allows(req("GET", "/metrics"), wildcard));  // not a non-resource rule

  PolicyRule status{{"update", "patch"}, {"secrets.infisical.com"}, {"infisicalsecrets/status"}, {}, {}};
  CHECK(rule_allows(req("PATCH", "/apis/secrets.infisical.com/v1alpha1/namespaces/a/infisicalsecrets/s/status"), status));
  CHECK_FALSE(rule_allows(req("PATCH", "/apis/secrets.infisical.com/v1alpha1/namespaces/a/infisicalsecrets/s"), status));
  PolicyRule any_status{{"update"}, {"*"}, {"*/status"}, {}, {}};
  CHECK(rule_allows(req("PUT", "/apis/apps/v1/namespaces/a/deployments/d/status"), any_status));
  CHECK_FALSE(rule_allows(req("PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale"), any_status));
  CHECK_FALSE(rule_allows(req("PUT", "/apis/apps/v1/namespaces/a/deployments/d"), any_status));

  // resourceNames: a request with that name; a create, list or watch has none, unless a field selector
  // pins metadata.name.
  PolicyRule named{{"get", "list", "watch", "create", "update"}, {""}, {"configmaps"}, {"infisical-config"}, {}};
  CHECK(rule_allows(req("GET", "/api/v1/namespaces/ops/configmaps/infisical-config"), named));
  CHECK(rule_allows(req("PUT", "/api/v1/namespaces/ops/configmaps/infisical-config"), named));
  CHECK_FALSE(rule_allows(req("GET", "/api/v1/namespaces/ops/configmaps/other"), named));
  CHECK_FALSE(rule_allows(req("GET", "/api/v1/namespaces/ops/configmaps"), named));
  CHECK_FALSE(rule_allows(req("POST", "/api/v1/namespaces/ops/configmaps"), named));
  CHECK(rule_allows(req("GET", "/api/v1/namespaces/ops/configmaps", "metadata.name=infisical-config"), named));
  CHECK_FALSE(rule_allows(req("GET", "/api/v1/namespaces/ops/configmaps", "metadata.name=other"), named));

  PolicyRule urls{{"get"}, {}, {}, {}, {"/metrics", "/logs/*"}};
  CHECK(rule_allows(req("GET", "/metrics"), urls));
  CHECK(rule_allows(req("GET", "/logs/a/b"), urls));
  CHECK(rule_allows(req("GET", "/logs/"), urls));
  CHECK_FALSE(rule_allows(req("GET", "/logs"), urls));
  CHECK_FALSE(rule_allows(req("POST", "/metrics"), urls));
  CHECK_FALSE(rule_allows(req("GET", "/api/v1/namespaces/a/secrets/db"), urls));
  CHECK(rule_allows(req("POST", "/anything"), PolicyRule{{"*"}, {}, {}, {}, {"*"}}));
}

TEST_CASE("with --authorization-mode=RBAC Roles and RoleBindings decide, in their namespace only") {
  Cluster c(true, true);
  // Nothing bound yet: only discovery, version and the self reviews.
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/secrets/db", kAlice),
      R"(secrets "db" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team-a")",
      "db", "", "secrets");
  for (const char* path : {"/api", "/apis", "/apis/apps/v1", "/version", "/openapi/v3"}) {
    CAPTURE(path);
    CHECK(c.get(path, kAlice).status == 200);
  }
  CHECK(status_bool(review(c, "selfsubjectaccessreviews", R"({"spec":{"resourceAttributes":{"verb":"get","resource":"secrets"}}})",
               kAlice), "allowed") == false);

  role(c, "team-a", "secret-editor",
       R"([{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list","watch","create","update","patch"]},
           {"apiGroups":["secrets.infisical.com"],"resources":["infisicalsecrets","infisicalsecrets/status"],"verbs":["*"]}])");
  bind(c, "team-a", "alice-edits", "Role", "secret-editor", R"([{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"}])");

  CHECK(c.get("/api/v1/namespaces/team-a/secrets/db", kAlice).status == 200);
  CHECK(c.get("/api/v1/namespaces/team-a/secrets", kAlice).status == 200);
  CHECK(c.call("POST", "/api/v1/namespaces/team-a/secrets", R"({"metadata":{"name":"app"},"stringData":{"k":"v"}})", kAlice)
            .status == 201);
  CHECK(c.call("POST", "/apis/secrets.infisical.com/v1alpha1/namespaces/team-a/infisicalsecrets",
               R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","metadata":{"name":"s"},"spec":{}})",
               kAlice)
            .status == 201);
  CHECK(c.call("PATCH", "/apis/secrets.infisical.com/v1alpha1/namespaces/team-a/infisicalsecrets/s/status",
               R"({"status":{"x":1}})", kAlice)
            .status == 200);
  // No delete in the Role.
  check_forbidden(
      c.call("DELETE", "/api/v1/namespaces/team-a/secrets/app", "", kAlice),
      R"(secrets "app" is forbidden: User "alice" cannot delete resource "secrets" in API group "" in the namespace "team-a")",
      "app", "", "secrets");
  // Another namespace, the cluster scope, another resource.
  check_forbidden(
      c.get("/api/v1/namespaces/team-b/secrets/db", kAlice),
      R"(secrets "db" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team-b")",
      "db", "", "secrets");
  check_forbidden(
      c.get("/api/v1/secrets", kAlice),
      R"(secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" at the cluster scope)", "", "",
      "secrets");
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/configmaps", kAlice),
      R"(configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "team-a")",
      "", "", "configmaps");
  // A SubjectAccessReview names the grant, as RBAC's reason does.
  auto sar = review(c, "subjectaccessreviews",
                    R"({"spec":{"user":"alice","resourceAttributes":{"verb":"get","resource":"secrets","namespace":"team-a"}}})",
                    kAdmin);
  CHECK(status_bool(sar, "allowed") == true);
  CHECK(str_at(sar, {"status", "reason"}) ==
        R"(RBAC: allowed by RoleBinding "alice-edits/team-a" of Role "secret-editor" to User "alice")");
  CHECK(status_bool(review(c, "subjectaccessreviews",
               R"({"spec":{"user":"alice","resourceAttributes":{"verb":"get","resource":"secrets","namespace":"team-b"}}})",
               kAdmin), "allowed") == false);

  // Bindings take effect and stop at once.
  CHECK(c.call("DELETE", std::string(kRbac) + "/namespaces/team-a/rolebindings/alice-edits", "", kAdmin).status == 200);
  CHECK(c.get("/api/v1/namespaces/team-a/secrets/db", kAlice).status == 403);
}

TEST_CASE("with --authorization-mode=RBAC a RoleBinding to a ClusterRole grants it in the binding's namespace") {
  Cluster c(true, true);
  cluster_role(c, "secret-reader", R"([{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]}])");
  bind(c, "team-b", "readers", "ClusterRole", "secret-reader", R"([{"kind":"Group","name":"auditors"}])");
  create(c, "/api/v1/namespaces/team-a/serviceaccounts", R"({"metadata":{"name":"auditor"}})");
  // Group subjects: a static token with group auditors, and every service account of team-a.
  bind(c, "team-b", "team-a-sas", "ClusterRole", "secret-reader",
       R"([{"kind":"Group","name":"system:serviceaccounts:team-a"}])");
  const std::string sa = sa_token(c, "team-a", "auditor");
  CHECK(c.get("/api/v1/namespaces/team-b/secrets", sa).status == 200);
  CHECK(c.get("/api/v1/namespaces/team-b/secrets/db", sa).status == 200);
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/secrets/db", sa),
      R"(secrets "db" is forbidden: User "system:serviceaccount:team-a:auditor" cannot get resource "secrets" in API group "" in the namespace "team-a")",
      "db", "", "secrets");
  check_forbidden(
      c.get("/api/v1/secrets", sa),
      R"(secrets is forbidden: User "system:serviceaccount:team-a:auditor" cannot list resource "secrets" in API group "" at the cluster scope)",
      "", "", "secrets");
  // The same ClusterRole through a ClusterRoleBinding: everywhere, the cluster scope included.
  bind(c, "", "auditors-everywhere", "ClusterRole", "secret-reader",
       R"([{"kind":"ServiceAccount","name":"auditor","namespace":"team-a"}])");
  CHECK(c.get("/api/v1/namespaces/team-a/secrets/db", sa).status == 200);
  CHECK(c.get("/api/v1/secrets", sa).status == 200);
  auto sar = review(c, "selfsubjectaccessreviews",
                    R"({"spec":{"resourceAttributes":{"verb":"list","resource":"secrets","namespace":"team-a"}}})", sa);
  CHECK(status_bool(sar, "allowed") == true);
  // A ServiceAccount subject in a ClusterRoleBinding needs its namespace.
  cluster_role(c, "ns-reader", R"([{"apiGroups":[""],"resources":["namespaces"],"verbs":["get"]}])");
  bind(c, "", "no-namespace", "ClusterRole", "ns-reader", R"([{"kind":"ServiceAccount","name":"auditor"}])");
  CHECK(c.get("/api/v1/namespaces/team-b", sa).status == 403);
}

TEST_CASE("with --authorization-mode=RBAC a TokenRequest token is authorized by a RoleBinding to its ServiceAccount") {
  Cluster c(true, true);
  role(c, "team-a", "token-user",
       R"([{"apiGroups":[""],"resources":["secrets"],"resourceNames":["db"],"verbs":["get","list","watch"]},
           {"apiGroups":[""],"resources":["secrets"],"verbs":["create"]},
           {"apiGroups":[""],"resources":["serviceaccounts/token"],"verbs":["create"]}])");
  // Subject without a namespace: the RoleBinding's.
  bind(c, "team-a", "tenant", "Role", "token-user", R"([{"kind":"ServiceAccount","name":"tenant"}])");
  const std::string token = sa_token(c, "team-a", "tenant");
  CHECK(c.get("/api/v1/namespaces/team-a/secrets/db", token).status == 200);
  // resourceNames: the named object only; a list or watch only when a field selector names it.
  CHECK(c.get("/api/v1/namespaces/team-a/secrets?fieldSelector=metadata.name%3Ddb", token).status == 200);
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/secrets", token),
      R"(secrets is forbidden: User "system:serviceaccount:team-a:tenant" cannot list resource "secrets" in API group "" in the namespace "team-a")",
      "", "", "secrets");
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/secrets/other", token),
      R"(secrets "other" is forbidden: User "system:serviceaccount:team-a:tenant" cannot get resource "secrets" in API group "" in the namespace "team-a")",
      "other", "", "secrets");
  CHECK(c.call("POST", "/api/v1/namespaces/team-a/secrets", R"({"metadata":{"name":"new"}})", token).status == 201);
  // The subresource rule: a token for itself.
  CHECK(c.call("POST", "/api/v1/namespaces/team-a/serviceaccounts/tenant/token", R"({"spec":{}})", token).status == 201);
  check_forbidden(
      c.call("PATCH", "/api/v1/namespaces/team-a/serviceaccounts/tenant", R"({"metadata":{"labels":{"a":"b"}}})", token),
      R"(serviceaccounts "tenant" is forbidden: User "system:serviceaccount:team-a:tenant" cannot patch resource "serviceaccounts" in API group "" in the namespace "team-a")",
      "tenant", "", "serviceaccounts");
  // A binding in another namespace naming the subject without namespace means that namespace's account.
  role(c, "team-b", "token-user", R"([{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}])");
  bind(c, "team-b", "tenant", "Role", "token-user", R"([{"kind":"ServiceAccount","name":"tenant"}])");
  CHECK(c.get("/api/v1/namespaces/team-b/secrets/db", token).status == 403);
  bind(c, "team-b", "tenant-of-a", "Role", "token-user",
       R"([{"kind":"ServiceAccount","name":"tenant","namespace":"team-a"}])");
  CHECK(c.get("/api/v1/namespaces/team-b/secrets/db", token).status == 200);
  // The ServiceAccount's deletion ends the token, whatever the bindings say.
  CHECK(c.call("DELETE", "/api/v1/namespaces/team-a/serviceaccounts/tenant", "", kAdmin).status == 200);
  CHECK(c.get("/api/v1/namespaces/team-a/secrets/db", token).status == 401);
}

TEST_CASE("with --authorization-mode=RBAC missing roles, aggregation, non-resource URLs and system:masters") {
  Cluster c(true, true);
  // A binding to a Role that does not exist grants nothing, and says so in the refusal.
  bind(c, "team-a", "dangling", "Role", "gone", R"([{"kind":"User","name":"alice"}])");
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/secrets/db", kAlice),
      R"(secrets "db" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team-a": RBAC: role.rbac.authorization.k8s.io "gone" not found)",
      "db", "", "secrets");
  bind(c, "", "dangling-cluster", "ClusterRole", "gone-too", R"([{"kind":"User","name":"alice"}])");
  check_forbidden(
      c.get("/api/v1/namespaces/team-a/secrets/db", kAlice),
      R"(secrets "db" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team-a": RBAC: [clusterrole.rbac.authorization.k8s.io "gone-too" not found, role.rbac.authorization.k8s.io "gone" not found])",
      "db", "", "secrets");
  // ... but does not stop another binding from allowing.
  role(c, "team-a", "gone", R"([{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}])");
  CHECK(c.get("/api/v1/namespaces/team-a/secrets/db", kAlice).status == 200);

  // An aggregated ClusterRole has the rules of the ClusterRoles its selectors match.
  cluster_role(c, "monitoring", "[]", R"(,"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"agg":"monitoring"}}]})");
  bind(c, "", "alice-monitors", "ClusterRole", "monitoring", R"([{"kind":"User","name":"alice"}])");
  CHECK(c.get("/api/v1/namespaces/team-b/configmaps", kAlice).status == 403);
  create(c, std::string(kRbac) + "/clusterroles",
         R"({"metadata":{"name":"cm-reader","labels":{"agg":"monitoring"}},"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["list"]},{"nonResourceURLs":["/metrics"],"verbs":["get"]}]})");
  CHECK(c.get("/api/v1/namespaces/team-b/configmaps", kAlice).status == 200);
  // Non-resource URLs: allowed through (then 404, as kube-sim serves no /metrics), or refused.
  CHECK(c.get("/metrics", kAlice).status == 404);
  // (The dangling ClusterRoleBinding to alice is still there: its error is the refusal's reason.)
  check_forbidden(
      c.call("POST", "/metrics", "{}", kAlice),
      R"(forbidden: User "alice" cannot post path "/metrics": RBAC: clusterrole.rbac.authorization.k8s.io "gone-too" not found)",
      "", "", "");
  CHECK(c.call("DELETE", std::string(kRbac) + "/clusterrolebindings/dangling-cluster", "", kAdmin).status == 200);
  check_forbidden(c.call("POST", "/metrics", "{}", kAlice), R"(forbidden: User "alice" cannot post path "/metrics")", "",
                  "", "");
  // system:masters and the admin token may do everything, with no binding.
  CHECK(c.get("/api/v1/secrets", kCarol).status == 200);
  CHECK(c.call("DELETE", "/api/v1/namespaces/team-b/secrets/db", "", kCarol).status == 200);
  CHECK(c.get("/api/v1/secrets", kAdmin).status == 200);
  CHECK(c.get("/sim/counters", kAdmin).status == 200);
  CHECK(c.get("/api/v1/secrets", "nobody").status == 401);
}

TEST_CASE("SelfSubjectRulesReview lists what RBAC grants in a namespace (kubectl auth can-i --list)") {
  Cluster c(true, true);
  cluster_role(c, "reader", R"([{"apiGroups":[""],"resources":["secrets","configmaps"],"verbs":["get","list"]},
                               {"nonResourceURLs":["/metrics"],"verbs":["get"]}])");
  bind(c, "", "tenant-reads", "ClusterRole", "reader", R"([{"kind":"ServiceAccount","name":"tenant","namespace":"team-a"}])");
  role(c, "team-a", "own", R"([{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create"]},
                              {"apiGroups":[""],"resources":["configmaps"],"resourceNames":["infisical-config"],"verbs":["watch"]}])");
  bind(c, "team-a", "own", "Role", "own", R"([{"kind":"ServiceAccount","name":"tenant"}])");
  bind(c, "team-a", "dangling", "Role", "gone", R"([{"kind":"Group","name":"system:serviceaccounts"}])");
  const std::string token = sa_token(c, "team-a", "tenant");

  auto in_a = review(c, "selfsubjectrulesreviews",
                     R"({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"team-a"}})",
                     token);
  CHECK(str_at(in_a, {"kind"}) == "SelfSubjectRulesReview");
  CHECK(str_at(in_a, {"apiVersion"}) == "authorization.k8s.io/v1");
  const core::JsonValue& st = in_a["status"];
  std::vector<std::string> res = rule_lines(st, "resourceRules");
  CHECK(res == std::vector<std::string>{
                   "create|authentication.k8s.io|selfsubjectreviews|",
                   "create|authorization.k8s.io|selfsubjectaccessreviews,selfsubjectrulesreviews|",
                   "get,list||secrets,configmaps|",
                   "create|coordination.k8s.io|leases|",
                   "watch||configmaps|infisical-config",
               });
  std::vector<std::string> urls = rule_lines(st, "nonResourceRules");
  CHECK(contains(urls, "/api,/api/*,/apis,/apis/*,/healthz,/livez,/openapi,/openapi/*,/readyz,/version,/version/|get"));
  CHECK(contains(urls, "/healthz,/livez,/readyz,/version,/version/|get"));
  CHECK(contains(urls,
                 "/.well-known/openid-configuration,/.well-known/openid-configuration/,/openid/v1/jwks,/openid/v1/jwks/|get"));
  CHECK(contains(urls, "/metrics|get"));
  CHECK(urls.size() == 4);
  CHECK_FALSE(status_bool(in_a, "incomplete"));
  CHECK(str_at(st, {"evaluationError"}) == R"(role.rbac.authorization.k8s.io "gone" not found)");

  // Another namespace: the cluster-wide rules only.
  auto in_b = review(c, "selfsubjectrulesreviews", R"({"spec":{"namespace":"team-b"}})", token);
  CHECK(rule_lines(in_b["status"], "resourceRules").size() == 3);
  CHECK(core::member(in_b["status"], "evaluationError") == nullptr);
  // A namespace is required, as on the real server.
  auto none = c.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", R"({"spec":{}})", token);
  CHECK(none.status == 400);
  CHECK(none.body.find("no namespace on request") != std::string::npos);
  // system:masters: cluster-admin.
  auto carol = review(c, "selfsubjectrulesreviews", R"({"spec":{"namespace":"team-b"}})", kCarol);
  CHECK(contains(rule_lines(carol["status"], "resourceRules"), "*|*|*|"));
  CHECK(contains(rule_lines(carol["status"], "nonResourceRules"), "*|*"));

  // kubectl posts it as protobuf: SelfSubjectRulesReview{spec{namespace}}.
  auto pb = post_protobuf(c, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                          pb_unknown("authorization.k8s.io/v1", "SelfSubjectRulesReview",
                                     pb_field(1, "") + pb_field(2, pb_field(1, "team-a")) + pb_field(3, "")),
                          token);
  CHECK(pb.status == 201);
  auto pd = core::parse_json(pb.body);
  REQUIRE(pd.ok());
  CHECK(rule_lines((**pd)["status"], "resourceRules") == res);
}

TEST_CASE("SelfSubjectRulesReview without RBAC; SelfSubjectReview and protobuf TokenRequest (kubectl create token)") {
  {
    Cluster open(false);  // a rule table: its rules cannot be listed
    auto r = review(open, "selfsubjectrulesreviews", R"({"spec":{"namespace":"team-a"}})", kAlice);
    CHECK(status_bool(r, "incomplete") == true);
    CHECK(rule_lines(r["status"], "resourceRules").empty());
    CHECK(str_at(r, {"status", "evaluationError"}).find("--authorization-mode=RBAC") != std::string::npos);
  }
  Cluster c(true, true);
  // kubectl auth whoami, JSON and protobuf.
  const std::string token = sa_token(c, "team-a", "tenant");
  for (bool protobuf : {false, true}) {
    CAPTURE(protobuf);
    auto r = protobuf ? post_protobuf(c, "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                      pb_unknown("authentication.k8s.io/v1", "SelfSubjectReview", pb_field(1, "")), token)
                      : c.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                               R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})", token);
    REQUIRE_MESSAGE(r.status == 201, r.body);
    auto d = core::parse_json(r.body);
    REQUIRE(d.ok());
    CHECK(str_at(**d, {"kind"}) == "SelfSubjectReview");
    CHECK(str_at(**d, {"status", "userInfo", "username"}) == "system:serviceaccount:team-a:tenant");
    CHECK(core::to_json(*core::at_path(**d, {"status", "userInfo", "groups"})) ==
          R"(["system:serviceaccounts","system:serviceaccounts:team-a","system:authenticated"])");
  }
  // kubectl create token --audience a --audience b --duration 2h
  std::string spec = pb_field(1, "a") + pb_field(1, "b") + std::string(1, static_cast<char>(4 << 3)) + pb_varint(7200);
  auto tr = post_protobuf(c, "/api/v1/namespaces/team-a/serviceaccounts/tenant/token",
                          pb_unknown("authentication.k8s.io/v1", "TokenRequest", pb_field(1, "") + pb_field(2, spec)),
                          kAdmin);
  REQUIRE_MESSAGE(tr.status == 201, tr.body);
  auto td = core::parse_json(tr.body);
  REQUIRE(td.ok());
  CHECK(core::to_json(*core::at_path(**td, {"spec", "audiences"})) == R"(["a","b"])");
  CHECK(core::get_int(*core::at_path(**td, {"spec"}), "expirationSeconds").value_or(0) == 7200);
  CHECK_FALSE(str_at(**td, {"status", "token"}).empty());
  // The token needs the SA to be allowed to ask: without a binding, 403.
  check_forbidden(
      post_protobuf(c, "/api/v1/namespaces/team-a/serviceaccounts/tenant/token",
                    pb_unknown("authentication.k8s.io/v1", "TokenRequest", pb_field(2, "")), token),
      R"(serviceaccounts "tenant" is forbidden: User "system:serviceaccount:team-a:tenant" cannot create resource "serviceaccounts/token" in API group "" in the namespace "team-a")",
      "tenant", "", "serviceaccounts");
}

TEST_CASE("--authorization-mode flag") {
  ModulesOptions mo;
  auto r = parse_module_flag("--authorization-mode", "RBAC", mo);
  REQUIRE(r.ok());
  CHECK(*r);
  CHECK(mo.auth.rbac);
  CHECK(mo.auth.authorize_requests);
  CHECK_FALSE(parse_module_flag("--authorization-mode", "Node,RBAC", mo).ok());
  auto rules = parse_access_rules("allow * * * * *");
  REQUIRE(rules.ok());
  mo.auth.rules = *rules;
  KubeSim sim(sim_options());
  CHECK_THROWS_AS(install_modules(sim, mo), std::invalid_argument);
}
