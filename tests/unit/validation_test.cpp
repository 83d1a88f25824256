// Table-driven tests of every InfisicalSecret rule: each case edits one valid resource and lists the
// exact field paths that must be reported (and a fragment of each message).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/validation.h"
#include "test_json_edit.h"

using namespace ifo::core;
using ifo::test::Edit;
using ifo::test::edited;

namespace {

const std::string kValid = R"({
  "apiVersion": "secrets.infisical.com/v1alpha1", "kind": "InfisicalSecret",
  "metadata": {"name": "demo", "namespace": "apps", "generation": 3, "uid": "u-1"},
  "spec": {
    "hostAPI": "https://infisical.example.com",
    "resyncInterval": 60,
    "authentication": {"universalAuth": {
      "credentialsRef": {"secretName": "creds", "secretNamespace": "apps"},
      "secretsScope": {"projectSlug": "proj", "envSlug": "dev", "secretsPath": "/"}}},
    "managedSecretReference": {"secretName": "managed", "secretNamespace": "apps",
                               "secretType": "Opaque", "creationPolicy": "Orphan"}
  }})";

const std::string kScope = R"({"projectSlug": "proj", "envSlug": "dev", "secretsPath": "/app"})";

struct Expect {
  std::string path;
  std::string fragment;
};

struct Case {
  const char* name;
  std::vector<Edit> edits;
  std::vector<Expect> expect;  // empty = valid
};

const std::string UA = "/spec/authentication/universalAuth";

