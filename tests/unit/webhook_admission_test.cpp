// The admission handler on JSON inputs: envelope errors, validation denials naming every path, the
// cross-namespace policy, the trust boundary of DESIGN.md §8 (grants, hosts, ServiceAccount opt-in,
// re-authorisation on UPDATE, no lookup on the fast path), and the rollout-hash rules of DESIGN.md §5
// including the fixed point.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/digest.h"
#include "core/json.h"
#include "core/json_patch.h"
#include "webhook/admission.h"
#include "webhook/workload_hash.h"

using namespace ifo::webhook;
namespace core = ifo::core;

namespace {

std::string review(const std::string& kind_json, const std::string& op, const std::string& ns, const std::string& object,
                   const std::string& old_object = "null", const std::string& user = "alice") {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"uid-123",)"
         R"("kind":)" + kind_json + R"(,"operation":")" + op + R"(","namespace":")" + ns + R"(",)"
         R"("userInfo":{"username":")" + user + R"(","groups":["devs","system:authenticated"]},)"
         R"("object":)" + object + R"(,"oldObject":)" + old_object + "}}";
}

const std::string kIsKind = R"({"group":"secrets.infisical.com","version":"v1alpha1","kind":"InfisicalSecret"})";
const std::string kDeployKind = R"({"group":"apps","version":"v1","kind":"Deployment"})";

std::string infisical_secret(const std::string& auth, const std::string& managed_ns = "apps",
                             const std::string& policy = "Orphan") {
  return R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret",
    "metadata":{"name":"demo","namespace":"apps"},
    "spec":{"hostAPI":"https://infisical.example.com","resyncInterval":60,
      "authentication":)" + auth + R"(,
      "managedSecretReference":{"secretName":"managed","secretNamespace":")" + managed_ns +
         R"(","secretType":"Opaque","creationPolicy":")" + policy + R"("}}})";
}

std::string universal(const std::string& creds_ns = "apps") {
  return R"({"universalAuth":{"credentialsRef":{"secretName":"creds","secretNamespace":")" + creds_ns +
         R"("},"secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}}})";
}

struct Parsed {
  std::shared_ptr<core::JsonDoc> doc;
  const core::JsonValue& response() const { return (*doc)["response"]; }
  bool allowed() const { return response()["allowed"].GetBool(); }
  std::string message() const {
    auto* st = core::member(response(), "status");
    return st ? core::string_or(*st, "message", "") : "";
  }
  int code() const {
    auto* st = core::member(response(), "status");
    return st ? static_cast<int>(core::get_int(*st, "code").value_or(0)) : 0;
  }
  std::string patch() const {
    auto p = core::get_string(response(), "patch");
    return p ? core::base64_decode(*p).value() : "";
  }
  std::vector<std::string> warnings() const {
    std::vector<std::string> out;
    if (auto* w = core::member(response(), "warnings"))
      for (auto& v : w->GetArray()) out.emplace_back(v.GetString());
    return out;
  }
};

Parsed ok_reply(const Reply& r) {
  REQUIRE(r.status == 200);
  auto doc = core::parse_json(r.body);
  REQUIRE(doc.ok());
  CHECK(core::get_string(**doc, "apiVersion") == "admission.k8s.io/v1");
  CHECK(core::get_string((**doc)["response"], "uid") == "uid-123");
  return Parsed{*doc};
}

class FakeAuthorizer : public Authorizer {
 public:
  std::set<std::string> grants;  // "user verb resource namespace"
  std::vector<std::string> asked;
  bool fail = false;
  std::optional<bool> allowed(const UserInfo& user, const core::AccessCheck& c) override {
    std::string resource = c.subresource.empty() ? c.resource : c.resource + "/" + c.subresource;
    std::string q = user.username + " " + c.verb + " " + resource + " " + c.namespace_;
    asked.push_back(q);
    if (fail) throw std::runtime_error("SubjectAccessReview: connection refused");
    return grants.count(q) > 0;
  }
};

// The cluster as the trust policy sees it; records every question ("(fresh)" when the cache must
// not answer), and can fail like an API outage.
class FakeTrustLookup : public TrustLookup {
 public:
  std::vector<core::ReferenceGrant> all_grants;
  std::map<std::string, std::map<std::string, std::string>> accounts;  // "ns/name" -> annotations
  std::string global_host;
  bool fail = false;
  std::vector<std::string> asked;  // "grants ns", "serviceaccount ns/name", "global host"
  std::vector<core::ReferenceGrant> grants(std::string_view ns, bool fresh) override {
    record("grants " + std::string(ns), fresh);
    if (fail) throw std::runtime_error("list infisicalreferencegrants: connection refused");
    std::vector<core::ReferenceGrant> out;
    for (const auto& g : all_grants)
      if (g.namespace_ == ns) out.push_back(g);
    return out;
  }
  std::optional<std::map<std::string, std::string>> service_account_annotations(std::string_view ns,
                                                                               std::string_view name,
                                                                               bool fresh) override {
    std::string key = std::string(ns) + "/" + std::string(name);
    record("serviceaccount " + key, fresh);
    if (fail) throw std::runtime_error("get serviceaccounts: connection refused");
    auto it = accounts.find(key);
    if (it == accounts.end()) return std::nullopt;
    return it->second;
  }
  std::string global_host_api(bool fresh) override {
    record("global host", fresh);
    if (fail) throw std::runtime_error("get configmaps: connection refused");
    return global_host;
  }

 private:
  void record(std::string question, bool fresh) { asked.push_back(fresh ? question + " (fresh)" : question); }
};

// An InfisicalReferenceGrant in `ns` letting namespace `from` refer to `kind` `name` ("" for any).
core::ReferenceGrant grant(const std::string& ns, const std::string& from, const std::string& kind,
                           const std::string& name = "") {
  core::ReferenceGrant g;
  g.namespace_ = ns;
  g.name = "grant";
  g.from_namespaces = {from};
  g.to = {{kind, name}};
  return g;
}

// The default trust policy, with the fixtures' host added to the allow-list as an admin would.
core::TrustPolicy example_host_allowed() {
  core::TrustPolicy p;
  p.allowed_hosts.push_back("infisical.example.com");
  return p;
}

class FakeDigests : public DigestSource {
 public:
  bool is_synced = true;
  std::map<std::string, std::map<std::string, std::string>> secrets;  // "ns/name"
  bool synced() const override { return is_synced; }
  std::shared_ptr<const std::map<std::string, std::string>> key_digests(std::string_view ns,
                                                                       std::string_view name) const override {
    auto it = secrets.find(std::string(ns) + "/" + std::string(name));
    if (it == secrets.end()) return nullptr;
    return std::make_shared<const std::map<std::string, std::string>>(it->second);
  }
};

}  // namespace

