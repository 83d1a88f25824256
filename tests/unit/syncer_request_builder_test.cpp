// Building the Infisical request of an InfisicalSecret: credentials read from the referenced Secrets
// (each at most every 30 s), host and CA by precedence, failures that name what is missing, and the
// scope key under which resources share one fetch.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <variant>

#include "core/base64.h"
#include "core/infisical_secret.h"
#include "core/clock.h"
#include "memory_api.h"
#include "recording_api.h"
#include "syncer/request_builder.h"
#include "test_helpers.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace std::chrono_literals;
using test::MemoryApi;
using test::RecordingApi;

namespace {

// A universal-auth resource named `name` reading proj/dev at `path`; `extra_spec` adds spec fields.
core::InfisicalSecret universal(const std::string& name, const std::string& path = "/",
                                const std::string& extra_spec = "") {
  auto p = core::parse_infisical_secret_json(R"({"metadata": {"name": ")" + name + R"(", "namespace": "apps"},
    "spec": {)" + extra_spec + R"("authentication": {"universalAuth": {
      "credentialsRef": {"secretName": "creds", "secretNamespace": "apps"},
      "secretsScope": {"projectSlug": "proj", "envSlug": "dev", "secretsPath": ")" + path + R"("}}},
    "managedSecretReference": {"secretName": "out", "secretNamespace": "apps"}}})");
  REQUIRE(p.ok());
  return p.resource;
}

std::string secret_json(const std::string& name, const std::map<std::string, std::string>& data) {
  std::string out = R"({"metadata": {"name": ")" + name + R"("}, "data": {)";
  for (const auto& [k, v] : data)
    out += (out.back() == '{' ? "" : ",") + ("\"" + k + "\": \"" + core::base64_encode(v) + "\"");
  return out + "}}";
}

struct Fixture {
  Fixture() { set_credentials("client-id-1", "client-secret-value-1"); }
  void set_credentials(const std::string& id, const std::string& secret) {
    store.put(kube::kSecrets, "apps", secret_json("creds", {{"clientId", id}, {"clientSecret", secret}}));
  }
  std::variant<BuiltRequest, core::SyncFailure> build(const core::InfisicalSecret& r, const Object& config = nullptr) {
    return builder.build(r, config);
  }

  core::FakeClock clock;
  MemoryApi store;
  RecordingApi kube{store};
  RequestBuilder builder{kube, clock, "infisical-operator-system"};
};

BuiltRequest built(const std::variant<BuiltRequest, core::SyncFailure>& r) {
  if (const auto* f = std::get_if<core::SyncFailure>(&r))
    FAIL("unexpected failure: " << f->reason << ": " << f->message);
  return std::get<BuiltRequest>(r);
}

core::SyncFailure failure(const std::variant<BuiltRequest, core::SyncFailure>& r) {
  REQUIRE(std::holds_alternative<core::SyncFailure>(r));
  return std::get<core::SyncFailure>(r);
}

}  // namespace

TEST_CASE("credentials come from the referenced Secret, read at most every 30 s however many resources use it") {
  Fixture f;
  const BuiltRequest a = built(f.build(universal("a")));
  CHECK(a.request.method == core::AuthMethod::kUniversalAuth);
  CHECK(a.request.client_id == "client-id-1");
  CHECK(a.request.client_secret == "client-secret-value-1");
  CHECK(a.request.host == "https://app.infisical.com/api");
  CHECK(a.request.project_slug == "proj");
  CHECK(a.request.env_slug == "dev");
  built(f.build(universal("b")));
  f.clock.step(29s);
  built(f.build(universal("a")));
  CHECK(f.kube.actions() == std::vector<std::string>{"get secrets apps/creds"});

  // Rotated credentials are picked up once the 30 s are over.
  f.set_credentials("client-id-1", "client-secret-value-2");
  f.clock.step(1s);
  CHECK(built(f.build(universal("a"))).request.client_secret == "client-secret-value-2");
  CHECK(f.kube.actions().size() == 2);
}

TEST_CASE("a missing credentials Secret or key fails naming it, and a Secret that appears is used at once") {
  Fixture f;
  f.store.erase(kube::kSecrets, "apps", "creds");
  core::SyncFailure missing = failure(f.build(universal("a")));
  CHECK(missing.reason == "CredentialsNotFound");
  CHECK(missing.message == "credentials Secret apps/creds not found");
  CHECK(missing.auth);  // LoadedInfisicalToken goes False

  f.store.put(kube::kSecrets, "apps", secret_json("creds", {{"clientId", "id"}}));
  core::SyncFailure no_key = failure(f.build(universal("a")));  // not found is never cached
  CHECK(no_key.message == "credentials Secret apps/creds has no non-empty key \"clientSecret\"");
  CHECK(f.kube.actions().size() == 2);
}