std::vector<Case> cases() {
  return {
      {"the base document is valid", {}, {}},
      // --- exactly one authentication method
      {"authentication missing", {{"/spec/authentication", ""}},
       {{"spec.authentication", "exactly one authentication method is required (universalAuth, kubernetesAuth, "
                                "awsIamAuth, azureAuth, gcpIdTokenAuth, gcpIamAuth, serviceToken, ldapAuth); none is set"}}},
      {"authentication empty", {{"/spec/authentication", "{}"}}, {{"spec.authentication", "none is set"}}},
      {"two methods", {{"/spec/authentication/awsIamAuth", R"({"identityId":"id","secretsScope":)" + kScope + "}"}},
       {{"spec.authentication", "universalAuth, awsIamAuth are set"}}},
      {"three methods, second one incomplete",
       {{"/spec/authentication/azureAuth", "{}"}, {"/spec/authentication/serviceToken", "null"},
        {"/spec/authentication/gcpIdTokenAuth", R"({"identityId":"id","secretsScope":)" + kScope + "}"}},
       {{"spec.authentication", "universalAuth, azureAuth, gcpIdTokenAuth are set"},
        {"spec.authentication.azureAuth.identityId", "required"},
        {"spec.authentication.azureAuth.secretsScope", "required"}}},
      // --- each method, valid
      {"kubernetesAuth valid",
       {{UA, ""},
        {"/spec/authentication/kubernetesAuth",
         R"({"identityId":"id","serviceAccountRef":{"name":"reader","namespace":"apps"},
             "autoCreateServiceAccountToken":true,"serviceAccountTokenAudiences":["infisical"],"secretsScope":)" +
             kScope + "}"}},
       {}},
      {"awsIamAuth valid", {{UA, ""}, {"/spec/authentication/awsIamAuth", R"({"identityId":"id","secretsScope":)" + kScope + "}"}}, {}},
      {"azureAuth valid",
       {{UA, ""}, {"/spec/authentication/azureAuth", R"({"identityId":"id","resource":"https://vault.azure.net","secretsScope":)" + kScope + "}"}},
       {}},
      {"gcpIdTokenAuth valid", {{UA, ""}, {"/spec/authentication/gcpIdTokenAuth", R"({"identityId":"id","secretsScope":)" + kScope + "}"}}, {}},
      {"gcpIamAuth valid",
       {{UA, ""}, {"/spec/authentication/gcpIamAuth", R"({"identityId":"id","serviceAccountKeyFilePath":"/etc/gcp/key.json","secretsScope":)" + kScope + "}"}},
       {}},
      {"serviceToken valid",
       {{UA, ""},
        {"/spec/authentication/serviceToken",
         R"({"serviceTokenSecretReference":{"secretName":"tok","secretNamespace":"apps"},"secretsScope":{"envSlug":"dev","secretsPath":"/","recursive":true}})"}},
       {}},
      {"projectId instead of projectSlug", {{UA + "/secretsScope/projectSlug", ""}, {UA + "/secretsScope/projectId", R"("6f1c")"}}, {}},
      // --- required fields of each method
      {"universalAuth empty", {{UA, "{}"}},
       {{"spec.authentication.universalAuth.credentialsRef", "required"},
        {"spec.authentication.universalAuth.secretsScope", "required"}}},
      {"credentialsRef.secretName missing", {{UA + "/credentialsRef/secretName", ""}},
       {{"spec.authentication.universalAuth.credentialsRef.secretName", "required"}}},
      {"credentialsRef.secretNamespace empty", {{UA + "/credentialsRef/secretNamespace", R"("")"}},
       {{"spec.authentication.universalAuth.credentialsRef.secretNamespace", "required"}}},
      {"kubernetesAuth empty", {{UA, ""}, {"/spec/authentication/kubernetesAuth", "{}"}},
       {{"spec.authentication.kubernetesAuth.identityId", "required"},
        {"spec.authentication.kubernetesAuth.serviceAccountRef", "required"},
        {"spec.authentication.kubernetesAuth.secretsScope", "required"}}},
      {"kubernetesAuth serviceAccountRef fields and empty audience",
       {{UA, ""},
        {"/spec/authentication/kubernetesAuth",
         R"({"identityId":"id","serviceAccountRef":{"name":""},"serviceAccountTokenAudiences":["a",""],"secretsScope":)" + kScope + "}"}},
       {{"spec.authentication.kubernetesAuth.serviceAccountRef.name", "required"},
        {"spec.authentication.kubernetesAuth.serviceAccountRef.namespace", "required"},
        {"spec.authentication.kubernetesAuth.serviceAccountTokenAudiences[1]", "must not be empty"}}},
      {"awsIamAuth without identityId", {{UA, ""}, {"/spec/authentication/awsIamAuth", R"({"secretsScope":)" + kScope + "}"}},
       {{"spec.authentication.awsIamAuth.identityId", "required"}}},
      {"gcpIdTokenAuth without identityId", {{UA, ""}, {"/spec/authentication/gcpIdTokenAuth", R"({"secretsScope":)" + kScope + "}"}},
       {{"spec.authentication.gcpIdTokenAuth.identityId", "required"}}},
      {"gcpIamAuth without key path", {{UA, ""}, {"/spec/authentication/gcpIamAuth", R"({"identityId":"id","secretsScope":)" + kScope + "}"}},
       {{"spec.authentication.gcpIamAuth.serviceAccountKeyFilePath", "required"}}},
      {"serviceToken empty", {{UA, ""}, {"/spec/authentication/serviceToken", "{}"}},
       {{"spec.authentication.serviceToken.serviceTokenSecretReference", "required"},
        {"spec.authentication.serviceToken.secretsScope", "required"}}},
      {"serviceToken scope fields",
       {{UA, ""},
        {"/spec/authentication/serviceToken",
         R"({"serviceTokenSecretReference":{"secretName":"tok","secretNamespace":"apps"},"secretsScope":{"secretsPath":"app"}})"}},
       {{"spec.authentication.serviceToken.secretsScope.envSlug", "required"},
        {"spec.authentication.serviceToken.secretsScope.secretsPath", "must start with '/'"}}},
      // --- project, env, path
      {"both projectSlug and projectId", {{UA + "/secretsScope/projectId", R"("6f1c")"}},
       {{"spec.authentication.universalAuth.secretsScope", "both are set"}}},
      {"neither projectSlug nor projectId", {{UA + "/secretsScope/projectSlug", ""}},
       {{"spec.authentication.universalAuth.secretsScope", "neither is set"}}},
      {"envSlug missing", {{UA + "/secretsScope/envSlug", ""}}, {{"spec.authentication.universalAuth.secretsScope.envSlug", "required"}}},
      {"secretsPath relative", {{UA + "/secretsScope/secretsPath", R"("app/db")"}},
       {{"spec.authentication.universalAuth.secretsScope.secretsPath", "must start with '/'"}}},
      {"secretsPath missing", {{UA + "/secretsScope/secretsPath", ""}},
       {{"spec.authentication.universalAuth.secretsScope.secretsPath", "required"}}},
      {"secretsPath nested absolute", {{UA + "/secretsScope/secretsPath", R"("/app/db")"}}, {}},
      // --- creationPolicy
      {"creationPolicy Owner in the same namespace", {{"/spec/managedSecretReference/creationPolicy", R"("Owner")"}}, {}},
      {"creationPolicy absent defaults to Orphan", {{"/spec/managedSecretReference/creationPolicy", ""}}, {}},
      {"creationPolicy lowercase", {{"/spec/managedSecretReference/creationPolicy", R"("owner")"}},
       {{"spec.managedSecretReference.creationPolicy", "must be Orphan or Owner"}}},
      {"creationPolicy empty", {{"/spec/managedSecretReference/creationPolicy", R"("")"}},
       {{"spec.managedSecretReference.creationPolicy", "must be Orphan or Owner"}}},
      {"Owner across namespaces",
       {{"/spec/managedSecretReference/creationPolicy", R"("Owner")"}, {"/spec/managedSecretReference/secretNamespace", R"("other")"}},
       {{"spec.managedSecretReference.secretNamespace", "must be the InfisicalSecret's own namespace \"apps\""}}},
      {"Orphan across namespaces is allowed", {{"/spec/managedSecretReference/secretNamespace", R"("other")"}}, {}},
      // --- DNS-1123 names and namespaces
      {"managed secret name with uppercase and underscore", {{"/spec/managedSecretReference/secretName", R"("My_Secret")"}},
       {{"spec.managedSecretReference.secretName", "must be a valid name"}}},
      {"managed secret name with dots", {{"/spec/managedSecretReference/secretName", R"("app.config-v2")"}}, {}},
      {"managed secret namespace with a dot", {{"/spec/managedSecretReference/secretNamespace", R"("team.apps")"}},
       {{"spec.managedSecretReference.secretNamespace", "must be a valid namespace name"}}},
      {"namespace of 64 characters", {{UA + "/credentialsRef/secretNamespace", "\"" + std::string(64, 'a') + "\""}},
       {{"spec.authentication.universalAuth.credentialsRef.secretNamespace", "at most 63"}}},
      {"namespace of 63 characters", {{UA + "/credentialsRef/secretNamespace", "\"" + std::string(63, 'a') + "\""}}, {}},
      {"name of 254 characters", {{UA + "/credentialsRef/secretName", "\"" + std::string(254, 'a') + "\""}},
       {{"spec.authentication.universalAuth.credentialsRef.secretName", "at most 253"}}},
      {"name ending in a dash", {{UA + "/credentialsRef/secretName", R"("creds-")"}},
       {{"spec.authentication.universalAuth.credentialsRef.secretName", "must be a valid name"}}},
      {"service account name invalid",
       {{UA, ""},
        {"/spec/authentication/kubernetesAuth",
         R"({"identityId":"id","serviceAccountRef":{"name":"Reader","namespace":"-apps"},"secretsScope":)" + kScope + "}"}},
       {{"spec.authentication.kubernetesAuth.serviceAccountRef.name", "must be a valid name"},
        {"spec.authentication.kubernetesAuth.serviceAccountRef.namespace", "must be a valid namespace name"}}},
      // --- resyncInterval
      {"resyncInterval 4", {{"/spec/resyncInterval", "4"}}, {{"spec.resyncInterval", "at least 5 seconds"}}},
      {"resyncInterval 0", {{"/spec/resyncInterval", "0"}}, {{"spec.resyncInterval", "at least 5 seconds"}}},
      {"resyncInterval negative", {{"/spec/resyncInterval", "-60"}}, {{"spec.resyncInterval", "at least 5 seconds"}}},
      {"resyncInterval 5", {{"/spec/resyncInterval", "5"}}, {}},
      {"resyncInterval 7 days", {{"/spec/resyncInterval", "604800"}}, {}},
      {"resyncInterval 7 days + 1", {{"/spec/resyncInterval", "604801"}}, {{"spec.resyncInterval", "at most 604800"}}},
      {"resyncInterval absent", {{"/spec/resyncInterval", ""}}, {}},
      {"resyncInterval as a string", {{"/spec/resyncInterval", R"("60")"}}, {{"spec.resyncInterval", "must be an integer, not string"}}},
      {"resyncInterval fractional", {{"/spec/resyncInterval", "60.5"}}, {{"spec.resyncInterval", "must be an integer, not number"}}},
      {"resyncInterval beyond int64", {{"/spec/resyncInterval", "18446744073709551615"}}, {{"spec.resyncInterval", "out of range"}}},
      // --- hostAPI
      {"hostAPI with /api", {{"/spec/hostAPI", R"("https://infisical.example.com/api")"}}, {}},
      {"hostAPI http with port", {{"/spec/hostAPI", R"("http://127.0.0.1:8080")"}}, {}},
      {"hostAPI IPv6", {{"/spec/hostAPI", R"("https://[::1]:8443/api/")"}}, {}},
      {"hostAPI cluster service", {{"/spec/hostAPI", R"("http://infisical-backend.infisical.svc.cluster.local:8080/api")"}}, {}},
      {"hostAPI without scheme", {{"/spec/hostAPI", R"("infisical.example.com/api")"}}, {{"spec.hostAPI", "absolute http"}}},
      {"hostAPI ftp", {{"/spec/hostAPI", R"("ftp://infisical.example.com")"}}, {{"spec.hostAPI", "absolute http"}}},
      {"hostAPI without host", {{"/spec/hostAPI", R"("https:///api")"}}, {{"spec.hostAPI", "absolute http"}}},
      {"hostAPI with query", {{"/spec/hostAPI", R"("https://x.example.com/api?a=b")"}}, {{"spec.hostAPI", "absolute http"}}},
      {"hostAPI with space", {{"/spec/hostAPI", R"("https://x.example.com /api")"}}, {{"spec.hostAPI", "absolute http"}}},
      {"hostAPI with bad port", {{"/spec/hostAPI", R"("https://x.example.com:99999")"}}, {{"spec.hostAPI", "absolute http"}}},
      {"hostAPI with credentials", {{"/spec/hostAPI", R"("https://user:pw@x.example.com")"}}, {{"spec.hostAPI", "absolute http"}}},
      // --- secretType
      {"secretType dockerconfigjson", {{"/spec/managedSecretReference/secretType", R"("kubernetes.io/dockerconfigjson")"}}, {}},
      {"secretType custom", {{"/spec/managedSecretReference/secretType", R"("example.com/app-config")"}}, {}},
      {"secretType empty reads as Opaque", {{"/spec/managedSecretReference/secretType", R"("")"}}, {}},
      {"secretType service-account-token", {{"/spec/managedSecretReference/secretType", R"("kubernetes.io/service-account-token")"}},
       {{"spec.managedSecretReference.secretType", "kubernetes.io/service-account-token is not allowed"}}},
      {"secretType bootstrap token", {{"/spec/managedSecretReference/secretType", R"("bootstrap.kubernetes.io/token")"}},
       {{"spec.managedSecretReference.secretType", "bootstrap.kubernetes.io/token is not allowed"}}},
      {"secretType unknown built-in", {{"/spec/managedSecretReference/secretType", R"("kubernetes.io/dockerconfig")"}},
       {{"spec.managedSecretReference.secretType", "unknown built-in Secret type"}}},
      {"secretType malformed", {{"/spec/managedSecretReference/secretType", R"("my type")"}},
       {{"spec.managedSecretReference.secretType", "must be a valid Secret type"}}},
      // --- targets
      {"no target", {{"/spec/managedSecretReference", ""}},
       {{"spec.managedSecretReference",
         "required (or a non-empty spec.managedKubeSecretReferences or spec.managedKubeConfigMapReferences)"}}},
      {"plural list only",
       {{"/spec/managedSecretReference", ""},
        {"/spec/managedKubeSecretReferences", R"([{"secretName":"a","secretNamespace":"apps"},{"secretName":"a","secretNamespace":"other"}])"}},
       {}},
      {"empty plural list and no singular", {{"/spec/managedSecretReference", ""}, {"/spec/managedKubeSecretReferences", "[]"}},
       {{"spec.managedKubeSecretReferences",
         "must not be empty (or set spec.managedSecretReference or spec.managedKubeConfigMapReferences)"}}},
      {"both singular and plural",
       {{"/spec/managedKubeSecretReferences", R"([{"secretName":"b","secretNamespace":"apps"}])"}},
       {{"spec.managedKubeSecretReferences", "must not be set together with spec.managedSecretReference"}}},
      {"duplicate targets",
       {{"/spec/managedSecretReference", ""},
        {"/spec/managedKubeSecretReferences",
         R"([{"secretName":"a","secretNamespace":"apps"},{"secretName":"b","secretNamespace":"apps"},
             {"secretName":"a","secretNamespace":"apps","creationPolicy":"Owner"}])"}},
       {{"spec.managedKubeSecretReferences[2]", "duplicate target apps/a (also spec.managedKubeSecretReferences[0])"}}},
      {"plural item errors carry the index",
       {{"/spec/managedSecretReference", ""},
        {"/spec/managedKubeSecretReferences", R"([{"secretName":"a","secretNamespace":"apps"},{"secretNamespace":"apps","creationPolicy":"Always"}])"}},
       {{"spec.managedKubeSecretReferences[1].secretName", "required"},
        {"spec.managedKubeSecretReferences[1].creationPolicy", "must be Orphan or Owner"}}},
      // --- tls.caRef
      {"tls.caRef valid", {{"/spec/tls", R"({"caRef":{"secretName":"ca","secretNamespace":"apps","key":"ca.crt"}})"}}, {}},
      {"tls.caRef incomplete", {{"/spec/tls", R"({"caRef":{"secretName":"ca"}})"}},
       {{"spec.tls.caRef.secretNamespace", "required"}, {"spec.tls.caRef.key", "required"}}},
      {"tls.caRef bad key", {{"/spec/tls", R"({"caRef":{"secretName":"ca","secretNamespace":"apps","key":"ca/crt"}})"}},
       {{"spec.tls.caRef.key", "must be a valid Secret key"}}},
      // --- wrong JSON types are reported once, at the field
      {"credentialsRef as a string", {{UA + "/credentialsRef", R"("creds")"}},
       {{"spec.authentication.universalAuth.credentialsRef", "must be an object, not string"}}},
      {"recursive as a string", {{UA + "/secretsScope/recursive", R"("yes")"}},
       {{"spec.authentication.universalAuth.secretsScope.recursive", "must be a boolean, not string"}}},
      {"spec missing", {{"/spec", ""}}, {{"spec", "required"}}},
      {"spec as an array", {{"/spec", "[]"}}, {{"spec", "must be an object, not array"}}},
      {"managedKubeSecretReferences as an object", {{"/spec/managedSecretReference", ""}, {"/spec/managedKubeSecretReferences", "{}"}},
       {{"spec.managedKubeSecretReferences", "must be an array, not object"}}},
      // --- several problems at once: all reported, in document order
      {"several problems at once",
       {{"/spec/resyncInterval", "1"}, {UA + "/secretsScope/secretsPath", R"("x")"}, {"/spec/managedSecretReference/secretName", R"("")"}},
       {{"spec.resyncInterval", "at least 5"},
        {"spec.authentication.universalAuth.secretsScope.secretsPath", "must start with '/'"},
        {"spec.managedSecretReference.secretName", "required"}}},
      // --- upstream v0.11: syncConfig wins over resyncInterval; its syntax is <number><s|m|h|d|w>
      {"syncConfig valid", {{"/spec/syncConfig", R"({"resyncInterval":"5m","instantUpdates":true})"}}, {}},
      {"syncConfig empty", {{"/spec/syncConfig", "{}"}}, {}},
      {"syncConfig.resyncInterval unreadable", {{"/spec/syncConfig", R"({"resyncInterval":"1.5h"})"}},
       {{"spec.syncConfig.resyncInterval", "is not a number followed by s, m, h, d or w"}}},
      {"syncConfig.resyncInterval too short", {{"/spec/syncConfig", R"({"resyncInterval":"2s"})"}},
       {{"spec.syncConfig.resyncInterval", "at least 5s"}}},
      {"syncConfig.resyncInterval too long", {{"/spec/syncConfig", R"({"resyncInterval":"2w"})"}},
       {{"spec.syncConfig.resyncInterval", "at most 7d"}}},
      // --- template (upstream v0.11): every data entry must be a Secret key and parse
      {"template valid", {{"/spec/managedSecretReference/template",
                           R"({"includeAllSecrets":true,"data":{"DSN":"postgres://{{ .DB_USER.Value }}@{{ .DB_HOST.Value | lower }}/app"},
                               "metadata":{"labels":{"app":"web"},"annotations":{"note":"x"}}})"}},
       {}},
      {"template empty", {{"/spec/managedSecretReference/template", "{}"}}, {}},
      {"template on a list target valid",
       {{"/spec/managedSecretReference", ""},
        {"/spec/managedKubeSecretReferences", R"([{"secretName":"a","secretNamespace":"apps","template":{"data":{"K":"{{ .A.Value }}"}}}])"}},
       {}},
      {"template that does not parse",
       {{"/spec/managedSecretReference/template", R"({"data":{"DSN":"postgres://{{ .DB_USER.Value "}})"}},
       {{"spec.managedSecretReference.template.data[DSN]", "template: secret-templates:1: unclosed action"}}},
      {"template with an unknown function, on line 2 of a list target",
       {{"/spec/managedSecretReference", ""},
        {"/spec/managedKubeSecretReferences",
         R"([{"secretName":"a","secretNamespace":"apps"},
             {"secretName":"b","secretNamespace":"apps","template":{"data":{"OK":"{{ .A.Value }}","HOME":"x\n{{ env \"HOME\" }}"}}}])"}},
       {{"spec.managedKubeSecretReferences[1].template.data[HOME]",
         "template: secret-templates:2: function \"env\" not defined"}}},
      {"template data key not a Secret key",
       {{"/spec/managedSecretReference/template", R"({"data":{"bad key":"x","..":"y"}})"}},
       {{"spec.managedSecretReference.template.data[..]", "must be a valid Secret key"},
        {"spec.managedSecretReference.template.data[bad key]", "must be a valid Secret key"}}},
      {"template with wrong types",
       {{"/spec/managedSecretReference/template", R"({"includeAllSecrets":"yes","data":{"DSN":1},"metadata":{"labels":[]}})"}},
       {{"spec.managedSecretReference.template.includeAllSecrets", "must be a boolean, not string"},
        {"spec.managedSecretReference.template.data[DSN]", "must be a string, not number"},
        {"spec.managedSecretReference.template.metadata.labels", "must be an object, not array"}}},
      // --- ConfigMap targets (upstream v0.11): the same rules as Secret targets
      {"ConfigMap target next to a Secret target",
       {{"/spec/managedKubeConfigMapReferences", R"([{"configMapName":"c","configMapNamespace":"apps"}])"}}, {}},
      {"ConfigMap targets only",
       {{"/spec/managedSecretReference", ""},
        {"/spec/managedKubeConfigMapReferences",
         R"([{"configMapName":"c","configMapNamespace":"apps","creationPolicy":"Owner"},
             {"configMapName":"app.settings-v2","configMapNamespace":"other"}])"}},
       {}},
      {"a ConfigMap named like a Secret target is another object",
       {{"/spec/managedKubeConfigMapReferences", R"([{"configMapName":"managed","configMapNamespace":"apps"}])"}}, {}},
      {"empty ConfigMap list and no Secret target",
       {{"/spec/managedSecretReference", ""}, {"/spec/managedKubeConfigMapReferences", "[]"}},
       {{"spec.managedKubeConfigMapReferences",
         "must not be empty (or set spec.managedSecretReference or spec.managedKubeSecretReferences)"}}},
      {"empty ConfigMap list next to a Secret target", {{"/spec/managedKubeConfigMapReferences", "[]"}}, {}},
      {"ConfigMap item errors carry the index",
       {{"/spec/managedKubeConfigMapReferences",
         R"([{"configMapName":"c","configMapNamespace":"apps"},{"configMapNamespace":"apps","creationPolicy":"Always"},
             {"configMapName":"d"}])"}},
       {{"spec.managedKubeConfigMapReferences[1].configMapName", "required"},
        {"spec.managedKubeConfigMapReferences[1].creationPolicy", "must be Orphan or Owner"},
        {"spec.managedKubeConfigMapReferences[2].configMapNamespace", "required"}}},
      {"ConfigMap creationPolicy lowercase",
       {{"/spec/managedKubeConfigMapReferences", R"([{"configMapName":"c","configMapNamespace":"apps","creationPolicy":"owner"}])"}},
       {{"spec.managedKubeConfigMapReferences[0].creationPolicy", "must be Orphan or Owner"}}},
      {"ConfigMap names are DNS-1123 subdomains, namespaces labels",
       {{"/spec/managedKubeConfigMapReferences",
         R"([{"configMapName":"My_Settings","configMapNamespace":"team.apps"},
             {"configMapName":")" + std::string(254, 'a') + R"(","configMapNamespace":")" + std::string(64, 'a') + R"("}])"}},
       {{"spec.managedKubeConfigMapReferences[0].configMapName", "must be a valid name"},
        {"spec.managedKubeConfigMapReferences[0].configMapNamespace", "must be a valid namespace name"},
        {"spec.managedKubeConfigMapReferences[1].configMapName", "at most 253"},
        {"spec.managedKubeConfigMapReferences[1].configMapNamespace", "at most 63"}}},
      {"ConfigMap Owner across namespaces",
       {{"/spec/managedKubeConfigMapReferences",
         R"([{"configMapName":"c","configMapNamespace":"other","creationPolicy":"Owner"}])"}},
       {{"spec.managedKubeConfigMapReferences[0].configMapNamespace",
         "must be the InfisicalSecret's own namespace \"apps\" when creationPolicy is Owner"}}},
      {"duplicate ConfigMap targets",
       {{"/spec/managedKubeConfigMapReferences",
         R"([{"configMapName":"c","configMapNamespace":"apps"},{"configMapName":"c","configMapNamespace":"other"},
             {"configMapName":"c","configMapNamespace":"apps","creationPolicy":"Owner"}])"}},
       {{"spec.managedKubeConfigMapReferences[2]",
         "duplicate target apps/c (also spec.managedKubeConfigMapReferences[0])"}}},
      {"ConfigMap template valid",
       {{"/spec/managedKubeConfigMapReferences",
         R"([{"configMapName":"c","configMapNamespace":"apps","template":{"includeAllSecrets":true,
              "data":{"app.properties":"url={{ .URL.Value }}"},"metadata":{"labels":{"a":"b"}}}}])"}},
       {}},
      {"ConfigMap template that does not parse, and a bad key",
       {{"/spec/managedKubeConfigMapReferences",
         R"([{"configMapName":"c","configMapNamespace":"apps","template":{"data":{"DSN":"{{ .A.Value ","a/b":"x"}}}])"}},
       {{"spec.managedKubeConfigMapReferences[0].template.data[DSN]", "template: secret-templates:1: unclosed action"},
        {"spec.managedKubeConfigMapReferences[0].template.data[a/b]", "must be a valid ConfigMap key"}}},
      {"ConfigMap list as an object", {{"/spec/managedKubeConfigMapReferences", "{}"}},
       {{"spec.managedKubeConfigMapReferences", "must be an array, not object"}}},
      {"ConfigMap item as a string, reported once",
       {{"/spec/managedSecretReference", ""}, {"/spec/managedKubeConfigMapReferences", R"(["c"])"}},
       {{"spec.managedKubeConfigMapReferences[0]", "must be an object, not string"}}},
      // --- upstream v0.11 features stored but not acted on yet: refused by name, never half-synced
      // --- upstream v0.11 auth and scope fields
      {"ldapAuth valid",
       {{UA, ""},
        {"/spec/authentication/ldapAuth",
         R"({"identityId":"id","credentialsRef":{"secretName":"ldap-creds","secretNamespace":"apps"},"secretsScope":)" + kScope + "}"}},
       {}},
      {"ldapAuth empty", {{UA, ""}, {"/spec/authentication/ldapAuth", "{}"}},
       {{"spec.authentication.ldapAuth.identityId", "required"},
        {"spec.authentication.ldapAuth.credentialsRef", "required"},
        {"spec.authentication.ldapAuth.secretsScope", "required"}}},
      {"ldapAuth credentialsRef fields and scope",
       {{UA, ""},
        {"/spec/authentication/ldapAuth",
         R"({"identityId":"id","credentialsRef":{"secretName":"Bad_Name"},"secretsScope":{"projectSlug":"p","secretsPath":"/"}})"}},
       {{"spec.authentication.ldapAuth.credentialsRef.secretName", "must be a valid name"},
        {"spec.authentication.ldapAuth.credentialsRef.secretNamespace", "required"},
        {"spec.authentication.ldapAuth.secretsScope.envSlug", "required"}}},
      {"ldapAuth with another method", {{"/spec/authentication/ldapAuth",
                                         R"({"identityId":"id","credentialsRef":{"secretName":"c","secretNamespace":"apps"},"secretsScope":)" + kScope + "}"}},
       {{"spec.authentication", "universalAuth, ldapAuth are set"}}},
      {"single-secret scope valid", {{UA + "/secretsScope/secretName", R"("DB_URL")"}}, {}},
      {"single-secret scope with recursive false", {{UA + "/secretsScope/secretName", R"("DB_URL")"}, {UA + "/secretsScope/recursive", "false"}}, {}},
      {"single-secret scope with recursive",
       {{UA + "/secretsScope/secretName", R"("DB_URL")"}, {UA + "/secretsScope/recursive", "true"}},
       {{"spec.authentication.universalAuth.secretsScope", "recursive mode is not supported when secretName is specified"}}},
      {"single-secret scope with recursive on ldapAuth",
       {{UA, ""},
        {"/spec/authentication/ldapAuth",
         R"({"identityId":"id","credentialsRef":{"secretName":"c","secretNamespace":"apps"},
             "secretsScope":{"projectId":"p","envSlug":"dev","secretsPath":"/","secretName":"K","recursive":true}})"}},
       {{"spec.authentication.ldapAuth.secretsScope", "recursive mode is not supported when secretName is specified"}}},
      {"secretName that is a dot segment", {{UA + "/secretsScope/secretName", R"("..")"}},
       {{"spec.authentication.universalAuth.secretsScope.secretName", "must be the key of one secret"}}},
      {"secretName with a folder separator", {{UA + "/secretsScope/secretName", R"("../v1/auth")"}},
       {{"spec.authentication.universalAuth.secretsScope.secretName", "no '/'"}}},
      {"secretName with a control character", {{UA + "/secretsScope/secretName", R"("A\u0001B")"}},
       {{"spec.authentication.universalAuth.secretsScope.secretName", "no control characters"}}},
      {"secretName of the wrong type", {{UA + "/secretsScope/secretName", "7"}},
       {{"spec.authentication.universalAuth.secretsScope.secretName", "must be a string, not number"}}},
      {"azureAuth with a user-assigned managed identity",
       {{UA, ""},
        {"/spec/authentication/azureAuth",
         R"({"identityId":"id","azureManagedIdentityClientId":"7e1c0a52-0000-4000-8000-000000000001","secretsScope":)" + kScope + "}"}},
       {}},
      // --- legacy forms
      {"tokenSecretReference stands in for a missing serviceTokenSecretReference",
       {{UA, ""},
        {"/spec/authentication/serviceToken", R"({"secretsScope":{"envSlug":"dev","secretsPath":"/"}})"},
        {"/spec/tokenSecretReference", R"({"secretName":"tok","secretNamespace":"apps"})"}},
       {}},
      {"tokenSecretReference field that is used is reported where it is written",
       {{UA, ""},
        {"/spec/authentication/serviceToken",
         R"({"serviceTokenSecretReference":{"secretName":"tok","secretNamespace":""},"secretsScope":{"envSlug":"dev","secretsPath":"/"}})"},
        {"/spec/tokenSecretReference", R"({"secretName":"ignored","secretNamespace":"Bad_NS"})"}},
       {{"spec.tokenSecretReference.secretNamespace", "must be a valid namespace name"}}},
      {"tokenSecretReference and serviceTokenSecretReference both empty",
       {{UA, ""},
        {"/spec/authentication/serviceToken", R"({"serviceTokenSecretReference":{"secretName":""},"secretsScope":{"envSlug":"dev","secretsPath":"/"}})"},
        {"/spec/tokenSecretReference", R"({"secretName":"tok"})"}},
       {{"spec.authentication.serviceToken.serviceTokenSecretReference.secretNamespace", "required"}}},
      {"tokenSecretReference without serviceToken",
       {{"/spec/authentication", ""}, {"/spec/tokenSecretReference", R"({"secretName":"tok","secretNamespace":"apps"})"}},
       {{"spec.tokenSecretReference", "needs spec.authentication.serviceToken with its secretsScope"}}},
      {"tokenSecretReference with another method", {{"/spec/tokenSecretReference", R"({"secretName":"tok","secretNamespace":"apps"})"}},
       {{"spec.tokenSecretReference", "used only with spec.authentication.serviceToken"}}},
      {"legacy serviceAccount alone",
       {{UA, ""},
        {"/spec/authentication/serviceAccount",
         R"({"serviceAccountSecretReference":{"secretName":"sa","secretNamespace":"apps"},"projectId":"p","environmentName":"dev"})"}},
       {{"spec.authentication.serviceAccount", "Infisical retired service accounts"}}},
      {"legacy serviceAccount next to universalAuth",
       {{"/spec/authentication/serviceAccount", R"({"serviceAccountSecretReference":{"secretName":"sa","secretNamespace":"apps"}})"}},
       {{"spec.authentication.serviceAccount", "migrate to a machine identity"}}},
  };
}

}  // namespace

TEST_CASE("every InfisicalSecret rule reports its exact field path") {
  for (const auto& c : cases()) {
    CAPTURE(std::string(c.name));
    auto doc = edited(kValid, c.edits);
    ValidationReport r = check_infisical_secret(*doc);
    CAPTURE(r.message());
    REQUIRE(r.errors.size() == c.expect.size());
    CHECK(r.ok() == c.expect.empty());
    for (size_t i = 0; i < c.expect.size(); ++i) {
      CHECK(r.errors[i].path == c.expect[i].path);
      CHECK(r.errors[i].message.find(c.expect[i].fragment) != std::string::npos);
    }
  }
}

TEST_CASE("the report renders as one human message") {
  auto doc = edited(kValid, {{"/spec/resyncInterval", "1"}, {"/spec/managedSecretReference/creationPolicy", R"("x")"}});
  auto r = check_infisical_secret(*doc);
  CHECK(r.message() == "spec.resyncInterval: must be at least 5 seconds; "
                       "spec.managedSecretReference.creationPolicy: must be Orphan or Owner");
  CHECK(format_field_errors({{"", "invalid JSON"}, {"a.b", "required"}}) == "invalid JSON; a.b: required");
}

TEST_CASE("cross-namespace references are listed as data, same-namespace ones are not") {
  auto doc = edited(kValid, {{UA, ""},
                             {"/spec/authentication/kubernetesAuth",
                              R"({"identityId":"id","serviceAccountRef":{"name":"reader","namespace":"infra"},"secretsScope":)" + kScope + "}"},
                             {"/spec/managedSecretReference", ""},
                             {"/spec/managedKubeSecretReferences",
                              R"([{"secretName":"here","secretNamespace":"apps"},{"secretName":"there","secretNamespace":"web"}])"},
                             {"/spec/tls", R"({"caRef":{"secretName":"ca","secretNamespace":"certs","key":"ca.crt"}})"}});
  auto r = check_infisical_secret(*doc);
  REQUIRE(r.ok());
  std::vector<CrossNamespaceReference> want = {
      {ReferenceKind::kServiceAccount, "infra", "reader", "spec.authentication.kubernetesAuth.serviceAccountRef"},
      {ReferenceKind::kManagedSecret, "web", "there", "spec.managedKubeSecretReferences[1]"},
      {ReferenceKind::kCaSecret, "certs", "ca", "spec.tls.caRef"},
  };
  CHECK(r.cross_namespace_references == want);

  auto sa = access_check_for(want[0]);
  CHECK(sa.verb == "create");
  CHECK(sa.resource == "serviceaccounts");
  CHECK(sa.subresource == "token");
  CHECK(sa.namespace_ == "infra");
  CHECK(sa.name == "reader");
  auto ms = access_check_for(want[1]);
  CHECK(ms.verb == "create");
  CHECK(ms.resource == "secrets");
  CHECK(ms.name.empty());
  auto ca = access_check_for(want[2]);
  CHECK(ca.verb == "get");
  CHECK(ca.name == "ca");
  CHECK(reference_kind_name(ReferenceKind::kCredentialsSecret) == "credentials Secret");
}

TEST_CASE("a ConfigMap target in another namespace is a cross-namespace reference to configmaps") {
  auto doc = edited(kValid, {{"/spec/managedKubeConfigMapReferences",
                              R"([{"configMapName":"here","configMapNamespace":"apps"},
                                  {"configMapName":"there","configMapNamespace":"web"}])"}});
  auto r = check_infisical_secret(*doc);
  REQUIRE(r.ok());
  std::vector<CrossNamespaceReference> want = {
      {ReferenceKind::kManagedConfigMap, "web", "there", "spec.managedKubeConfigMapReferences[1]"}};
  CHECK(r.cross_namespace_references == want);
  auto check = access_check_for(want[0]);
  CHECK(check.verb == "create");
  CHECK(check.group.empty());
  CHECK(check.resource == "configmaps");
  CHECK(check.namespace_ == "web");
  CHECK(check.name.empty());
  CHECK(reference_kind_name(ReferenceKind::kManagedConfigMap) == "managed ConfigMap");
}

TEST_CASE("credentials in another namespace are a cross-namespace reference") {
  auto doc = edited(kValid, {{UA + "/credentialsRef/secretNamespace", R"("infisical")"}});
  auto r = check_infisical_secret(*doc);
  REQUIRE(r.cross_namespace_references.size() == 1);
  CHECK(r.cross_namespace_references[0].kind == ReferenceKind::kCredentialsSecret);
  CHECK(r.cross_namespace_references[0].namespace_ == "infisical");
  CHECK(access_check_for(r.cross_namespace_references[0]).verb == "get");
}

TEST_CASE("LDAP credentials and a legacy token Secret in another namespace are cross-namespace references") {
  auto ldap = check_infisical_secret(*edited(
      kValid, {{UA, ""},
               {"/spec/authentication/ldapAuth",
                R"({"identityId":"id","credentialsRef":{"secretName":"ldap-creds","secretNamespace":"directory"},"secretsScope":)" +
                    kScope + "}"}}));
  REQUIRE(ldap.ok());
  std::vector<CrossNamespaceReference> want = {
      {ReferenceKind::kCredentialsSecret, "directory", "ldap-creds", "spec.authentication.ldapAuth.credentialsRef"}};
  CHECK(ldap.cross_namespace_references == want);
  CHECK(access_check_for(want[0]).verb == "get");

  auto token = check_infisical_secret(*edited(
      kValid, {{UA, ""},
               {"/spec/authentication/serviceToken", R"({"secretsScope":{"envSlug":"dev","secretsPath":"/"}})"},
               {"/spec/tokenSecretReference", R"({"secretName":"tok","secretNamespace":"tokens"})"}}));
  REQUIRE(token.ok());
  want = {{ReferenceKind::kCredentialsSecret, "tokens", "tok", "spec.tokenSecretReference"}};
  CHECK(token.cross_namespace_references == want);
}

TEST_CASE("the request namespace stands in for an empty metadata.namespace") {
  auto doc = edited(kValid, {{"/metadata/namespace", ""}, {"/spec/managedSecretReference/creationPolicy", R"("Owner")"}});
  CHECK(check_infisical_secret(*doc, "apps").ok());
  auto other = check_infisical_secret(*doc, "web");
  REQUIRE(other.errors.size() == 1);
  CHECK(other.errors[0].path == "spec.managedSecretReference.secretNamespace");
  // From "web", the credentials and the target in "apps" are both cross-namespace.
  CHECK(other.cross_namespace_references.size() == 2);
}

TEST_CASE("name helpers follow Kubernetes' rules") {
  CHECK(is_dns1123_label("a"));
  CHECK(is_dns1123_label("kube-system"));
  CHECK_FALSE(is_dns1123_label("a.b"));
  CHECK_FALSE(is_dns1123_label("-a"));
  CHECK_FALSE(is_dns1123_label(""));
  CHECK(is_dns1123_subdomain("a.b-c.d"));
  CHECK_FALSE(is_dns1123_subdomain("a..b"));
  CHECK_FALSE(is_dns1123_subdomain(".a"));
  CHECK_FALSE(is_dns1123_subdomain("a."));
  CHECK(is_secret_key("tls.crt"));
  CHECK(is_secret_key("DB_URL"));
  CHECK_FALSE(is_secret_key(".."));
  CHECK_FALSE(is_secret_key("a b"));
}

TEST_CASE("syncConfig.resyncInterval wins over resyncInterval") {
  auto doc = edited(kValid, {{"/spec/syncConfig", R"({"resyncInterval":"2m"})"}});
  auto parsed = parse_infisical_secret(*doc);
  CHECK(parsed.resource.spec.resync_interval_seconds() == 120);
  CHECK(parse_resync_interval("10s") == 10);
  CHECK(parse_resync_interval("1h") == 3600);
  CHECK(parse_resync_interval("1d") == 86400);
  CHECK(parse_resync_interval("90") == std::nullopt);
  CHECK(parse_resync_interval("-5m") == std::nullopt);
  auto plain = parse_infisical_secret(*edited(kValid, {}));
  CHECK(plain.resource.spec.resync_interval_seconds() == 60);
}

// Upstream v0.11's samples (config/samples/crd/infisicalsecret/), as a user writes them: one auth
// block kept, with syncConfig, labels and annotations to copy, a recursive scope and a templated
// Secret target. The webhook must admit such a manifest unchanged.
TEST_CASE("upstream v0.11's sample, with one auth block, is valid as written") {
  const std::string sample = R"({
    "apiVersion": "secrets.infisical.com/v1alpha1", "kind": "InfisicalSecret",
    "metadata": {"name": "infisicalsecret-sample", "namespace": "default",
                 "labels": {"label-to-be-passed-to-managed-secret": "sample-value"},
                 "annotations": {"example.com/annotation-to-be-passed-to-managed-secret": "sample-value"}},
    "spec": {
      "syncConfig": {"resyncInterval": "10s", "instantUpdates": false},
      "authentication": {"universalAuth": {
        "secretsScope": {"projectSlug": "hello-9zkr", "envSlug": "dev", "secretsPath": "/", "recursive": true},
        "credentialsRef": {"secretName": "universal-auth-credentials", "secretNamespace": "default"}}},
      "managedKubeSecretReferences": [{
        "secretName": "managed-secret", "secretNamespace": "default", "creationPolicy": "Orphan",
        "template": {"includeAllSecrets": true, "data": {
          "SSH_KEY": "{{ .KEY.SecretPath }} {{ .KEY.Value }}",
          "BINARY_KEY": "{{ decodeBase64ToBytes .BINARY_KEY_BASE64.Value }}"}}}]
    }})";
  ValidationReport r = check_infisical_secret_json(sample);
  CHECK_MESSAGE(r.ok(), r.message());

  // The same with ldapAuth (upstream's sample block) instead.
  auto ldap = edited(sample, {{"/spec/authentication",
                               R"({"ldapAuth": {"identityId": "8f5c0b4e-4a55-4d8e-9d3e-2a6f6b0c1d2e",
                                   "credentialsRef": {"secretName": "ldap-auth-credentials", "secretNamespace": "default"},
                                   "secretsScope": {"projectSlug": "hello-9zkr", "envSlug": "dev", "secretsPath": "/"}}})"}});
  r = check_infisical_secret(*ldap);
  CHECK_MESSAGE(r.ok(), r.message());

  // What is really wrong is named with its path: a resync interval Go cannot parse as upstream does.
  auto bad = edited(sample, {{"/spec/syncConfig/resyncInterval", R"("1.5h")"}});
  r = check_infisical_secret(*bad);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].path == "spec.syncConfig.resyncInterval");
}
