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

TEST_CASE("ConfigMap targets are read in order, with their template; defaults apply") {
  auto p = parse_infisical_secret_json(R"({"metadata": {"namespace": "apps"}, "spec": {
      "authentication": {"awsIamAuth": {"identityId": "i", "secretsScope": {"projectSlug": "s", "envSlug": "dev", "secretsPath": "/"}}},
      "managedKubeConfigMapReferences": [
        {"configMapName": "settings", "configMapNamespace": "apps"},
        {"configMapName": "rendered", "configMapNamespace": "apps", "creationPolicy": "Owner",
         "template": {"includeAllSecrets": true, "data": {"URL": "{{ .HOST.Value }}"},
                      "metadata": {"labels": {"tier": "web"}, "annotations": {"note": "x"}}}},
        {"configMapName": "empty-template", "configMapNamespace": "web", "template": {}}]}})");
  REQUIRE(p.ok());
  const auto& spec = p.resource.spec;
  CHECK(spec.targets().empty());  // no Secret target
  REQUIRE(spec.managed_kube_config_map_references.has_value());
  auto maps = spec.config_map_targets();
  REQUIRE(maps.size() == 3);
  CHECK(maps[0].config_map_name == "settings");
  CHECK(maps[0].config_map_namespace == "apps");
  CHECK(maps[0].creation_policy == kCreationPolicyOrphan);
  CHECK_FALSE(maps[0].owner());
  CHECK_FALSE(maps[0].template_.has_value());
  CHECK(maps[0].path == "spec.managedKubeConfigMapReferences[0]");
  CHECK(maps[1].owner());
  REQUIRE(maps[1].template_.has_value());
  CHECK(maps[1].template_->include_all_secrets);
  CHECK(maps[1].template_->data == std::map<std::string, std::string>{{"URL", "{{ .HOST.Value }}"}});
  CHECK(maps[1].template_->has_metadata);
  CHECK(maps[1].template_->labels.at("tier") == "web");
  CHECK(maps[1].template_->annotations.at("note") == "x");
  CHECK(maps[1].path == "spec.managedKubeConfigMapReferences[1]");
  REQUIRE(maps[2].template_.has_value());
  CHECK_FALSE(maps[2].template_->include_all_secrets);
  CHECK(maps[2].template_->data.empty());
  CHECK_FALSE(maps[2].template_->has_metadata);
  CHECK(maps[2].config_map_namespace == "web");

  auto none = parse_infisical_secret_json(R"({"spec": {"managedSecretReference": {"secretName": "m", "secretNamespace": "apps"}}})");
  REQUIRE(none.ok());
  CHECK_FALSE(none.resource.spec.managed_kube_config_map_references.has_value());
  CHECK(none.resource.spec.config_map_targets().empty());
}

TEST_CASE("wrong types in ConfigMap targets are errors at their paths") {
  auto p = parse_infisical_secret_json(R"({"spec": {"managedKubeConfigMapReferences": [
      "settings",
      {"configMapName": 7, "configMapNamespace": ["apps"], "creationPolicy": false,
       "template": {"includeAllSecrets": "yes", "data": {"K": 1}, "metadata": {"annotations": "a"}}}]}})");
  std::vector<FieldError> want = {
      {"spec.managedKubeConfigMapReferences[0]", "must be an object, not string"},
      {"spec.managedKubeConfigMapReferences[1].configMapName", "must be a string, not number"},
      {"spec.managedKubeConfigMapReferences[1].configMapNamespace", "must be a string, not array"},
      {"spec.managedKubeConfigMapReferences[1].creationPolicy", "must be a string, not boolean"},
      {"spec.managedKubeConfigMapReferences[1].template.includeAllSecrets", "must be a boolean, not string"},
      {"spec.managedKubeConfigMapReferences[1].template.data[K]", "must be a string, not number"},
      {"spec.managedKubeConfigMapReferences[1].template.metadata.annotations", "must be an object, not string"},
  };
  CHECK(p.errors == want);
  // Every item keeps its index, even one that is not an object.
  REQUIRE(p.resource.spec.config_map_targets().size() == 2);
  CHECK(p.resource.spec.config_map_targets()[1].path == "spec.managedKubeConfigMapReferences[1]");

  auto not_a_list = parse_infisical_secret_json(R"({"spec": {"managedKubeConfigMapReferences": {"configMapName": "c"}}})");
  REQUIRE(not_a_list.errors.size() == 1);
  CHECK(not_a_list.errors[0] == FieldError{"spec.managedKubeConfigMapReferences", "must be an array, not object"});
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

