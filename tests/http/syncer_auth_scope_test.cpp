// Upstream v0.11's other auth and scope fields in the reconciler against kube-sim and infisical-sim:
// ldapAuth (credentials Secret, trust boundary), secretsScope.secretName (one key, no ETag, a missing
// secret leaves the Secret as it was), azureAuth.azureManagedIdentityClientId, and the retired legacy
// serviceAccount, which gets a precise Ready=False instead of a silent skip.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;

namespace {

constexpr const char* kLdapIdentity = "6b2f8a0e-0000-4000-8000-0000000000b1";
constexpr const char* kAzureIdentity = "6b2f8a0e-0000-4000-8000-0000000000b2";
constexpr const char* kLdapPassword = "ldap-pass-value-1";

std::string seed() {
  return fmt::format(R"({{
  "projects": [{{"slug": "proj", "name": "Proj",
    "environments": [{{"slug": "dev", "name": "Development"}}],
    "secrets": [
      {{"environment": "dev", "path": "/", "key": "DB_PASSWORD", "value": "hunter2-value"}},
      {{"environment": "dev", "path": "/", "key": "API_KEY", "value": "api-key-value-1"}}
    ]}}],
  "identities": [
    {{"id": "6b2f8a0e-0000-4000-8000-0000000000a1", "name": "ua", "projects": ["proj"],
      "universalAuth": {{"clientId": "test-client-id", "clientSecret": "test-client-secret-value"}}}},
    {{"id": "{}", "name": "ldap", "projects": ["proj"], "ldapAuth": {{"username": "svc-sync", "password": "{}"}}}},
    {{"id": "{}", "name": "azure", "projects": ["proj"],
      "azureAuth": {{"resource": "https://management.azure.com/", "allowedServicePrincipalIds": "obj-user"}}}}
  ],
  "azure": {{"tenantId": "tenant-1", "systemIdentity": {{"clientId": "cli-system", "objectId": "obj-system"}},
             "userIdentities": [{{"clientId": "cli-user", "objectId": "obj-user"}}]}},
  "rateLimits": {{"mode": "off"}}
}})",
                     kLdapIdentity, kLdapPassword, kAzureIdentity);
}

const std::string kUniversalBlock =
    R"("universalAuth":{"credentialsRef":{"secretName":"universal-creds","secretNamespace":"default"},
          "secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}})";

// h.infisical_secret_json with another authentication block.
std::string with_auth(SyncerHarness& h, const std::string& name, const std::string& target,
                      const std::string& auth_block) {
  std::string text = h.infisical_secret_json(name, target);
  replace_once(text, kUniversalBlock, auth_block);
  return text;
}

std::string ldap_block(const std::string& creds_ns = "default", const std::string& scope_extra = "") {
  return R"("ldapAuth":{"identityId":")" + std::string(kLdapIdentity) +
         R"(","credentialsRef":{"secretName":"ldap-creds","secretNamespace":")" + creds_ns +
         R"("},"secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/")" + scope_extra + "}}";
}

std::string condition_message(const core::JsonValue& cr, std::string_view type) {
  const auto* c = core::at_path(cr, {"status", "conditions"});
  if (!c) return {};
  auto conds = core::conditions_from_json(*c);
  const auto* found = core::find_condition(conds, type);
  return found ? found->message : "";
}

struct Fixture {
  SyncerHarness h{seed()};
  std::ostringstream log_text;
  Fixture() {
    // Every log line at debug, so a test can prove no password or value reaches them; and the cloud
    // endpoints (Azure IMDS) on infisical-sim's second port.
    h.log = std::make_shared<spdlog::logger>("syncer-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
    h.log->set_level(spdlog::level::debug);
    infisical::CloudEnv cloud;
    cloud.azure_imds_endpoint = h.inf_sim->cloud_url();
    h.inf_client = std::make_unique<infisical::Client>(infisical::ClientOptions{}, h.inf_clock, cloud, h.log);
    h.source = std::make_unique<InfisicalSource>(*h.inf_client);
    h.make_reconciler();
    h.create_credentials();
    h.create_ca_secret();
  }

  void create_ldap_credentials(const std::string& ns, const std::string& password) {
    h.create_namespace(ns);
    h.client->create(kube::kSecrets, ns,
                     *json(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"ldap-creds"},
                               "stringData":{"username":"svc-sync","password":")" + password + R"("}})"));
  }

  // No password, token or secret value in the logs, the events or the status of `name`.
  void check_no_leaks(const std::string& name, std::vector<std::string> extra = {}) {
    h.log->flush();
    const std::string logs = log_text.str();
    CHECK_MESSAGE(!logs.empty(), "nothing was logged: the check below would prove nothing");
    std::string status = core::to_json(*core::member(*h.get(kube::kInfisicalSecrets, name), "status"));
    extra.insert(extra.end(), {kLdapPassword, "test-client-secret-value", "hunter2-value", "api-key-value"});
    for (const auto& value : extra) {
      CAPTURE(value);
      CHECK(logs.find(value) == std::string::npos);
      CHECK(status.find(value) == std::string::npos);
      for (const auto& e : events_about(h, name)) CHECK(e.find(value) == std::string::npos);
    }
  }
};

}  // namespace

