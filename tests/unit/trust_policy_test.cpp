// The trust boundary's one decision (core/trust_policy.h), shared by syncer and webhook, as tables:
// reference kinds x same/other namespace x granted or not; hosts x allow-list x scheme; ServiceAccount
// opt-in; managed-Secret binding.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/constants.h"
#include "core/json.h"
#include "core/trust_policy.h"

using namespace ifo::core;

namespace {

InfisicalSecret parsed(const std::string& spec_json, const std::string& ns = "team-a") {
  std::string text = R"({"metadata":{"name":"app","namespace":")" + ns + R"(","uid":"uid-app"},"spec":)" + spec_json + "}";
  auto p = parse_infisical_secret_json(text);
  REQUIRE_MESSAGE(p.ok(), format_field_errors(p.errors));
  return p.resource;
}

std::string universal(const std::string& creds_ns, const std::string& extra = "") {
  return R"({"authentication":{"universalAuth":{"credentialsRef":{"secretName":"creds","secretNamespace":")" + creds_ns +
         R"("},"secretsScope":{"projectSlug":"p","envSlug":"dev","secretsPath":"/"}}},)" +
         R"("managedSecretReference":{"secretName":"out","secretNamespace":"team-a"})" + extra + "}";
}

std::string ldap(const std::string& creds_ns) {
  return R"({"authentication":{"ldapAuth":{"identityId":"id-ldap","credentialsRef":{"secretName":"ldap-creds","secretNamespace":")" +
         creds_ns + R"("},"secretsScope":{"projectSlug":"p","envSlug":"dev","secretsPath":"/","secretName":"K"}}},)" +
         R"("managedSecretReference":{"secretName":"out","secretNamespace":"team-a"}})";
}

ReferenceGrant grant(std::string ns, std::vector<std::string> from, std::vector<ReferenceGrant::To> to) {
  ReferenceGrant g;
  g.namespace_ = std::move(ns);
  g.name = "g";
  g.from_namespaces = std::move(from);
  g.to = std::move(to);
  return g;
}

std::vector<std::string> reasons(const std::vector<TrustRefusal>& r) {
  std::vector<std::string> out;
  for (const auto& x : r) out.push_back(x.reason + "@" + x.path);
  return out;
}

}  // namespace