TEST_CASE("ldapAuth, a single-secret scope and a user-assigned Azure identity are read") {
  auto ldap = parse_infisical_secret_json(R"({"spec": {"authentication": {"ldapAuth": {
      "identityId": "id-ldap", "credentialsRef": {"secretName": "ldap-creds", "secretNamespace": "directory"},
      "secretsScope": {"projectSlug": "p", "envSlug": "prod", "secretsPath": "/db", "secretName": "DB_PASSWORD"}}}}})");
  REQUIRE(ldap.ok());
  const auto& auth = *ldap.resource.spec.authentication;
  REQUIRE(auth.method() == AuthMethod::kLdapAuth);
  CHECK(auth_method_field(AuthMethod::kLdapAuth) == "ldapAuth");
  CHECK(auth.ldap_auth->identity_id == "id-ldap");
  CHECK(auth.ldap_auth->credentials_ref == SecretReference{"ldap-creds", "directory"});
  const MachineIdentityScope* scope = auth.machine_identity_scope();
  REQUIRE(scope != nullptr);
  CHECK(scope->secret_name == "DB_PASSWORD");
  CHECK_FALSE(scope->recursive);

  auto azure = parse_infisical_secret_json(R"({"spec": {"authentication": {"azureAuth": {"identityId": "i",
      "azureManagedIdentityClientId": "cli-user", "secretsScope": {"projectSlug": "s", "envSlug": "dev", "secretsPath": "/"}}}}})");
  REQUIRE(azure.ok());
  CHECK(azure.resource.spec.authentication->azure_auth->managed_identity_client_id == "cli-user");
  CHECK(azure.resource.spec.authentication->machine_identity_scope()->secret_name.empty());

  auto bad = parse_infisical_secret_json(R"({"spec": {"authentication": {"ldapAuth": {"identityId": 1,
      "credentialsRef": "creds"}}}})");
  REQUIRE(bad.errors.size() == 2);
  CHECK(bad.errors[0].path == "spec.authentication.ldapAuth.identityId");
  CHECK(bad.errors[1].path == "spec.authentication.ldapAuth.credentialsRef");
  CHECK(bad.resource.spec.authentication->method() == AuthMethod::kLdapAuth);  // present, with a type error
}

TEST_CASE("spec.tokenSecretReference fills the empty fields of serviceTokenSecretReference, field by field") {
  auto parse = [](const std::string& service_token, const std::string& legacy) {
    return parse_infisical_secret_json(R"({"spec": {"authentication": {"serviceToken": )" + service_token +
                                       R"(}, "tokenSecretReference": )" + legacy + "}}");
  };
  const std::string scope = R"("secretsScope": {"envSlug": "dev", "secretsPath": "/"})";
  const std::string legacy = R"({"secretName": "legacy-tok", "secretNamespace": "legacy-ns"})";

  auto absent = parse("{" + scope + "}", legacy);
  REQUIRE(absent.ok());
  const auto& a = *absent.resource.spec.authentication->service_token;
  CHECK(a.service_token_secret_reference == SecretReference{"legacy-tok", "legacy-ns"});
  CHECK(a.secret_name_from_legacy);
  CHECK(a.secret_namespace_from_legacy);
  CHECK(absent.resource.spec.token_secret_reference == SecretReference{"legacy-tok", "legacy-ns"});

  auto name_only = parse(R"({"serviceTokenSecretReference": {"secretName": "own-tok", "secretNamespace": ""}, )" + scope + "}", legacy);
  const auto& n = *name_only.resource.spec.authentication->service_token;
  CHECK(n.service_token_secret_reference == SecretReference{"own-tok", "legacy-ns"});
  CHECK_FALSE(n.secret_name_from_legacy);
  CHECK(n.secret_namespace_from_legacy);

  auto both = parse(R"({"serviceTokenSecretReference": {"secretName": "own-tok", "secretNamespace": "own-ns"}, )" + scope + "}", legacy);
  const auto& b = *both.resource.spec.authentication->service_token;
  CHECK(b.service_token_secret_reference == SecretReference{"own-tok", "own-ns"});
  CHECK_FALSE(b.secret_name_from_legacy);
  CHECK_FALSE(b.secret_namespace_from_legacy);

  // Without a serviceToken block nothing is made up: validation says what is missing.
  auto alone = parse_infisical_secret_json(R"({"spec": {"tokenSecretReference": )" + legacy + "}}");
  REQUIRE(alone.ok());
  CHECK_FALSE(alone.resource.spec.authentication.has_value());
}

TEST_CASE("the legacy serviceAccount block is seen, but is no authentication method") {
  auto p = parse_infisical_secret_json(R"({"spec": {"authentication": {"serviceAccount": {
      "serviceAccountSecretReference": {"secretName": "sa", "secretNamespace": "apps"}, "projectId": "p", "environmentName": "dev"}}}})");
  REQUIRE(p.ok());
  CHECK(p.resource.spec.authentication->legacy_service_account);
  CHECK(p.resource.spec.authentication->present_methods().empty());
  CHECK_FALSE(p.resource.spec.authentication->method().has_value());
}
