// ConfigMap targets (upstream v0.11 managedKubeConfigMapReferences) in the reconciler against kube-sim
// and infisical-sim: the ConfigMap holds exactly what its template renders, as plain strings in
// `.data`, follows Infisical, is left exactly as it was when Infisical or a template fails, is bound to
// its InfisicalSecret like a managed Secret, and crosses namespaces only with a grant.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;

namespace {

constexpr const char* kSecretTarget =
    R"("managedSecretReference":{"secretName":"app-secrets","secretNamespace":"default","creationPolicy":"Orphan"})";

// h.infisical_secret_json whose only targets are these ConfigMaps (a JSON array), or these ConfigMaps
// next to the Secret target app-secrets.
std::string with_config_maps(SyncerHarness& h, const std::string& name, const std::string& config_maps,
                             bool keep_secret_target = false) {
  std::string text = h.infisical_secret_json(name, "app-secrets");
  replace_once(text, kSecretTarget,
          std::string(keep_secret_target ? std::string(kSecretTarget) + "," : "") +
              R"("managedKubeConfigMapReferences":)" + config_maps);
  return text;
}

std::map<std::string, std::string> config_map_data(SyncerHarness& h, const std::string& name,
                                                   const std::string& ns = "default") {
  auto cm = h.get(kube::kConfigMaps, name, ns);
  REQUIRE(cm);
  return string_map_at(*cm, {"data"});
}

struct Fixture {
  SyncerHarness h;
  std::ostringstream log_text;
  Fixture() {
    // Every log line the reconciler writes, at debug, so a test can prove no value reaches them.
    h.log = std::make_shared<spdlog::logger>("syncer-test",
                                             std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
    h.log->set_level(spdlog::level::debug);
    h.make_reconciler();
    h.create_credentials();
    h.create_ca_secret();
    h.inf_sim->set_secret("proj", "dev", "/", "DB_URL", "postgres://app@db.internal:5432/app");
  }
};

}  // namespace

TEST_CASE("a templated ConfigMap target gets exactly the rendered keys as strings and follows Infisical") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(with_config_maps(h, "app", R"([{"configMapName":"app-config","configMapNamespace":"default",
      "template":{"data":{"DSN":"{{ .DB_URL.Value }}?password={{ .DB_PASSWORD.Value }}",
                          "FOLDER":"{{ .DB_URL.SecretPath }}"}}}])"));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  // A ConfigMap is read with a plain GET, then created; no Secret is written.
  CHECK(count_prefix(h.recording->actions(), "get configmaps default/app-config") == 1);
  CHECK(without_events(h.recording->writes()) ==
        std::vector<std::string>{"create configmaps default/app-config",
                                 "patch-status infisicalsecrets default/app"});
  auto cm = h.get(kube::kConfigMaps, "app-config");
  REQUIRE(cm);
  // Only the template's keys (includeAllSecrets is false), as plain strings; never binaryData.
  CHECK(string_map_at(*cm, {"data"}) ==
        std::map<std::string, std::string>{
            {"DSN", "postgres://app@db.internal:5432/app?password=hunter2-value"}, {"FOLDER", "/"}});
  CHECK(core::member(*cm, "binaryData") == nullptr);
  // Metadata as for a managed Secret: the resource's labels and annotations copied, ours added, no
  // owner (Orphan). No key digests: a ConfigMap rolls no workload.
  auto labels = string_map_at(*cm, {"metadata", "labels"});
  CHECK(labels["team"] == "payments");
  CHECK(labels["app.kubernetes.io/managed-by"] == "infisical-secrets-operator");
  auto annotations = string_map_at(*cm, {"metadata", "annotations"});
  CHECK(annotations["example.com/note"] == "copied");
  CHECK(annotations["secrets.infisical.com/owner"] == "default/app");
  CHECK(annotations["secrets.infisical.com/owner-uid"] ==
        core::string_or(*core::member(*h.get(kube::kInfisicalSecrets, "app"), "metadata"), "uid", "x"));
  CHECK(annotations["secrets.infisical.com/version"].size() == 64);
  CHECK(annotations.count("secrets.infisical.com/key-digests") == 0);
  CHECK(core::at_path(*cm, {"metadata", "ownerReferences"}) == nullptr);
  CHECK(h.get(kube::kSecrets, "app-secrets") == nullptr);
  auto cr = h.get(kube::kInfisicalSecrets, "app");
  auto ready = ready_condition(*cr);
  CHECK(ready.reason == "Synced");
  CHECK(ready.message == "3 keys synced into ConfigMap default/app-config");
  CHECK(h.metrics.value(kMetricConfigMapWrites, {{"operation", "create"}}) == 1);

  // Nothing changed: a resync writes nothing.
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());

  // A change of a secret the template reads: the ConfigMap is re-rendered.
  h.inf_sim->set_secret("proj", "dev", "/", "DB_URL", "postgres://app@db2.internal:5432/app");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(without_events(h.recording->writes()) ==
        std::vector<std::string>{"update configmaps default/app-config",
                                 "patch-status infisicalsecrets default/app"});
  CHECK(config_map_data(h, "app-config")["DSN"] ==
        "postgres://app@db2.internal:5432/app?password=hunter2-value");

  // A change of a secret it does not read renders the same data: nothing is written.
  h.inf_sim->set_secret("proj", "dev", "/", "API_KEY", "api-key-value-2");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());

  // Edited by someone: the next resync puts the rendered data back (a ConfigMap is not watched, so
  // this waits for the resync), and keys that are not the template's go.
  core::JsonDoc edited;
  edited.CopyFrom(*h.get(kube::kConfigMaps, "app-config"), edited.GetAllocator());
  core::set_string(*core::member(edited, "data"), "DSN", "tampered", edited.GetAllocator());
  core::set_string(*core::member(edited, "data"), "EXTRA", "x", edited.GetAllocator());
  h.client->update(kube::kConfigMaps, "default", edited);
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(config_map_data(h, "app-config") ==
        std::map<std::string, std::string>{
            {"DSN", "postgres://app@db2.internal:5432/app?password=hunter2-value"}, {"FOLDER", "/"}});

  // No secret value in the logs, the events or the status.
  const std::string logs = f.log_text.str();
  CHECK(logs.find("managed configmap created configmap=default/app-config keys=2") != std::string::npos);
  std::string status = core::to_json(*core::member(*h.get(kube::kInfisicalSecrets, "app"), "status"));
  for (const char* value : {"hunter2-value", "api-key-value", "db.internal", "db2.internal", "tampered"}) {
    CAPTURE(value);
    CHECK(logs.find(value) == std::string::npos);
    CHECK(status.find(value) == std::string::npos);
    for (const auto& e : events_about(h, "app")) CHECK(e.find(value) == std::string::npos);
  }
}