TEST_CASE("malformed AdmissionReviews get 400 with a message, never a crash") {
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, nullptr);
  struct Case { std::string body; std::string fragment; };
  std::vector<Case> cases = {
      {"", "empty request body"},
      {"not json", "not JSON"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x")", "not JSON"},
      {"[1,2]", "not a JSON object"},
      {R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}})", "admission.k8s.io/v1"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"x"}})", "kind must be AdmissionReview"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", "request: required"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}})", "request.uid"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"CREATE","object":"s"}})",
       "request.object"},
      {std::string(100000, '['), "not JSON"},
  };
  for (const auto& c : cases) {
    for (bool validate : {true, false}) {
      Reply r = validate ? h.validate(c.body) : h.mutate(c.body);
      CAPTURE(c.body.substr(0, 80));
      CHECK(r.status == 400);
      CHECK(r.result == "bad_request");
      CHECK(r.body.find(c.fragment) != std::string::npos);
    }
  }
}

TEST_CASE("an invalid InfisicalSecret is denied with every offending field path in one message") {
  FakeAuthorizer auth;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr);
  std::string two_auth = R"({"universalAuth":{"credentialsRef":{"secretName":"creds","secretNamespace":"apps"},
     "secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}},
     "kubernetesAuth":{"identityId":"id","serviceAccountRef":{"name":"sa","namespace":"apps"},
     "secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}}})";
  std::string obj = infisical_secret(two_auth);
  // Also a bad resyncInterval: both problems must be in the same message.
  obj.replace(obj.find("\"resyncInterval\":60"), 19, "\"resyncInterval\":1");
  auto p = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
  CHECK_FALSE(p.allowed());
  CHECK(p.code() == 422);
  CHECK(p.message().find("InfisicalSecret \"demo\" is invalid") == 0);
  CHECK(p.message().find("spec.authentication: exactly one authentication method") != std::string::npos);
  CHECK(p.message().find("spec.resyncInterval") != std::string::npos);

  auto owner = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", infisical_secret(universal(), "other", "Owner"))));
  CHECK_FALSE(owner.allowed());
  CHECK(owner.message().find("spec.managedSecretReference.secretNamespace") != std::string::npos);
}

TEST_CASE("a valid spec is admitted; deletes are not inspected; serviceToken gets a deprecation warning") {
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, nullptr, example_host_allowed());
  auto p = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", infisical_secret(universal()))));
  CHECK(p.allowed());
  CHECK(p.warnings().empty());
  CHECK(ok_reply(h.validate(review(kIsKind, "DELETE", "apps", "null"))).allowed());
  std::string st = R"({"serviceToken":{"serviceTokenSecretReference":{"secretName":"tok","secretNamespace":"apps"},
     "secretsScope":{"envSlug":"dev","secretsPath":"/"}}})";
  auto w = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", infisical_secret(st))));
  CHECK(w.allowed());
  REQUIRE(w.warnings().size() == 1);
  CHECK(w.warnings()[0].find("spec.authentication.serviceToken is deprecated") == 0);
}

TEST_CASE("cross-namespace references follow the policy: deny, authorize (per requesting user), allow") {
  const std::string obj = infisical_secret(universal("vault"), "shared");
  // Both namespaces grant the references, so only the requesting user's rights decide here.
  FakeTrustLookup lookup;
  lookup.all_grants = {grant("vault", "apps", "Secret", "creds"), grant("shared", "apps", "Secret", "managed")};
  {
    AdmissionHandler h(CrossNamespacePolicy::kDeny, nullptr, nullptr, example_host_allowed(), &lookup);
    auto p = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
    CHECK_FALSE(p.allowed());
    CHECK(p.code() == 403);
    CHECK(p.message().find("spec.authentication.universalAuth.credentialsRef") != std::string::npos);
    CHECK(p.message().find("spec.managedSecretReference") != std::string::npos);
  }
  {
    AdmissionHandler h(CrossNamespacePolicy::kAllow, nullptr, nullptr, example_host_allowed(), &lookup);
    CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());
  }
  FakeAuthorizer auth;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr, example_host_allowed(), &lookup);
  auto denied = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj, "null", "mallory")));
  CHECK_FALSE(denied.allowed());
  CHECK(denied.message().find("user \"mallory\" may not get secrets \"creds\" in namespace vault") != std::string::npos);
  CHECK(denied.message().find("may not create secrets in namespace shared") != std::string::npos);
  CHECK(auth.asked == std::vector<std::string>{"mallory get secrets vault", "mallory create secrets shared"});
  auth.grants = {"alice get secrets vault", "alice create secrets shared"};
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj, "null", "alice"))).allowed());
  // Only one of the two rights: still denied, naming the missing one only.
  auth.grants = {"bob get secrets vault"};
  auto half = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj, "null", "bob")));
  CHECK_FALSE(half.allowed());
  CHECK(half.message().find("vault") == std::string::npos);
  // An UPDATE by someone else that keeps the same references is not re-authorised.
  auth.asked.clear();
  lookup.asked.clear();
  CHECK(ok_reply(h.validate(review(kIsKind, "UPDATE", "apps", obj, obj, "syncer"))).allowed());
  CHECK(auth.asked.empty());
  CHECK(lookup.asked.empty());
  // If the SubjectAccessReview cannot be made, the request is denied (fail closed) with the reason.
  auth.fail = true;
  auto err = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj, "null", "alice")));
  CHECK_FALSE(err.allowed());
  CHECK(err.message().find("connection refused") != std::string::npos);
}

namespace {

constexpr auto npos = std::string::npos;
const std::string kFixtureHost = R"("hostAPI":"https://infisical.example.com")";

// The fixture with another hostAPI, or ("") none.
std::string with_host(std::string obj, const std::string& host) {
  auto at = obj.find(kFixtureHost);
  REQUIRE(at != npos);
  obj.replace(at, kFixtureHost.size() + 1, host.empty() ? "" : R"("hostAPI":")" + host + R"(",)");
  return obj;
}

std::string replaced(std::string obj, const std::string& from, const std::string& to) {
  auto at = obj.find(from);
  REQUIRE(at != npos);
  return obj.replace(at, from.size(), to);
}

const std::string kKubernetesAuth = R"({"kubernetesAuth":{"identityId":"id-1",
    "serviceAccountRef":{"name":"app","namespace":"apps"},
    "secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}}})";
const std::string kOptInAnnotation = "secrets.infisical.com/kubernetes-auth-identity-ids";

}  // namespace