TEST_CASE("cross-namespace references: kind x namespace x grant") {
  struct Case {
    const char* name;
    std::string spec;
    std::vector<ReferenceGrant> grants;
    std::vector<std::string> expect;  // reason@path; empty = allowed
  };
  const std::string cred_path = "spec.authentication.universalAuth.credentialsRef";
  const std::string ca = R"(,"tls":{"caRef":{"secretName":"ca","secretNamespace":"shared","key":"ca.crt"}})";
  const std::string target_elsewhere =
      R"(,"managedKubeSecretReferences":[{"secretName":"copy","secretNamespace":"team-b"}])";
  const std::string config_map_elsewhere =
      R"(,"managedKubeConfigMapReferences":[{"configMapName":"settings","configMapNamespace":"team-b"}])";
  std::vector<Case> cases = {
      {"same namespace needs no grant", universal("team-a"), {}, {}},
      {"other namespace without grant", universal("shared"), {}, {"ReferenceNotGranted@" + cred_path}},
      {"granted by name", universal("shared"), {grant("shared", {"team-a"}, {{"Secret", "creds"}})}, {}},
      {"granted for every Secret", universal("shared"), {grant("shared", {"team-a"}, {{"Secret", ""}})}, {}},
      {"grant for another name", universal("shared"), {grant("shared", {"team-a"}, {{"Secret", "other"}})},
       {"ReferenceNotGranted@" + cred_path}},
      {"grant to another namespace", universal("shared"), {grant("shared", {"team-b"}, {{"Secret", "creds"}})},
       {"ReferenceNotGranted@" + cred_path}},
      {"grant of another kind", universal("shared"), {grant("shared", {"team-a"}, {{"ConfigMap", "creds"}})},
       {"ReferenceNotGranted@" + cred_path}},
      {"grant living in the wrong namespace", universal("shared"),
       {grant("team-a", {"team-a"}, {{"Secret", "creds"}})}, {"ReferenceNotGranted@" + cred_path}},
      {"CA Secret elsewhere", universal("team-a", ca), {}, {"ReferenceNotGranted@spec.tls.caRef"}},
      {"CA Secret granted", universal("team-a", ca), {grant("shared", {"team-a"}, {{"Secret", "ca"}})}, {}},
      {"target elsewhere", universal("team-a", target_elsewhere), {},
       {"ReferenceNotGranted@spec.managedKubeSecretReferences[0]"}},
      {"target granted", universal("team-a", target_elsewhere), {grant("team-b", {"team-a"}, {{"Secret", "copy"}})}, {}},
      {"ConfigMap target elsewhere", universal("team-a", config_map_elsewhere), {},
       {"ReferenceNotGranted@spec.managedKubeConfigMapReferences[0]"}},
      {"ConfigMap target granted by name", universal("team-a", config_map_elsewhere),
       {grant("team-b", {"team-a"}, {{"ConfigMap", "settings"}})}, {}},
      {"ConfigMap target granted for every ConfigMap", universal("team-a", config_map_elsewhere),
       {grant("team-b", {"team-a"}, {{"ConfigMap", ""}})}, {}},
      {"a Secret grant does not cover a ConfigMap of that name", universal("team-a", config_map_elsewhere),
       {grant("team-b", {"team-a"}, {{"Secret", "settings"}, {"Secret", ""}})},
       {"ReferenceNotGranted@spec.managedKubeConfigMapReferences[0]"}},
      {"a ConfigMap grant does not cover a Secret target", universal("team-a", target_elsewhere),
       {grant("team-b", {"team-a"}, {{"ConfigMap", "copy"}})}, {"ReferenceNotGranted@spec.managedKubeSecretReferences[0]"}},
      {"ConfigMap target in the own namespace needs no grant",
       universal("team-a", R"(,"managedKubeConfigMapReferences":[{"configMapName":"settings","configMapNamespace":"team-a"}])"),
       {}, {}},
      {"service token elsewhere",
       R"({"authentication":{"serviceToken":{"serviceTokenSecretReference":{"secretName":"tok","secretNamespace":"shared"},
          "secretsScope":{"envSlug":"dev","secretsPath":"/"}}},
          "managedSecretReference":{"secretName":"out","secretNamespace":"team-a"}})",
       {}, {"ReferenceNotGranted@spec.authentication.serviceToken.serviceTokenSecretReference"}},
      {"LDAP credentials elsewhere without grant", ldap("shared"), {},
       {"ReferenceNotGranted@spec.authentication.ldapAuth.credentialsRef"}},
      {"LDAP credentials granted", ldap("shared"), {grant("shared", {"team-a"}, {{"Secret", "ldap-creds"}})}, {}},
      {"LDAP credentials in the own namespace need no grant", ldap("team-a"), {}, {}},
      {"legacy tokenSecretReference elsewhere without grant",
       R"({"authentication":{"serviceToken":{"secretsScope":{"envSlug":"dev","secretsPath":"/"}}},
          "tokenSecretReference":{"secretName":"tok","secretNamespace":"shared"},
          "managedSecretReference":{"secretName":"out","secretNamespace":"team-a"}})",
       {}, {"ReferenceNotGranted@spec.tokenSecretReference"}},
      {"legacy tokenSecretReference granted",
       R"({"authentication":{"serviceToken":{"secretsScope":{"envSlug":"dev","secretsPath":"/"}}},
          "tokenSecretReference":{"secretName":"tok","secretNamespace":"shared"},
          "managedSecretReference":{"secretName":"out","secretNamespace":"team-a"}})",
       {grant("shared", {"team-a"}, {{"Secret", "tok"}})}, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    TrustInputs in;
    in.grants = c.grants;
    CHECK(reasons(check_trust(parsed(c.spec), TrustPolicy{}, in)) == c.expect);
    // Upstream-compatible mode admits every one of them without a grant.
    TrustPolicy upstream;
    upstream.cross_namespace_without_grant = true;
    CHECK(check_trust(parsed(c.spec), upstream, TrustInputs{}).empty());
  }
}

