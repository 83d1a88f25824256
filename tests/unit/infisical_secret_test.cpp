// Tests of the InfisicalSecret model: every field read, singular/plural targets merged, wrong types
// reported at their path, hostAPI normalisation and host resolution.
#include <doctest/doctest.h>

#include "core/constants.h"
#include "core/infisical_secret.h"

using namespace ifo::core;

TEST_CASE("every field of a full resource is read into the model") {
  auto p = parse_infisical_secret_json(R"({
    "metadata": {"name": "demo", "namespace": "apps", "uid": "u-1", "resourceVersion": "42", "generation": 7,
                 "labels": {"team": "a"}, "annotations": {"note": "x"}},
    "spec": {
      "hostAPI": "https://h.example.com/", "resyncInterval": 30,
      "authentication": {
        "kubernetesAuth": {"identityId": "id-1", "serviceAccountRef": {"name": "sa", "namespace": "infra"},
                           "autoCreateServiceAccountToken": true, "serviceAccountTokenAudiences": ["aud1", "aud2"],
                           "secretsScope": {"projectId": "p-1", "envSlug": "prod", "secretsPath": "/db", "recursive": true}}},
      "managedKubeSecretReferences": [
        {"secretName": "one", "secretNamespace": "apps"},
        {"secretName": "two", "secretNamespace": "web", "secretType": "kubernetes.io/tls", "creationPolicy": "Owner"}],
      "tls": {"caRef": {"secretName": "ca", "secretNamespace": "certs", "key": "ca.crt"}}
    },
    "status": {"observedGeneration": 6, "lastSyncTime": "2026-11-30T23:00:00Z", "syncedKeys": 3,
               "managedSecrets": ["apps/one"],
               "conditions": [{"type": "Ready", "status": "True", "reason": "Synced", "message": "ok",
                               "lastTransitionTime": "2026-11-30T22:00:00Z", "observedGeneration": 6}]}
  })");
  REQUIRE(p.ok());
  const auto& r = p.resource;
  CHECK(r.metadata.name == "demo");
  CHECK(r.metadata.namespace_ == "apps");
  CHECK(r.metadata.uid == "u-1");
  CHECK(r.metadata.resource_version == "42");
  CHECK(r.metadata.generation == 7);
  CHECK(r.metadata.labels.at("team") == "a");
  CHECK(r.metadata.annotations.at("note") == "x");
  CHECK(r.spec.host_api == "https://h.example.com/");
  CHECK(r.spec.resync_interval_seconds() == 30);
  REQUIRE(r.spec.authentication.has_value());
  const auto& auth = *r.spec.authentication;
  REQUIRE(auth.method() == AuthMethod::kKubernetesAuth);
  const auto& k = *auth.kubernetes_auth;
  CHECK(k.identity_id == "id-1");
  CHECK(k.service_account_ref->name == "sa");
  CHECK(k.service_account_ref->namespace_ == "infra");
  CHECK(k.auto_create_service_account_token);
  CHECK(k.service_account_token_audiences == std::vector<std::string>{"aud1", "aud2"});
  const MachineIdentityScope* scope = auth.machine_identity_scope();
  REQUIRE(scope != nullptr);
  CHECK(scope->project_id == "p-1");
  CHECK(scope->env_slug == "prod");
  CHECK(scope->secrets_path == "/db");
  CHECK(scope->recursive);
  auto targets = r.spec.targets();
  REQUIRE(targets.size() == 2);
  CHECK(targets[0].secret_name == "one");
  CHECK(targets[0].secret_type == "Opaque");
  CHECK(targets[0].creation_policy == "Orphan");
  CHECK_FALSE(targets[0].owner());
  CHECK(targets[0].path == "spec.managedKubeSecretReferences[0]");
  CHECK(targets[1].secret_type == "kubernetes.io/tls");
  CHECK(targets[1].owner());
  REQUIRE(r.spec.tls_ca_ref.has_value());
  CHECK(r.spec.tls_ca_ref->key == "ca.crt");
  CHECK(r.status.observed_generation == 6);
  CHECK(r.status.synced_keys == 3);
  CHECK(r.status.last_sync_time == "2026-11-30T23:00:00Z");
  CHECK(r.status.managed_secrets == std::vector<std::string>{"apps/one"});
  REQUIRE(r.status.conditions.size() == 1);
  CHECK(r.status.conditions[0].reason == "Synced");
}