TEST_CASE("trust: a reference into another namespace needs an InfisicalReferenceGrant there") {
  FakeAuthorizer auth;
  auth.grants = {"alice get secrets vault"};  // the user's own right is not what is missing
  FakeTrustLookup lookup;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr, example_host_allowed(), &lookup);
  const std::string obj = infisical_secret(universal("vault"));
  auto denied = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
  CHECK_FALSE(denied.allowed());
  CHECK(denied.code() == 403);
  CHECK(denied.message().find("spec.authentication.universalAuth.credentialsRef: the credentials Secret vault/creds is "
                              "in another namespace, and no InfisicalReferenceGrant in namespace vault lets "
                              "InfisicalSecrets of namespace apps refer to it") != npos);
  // A refusal is confirmed with a fresh read: a grant made a moment ago counts.
  CHECK(lookup.asked == std::vector<std::string>{"grants vault", "grants vault (fresh)"});
  // A grant for another Secret, or to another namespace, does not admit it; the matching one does.
  lookup.all_grants = {grant("vault", "apps", "Secret", "other"), grant("vault", "team-b", "Secret", "creds"),
                       grant("vault", "apps", "ConfigMap")};
  CHECK_FALSE(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());
  lookup.all_grants.push_back(grant("vault", "apps", "Secret", "creds"));
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());
  // --cross-namespace-references=allow (upstream-compatible): no grant needed, none read.
  core::TrustPolicy upstream = example_host_allowed();
  upstream.cross_namespace_without_grant = true;
  FakeTrustLookup unused;
  AdmissionHandler compat(CrossNamespacePolicy::kAuthorize, &auth, nullptr, upstream, &unused);
  CHECK(ok_reply(compat.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());
  CHECK(unused.asked.empty());
  // The grants cannot be read: denied (fail closed), saying why, not that nothing was granted; an
  // outage is not asked twice.
  lookup.fail = true;
  lookup.asked.clear();
  auto err = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
  CHECK(lookup.asked == std::vector<std::string>{"grants vault"});
  CHECK_FALSE(err.allowed());
  CHECK(err.code() == 403);
  CHECK(err.message().find("spec.authentication.universalAuth.credentialsRef: could not verify that namespace vault "
                           "grants") != npos);
  CHECK(err.message().find("connection refused") != npos);
  CHECK(err.message().find("no InfisicalReferenceGrant") == npos);
}

TEST_CASE("trust: hostAPI must be on the allow-list or the global host, and https unless http is allowed") {
  FakeTrustLookup lookup;
  AdmissionHandler h(CrossNamespacePolicy::kAllow, nullptr, nullptr, core::TrustPolicy{}, &lookup);
  const std::string obj = infisical_secret(universal());  // https://infisical.example.com: not on the default list
  auto denied = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
  CHECK_FALSE(denied.allowed());
  CHECK(denied.code() == 403);
  CHECK(denied.message().find("spec.hostAPI: hostAPI host infisical.example.com is not on the operator's list of "
                              "allowed Infisical hosts") != npos);
  CHECK(lookup.asked == std::vector<std::string>{"global host", "global host (fresh)"});
  // The admin's global host (ConfigMap infisical-config) is always allowed.
  lookup.global_host = "https://infisical.example.com/api";
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());
  // A host on the list needs no lookup.
  lookup.asked.clear();
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", with_host(obj, "https://eu.infisical.com")))).allowed());
  CHECK(lookup.asked.empty());
  // http:// is refused even for a listed host, unless the admin allows http.
  const std::string plain = with_host(obj, "http://infisical.example.com");
  AdmissionHandler strict(CrossNamespacePolicy::kAllow, nullptr, nullptr, example_host_allowed(), &lookup);
  auto http = ok_reply(strict.validate(review(kIsKind, "CREATE", "apps", plain)));
  CHECK_FALSE(http.allowed());
  CHECK(http.message().find("spec.hostAPI: hostAPI infisical.example.com uses http://") != npos);
  core::TrustPolicy lax_policy = example_host_allowed();
  lax_policy.allow_http = true;
  AdmissionHandler lax(CrossNamespacePolicy::kAllow, nullptr, nullptr, lax_policy, &lookup);
  CHECK(ok_reply(lax.validate(review(kIsKind, "CREATE", "apps", plain))).allowed());
  // The global host cannot be read: denied (fail closed).
  lookup.fail = true;
  auto err = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
  CHECK_FALSE(err.allowed());
  CHECK(err.message().find("spec.hostAPI: could not verify that the host is allowed") != npos);
  CHECK(err.message().find("connection refused") != npos);
}

TEST_CASE("trust: an UPDATE of host, TLS, auth or targets re-authorises every reference against its user") {
  // An admin created an InfisicalSecret that uses a granted Secret of namespace vault. A tenant of
  // namespace apps, who may not read that Secret, must not redirect it by patching hostAPI.
  FakeAuthorizer auth;
  auth.grants = {"admin get secrets vault"};
  FakeTrustLookup lookup;
  lookup.all_grants = {grant("vault", "apps", "Secret", "creds")};
  core::TrustPolicy any_host;
  any_host.allowed_hosts = {"*"};
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr, any_host, &lookup);
  const std::string by_admin = infisical_secret(universal("vault"));
  REQUIRE(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", by_admin, "null", "admin"))).allowed());

  auth.asked.clear();
  const std::string moved = with_host(by_admin, "https://collector.tenant.example");
  auto denied = ok_reply(h.validate(review(kIsKind, "UPDATE", "apps", moved, by_admin, "tenant")));
  CHECK_FALSE(denied.allowed());
  CHECK(denied.code() == 403);
  CHECK(denied.message().find("spec.authentication.universalAuth.credentialsRef: user \"tenant\" may not get secrets "
                              "\"creds\" in namespace vault") != npos);
  CHECK(auth.asked == std::vector<std::string>{"tenant get secrets vault"});
  // The same change by the admin, and a change of the auth block's scope by the tenant.
  CHECK(ok_reply(h.validate(review(kIsKind, "UPDATE", "apps", moved, by_admin, "admin"))).allowed());
  const std::string rescoped = replaced(by_admin, R"("projectSlug":"proj")", R"("projectSlug":"other")");
  CHECK_FALSE(ok_reply(h.validate(review(kIsKind, "UPDATE", "apps", rescoped, by_admin, "tenant"))).allowed());

  // Changes that do not touch where credentials come from or go to ask nothing.
  auth.asked.clear();
  lookup.asked.clear();
  const std::string resynced = replaced(by_admin, R"("resyncInterval":60)", R"("resyncInterval":300)");
  CHECK(ok_reply(h.validate(review(kIsKind, "UPDATE", "apps", resynced, by_admin, "tenant"))).allowed());
  const std::string labelled = replaced(by_admin, R"("metadata":{"name":"demo","namespace":"apps"})",
                                        R"("metadata":{"name":"demo","namespace":"apps","labels":{"team":"a"}})");
  CHECK(ok_reply(h.validate(review(kIsKind, "UPDATE", "apps", labelled, by_admin, "tenant"))).allowed());
  CHECK(auth.asked.empty());
  CHECK(lookup.asked.empty());
}