TEST_CASE("host and CA: the resource's own, else the infisical-config ConfigMap's, else the defaults") {
  Fixture f;
  f.store.put(kube::kSecrets, "certs", secret_json("ca", {{"ca.crt", "-----BEGIN CERTIFICATE-----"}}));
  auto config = test::parse_doc(R"({"metadata": {"name": "infisical-config"}, "data": {
    "hostAPI": "https://infisical.internal/api", "tls.caRef.secretName": "ca",
    "tls.caRef.secretNamespace": "certs", "tls.caRef.key": "ca.crt"}})");
  const BuiltRequest from_config = built(f.build(universal("a"), config));
  CHECK(from_config.request.host == "https://infisical.internal/api");
  CHECK(from_config.request.ca_pem == "-----BEGIN CERTIFICATE-----");

  const BuiltRequest own = built(f.build(universal("a", "/", R"("hostAPI": "https://own.example.com/api",)"), config));
  CHECK(own.request.host == "https://own.example.com/api");

  core::SyncFailure no_key =
      failure(f.build(universal("a", "/", R"("tls": {"caRef": {"secretName": "ca", "secretNamespace": "certs",
                                                        "key": "other.crt"}},)")));
  CHECK(no_key.reason == "CredentialsNotFound");
  CHECK(no_key.message == "CA Secret certs/ca has no key \"other.crt\"");
  CHECK_FALSE(no_key.auth);

  auto half = test::parse_doc(R"({"metadata": {"name": "infisical-config"}, "data": {"tls.caRef.secretName": "ca"}})");
  core::SyncFailure invalid = failure(f.build(universal("a"), half));
  CHECK(invalid.reason == "InvalidSpec");
  CHECK(invalid.message ==
        "ConfigMap infisical-operator-system/infisical-config: when tls.caRef is configured, all of "
        "tls.caRef.secretName, tls.caRef.secretNamespace and tls.caRef.key must be set");
}

TEST_CASE("resources reading one scope with the same credentials share a scope key, and it holds no secret") {
  Fixture f;
  const std::string a = built(f.build(universal("a"))).scope_key;
  CHECK(built(f.build(universal("b"))).scope_key == a);
  CHECK(built(f.build(universal("a", "/db"))).scope_key != a);
  CHECK(a.find("client-secret-value-1") == std::string::npos);

  f.set_credentials("client-id-1", "client-secret-value-2");
  f.builder.forget();
  CHECK(built(f.build(universal("a"))).scope_key != a);  // other credentials: another identity
}

TEST_CASE("Kubernetes auth mints a ServiceAccount token per login and reads no Secret") {
  Fixture f;
  auto p = core::parse_infisical_secret_json(R"({"metadata": {"name": "k", "namespace": "apps"},
    "spec": {"authentication": {"kubernetesAuth": {"identityId": "id-1",
      "serviceAccountRef": {"name": "app-sa", "namespace": "apps"},
      "secretsScope": {"projectSlug": "proj", "envSlug": "dev", "secretsPath": "/"}}},
    "managedSecretReference": {"secretName": "out", "secretNamespace": "apps"}}})");
  REQUIRE(p.ok());
  const BuiltRequest k = built(f.build(p.resource));
  CHECK(k.request.identity_id == "id-1");
  CHECK(k.request.service_account == "apps/app-sa");
  CHECK(f.kube.actions().empty());
  REQUIRE(k.request.kubernetes_jwt);
  CHECK(k.request.kubernetes_jwt() == "token-for-app-sa");
  CHECK(f.kube.actions() == std::vector<std::string>{"token serviceaccounts apps/app-sa"});
  CHECK(auth_strategy_name(k.request.method) == "KUBERNETES_AUTH_MACHINE_IDENTITY");
}

TEST_CASE("LDAP needs both keys; a service token loses its spaces and brings its own scope") {
  Fixture f;
  auto ldap = core::parse_infisical_secret_json(R"({"metadata": {"name": "l", "namespace": "apps"},
    "spec": {"authentication": {"ldapAuth": {"identityId": "id-2",
      "credentialsRef": {"secretName": "ldap", "secretNamespace": "apps"},
      "secretsScope": {"projectSlug": "proj", "envSlug": "dev", "secretsPath": "/"}}},
    "managedSecretReference": {"secretName": "out", "secretNamespace": "apps"}}})");
  REQUIRE(ldap.ok());
  f.store.put(kube::kSecrets, "apps", secret_json("ldap", {{"username", "alice"}}));
  CHECK(failure(f.build(ldap.resource)).message == "credentials Secret apps/ldap has no non-empty key \"password\"");

  auto token = core::parse_infisical_secret_json(R"({"metadata": {"name": "t", "namespace": "apps"},
    "spec": {"authentication": {"serviceToken": {
      "serviceTokenSecretReference": {"secretName": "token", "secretNamespace": "apps"},
      "secretsScope": {"envSlug": "prod", "secretsPath": "/api"}}},
    "managedSecretReference": {"secretName": "out", "secretNamespace": "apps"}}})");
  REQUIRE(token.ok());
  f.store.put(kube::kSecrets, "apps", secret_json("token", {{"infisicalToken", " st.abc.def "}}));
  const BuiltRequest t = built(f.build(token.resource));
  CHECK(t.request.service_token == "st.abc.def");
  CHECK(t.request.env_slug == "prod");
  CHECK(t.request.secrets_path == "/api");
}