TEST_CASE("includeAllSecrets with and without data, no template, and an empty template") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(with_config_maps(h, "app", R"([
      {"configMapName":"all","configMapNamespace":"default","template":{"includeAllSecrets":true}},
      {"configMapName":"all-plus","configMapNamespace":"default","template":{"includeAllSecrets":true,
        "data":{"DB_PASSWORD":"masked-{{ len .DB_PASSWORD.Value }}","HOST":"{{ index (splitList \"@\" .DB_URL.Value) 1 }}"}}},
      {"configMapName":"plain","configMapNamespace":"default"},
      {"configMapName":"none","configMapNamespace":"default","template":{}}])",
                               true));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(without_events(h.recording->writes()) ==
        std::vector<std::string>{"create secrets default/app-secrets", "create configmaps default/all",
                                 "create configmaps default/all-plus", "create configmaps default/plain",
                                 "create configmaps default/none",
                                 "patch-status infisicalsecrets default/app"});
  const std::map<std::string, std::string> every = {{"API_KEY", "api-key-value-1"},
                                                    {"DB_PASSWORD", "hunter2-value"},
                                                    {"DB_URL", "postgres://app@db.internal:5432/app"}};
  CHECK(config_map_data(h, "all") == every);
  // Every secret, then the data keys; a data key wins a clash.
  CHECK(config_map_data(h, "all-plus") ==
        std::map<std::string, std::string>{{"API_KEY", "api-key-value-1"},
                                           {"DB_PASSWORD", "masked-13"},
                                           {"DB_URL", "postgres://app@db.internal:5432/app"},
                                           {"HOST", "db.internal:5432/app"}});
  CHECK(config_map_data(h, "plain") == every);
  CHECK(config_map_data(h, "none").empty());
  // The Secret target next to them is written as before.
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");
  CHECK(ready_condition(*h.get(kube::kInfisicalSecrets, "app")).message ==
        "3 keys synced into Secret default/app-secrets and ConfigMap default/all, default/all-plus, "
        "default/plain, "
        "default/none");
  // Status lists the managed Secrets only.
  auto cr = h.get(kube::kInfisicalSecrets, "app");
  const auto* managed = core::at_path(*cr, {"status", "managedSecrets"});
  REQUIRE(managed);
  CHECK(core::to_json(*managed) == R"(["default/app-secrets"])");
}