TEST_CASE("ldapAuth and the legacy token reference are references like the others; serviceAccount says how to migrate") {
  FakeAuthorizer auth;
  auth.grants = {"alice get secrets directory", "alice get secrets tokens"};
  FakeTrustLookup lookup;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr, example_host_allowed(), &lookup);
  const std::string ldap = infisical_secret(
      R"({"ldapAuth":{"identityId":"id","credentialsRef":{"secretName":"ldap-creds","secretNamespace":"directory"},
          "secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/","secretName":"DB_URL"}}})");
  auto denied = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", ldap)));
  CHECK_FALSE(denied.allowed());
  CHECK(denied.message().find("spec.authentication.ldapAuth.credentialsRef: the LDAP credentials Secret "
                              "directory/ldap-creds is in another namespace") != npos);
  lookup.all_grants = {grant("directory", "apps", "Secret", "ldap-creds")};
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", ldap))).allowed());

  // The legacy spec.tokenSecretReference names the service-token Secret when serviceToken has none.
  std::string legacy = replaced(infisical_secret(R"({"serviceToken":{"secretsScope":{"envSlug":"dev","secretsPath":"/"}}})"),
                                R"("resyncInterval":60,)",
                                R"("resyncInterval":60,"tokenSecretReference":{"secretName":"tok","secretNamespace":"tokens"},)");
  auto no_grant = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", legacy)));
  CHECK_FALSE(no_grant.allowed());
  CHECK(no_grant.message().find("spec.tokenSecretReference: the service-token Secret tokens/tok is in another "
                                "namespace") != npos);
  lookup.all_grants.push_back(grant("tokens", "apps", "Secret", "tok"));
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", legacy))).allowed());
  // Changing only tokenSecretReference re-authorises against the user making the change.
  auth.asked.clear();
  const std::string moved = replaced(legacy, R"("secretName":"tok")", R"("secretName":"tok-2")");
  CHECK(ok_reply(h.validate(review(kIsKind, "UPDATE", "apps", moved, legacy, "alice"))).allowed() == false);
  CHECK(auth.asked == std::vector<std::string>{"alice get secrets tokens"});

  auto retired = ok_reply(h.validate(review(
      kIsKind, "CREATE", "apps",
      infisical_secret(R"({"serviceAccount":{"serviceAccountSecretReference":{"secretName":"sa","secretNamespace":"apps"},
                           "projectId":"p","environmentName":"dev"}})"))));
  CHECK_FALSE(retired.allowed());
  CHECK(retired.code() == 422);
  CHECK(retired.message().find("spec.authentication.serviceAccount: Infisical retired service accounts") != npos);
  CHECK(retired.message().find("spec.authentication:") == npos);  // not also "none is set"
}

TEST_CASE("trust: kubernetesAuth needs the user's create serviceaccounts/token and the ServiceAccount's opt-in") {
  const std::string obj = infisical_secret(kKubernetesAuth);
  FakeAuthorizer auth;
  FakeTrustLookup lookup;
  lookup.accounts["apps/app"] = {{kOptInAnnotation, "id-1"}};
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr, example_host_allowed(), &lookup);

  // The ServiceAccount is in the resource's own namespace; the user still needs the right to mint for it.
  auto no_right = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj, "null", "bob")));
  CHECK_FALSE(no_right.allowed());
  CHECK(no_right.code() == 403);
  CHECK(no_right.message().find("spec.authentication.kubernetesAuth.serviceAccountRef: user \"bob\" may not create "
                                "serviceaccounts/token \"app\" in namespace apps") != npos);
  CHECK(auth.asked == std::vector<std::string>{"bob create serviceaccounts/token apps"});

  auth.grants = {"alice create serviceaccounts/token apps"};
  lookup.asked.clear();
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());
  CHECK(lookup.asked == std::vector<std::string>{"serviceaccount apps/app"});

  // Without the opt-in for this identity no token would be minted: refused now.
  for (auto annotations : {std::map<std::string, std::string>{{"other", "x"}},
                           std::map<std::string, std::string>{{kOptInAnnotation, "id-2"}}}) {
    lookup.accounts["apps/app"] = annotations;
    auto denied = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
    CHECK_FALSE(denied.allowed());
    CHECK(denied.message().find("spec.authentication.kubernetesAuth.serviceAccountRef: ServiceAccount apps/app has no "
                                "annotation secrets.infisical.com/kubernetes-auth-identity-ids naming identity id-1") !=
          npos);
  }
  lookup.accounts.clear();
  auto missing = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
  CHECK_FALSE(missing.allowed());
  CHECK(missing.message().find("ServiceAccount apps/app was not found, or has no annotation") != npos);
  lookup.accounts["apps/app"] = {{kOptInAnnotation, "id-0, id-1"}};
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());

  // --cross-namespace-policy deny still asks for the user's right; allow does not (the opt-in still counts).
  AdmissionHandler deny(CrossNamespacePolicy::kDeny, &auth, nullptr, example_host_allowed(), &lookup);
  CHECK_FALSE(ok_reply(deny.validate(review(kIsKind, "CREATE", "apps", obj, "null", "bob"))).allowed());
  CHECK(ok_reply(deny.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());
  FakeAuthorizer never;
  AdmissionHandler open(CrossNamespacePolicy::kAllow, &never, nullptr, example_host_allowed(), &lookup);
  CHECK(ok_reply(open.validate(review(kIsKind, "CREATE", "apps", obj, "null", "bob"))).allowed());
  CHECK(never.asked.empty());
  lookup.accounts.clear();
  CHECK_FALSE(ok_reply(open.validate(review(kIsKind, "CREATE", "apps", obj, "null", "bob"))).allowed());

  // The ServiceAccount cannot be read: denied (fail closed).
  lookup.fail = true;
  auto err = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj)));
  CHECK_FALSE(err.allowed());
  CHECK(err.message().find("could not verify that the ServiceAccount apps/app opted in") != npos);
}

