// kube-sim with --authorize-requests: every request is authorized against the access rule table as a
// real API server with RBAC authorizes it, and refused with kube-apiserver's own 403; without the
// option nothing is refused.
#include <doctest/doctest.h>

#include <string>

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
  explicit Cluster(bool authorize) : sim(sim_options()) {
    ModulesOptions mo;
    auto rules = parse_access_rules(kRules);
    REQUIRE(rules.ok());
    mo.auth.rules = *rules;
    mo.auth.authorize_requests = authorize;
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