TEST_CASE(
    "rendered bytes that are not UTF-8 are stored as U+FFFD, as the API server stores them; a resync writes "
    "nothing") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(with_config_maps(h, "app", R"([{"configMapName":"bytes","configMapNamespace":"default",
      "template":{"data":{"RAW":"{{ \"\\xffok\\xc3\\xa9\" }}"}}}])"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  auto cm = h.get(kube::kConfigMaps, "bytes");
  CHECK(core::member(*cm, "binaryData") == nullptr);
  CHECK(string_map_at(*cm, {"data"}) == std::map<std::string, std::string>{{"RAW",
                                                                            "\xEF\xBF\xBD"
                                                                            "ok"
                                                                            "\xC3\xA9"}});
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());
}

TEST_CASE("an Infisical failure or a failing template leaves every ConfigMap exactly as it was") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(with_config_maps(h, "app", R"([
      {"configMapName":"plain","configMapNamespace":"default"},
      {"configMapName":"host","configMapNamespace":"default",
       "template":{"data":{"HOST":"{{ index (splitList \"@\" .DB_URL.Value) 1 }}"}}}])"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  const std::string plain_before = core::to_json(*h.get(kube::kConfigMaps, "plain"));
  const std::string host_before = core::to_json(*h.get(kube::kConfigMaps, "host"));

  SUBCASE("Infisical answers 500") {
    h.inf_admin("/sim/errors", R"({"route":"GET /api/v3/secrets/raw","status":500})");
    h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "never-seen-value");
    h.clock.step(std::chrono::seconds(61));
    h.recording->clear();
    CHECK(h.reconciler->reconcile("default/app").result == "error");
    CHECK(without_events(h.recording->writes()) ==
          std::vector<std::string>{"patch-status infisicalsecrets default/app"});
    CHECK(count_prefix(h.recording->actions(), "get configmaps") == 0);
    CHECK(core::to_json(*h.get(kube::kConfigMaps, "plain")) == plain_before);
    CHECK(core::to_json(*h.get(kube::kConfigMaps, "host")) == host_before);
    CHECK(ready_condition(*h.get(kube::kInfisicalSecrets, "app")).reason == "FetchFailed");
    // Recovery: both follow.
    h.inf_admin("/sim/errors", R"({"route":"GET /api/v3/secrets/raw","status":0})");
    h.clock.step(std::chrono::seconds(61));
    CHECK(h.reconciler->reconcile("default/app").result == "synced");
    CHECK(config_map_data(h, "plain")["DB_PASSWORD"] == "never-seen-value");
  }
  SUBCASE("a template fails at run time") {
    // DB_URL loses its "@": index 1 is out of range. DB_PASSWORD changes too, which the plain target
    // would otherwise take.
    h.inf_sim->set_secret("proj", "dev", "/", "DB_URL", "sqlite-file-no-host");
    h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "rotated-password-2");
    h.clock.step(std::chrono::seconds(61));
    h.recording->clear();
    CHECK(h.reconciler->reconcile("default/app").result == "error");
    CHECK(without_events(h.recording->writes()) ==
          std::vector<std::string>{"patch-status infisicalsecrets default/app"});
    CHECK(core::to_json(*h.get(kube::kConfigMaps, "plain")) == plain_before);
    CHECK(core::to_json(*h.get(kube::kConfigMaps, "host")) == host_before);
    auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
    CHECK(ready.reason == "TemplateFailed");
    CHECK(ready.message.starts_with("spec.managedKubeConfigMapReferences[1].template.data[HOST]: "));
    for (const char* value : {"sqlite-file-no-host", "rotated-password-2", "hunter2-value"})
      CHECK(ready.message.find(value) == std::string::npos);
  }
}