TEST_CASE("trust: the fast path asks nothing; without a lookup a spec that needs one is denied") {
  FakeAuthorizer auth;
  FakeTrustLookup lookup;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr, core::TrustPolicy{}, &lookup);
  const std::string same_ns = infisical_secret(universal());
  for (const std::string& obj : {with_host(same_ns, ""), with_host(same_ns, "https://app.infisical.com/api")}) {
    CAPTURE(obj);
    CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", obj))).allowed());
  }
  CHECK(lookup.asked.empty());
  CHECK(auth.asked.empty());

  AdmissionHandler bare(CrossNamespacePolicy::kAuthorize, &auth, nullptr);
  CHECK(ok_reply(bare.validate(review(kIsKind, "CREATE", "apps", with_host(same_ns, "")))).allowed());
  auto needs = ok_reply(bare.validate(review(kIsKind, "CREATE", "apps", same_ns)));
  CHECK_FALSE(needs.allowed());
  CHECK(needs.message().find("spec.hostAPI: could not verify") != npos);
}

namespace {

std::string deployment(const std::string& annotations, const std::string& template_annotations,
                       const std::string& env_secret = "app-secrets", const std::string& key = "DB_PASSWORD") {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"apps","annotations":)" +
         annotations + R"(},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"})" +
         (template_annotations.empty() ? "" : R"(,"annotations":)" + template_annotations) +
         R"(},"spec":{"containers":[{"name":"c","image":"nginx","env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":")" +
         env_secret + R"(","key":")" + key + R"("}}}]}]}}}})";
}

const std::string kOptIn = R"({"secrets.infisical.com/auto-reload":"true"})";

// Applies the webhook's patch with core's RFC 6902 implementation; only "add" and "remove" operations.
std::string apply_patch(const std::string& object, const std::string& patch) {
  auto ops = core::parse_json(patch).value();
  REQUIRE(ops->IsArray());
  REQUIRE(ops->Size() >= 1);
  for (const auto& op : ops->GetArray()) CHECK((core::get_string(op, "op") == "add" || core::get_string(op, "op") == "remove"));
  auto doc = core::parse_json(object).value();
  auto out = core::apply_json_patch(*doc, *ops);
  REQUIRE(out.ok());
  return core::to_json(**out);
}

std::string hash_of(const std::string& object) {
  auto doc = core::parse_json(object).value();
  auto* ann = core::at_path(*doc, {"spec", "template", "metadata", "annotations"});
  return ann ? core::string_or(*ann, "secrets.infisical.com/rollout-hash", "") : "";
}

std::string baseline_of(const std::string& object) {
  auto doc = core::parse_json(object).value();
  auto* ann = core::at_path(*doc, {"metadata", "annotations"});
  return ann ? core::string_or(*ann, "secrets.infisical.com/rollout-baseline", "") : "";
}

// The opt-in annotation plus a rollout baseline.
std::string opt_in_with_baseline(const std::string& baseline) {
  return R"({"secrets.infisical.com/auto-reload":"true","secrets.infisical.com/rollout-baseline":")" + baseline + R"("})";
}

}  // namespace

TEST_CASE("mutate: only opted-in workloads get a patch; CREATE stamps the hash; the output is a fixed point") {
  FakeDigests digests;
  digests.secrets["apps/app-secrets"] = {{"DB_PASSWORD", "d1"}, {"OTHER", "o1"}};
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, &digests);

  auto plain = ok_reply(h.mutate(review(kDeployKind, "CREATE", "apps", deployment("{}", ""))));
  CHECK(plain.allowed());
  CHECK(plain.patch().empty());
  auto off = ok_reply(h.mutate(review(kDeployKind, "CREATE", "apps",
                                      deployment(R"({"secrets.infisical.com/auto-reload":"false"})", ""))));
  CHECK(off.patch().empty());

  for (std::string tmpl_ann : {std::string(), std::string("{}"), std::string(R"({"x":"y"})")}) {
    CAPTURE(tmpl_ann);
    std::string obj = deployment(kOptIn, tmpl_ann);
    auto p = ok_reply(h.mutate(review(kDeployKind, "CREATE", "apps", obj)));
    CHECK(p.allowed());
    REQUIRE_FALSE(p.patch().empty());
    CHECK(core::get_string(p.response(), "patchType") == "JSONPatch");
    std::string stamped = apply_patch(obj, p.patch());
    CHECK(hash_of(stamped).size() == 64);
    // Fixed point: admitting our own output (CREATE or UPDATE) yields no patch.
    CHECK(ok_reply(h.mutate(review(kDeployKind, "CREATE", "apps", stamped))).patch().empty());
    CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", stamped, stamped))).patch().empty());
  }
  // StatefulSets and DaemonSets too; other kinds are left alone.
  std::string sts = deployment(kOptIn, "");
  CHECK_FALSE(ok_reply(h.mutate(review(R"({"group":"apps","version":"v1","kind":"StatefulSet"})", "CREATE", "apps", sts)))
                  .patch().empty());
  CHECK_FALSE(ok_reply(h.mutate(review(R"({"group":"apps","version":"v1","kind":"DaemonSet"})", "CREATE", "apps", sts)))
                  .patch().empty());
  CHECK(ok_reply(h.mutate(review(R"({"group":"","version":"v1","kind":"Pod"})", "CREATE", "apps", sts))).patch().empty());
}

TEST_CASE("mutate: the hash depends only on the consumed keys' digests; a missing Secret is a distinct input") {
  FakeDigests digests;
  digests.secrets["apps/app-secrets"] = {{"DB_PASSWORD", "d1"}, {"OTHER", "o1"}};
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, &digests);
  auto stamp = [&](const std::string& obj) {
    return hash_of(apply_patch(obj, ok_reply(h.mutate(review(kDeployKind, "CREATE", "apps", obj))).patch()));
  };
  const std::string obj = deployment(kOptIn, "");
  const std::string h1 = stamp(obj);
  digests.secrets["apps/app-secrets"]["OTHER"] = "o2";  // a key it does not consume
  CHECK(stamp(obj) == h1);
  digests.secrets["apps/app-secrets"]["DB_PASSWORD"] = "d2";
  const std::string h2 = stamp(obj);
  CHECK(h2 != h1);
  digests.secrets.clear();
  const std::string missing = stamp(obj);
  CHECK(missing != h2);
  CHECK(missing.size() == 64);
  // A different namespace with the same digests hashes differently.
  digests.secrets["apps/app-secrets"] = {{"DB_PASSWORD", "d2"}};
  digests.secrets["other/app-secrets"] = {{"DB_PASSWORD", "d2"}};
  std::string other_ns = deployment(kOptIn, "");
  CHECK(hash_of(apply_patch(other_ns, ok_reply(h.mutate(review(kDeployKind, "CREATE", "other", other_ns))).patch())) != h2);
}