TEST_CASE("ldapAuth: the credentials Secret's username and password log in; a wrong password keeps the Secret") {
  Fixture f;
  auto& h = f.h;
  f.create_ldap_credentials("default", kLdapPassword);
  h.create_cr(with_auth(h, "app", "app-secrets", ldap_block()));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  auto secret = h.get(kube::kSecrets, "app-secrets");
  REQUIRE(secret);
  CHECK(data_value(*secret, "DB_PASSWORD") == "hunter2-value");
  CHECK(data_value(*secret, "API_KEY") == "api-key-value-1");
  auto cr = h.get(kube::kInfisicalSecrets, "app");
  CHECK(ready_condition(*cr).reason == "Synced");
  CHECK(condition_message(*cr, core::kConditionLoadedToken).find("using LDAP_MACHINE_IDENTITY authentication strategy") !=
        std::string::npos);
  auto counters = h.inf_sim->counters();
  CHECK(counters.by_identity[kLdapIdentity]["POST /api/v1/auth/ldap-auth/login"] == 1);
  CHECK(counters.by_identity[kLdapIdentity]["GET /api/v3/secrets/raw"] == 1);

  // The password is changed in the Secret to one the directory refuses: 401, the Secret stays.
  const std::string before = core::to_json(*secret);
  h.client->patch(kube::kSecrets, "default", "ldap-creds", kube::PatchType::kMerge,
                  R"({"stringData":{"password":"wrong-ldap-password-2"}})");
  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "hunter3-value");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "error");
  CHECK(count_prefix(h.recording->writes(), "update secrets") == 0);
  CHECK(core::to_json(*h.get(kube::kSecrets, "app-secrets")) == before);
  cr = h.get(kube::kInfisicalSecrets, "app");
  auto ready = ready_condition(*cr);
  CHECK(ready.status == "False");
  CHECK(ready.reason == "AuthFailed");
  CHECK(ready.message.find("ldap-auth login for identity " + std::string(kLdapIdentity)) != std::string::npos);
  CHECK(ready.message.find("LDAP authentication failed (HTTP 401)") != std::string::npos);
  CHECK(h.inf_sim->counters().by_route_status["POST /api/v1/auth/ldap-auth/login 401"] == 1);

  // A Secret without the password key: a precise CredentialsNotFound, nothing sent.
  h.client->patch(kube::kSecrets, "default", "ldap-creds", kube::PatchType::kMerge, R"({"data":{"password":null}})");
  h.clock.step(std::chrono::seconds(61));
  CHECK(h.reconciler->reconcile("default/app").result == "error");
  ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.reason == "CredentialsNotFound");
  CHECK(ready.message == "credentials Secret default/ldap-creds has no non-empty key \"password\"");
  CHECK(h.inf_sim->counters().by_route["POST /api/v1/auth/ldap-auth/login"] == 2);
  f.check_no_leaks("app", {"wrong-ldap-password-2", "hunter3-value"});
}

TEST_CASE("ldapAuth credentials in another namespace are read only once that namespace grants them") {
  Fixture f;
  auto& h = f.h;
  f.create_ldap_credentials("directory", kLdapPassword);
  h.create_cr(with_auth(h, "app", "app-secrets", ldap_block("directory")));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "refused");
  CHECK(count_prefix(h.recording->actions(), "get secrets directory/") == 0);
  CHECK(h.get(kube::kSecrets, "app-secrets") == nullptr);
  CHECK(h.inf_sim->counters().total == 0);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.reason == "ReferenceNotGranted");
  CHECK(ready.message.starts_with("spec.authentication.ldapAuth.credentialsRef: the LDAP credentials Secret "
                                  "directory/ldap-creds is in another namespace"));

  h.create_grant("directory", "ldap-for-default", "default", "Secret", "ldap-creds");
  h.clock.step(std::chrono::seconds(70));
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");
}

