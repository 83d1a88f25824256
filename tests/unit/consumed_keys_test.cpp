// Which Secret keys a workload consumes, on realistic manifests.
#include <doctest/doctest.h>

#include "core/consumed_keys.h"
#include "test_helpers.h"

using namespace ifo::core;

namespace {

using ifo::test::parse_doc;

const char* kDeployment = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "namespace": "apps", "annotations": {"secrets.infisical.com/auto-reload": "true"}},
  "spec": {
    "replicas": 2,
    "selector": {"matchLabels": {"app": "web"}},
    "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {
        "serviceAccountName": "web",
        "imagePullSecrets": [{"name": "registry-creds"}],
        "initContainers": [{
          "name": "migrate", "image": "migrate:1",
          "env": [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]
        }],
        "containers": [{
          "name": "app", "image": "web:1",
          "env": [
            {"name": "PLAIN", "value": "x"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "app-secrets", "key": "API_KEY"}}},
            {"name": "OPTIONAL", "valueFrom": {"secretKeyRef": {"name": "maybe", "key": "FLAG", "optional": true}}},
            {"name": "CFG", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "x"}}}
          ],
          "envFrom": [{"secretRef": {"name": "shared-env"}}, {"configMapRef": {"name": "cfg"}},
                      {"prefix": "OPT_", "secretRef": {"name": "optional-env", "optional": true}}]
        }, {
          "name": "sidecar", "image": "proxy:1",
          "env": [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "app-secrets", "key": "API_KEY"}}},
                  {"name": "SHARED", "valueFrom": {"secretKeyRef": {"name": "shared-env", "key": "ONE"}}}]
        }],
        "volumes": [
          {"name": "tls", "secret": {"secretName": "web-tls", "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}},
          {"name": "all", "secret": {"secretName": "whole", "defaultMode": 256}},
          {"name": "empty-items", "secret": {"secretName": "whole-too", "items": []}},
          {"name": "cfg", "configMap": {"name": "cfg"}},
          {"name": "proj", "projected": {"sources": [
            {"secret": {"name": "proj-one", "items": [{"key": "token", "path": "t"}]}},
            {"secret": {"name": "proj-all", "optional": true}},
            {"configMap": {"name": "cfg"}},
            {"serviceAccountToken": {"path": "sa", "expirationSeconds": 3600}}]}},
          {"name": "scratch", "emptyDir": {}}
        ]
      }
    }
  }
})";

}  // namespace

TEST_CASE("a realistic Deployment: every reference kind, optional ones included, canonical order") {
  auto d = parse_doc(kDeployment);
  auto r = consumed_secret_keys_of_object(*d);
  REQUIRE(r.ok());
  std::vector<ConsumedKey> want = {
      {"app-secrets", "API_KEY"},      // env, twice (two containers), once here
      {"db", "url"},                   // initContainer
      {"maybe", "FLAG"},               // optional env
      {"optional-env", std::nullopt},  // optional envFrom
      {"proj-all", std::nullopt},      // projected, whole
      {"proj-one", "token"},           // projected, items
      {"shared-env", std::nullopt},    // envFrom; the sidecar's key ONE is subsumed
      {"web-tls", "tls.crt"},
      {"web-tls", "tls.key"},
      {"whole", std::nullopt},
      {"whole-too", std::nullopt},  // empty items = every key
  };
  CHECK(*r == want);
  CHECK(consumes_secret(*r, "web-tls"));
  CHECK_FALSE(consumes_secret(*r, "registry-creds"));  // image pulls do not need a restart
  CHECK_FALSE(consumes_secret(*r, "cfg"));
}