TEST_CASE("mutate UPDATE: keeps a given hash, copies the old one when dropped, recomputes when consumers change") {
  FakeDigests digests;
  digests.secrets["apps/app-secrets"] = {{"DB_PASSWORD", "d1"}, {"API_KEY", "a1"}};
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, &digests);
  const std::string newer = R"({"secrets.infisical.com/rollout-hash":"from-the-syncer"})";
  const std::string old_obj = deployment(kOptIn, newer);
  // The user re-applies a manifest without the annotation (GitOps): the old value is copied.
  std::string reapplied = deployment(kOptIn, "");
  auto p = ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", reapplied, old_obj)));
  CHECK(hash_of(apply_patch(reapplied, p.patch())) == "from-the-syncer");
  // A given value is kept even when it differs from the cache (never undo the syncer).
  CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", old_obj, old_obj))).patch().empty());
  // The consumed set changed: recomputed from the cache.
  std::string changed = deployment(kOptIn, newer, "app-secrets", "API_KEY");
  auto q = ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", changed, old_obj)));
  std::string out = apply_patch(changed, q.patch());
  CHECK(hash_of(out) != "from-the-syncer");
  CHECK(hash_of(out).size() == 64);
  CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", out, out))).patch().empty());
}

TEST_CASE("mutate UPDATE without a hash: a scale or a re-apply adds none (no rollout); the baseline is kept") {
  FakeDigests digests;
  digests.secrets["apps/app-secrets"] = {{"DB_PASSWORD", "d1"}, {"API_KEY", "a1"}};
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, &digests);
  // A workload that existed before the install, never stamped: `kubectl scale` (or an apply that
  // changes only replicas) keeps its pod template exactly as it is.
  const std::string before = deployment(kOptIn, "");
  std::string scaled = before;
  scaled.replace(scaled.find(R"("replicas":1)"), 12, R"("replicas":3)");
  auto p = ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", scaled, before)));
  CHECK(p.allowed());
  CHECK(p.patch().empty());
  // The syncer recorded a baseline (a metadata merge patch, admitted as an UPDATE): kept as given.
  const std::string baselined = deployment(opt_in_with_baseline("from-the-syncer"), "");
  CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", baselined, before))).patch().empty());
  // A GitOps re-apply without the baseline: the stored one is copied back, still no template hash.
  auto q = ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", scaled, baselined)));
  REQUIRE_FALSE(q.patch().empty());
  std::string out = apply_patch(scaled, q.patch());
  CHECK(baseline_of(out) == "from-the-syncer");
  CHECK(hash_of(out).empty());
  CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", out, baselined))).patch().empty());  // fixed point
  CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", out, out))).patch().empty());
  // The syncer rolls it: the hash arrives in the template and the baseline goes, both kept as given.
  const std::string rolled = deployment(kOptIn, R"({"secrets.infisical.com/rollout-hash":"rolled"})");
  CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", rolled, baselined))).patch().empty());
  // The consumed keys change (the pods roll anyway): the current hash, and the baseline is dropped.
  std::string changed = deployment(opt_in_with_baseline("from-the-syncer"), "", "app-secrets", "API_KEY");
  auto c = ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", changed, baselined)));
  std::string recomputed = apply_patch(changed, c.patch());
  CHECK(hash_of(recomputed).size() == 64);
  CHECK(baseline_of(recomputed).empty());
  CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", recomputed, recomputed))).patch().empty());
  // A re-apply is admitted the same way while the cache is not synced: nothing to compute.
  digests.is_synced = false;
  auto u = ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", scaled, baselined)));
  CHECK(baseline_of(apply_patch(scaled, u.patch())) == "from-the-syncer");
  CHECK(u.warnings().empty());
}

TEST_CASE("mutate during a digest-key rotation: an UPDATE that changes no consumed key keeps the stamp made under "
          "the previous key; new workloads and new consumers get the current key's hash") {
  const core::SecretData data = {{"DB_PASSWORD", "d1"}, {"API_KEY", "a1"}};
  FakeDigests digests;
  digests.secrets["apps/app-secrets"] = core::key_digests("previous-key", "apps", "app-secrets", data);
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, &digests);
  const std::string manifest = deployment(kOptIn, "");
  const std::string stamped = apply_patch(manifest, ok_reply(h.mutate(review(kDeployKind, "CREATE", "apps", manifest))).patch());
  const std::string under_previous = hash_of(stamped);
  REQUIRE(under_previous.size() == 64);
  // The key rotates: the syncer republishes the same data's digests under the new key.
  digests.secrets["apps/app-secrets"] = core::key_digests("current-key", "apps", "app-secrets", data);
  // A scale, and a GitOps re-apply that drops the annotation: the pod template keeps the stamp made
  // under the previous key (re-stamping it would roll the pods for no change of data).
  std::string scaled = stamped;
  scaled.replace(scaled.find(R"("replicas":1)"), 12, R"("replicas":3)");
  CHECK(ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", scaled, stamped))).patch().empty());
  auto reapplied = ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", manifest, stamped)));
  CHECK(hash_of(apply_patch(manifest, reapplied.patch())) == under_previous);
  // A new workload's pods start with the data now: the current key's hash.
  const std::string created =
      hash_of(apply_patch(manifest, ok_reply(h.mutate(review(kDeployKind, "CREATE", "apps", manifest))).patch()));
  CHECK(created.size() == 64);
  CHECK(created != under_previous);
  // A changed consumer set rolls the pods anyway: the current key's hash as well.
  std::string changed = deployment(kOptIn, R"({"secrets.infisical.com/rollout-hash":")" + under_previous + "\"}",
                                   "app-secrets", "API_KEY");
  std::string out = apply_patch(changed, ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", changed, stamped))).patch());
  CHECK(hash_of(out) != under_previous);
  digests.secrets["apps/app-secrets"] = core::key_digests("previous-key", "apps", "app-secrets", data);
  std::string under_previous_api =
      hash_of(apply_patch(changed, ok_reply(h.mutate(review(kDeployKind, "UPDATE", "apps", changed, stamped))).patch()));
  CHECK(hash_of(out) != under_previous_api);  // computed with the current key, not the previous one
}