TEST_CASE("secretsScope.secretName: one key, asked again each resync without ETag; a missing secret keeps the Secret") {
  Fixture f;
  auto& h = f.h;
  std::string text = h.infisical_secret_json("app", "app-secrets");
  replace_once(text, R"("secretsPath":"/"})", R"("secretsPath":"/","secretName":"DB_PASSWORD"})");
  h.create_cr(text);
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  auto secret = h.get(kube::kSecrets, "app-secrets");
  const auto* data = core::member(*secret, "data");
  REQUIRE(data);
  CHECK(data->MemberCount() == 1);
  CHECK(data_value(*secret, "DB_PASSWORD") == "hunter2-value");
  CHECK(ready_condition(*h.get(kube::kInfisicalSecrets, "app")).message.starts_with("1 keys synced"));

  // The next resync reads it again in full (no If-None-Match, so never a 304) and writes nothing.
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());
  auto counters = h.inf_sim->counters();
  CHECK(counters.by_route_status["GET /api/v3/secrets/raw/{secretName} 200"] == 2);
  CHECK(counters.by_route_status["GET /api/v3/secrets/raw/{secretName} 304"] == 0);
  CHECK(counters.by_route["GET /api/v3/secrets/raw"] == 0);

  // A change of that secret is written; a change of another one is not even read.
  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "hunter3-value");
  h.inf_sim->set_secret("proj", "dev", "/", "API_KEY", "api-key-value-2");
  h.clock.step(std::chrono::seconds(61));
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  secret = h.get(kube::kSecrets, "app-secrets");
  CHECK(data_value(*secret, "DB_PASSWORD") == "hunter3-value");
  CHECK(data_value(*secret, "API_KEY") == "<absent>");

  // Deleted in Infisical: a failure that names the secret and its folder; the Secret is left as it is.
  const std::string before = core::to_json(*secret);
  REQUIRE(h.inf_sim->delete_secret("proj", "dev", "/", "DB_PASSWORD"));
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "error");
  CHECK(count_prefix(h.recording->writes(), "update secrets") == 0);
  CHECK(count_prefix(h.recording->writes(), "delete secrets") == 0);
  CHECK(core::to_json(*h.get(kube::kSecrets, "app-secrets")) == before);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.status == "False");
  CHECK(ready.reason == "FetchFailed");
  CHECK(ready.message.find("fetch of secret DB_PASSWORD from project") != std::string::npos);
  CHECK(ready.message.find("environment dev path /") != std::string::npos);
  CHECK(ready.message.find("Secret not found (HTTP 404)") != std::string::npos);
  f.check_no_leaks("app", {"hunter3-value"});
}

TEST_CASE("secretName with recursive is InvalidSpec naming the field; nothing is fetched or written") {
  Fixture f;
  auto& h = f.h;
  std::string text = h.infisical_secret_json("app", "app-secrets");
  replace_once(text, R"("secretsPath":"/"})", R"("secretsPath":"/","secretName":"DB_PASSWORD","recursive":true})");
  h.create_cr(text);
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "invalid");
  CHECK(h.inf_sim->counters().total == 0);
  CHECK(without_events(h.recording->writes()) == std::vector<std::string>{"patch-status infisicalsecrets default/app"});
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.status == "False");
  CHECK(ready.reason == "InvalidSpec");
  CHECK(ready.message == "invalid spec: spec.authentication.universalAuth.secretsScope: recursive mode is not "
                         "supported when secretName is specified");
}

TEST_CASE("the retired legacy serviceAccount gets Ready=False with how to migrate, never a silent skip") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(with_auth(h, "app", "app-secrets",
                        R"("serviceAccount":{"serviceAccountSecretReference":{"secretName":"sa-keys","secretNamespace":"default"},
                             "projectId":"p-1","environmentName":"dev"})"));
  CHECK(h.reconciler->reconcile("default/app").result == "invalid");
  CHECK(h.inf_sim->counters().total == 0);
  CHECK(h.get(kube::kSecrets, "app-secrets") == nullptr);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.status == "False");
  CHECK(ready.reason == "InvalidSpec");
  CHECK(ready.message.starts_with("invalid spec: spec.authentication.serviceAccount: Infisical retired service "
                                  "accounts"));
  CHECK(ready.message.find("spec.authentication.universalAuth") != std::string::npos);
  auto events = events_about(h, "app");
  REQUIRE(events.size() == 1);
  CHECK(events[0].starts_with("Warning InvalidSpec: invalid spec: spec.authentication.serviceAccount: "));
}

TEST_CASE("azureAuth.azureManagedIdentityClientId asks IMDS for that user-assigned identity") {
  Fixture f;
  auto& h = f.h;
  const std::string azure = R"("azureAuth":{"identityId":")" + std::string(kAzureIdentity) +
                            R"(","azureManagedIdentityClientId":"cli-user",
        "secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}})";
  h.create_cr(with_auth(h, "user-mi", "user-mi-secrets", azure));
  REQUIRE(h.reconciler->reconcile("default/user-mi").result == "synced");
  CHECK(data_value(*h.get(kube::kSecrets, "user-mi-secrets"), "DB_PASSWORD") == "hunter2-value");
  CHECK(h.inf_sim->counters().by_route["GET azure imds token"] == 1);

  // Without it the VM's system-assigned identity logs in, which this Infisical identity does not allow.
  std::string system = azure;
  replace_once(system, R"("azureManagedIdentityClientId":"cli-user",)", "");
  h.create_cr(with_auth(h, "system-mi", "system-mi-secrets", system));
  CHECK(h.reconciler->reconcile("default/system-mi").result == "error");
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "system-mi"));
  CHECK(ready.reason == "AuthFailed");
  CHECK(ready.message.find("Azure service principal not allowed") != std::string::npos);
  CHECK(h.get(kube::kSecrets, "system-mi-secrets") == nullptr);
}