TEST_CASE("optional references: the Secrets pods start without, whatever the reference kind") {
  auto d = parse_doc(kDeployment);
  const JsonValue* spec = at_path(*d, {"spec", "template", "spec"});
  REQUIRE(spec != nullptr);
  // env secretKeyRef, envFrom secretRef and a projected source marked optional; nothing else.
  CHECK(optionally_consumed_secrets(*spec) == std::vector<std::string>{"maybe", "optional-env", "proj-all"});
  auto volumes = parse_doc(R"({"volumes":[{"name":"a","secret":{"secretName":"vol","optional":true,"items":[{"key":"k","path":"k"}]}},
                                          {"name":"b","secret":{"secretName":"required","optional":false}}],
                               "containers":[{"name":"c","envFrom":[{"secretRef":{"name":"vol","optional":true}}]}]})");
  CHECK(optionally_consumed_secrets(*volumes) == std::vector<std::string>{"vol"});
  CHECK(optionally_consumed_secrets(JsonValue()).empty());
}

TEST_CASE("StatefulSet, DaemonSet, Pod, CronJob and ephemeral containers") {
  const char* pod_spec = R"({"containers":[{"name":"c","envFrom":[{"secretRef":{"name":"s"}}]}],
                             "ephemeralContainers":[{"name":"debug","env":[{"name":"T","valueFrom":{"secretKeyRef":{"name":"dbg","key":"t"}}}]}]})";
  std::vector<ConsumedKey> want = {{"dbg", "t"}, {"s", std::nullopt}};
  for (const char* kind : {"StatefulSet", "DaemonSet", "ReplicaSet", "Job"}) {
    CAPTURE(std::string(kind));
    auto d = parse_doc(std::string(R"({"kind":")") + kind + R"(","spec":{"template":{"spec":)" + pod_spec + "}}}");
    auto r = consumed_secret_keys_of_object(*d);
    REQUIRE(r.ok());
    CHECK(*r == want);
  }
  auto pod = parse_doc(std::string(R"({"kind":"Pod","spec":)") + pod_spec + "}");
  CHECK(*consumed_secret_keys_of_object(*pod) == want);
  auto cron = parse_doc(std::string(R"({"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":)") + pod_spec + "}}}}}");
  CHECK(*consumed_secret_keys_of_object(*cron) == want);
}

TEST_CASE("objects without a pod template are refused with a message") {
  auto r1 = consumed_secret_keys_of_object(*parse_doc(R"({"kind":"ConfigMap","data":{}})"));
  REQUIRE_FALSE(r1.ok());
  CHECK(r1.error() == "kind ConfigMap has no pod template");
  auto r2 = consumed_secret_keys_of_object(*parse_doc(R"({"kind":"Deployment","spec":{"template":{}}})"));
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error() == "Deployment has no pod spec");
  CHECK_FALSE(consumed_secret_keys_of_object(*parse_doc(R"({"spec":{}})")).ok());
  CHECK_FALSE(consumed_secret_keys_of_object(*parse_doc("[]")).ok());
}

TEST_CASE("malformed references are skipped, never fatal") {
  auto d = parse_doc(R"({"containers":[
      "not-an-object",
      {"env": {"not": "a list"}, "envFrom": [{"secretRef": "x"}, {"secretRef": {"name": 3}}, {"secretRef": {"name": ""}}]},
      {"env": [{"valueFrom": {"secretKeyRef": {"name": "only-name"}}}, {"valueFrom": {"secretKeyRef": {"key": "only-key"}}},
               {"valueFrom": {"secretKeyRef": {"name": "ok", "key": "k"}}}, {"valueFrom": null}]}],
    "volumes": [{"secret": {"items": [{"key": "k"}]}}, {"secret": {"secretName": "v", "items": [{"path": "p"}, 5, {"key": "k2"}]}},
                {"projected": {"sources": {"secret": {"name": "x"}}}}, {"projected": {"sources": [{"secret": {"name": ""}}]}}]})");
  std::vector<ConsumedKey> want = {{"ok", "k"}, {"v", "k2"}};
  CHECK(consumed_secret_keys(*d) == want);
  CHECK(consumed_secret_keys(JsonValue()).empty());
}