TEST_CASE("mutate before the cache synced: allowed without a patch, with a warning") {
  FakeDigests digests;
  digests.is_synced = false;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, &digests);
  auto p = ok_reply(h.mutate(review(kDeployKind, "CREATE", "apps", deployment(kOptIn, ""))));
  CHECK(p.allowed());
  CHECK(p.patch().empty());
  CHECK(p.warnings().size() == 1);
}

TEST_CASE("consumed keys: env, envFrom, volumes with and without items, projected; whole covers single") {
  auto spec = core::parse_json(R"({
    "initContainers":[{"name":"i","envFrom":[{"secretRef":{"name":"all"}}]}],
    "containers":[{"name":"c","env":[{"name":"A","valueFrom":{"secretKeyRef":{"name":"one","key":"k1"}}},
                                     {"name":"B","valueFrom":{"secretKeyRef":{"name":"all","key":"x"}}},
                                     {"name":"C","valueFrom":{"configMapKeyRef":{"name":"cm","key":"k"}}}]}],
    "volumes":[{"name":"v1","secret":{"secretName":"vol","items":[{"key":"a","path":"a"},{"key":"b","path":"b"}]}},
               {"name":"v2","secret":{"secretName":"wholevol"}},
               {"name":"v3","projected":{"sources":[{"secret":{"name":"proj","items":[{"key":"p","path":"p"}]}},
                                                   {"configMap":{"name":"cm"}}]}}]})").value();
  Consumed want = {{"all", std::nullopt}, {"one", "k1"}, {"proj", "p"}, {"vol", "a"}, {"vol", "b"}, {"wholevol", std::nullopt}};
  CHECK(consumed_keys(*spec) == want);
}

#include "webhook/options.h"

TEST_CASE("webhook flags: Kubernetes style, defaults, and one-line errors naming the flag") {
  auto o = ifo::webhook::parse_options({"--tls-cert-file", "c.pem", "--tls-private-key-file=k.pem", "--port", "0",
                                        "--health-port", "8082", "--cross-namespace-policy", "deny"});
  REQUIRE(o.ok());
  CHECK(o->tls_cert_file == "c.pem");
  CHECK(o->tls_key_file == "k.pem");
  CHECK(o->server.port == 0);
  CHECK(o->server.health_port == 8082);
  CHECK(o->policy == CrossNamespacePolicy::kDeny);
  CHECK(o->operator_namespace == "infisical-operator-system");
  auto d = ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k"});
  REQUIRE(d.ok());
  CHECK(d->policy == CrossNamespacePolicy::kAuthorize);
  CHECK(d->server.port == 9443);
  CHECK(ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k", "--bogus", "1"})
            .error() == "unknown flag --bogus (see --help)");
  CHECK(ifo::webhook::parse_options({"--tls-private-key-file", "k"}).error().find("--tls-cert-file") != std::string::npos);
  CHECK(ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k", "--port", "70000"})
            .error().find("--port") != std::string::npos);
  CHECK(ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k", "--cross-namespace-policy",
                                     "maybe"}).error().find("maybe") != std::string::npos);
  CHECK(ifo::webhook::parse_options({"--tls-cert-file"}).error().find("needs a value") != std::string::npos);
  CHECK(ifo::webhook::parse_options({"--help"})->help);
}

TEST_CASE("webhook flags: the trust boundary, with the syncer's defaults") {
  auto d = ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k"});
  REQUIRE(d.ok());
  CHECK_FALSE(d->trust.cross_namespace_without_grant);
  CHECK(d->trust.allowed_hosts == core::TrustPolicy{}.allowed_hosts);
  CHECK_FALSE(d->trust.allow_http);
  auto o = ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k",
                                        "--cross-namespace-references", "allow", "--allowed-hosts",
                                        "infisical.example.com, *.corp.example:8443", "--allow-insecure-http=true",
                                        "--cross-namespace-policy", "deny"});
  REQUIRE(o.ok());
  CHECK(o->trust.cross_namespace_without_grant);
  CHECK(o->trust.allowed_hosts == std::vector<std::string>{"infisical.example.com", "*.corp.example:8443"});
  CHECK(o->trust.allow_http);
  CHECK(o->policy == CrossNamespacePolicy::kDeny);
  auto empty = ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k", "--allowed-hosts="});
  REQUIRE(empty.ok());
  CHECK(empty->trust.allowed_hosts.empty());
  auto err = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"--tls-cert-file", "c", "--tls-private-key-file", "k"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = ifo::webhook::parse_options(args);
    return r.ok() ? std::string() : r.error();
  };
  CHECK(err({"--cross-namespace-references", "maybe"}).find("--cross-namespace-references") != npos);
  CHECK(err({"--allowed-hosts", "https://app.infisical.com"}).find("not a URL") != npos);
  CHECK(err({"--allow-insecure-http=yes please"}).find("--allow-insecure-http") != npos);
  // A boolean stands alone (pflag); what follows it is its value only when literally true or false.
  CHECK(err({"--allow-insecure-http", "yes please"}).find("unexpected argument \"yes please\"") != npos);
  CHECK(ifo::webhook::usage().find("--allowed-hosts") != npos);
}

TEST_CASE("a ConfigMap target is admitted; in another namespace it needs create configmaps and a ConfigMap grant") {
  const std::string same_ns = replaced(infisical_secret(universal()), R"("creationPolicy":"Orphan"})",
                                       R"("creationPolicy":"Orphan"},
      "managedKubeConfigMapReferences":[{"configMapName":"settings","configMapNamespace":"apps",
        "template":{"data":{"URL":"{{ .URL.Value }}"}}}])");
  FakeAuthorizer auth;
  FakeTrustLookup lookup;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr, example_host_allowed(), &lookup);
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", same_ns))).allowed());
  CHECK(auth.asked.empty());
  CHECK(lookup.asked.empty());

  const std::string other_ns = replaced(same_ns, R"("configMapNamespace":"apps")", R"("configMapNamespace":"web")");
  // The user's own right to create ConfigMaps there is checked first.
  auto forbidden = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", other_ns)));
  CHECK_FALSE(forbidden.allowed());
  CHECK(auth.asked == std::vector<std::string>{"alice create configmaps web"});
  CHECK(forbidden.message().find("spec.managedKubeConfigMapReferences[0]: user \"alice\" may not create configmaps in "
                                 "namespace web (required to refer to the managed ConfigMap web/settings") != npos);
  // With it, the grant decides: one for Secrets does not admit a ConfigMap, one for the ConfigMap does.
  auth.grants = {"alice create configmaps web"};
  lookup.all_grants = {grant("web", "apps", "Secret", "settings")};
  auto refused = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", other_ns)));
  CHECK_FALSE(refused.allowed());
  CHECK(refused.message().find("spec.managedKubeConfigMapReferences[0]: the managed ConfigMap web/settings is in "
                               "another namespace") != npos);
  lookup.all_grants.push_back(grant("web", "apps", "ConfigMap", "settings"));
  CHECK(ok_reply(h.validate(review(kIsKind, "CREATE", "apps", other_ns))).allowed());
}