TEST_CASE("the singular managedSecretReference is the first target; defaults apply") {
  auto p = parse_infisical_secret_json(R"({"spec": {
      "resyncInterval": null,
      "authentication": {"azureAuth": {"identityId": "i", "secretsScope": {"projectSlug": "s", "envSlug": "dev", "secretsPath": "/"}}},
      "managedSecretReference": {"secretName": "m", "secretNamespace": "apps"}}})");
  REQUIRE(p.ok());
  CHECK(p.resource.spec.resync_interval_seconds() == kDefaultResyncIntervalSeconds);
  auto t = p.resource.spec.targets();
  REQUIRE(t.size() == 1);
  CHECK(t[0].path == "spec.managedSecretReference");
  CHECK(t[0].secret_type == kDefaultSecretType);
  CHECK(p.resource.spec.authentication->azure_auth->effective_resource() == "https://management.azure.com/");
  CHECK(auth_method_field(*p.resource.spec.authentication->method()) == "azureAuth");
}

TEST_CASE("wrong types are errors at their paths, never crashes") {
  auto p = parse_infisical_secret_json(R"({"metadata": {"name": 5, "labels": {"a": 1, "b": "ok"}, "generation": "3"},
    "spec": {"hostAPI": ["x"], "authentication": "universal",
             "managedKubeSecretReferences": ["a", {"secretName": true}], "tls": 3}})");
  std::vector<FieldError> want = {
      {"metadata.name", "must be a string, not number"},
      {"metadata.generation", "must be an integer, not string"},
      {"metadata.labels[a]", "must be a string, not number"},
      {"spec.hostAPI", "must be a string, not array"},
      {"spec.authentication", "must be an object, not string"},
      {"spec.managedKubeSecretReferences[0]", "must be an object, not string"},
      {"spec.managedKubeSecretReferences[1].secretName", "must be a string, not boolean"},
      {"spec.tls", "must be an object, not number"},
  };
  CHECK(p.errors == want);
  CHECK(p.resource.metadata.labels.at("b") == "ok");
  // A present-but-wrong authentication block still counts as present for "exactly one".
  CHECK(p.resource.spec.authentication.has_value());
}

TEST_CASE("documents that are not objects, or not JSON, get one error") {
  CHECK(parse_infisical_secret_json("[]").errors == std::vector<FieldError>{{"", "must be an object, not array"}});
  auto bad = parse_infisical_secret_json("{");
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].message.find("invalid JSON") == 0);
  CHECK(parse_infisical_secret_json("{}").errors == std::vector<FieldError>{{"spec", "required"}});
}

TEST_CASE("hostAPI normalisation matches the upstream table") {
  struct Row {
    const char* in;
    const char* out;
  };
  const Row rows[] = {
      {"https://app.infisical.com/api", "https://app.infisical.com/api"},
      {"https://app.infisical.com/", "https://app.infisical.com/api"},
      {"https://app.infisical.com", "https://app.infisical.com/api"},
      {"https://app.infisical.com/api/v1", "https://app.infisical.com/api/v1/api"},
      {"http://localhost:8080", "http://localhost:8080/api"},
      {"http://localhost:8080/", "http://localhost:8080/api"},
      {"https://app.infisical.com/api/", "https://app.infisical.com/api"},
      {"https://app.infisical.com/api//", "https://app.infisical.com/api"},
      {"", ""},
      {"/", ""},
  };
  for (const auto& r : rows) {
    CAPTURE(std::string(r.in));
    CHECK(normalize_host_api(r.in) == r.out);
  }
}

TEST_CASE("host resolution: CR hostAPI > ConfigMap hostAPI > the default") {
  CHECK(resolve_host_api("https://cr.example.com", "https://cm.example.com/api") == "https://cr.example.com/api");
  CHECK(resolve_host_api("", "https://cm.example.com/api") == "https://cm.example.com/api");
  CHECK(resolve_host_api("", "https://cm.example.com/api/") == "https://cm.example.com/api");
  CHECK(resolve_host_api("", "") == kDefaultHostApi);
  CHECK(resolve_host_api("/", "") == kDefaultHostApi);
}