TEST_CASE("reference_allowed: one object, from one namespace, x grants") {
  // What the webhook's digest cache asks of a claim: may InfisicalSecrets of `from` use Secret ns/name?
  struct Case {
    const char* name;
    std::string from;
    std::vector<ReferenceGrant> grants;
    bool expect;
  };
  const std::vector<Case> cases = {
      {"own namespace, no grant", "team-b", {}, true},
      {"other namespace, no grant", "team-a", {}, false},
      {"grant of any Secret", "team-a", {grant("team-b", {"team-a"}, {{"Secret", ""}})}, true},
      {"grant naming this Secret", "team-a", {grant("team-b", {"team-a"}, {{"Secret", "app-secrets"}})}, true},
      {"grant naming another Secret", "team-a", {grant("team-b", {"team-a"}, {{"Secret", "other"}})}, false},
      {"grant of ConfigMaps only", "team-a", {grant("team-b", {"team-a"}, {{"ConfigMap", ""}})}, false},
      {"grant to another namespace", "team-a", {grant("team-b", {"team-c"}, {{"Secret", ""}})}, false},
      // A grant lives in the namespace that grants: one in the referrer's own namespace grants nothing.
      {"grant in the referrer's namespace", "team-a", {grant("team-a", {"team-a"}, {{"Secret", ""}})}, false},
      {"second of several grants", "team-a",
       {grant("team-b", {"team-c"}, {{"Secret", ""}}), grant("team-b", {"team-c", "team-a"}, {{"Secret", ""}})},
       true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(reference_allowed(TrustPolicy{}, c.grants, c.from, "Secret", "team-b", "app-secrets") == c.expect);
    TrustPolicy upstream;
    upstream.cross_namespace_without_grant = true;
    CHECK(reference_allowed(upstream, c.grants, c.from, "Secret", "team-b", "app-secrets"));
  }
}

TEST_CASE("a refused reference says what and how to grant it, never a value") {
  auto r = check_trust(parsed(universal("shared")), TrustPolicy{}, TrustInputs{});
  REQUIRE(r.size() == 1);
  CHECK(r[0].message.find("credentials Secret shared/creds") != std::string::npos);
  CHECK(r[0].message.find("namespace team-a") != std::string::npos);
  CHECK(r[0].remedy.find("kind: InfisicalReferenceGrant") != std::string::npos);
  CHECK(r[0].remedy.find("namespace: shared") != std::string::npos);
  CHECK(r[0].remedy.find("- namespace: team-a") != std::string::npos);
  CHECK(r[0].remedy.find("name: creds") != std::string::npos);
}

TEST_CASE("a refused ConfigMap target names it as a ConfigMap and offers a ConfigMap grant") {
  auto r = check_trust(
      parsed(universal("team-a", R"(,"managedKubeConfigMapReferences":[{"configMapName":"settings","configMapNamespace":"web"}])")),
      TrustPolicy{}, TrustInputs{});
  REQUIRE(r.size() == 1);
  CHECK(r[0].reason == kReasonReferenceNotGranted);
  CHECK(r[0].path == "spec.managedKubeConfigMapReferences[0]");
  CHECK(r[0].message.find("managed ConfigMap web/settings") != std::string::npos);
  CHECK(r[0].remedy.find("namespace: web") != std::string::npos);
  CHECK(r[0].remedy.find("- kind: ConfigMap\n    name: settings") != std::string::npos);
  auto refs = trust_references(
      parsed(universal("team-a", R"(,"managedKubeConfigMapReferences":[{"configMapName":"settings","configMapNamespace":"web"}])")));
  REQUIRE(refs.size() == 3);
  CHECK(refs[2].kind == "ConfigMap");
  CHECK(refs[2].role == "managed ConfigMap");
}

TEST_CASE("hostAPI: allow-list x scheme x global host") {
  struct Case {
    const char* host_api;
    std::vector<std::string> allowed;
    bool allow_http;
    std::string global;
    bool ok;
  };
  const std::vector<std::string> cloud = TrustPolicy{}.allowed_hosts;
  std::vector<Case> cases = {
      {"", cloud, false, "", true},                                   // Infisical Cloud by default
      {"", cloud, false, "http://infisical.infra.svc:8080/api", true},  // the admin's global host
      {"https://app.infisical.com/api", cloud, false, "", true},
      {"https://EU.Infisical.com", cloud, false, "", true},
      {"https://app.infisical.com.", cloud, false, "", true},
      {"https://evil.example.net/api", cloud, false, "", false},
      {"https://app.infisical.com.evil.net/api", cloud, false, "", false},
      {"https://infisical.corp.example", {"*.corp.example"}, false, "", true},
      {"https://corp.example", {"*.corp.example"}, false, "", false},
      {"https://a.b.corp.example", {"*.corp.example"}, false, "", true},
      {"https://infisical.corp.example:8443", {"infisical.corp.example:443"}, false, "", false},
      {"https://infisical.corp.example:8443", {"infisical.corp.example:8443"}, false, "", true},
      {"https://infisical.corp.example:8443", {"infisical.corp.example"}, false, "", true},
      {"https://[::1]:8443", {"[::1]:8443"}, false, "", true},
      {"https://anything.example", {"*"}, false, "", true},
      {"http://app.infisical.com", cloud, false, "", false},  // http refused by default
      {"http://app.infisical.com", cloud, true, "", true},
      {"http://infisical.infra.svc:8080", cloud, false, "http://infisical.infra.svc:8080/api", true},
      {"https://infisical.infra.svc:8080", cloud, false, "http://infisical.infra.svc:8080/api", false},
      {"https://self.hosted.example/api", cloud, false, "https://self.hosted.example/api", true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.host_api);
    std::string extra = std::string(c.host_api).empty() ? "" : std::string(R"(,"hostAPI":")") + c.host_api + "\"";
    TrustPolicy policy;
    policy.allowed_hosts = c.allowed;
    policy.allow_http = c.allow_http;
    TrustInputs in;
    in.global_host_api = c.global;
    auto r = check_trust(parsed(universal("team-a", extra)), policy, in);
    CHECK(r.empty() == c.ok);
    if (!c.ok) {
      REQUIRE(r.size() == 1);
      CHECK(r[0].reason == kReasonHostNotAllowed);
      CHECK(r[0].path == "spec.hostAPI");
    }
  }
}

TEST_CASE("kubernetesAuth: the ServiceAccount must opt in for the identity, in any namespace") {
  auto spec = [](const std::string& sa_ns) {
    return R"({"authentication":{"kubernetesAuth":{"identityId":"id-1","serviceAccountRef":{"name":"deployer","namespace":")" +
           sa_ns +
           R"("},"secretsScope":{"projectSlug":"p","envSlug":"dev","secretsPath":"/"}}},
              "managedSecretReference":{"secretName":"out","secretNamespace":"team-a"}})";
  };
  const std::string path = "spec.authentication.kubernetesAuth.serviceAccountRef";
  const std::string key(kKubernetesAuthIdentitiesAnnotation);
  struct Case {
    const char* name;
    std::string sa_ns;
    std::optional<std::map<std::string, std::string>> annotations;
    std::vector<ReferenceGrant> grants;
    std::vector<std::string> expect;
  };
  std::vector<Case> cases = {
      {"not found", "team-a", std::nullopt, {}, {"ServiceAccountNotOptedIn@" + path}},
      {"no annotation", "team-a", std::map<std::string, std::string>{}, {}, {"ServiceAccountNotOptedIn@" + path}},
      {"other identity", "team-a", std::map<std::string, std::string>{{key, "id-2"}}, {}, {"ServiceAccountNotOptedIn@" + path}},
      {"opted in", "team-a", std::map<std::string, std::string>{{key, "id-2, id-1"}}, {}, {}},
      {"opted in for all", "team-a", std::map<std::string, std::string>{{key, "*"}}, {}, {}},
      {"other namespace, no grant", "ops", std::map<std::string, std::string>{{key, "id-1"}}, {},
       {"ReferenceNotGranted@" + path}},
      {"other namespace, granted but not opted in", "ops", std::map<std::string, std::string>{},
       {grant("ops", {"team-a"}, {{"ServiceAccount", "deployer"}})}, {"ServiceAccountNotOptedIn@" + path}},
      {"other namespace, granted and opted in", "ops", std::map<std::string, std::string>{{key, "id-1"}},
       {grant("ops", {"team-a"}, {{"ServiceAccount", ""}})}, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    TrustInputs in;
    in.service_account_annotations = c.annotations;
    in.grants = c.grants;
    CHECK(reasons(check_trust(parsed(spec(c.sa_ns)), TrustPolicy{}, in)) == c.expect);
  }
  auto r = check_trust(parsed(spec("team-a")), TrustPolicy{}, TrustInputs{});
  REQUIRE(r.size() == 1);
  CHECK(r[0].remedy == "kubectl annotate serviceaccount -n team-a deployer " + key + "=id-1");
}