TEST_CASE("an authorizer that does not know an answer yet makes validate() pending, after every check, asking nothing else") {
  // Answers from what it knows; nullopt ("not known yet") for the rest, as the server's first attempt.
  class Partial : public Authorizer {
   public:
    std::map<std::string, bool> known;
    std::vector<std::string> asked;
    std::optional<bool> allowed(const UserInfo& user, const core::AccessCheck& c) override {
      std::string q = user.username + " " + c.verb + " " + c.resource + " " + c.namespace_;
      asked.push_back(q);
      if (auto it = known.find(q); it != known.end()) return it->second;
      return std::nullopt;
    }
  };
  Partial partial;
  FakeTrustLookup lookup;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, nullptr, nullptr, example_host_allowed(), &lookup);
  const std::string both = infisical_secret(universal("vault"), "web");
  const Reply pending = h.validate(review(kIsKind, "CREATE", "apps", both), &partial);
  CHECK(pending.pending);
  CHECK(pending.body.empty());
  // Both checks were asked, so one round of answers suffices; the trust policy was not looked up.
  CHECK(partial.asked == std::vector<std::string>{"alice get secrets vault", "alice create secrets web"});
  CHECK(lookup.asked.empty());
  // Once every answer is known, validate() decides.
  partial.known = {{"alice get secrets vault", true}, {"alice create secrets web", false}};
  auto decided = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", both), &partial));
  CHECK_FALSE(decided.allowed());
  CHECK(decided.message().find("user \"alice\" may not create secrets in namespace web") != npos);
  // A request needing no check never waits.
  CHECK_FALSE(h.validate(review(kIsKind, "CREATE", "apps", infisical_secret(universal())), &partial).pending);
}

TEST_CASE("webhook flags: the SubjectAccessReview deadline and pending limit") {
  auto d = ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k"});
  REQUIRE(d.ok());
  CHECK(d->authorization_timeout == std::chrono::milliseconds(3000));
  CHECK(d->max_pending_authorizations == 64);
  auto o = ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k", "--authorization-timeout",
                                        "1500ms", "--max-pending-authorizations=8"});
  REQUIRE(o.ok());
  CHECK(o->authorization_timeout == std::chrono::milliseconds(1500));
  CHECK(o->max_pending_authorizations == 8);
  auto err = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"--tls-cert-file", "c", "--tls-private-key-file", "k"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = ifo::webhook::parse_options(args);
    return r.ok() ? std::string() : r.error();
  };
  // At least the longest webhook timeoutSeconds (30) would leave the API server timing out first.
  CHECK(err({"--authorization-timeout", "30s"}).find("below 30s") != npos);
  CHECK(err({"--authorization-timeout", "0s"}).find("--authorization-timeout") != npos);
  CHECK(err({"--max-pending-authorizations", "0"}).find("--max-pending-authorizations") != npos);
  CHECK(ifo::webhook::usage().find("--authorization-timeout") != npos);
}

TEST_CASE("webhook flags: durations in Go's syntax, bad ones and unknown flags named with their value") {
  auto o = ifo::webhook::parse_options({"--tls-cert-file", "c", "--tls-private-key-file", "k",
                                        "--shutdown-grace=1m30s", "--authorization-timeout", "2.5s",
                                        "--authorization-cache-ttl=1500ms", "--cert-reload-interval", "1m"});
  REQUIRE(o.ok());
  CHECK(o->server.shutdown_grace == std::chrono::seconds(90));
  CHECK(o->authorization_timeout == std::chrono::milliseconds(2500));
  CHECK(o->authorization_cache_ttl == std::chrono::milliseconds(1500));
  CHECK(o->server.cert_poll_interval == std::chrono::minutes(1));
  auto err = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"--tls-cert-file", "c", "--tls-private-key-file", "k"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = ifo::webhook::parse_options(args);
    return r.ok() ? std::string() : r.error();
  };
  // A bare number has no unit: these flags never took plain seconds.
  CHECK(err({"--shutdown-grace=10"}) ==
        "flag --shutdown-grace: invalid duration \"10\": add a unit, e.g. 10s "
        "(ns, us, ms, s, m or h)");
  CHECK(err({"--cert-reload-interval", "2x"}).find("flag --cert-reload-interval: invalid duration \"2x\"") ==
        0);
  CHECK(err({"--authorization-cache-ttl=-1s"}).find("flag --authorization-cache-ttl: ") == 0);
  CHECK(err({"--shutdown-grace=25h"}).find("flag --shutdown-grace: \"25h\"") == 0);
  CHECK(err({"--shutdown-grace-period=5s"}) == "unknown flag --shutdown-grace-period (see --help)");
  CHECK(ifo::webhook::usage().find("1m30s") != npos);
}

TEST_CASE("a user whose rights could not be verified causes no trust lookup (forged reviews cost one review each)") {
  FakeAuthorizer auth;
  auth.fail = true;  // the API server does not answer the SubjectAccessReview
  FakeTrustLookup lookup;
  AdmissionHandler h(CrossNamespacePolicy::kAuthorize, &auth, nullptr, example_host_allowed(), &lookup);
  auto denied = ok_reply(h.validate(review(kIsKind, "CREATE", "apps", infisical_secret(universal("vault")))));
  CHECK_FALSE(denied.allowed());
  CHECK(denied.message().find("could not verify whether user \"alice\" may get secrets") != npos);
  CHECK(auth.asked == std::vector<std::string>{"alice get secrets vault"});
  CHECK(lookup.asked.empty());
  // Refused (not unverified), every reason is still reported: the trust policy is asked as before.
  auth.fail = false;
  h.validate(review(kIsKind, "CREATE", "apps", infisical_secret(universal("vault"))));
  CHECK_FALSE(lookup.asked.empty());
}