TEST_CASE(
    "Owner sets the ownerReference and deleting the InfisicalSecret collects the ConfigMap; Orphan keeps "
    "it") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(with_config_maps(h, "app", R"([
      {"configMapName":"owned","configMapNamespace":"default","creationPolicy":"Owner"},
      {"configMapName":"orphaned","configMapNamespace":"default"}])"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  auto owned = h.get(kube::kConfigMaps, "owned");
  const auto* refs = core::at_path(*owned, {"metadata", "ownerReferences"});
  REQUIRE(refs);
  REQUIRE(refs->IsArray());
  REQUIRE(refs->Size() == 1);
  const auto& ref = (*refs)[0];
  CHECK(core::string_or(ref, "apiVersion", "") == "secrets.infisical.com/v1alpha1");
  CHECK(core::string_or(ref, "kind", "") == "InfisicalSecret");
  CHECK(core::string_or(ref, "name", "") == "app");
  CHECK(core::string_or(ref, "uid", "") ==
        core::string_or(*core::member(*h.get(kube::kInfisicalSecrets, "app"), "metadata"), "uid", "x"));
  CHECK(ref["controller"].IsTrue());
  CHECK(ref["blockOwnerDeletion"].IsTrue());
  CHECK(core::at_path(*h.get(kube::kConfigMaps, "orphaned"), {"metadata", "ownerReferences"}) == nullptr);

  h.client->remove(kube::kInfisicalSecrets, "default", "app");
  CHECK(eventually([&] { return h.get(kube::kConfigMaps, "owned") == nullptr; }));
  CHECK(h.get(kube::kConfigMaps, "orphaned") != nullptr);
}

TEST_CASE("a ConfigMap bound to another InfisicalSecret, or foreign, is never written: SecretConflict") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(with_config_maps(h, "first", R"([{"configMapName":"shared","configMapNamespace":"default"}])"));
  h.create_cr(
      with_config_maps(h, "second", R"([{"configMapName":"shared","configMapNamespace":"default"}])"));
  REQUIRE(h.reconciler->reconcile("default/first").result == "synced");
  const std::string before = core::to_json(*h.get(kube::kConfigMaps, "shared"));

  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/second").result == "conflict");
  CHECK(count_prefix(h.recording->writes(), "create configmaps") == 0);
  CHECK(count_prefix(h.recording->writes(), "update configmaps") == 0);
  CHECK(core::to_json(*h.get(kube::kConfigMaps, "shared")) == before);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "second"));
  CHECK(ready.reason == "SecretConflict");
  CHECK(ready.message ==
        "ConfigMap default/shared is managed by InfisicalSecret default/first; two InfisicalSecrets cannot "
        "write one "
        "ConfigMap");

  // A ConfigMap someone else made is not taken over unless the InfisicalSecret adopts it on purpose.
  h.client->create(
      kube::kConfigMaps, "default",
      *json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"theirs"},"data":{"K":"v"}})"));
  h.create_cr(with_config_maps(h, "third", R"([{"configMapName":"theirs","configMapNamespace":"default"}])"));
  CHECK(h.reconciler->reconcile("default/third").result == "conflict");
  CHECK(config_map_data(h, "theirs") == std::map<std::string, std::string>{{"K", "v"}});
  CHECK(ready_condition(*h.get(kube::kInfisicalSecrets, "third"))
            .message.find("set annotation secrets.infisical.com/adopt") != std::string::npos);
  h.client->patch(kube::kInfisicalSecrets, "default", "third", kube::PatchType::kMerge,
                  R"({"metadata":{"annotations":{"secrets.infisical.com/adopt":"true"}}})");
  CHECK(h.reconciler->reconcile("default/third").result == "synced");
  CHECK(config_map_data(h, "theirs")["DB_PASSWORD"] == "hunter2-value");
  CHECK(config_map_data(h, "theirs").count("K") == 0);
}

TEST_CASE("a ConfigMap target in another namespace needs a grant for kind ConfigMap") {
  Fixture f;
  auto& h = f.h;
  h.create_namespace("web");
  h.create_cr(with_config_maps(h, "app", R"([{"configMapName":"settings","configMapNamespace":"web"}])"));
  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "refused");
  CHECK(count_prefix(h.recording->actions(), "list infisicalreferencegrants web") == 1);
  CHECK(count_prefix(h.recording->actions(), "get configmaps") == 0);
  CHECK(h.get(kube::kConfigMaps, "settings", "web") == nullptr);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.reason == "ReferenceNotGranted");
  CHECK(ready.message.starts_with(
      "spec.managedKubeConfigMapReferences[0]: the managed ConfigMap web/settings"));

  // A grant for Secrets of that name does not cover the ConfigMap; one for the ConfigMap does.
  h.create_grant("web", "secret-settings", "default", "Secret", "settings");
  h.clock.step(out.after);
  CHECK(h.reconciler->reconcile("default/app").result == "refused");
  h.create_grant("web", "configmap-settings", "default", "ConfigMap", "settings");
  h.clock.step(out.after);
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(config_map_data(h, "settings", "web")["DB_PASSWORD"] == "hunter2-value");
}