TEST_CASE("a spec that is refused for several reasons lists each, host first") {
  auto r = check_trust(parsed(universal("shared", R"(,"hostAPI":"https://collector.tenant.example")")), TrustPolicy{},
                       TrustInputs{});
  CHECK(reasons(r) == std::vector<std::string>{"HostNotAllowed@spec.hostAPI",
                                               "ReferenceNotGranted@spec.authentication.universalAuth.credentialsRef"});
}

TEST_CASE("InfisicalReferenceGrant parsing names each bad field") {
  auto doc = parse_json(R"({"metadata":{"name":"g","namespace":"shared"},
    "spec":{"from":[{"namespace":"team-a"},{"namespace":"Not_A_Namespace"}],
            "to":[{"kind":"Secret","name":"creds"},{"kind":"Pod"},{"kind":"ServiceAccount"}]}})");
  REQUIRE(doc.ok());
  auto g = parse_reference_grant(**doc);
  CHECK(g.errors == std::vector<FieldError>{{"spec.from[1].namespace", "must be a namespace name"},
                                            {"spec.to[1].kind", "must be Secret, ServiceAccount or ConfigMap"}});
  CHECK(g.grant.namespace_ == "shared");
  CHECK(g.grant.from_namespaces == std::vector<std::string>{"team-a"});
  REQUIRE(g.grant.to.size() == 2);
  CHECK(g.grant.to[1].kind == "ServiceAccount");
  CHECK(g.grant.to[1].name.empty());
  auto empty = parse_json(R"({"metadata":{"name":"g","namespace":"shared"},"spec":{}})");
  CHECK(parse_reference_grant(**empty).errors.size() == 2);
}

TEST_CASE("managed Secret binding: owned, claimable, conflict") {
  auto me = parsed(universal("team-a"));
  auto secret = [](const std::string& annotations, const std::string& labels = "{}", const std::string& ns = "team-a",
                   const std::string& owner_refs = "[]") {
    return parse_json(R"({"metadata":{"name":"out","namespace":")" + ns + R"(","labels":)" + labels +
                      R"(,"annotations":)" + annotations + R"(,"ownerReferences":)" + owner_refs + "}}")
        .value();
  };
  auto alive = [](const std::string&, const std::string& name, const std::string&) { return name == "other"; };
  const std::string ours = R"({"app.kubernetes.io/managed-by":"infisical-secrets-operator"})";
  CHECK(claim_managed_secret(*secret(R"({"secrets.infisical.com/owner":"team-a/app","secrets.infisical.com/owner-uid":"uid-app"})"), me, alive)
            .decision == ClaimDecision::kOwned);
  auto taken = claim_managed_secret(
      *secret(R"({"secrets.infisical.com/owner":"team-a/other","secrets.infisical.com/owner-uid":"uid-other"})", ours), me, alive);
  CHECK(taken.decision == ClaimDecision::kConflict);
  CHECK(taken.message.find("InfisicalSecret team-a/other") != std::string::npos);
  // The owner was deleted (Orphan policy): taken over only on purpose.
  auto orphaned = secret(R"({"secrets.infisical.com/owner":"team-a/gone","secrets.infisical.com/owner-uid":"uid-gone"})", ours);
  CHECK(claim_managed_secret(*orphaned, me, alive).decision == ClaimDecision::kConflict);
  auto adopter = me;
  adopter.metadata.annotations[std::string(kAdoptAnnotation)] = "true";
  CHECK(claim_managed_secret(*orphaned, adopter, alive).decision == ClaimDecision::kClaim);
  // Deleted and created again under the same name: the new object (new UID) takes it over.
  auto recreated = secret(R"({"secrets.infisical.com/owner":"team-a/app","secrets.infisical.com/owner-uid":"uid-old"})", ours);
  CHECK(claim_managed_secret(*recreated, me, alive).decision == ClaimDecision::kClaim);
  // A controller ownerReference binds as the annotation does.
  auto owned_by_ref = secret("{}", ours, "team-a",
                             R"([{"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","name":"other","uid":"uid-other"}])");
  CHECK(claim_managed_secret(*owned_by_ref, me, alive).decision == ClaimDecision::kConflict);
  // Unbound: ours from an earlier version, or upstream's, is claimed; a foreign one only when adopted.
  CHECK(claim_managed_secret(*secret("{}", ours), me, alive).decision == ClaimDecision::kClaim);
  CHECK(claim_managed_secret(*secret(R"({"secrets.infisical.com/version":"abc"})"), me, alive).decision == ClaimDecision::kClaim);
  CHECK(claim_managed_secret(*secret("{}"), me, alive).decision == ClaimDecision::kConflict);
  CHECK(claim_managed_secret(*secret("{}"), adopter, alive).decision == ClaimDecision::kClaim);
  // Never adopted across namespaces.
  auto far = claim_managed_secret(*secret("{}", "{}", "team-b"), adopter, alive);
  CHECK(far.decision == ClaimDecision::kConflict);
  CHECK(far.message.find("never adopted across namespaces") != std::string::npos);
}

TEST_CASE("managed ConfigMap binding: the same annotations bind it, and a conflict names a ConfigMap") {
  auto me = parsed(universal("team-a"));
  auto config_map = [](const std::string& annotations, const std::string& labels = "{}") {
    return parse_json(R"({"kind":"ConfigMap","metadata":{"name":"settings","namespace":"team-a","labels":)" + labels +
                      R"(,"annotations":)" + annotations + "}}")
        .value();
  };
  auto alive = [](const std::string&, const std::string& name, const std::string&) { return name == "other"; };
  const std::string ours = R"({"app.kubernetes.io/managed-by":"infisical-secrets-operator"})";
  CHECK(claim_managed_secret(*config_map(R"({"secrets.infisical.com/owner":"team-a/app","secrets.infisical.com/owner-uid":"uid-app"})"),
                             me, alive, "ConfigMap")
            .decision == ClaimDecision::kOwned);
  auto taken = claim_managed_secret(
      *config_map(R"({"secrets.infisical.com/owner":"team-a/other","secrets.infisical.com/owner-uid":"uid-other"})", ours), me,
      alive, "ConfigMap");
  CHECK(taken.decision == ClaimDecision::kConflict);
  CHECK(taken.message ==
        "ConfigMap team-a/settings is managed by InfisicalSecret team-a/other; two InfisicalSecrets cannot write one "
        "ConfigMap");
  auto foreign = claim_managed_secret(*config_map("{}"), me, alive, "ConfigMap");
  CHECK(foreign.decision == ClaimDecision::kConflict);
  CHECK(foreign.message.starts_with("ConfigMap team-a/settings exists and was not created by this operator"));
  CHECK(claim_managed_secret(*config_map("{}", ours), me, alive, "ConfigMap").decision == ClaimDecision::kClaim);
}
