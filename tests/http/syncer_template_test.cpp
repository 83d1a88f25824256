// `template` on a managed Secret target (upstream v0.11) in the reconciler against kube-sim and
// infisical-sim: the Secret holds what the template renders and follows changes in Infisical; a
// template that fails at run time changes nothing this resource writes and says which entry failed.
#include <doctest/doctest.h>

#include <algorithm>

#include "core/digest.h"
#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;

namespace {

// h.infisical_secret_json with `template_json` on its managedSecretReference.
std::string templated(SyncerHarness& h, const std::string& name, const std::string& target,
                      const std::string& template_json) {
  std::string text = h.infisical_secret_json(name, target);
  replace_once(text, R"("creationPolicy":"Orphan"})",
          R"("creationPolicy":"Orphan","template":)" + template_json + "}");
  return text;
}

std::map<std::string, std::string> all_data(const core::JsonValue& secret) {
  std::map<std::string, std::string> out;
  const auto* d = core::member(secret, "data");
  if (!d || !d->IsObject()) return out;
  for (auto it = d->MemberBegin(); it != d->MemberEnd(); ++it)
    out[it->name.GetString()] = data_value(secret, it->name.GetString());
  return out;
}

struct Fixture {
  SyncerHarness h;
  Fixture() {
    h.create_credentials();
    h.create_ca_secret();
    h.inf_sim->set_secret("proj", "dev", "/", "DB_URL", "postgres://app@db.internal:5432/app");
  }
};

}  // namespace

TEST_CASE("a templated target holds what its template renders, and re-renders when Infisical changes") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(templated(h, "app", "app-secrets",
                        R"({"data":{"DSN":"{{ .DB_URL.Value }}?password={{ .DB_PASSWORD.Value }}",
                                    "FOLDER":"{{ .DB_URL.SecretPath }}"}})"));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(without_events(h.recording->writes()) ==
        std::vector<std::string>{"create secrets default/app-secrets",
                                 "patch-status infisicalsecrets default/app"});
  auto secret = h.get(kube::kSecrets, "app-secrets");
  // Only the template's keys (includeAllSecrets is false): no raw DB_PASSWORD, API_KEY or DB_URL.
  CHECK(all_data(*secret) ==
        std::map<std::string, std::string>{
            {"DSN", "postgres://app@db.internal:5432/app?password=hunter2-value"}, {"FOLDER", "/"}});
  // The digests describe what is in the Secret, so rollouts follow the rendered keys.
  auto digests = core::decode_key_digests(
      string_map_at(*secret, {"metadata", "annotations"})["secrets.infisical.com/key-digests"]);
  REQUIRE(digests.ok());
  CHECK(digests->size() == 2);
  CHECK(digests->count("DSN") == 1);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.reason == "Synced");

  // A change of a secret the template reads: the Secret is re-rendered.
  h.inf_sim->set_secret("proj", "dev", "/", "DB_URL", "postgres://app@db2.internal:5432/app");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->writes(), "update secrets default/app-secrets") == 1);
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DSN") ==
        "postgres://app@db2.internal:5432/app?password=hunter2-value");

  // A change of a secret it does not read renders the same data: nothing is written.
  h.inf_sim->set_secret("proj", "dev", "/", "API_KEY", "api-key-value-2");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());

  // A new template (a new generation) is parsed afresh and applied at once.
  h.client->patch(kube::kInfisicalSecrets, "default", "app", kube::PatchType::kMerge,
                  R"({"spec":{"managedSecretReference":{"template":{"data":{
                       "FOLDER":null,"USER":"{{ .DB_URL.Value | splitList \"@\" | first }}"}}}}})");
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(all_data(*h.get(kube::kSecrets, "app-secrets")) ==
        std::map<std::string, std::string>{{"DSN", "postgres://app@db2.internal:5432/app?password=hunter2-value"},
                                           {"USER", "postgres://app"}});
}

TEST_CASE(
    "a template that fails at run time leaves every Secret of the resource as it was and says which entry") {
  Fixture f;
  auto& h = f.h;
  // Two targets: the plain one first, as upstream would write it before reaching the failing one.
  std::string text = h.infisical_secret_json("app", "unused");
  replace_once(
      text,
      R"("managedSecretReference":{"secretName":"unused","secretNamespace":"default","creationPolicy":"Orphan"})",
      R"("managedKubeSecretReferences":[
             {"secretName":"app-plain","secretNamespace":"default"},
             {"secretName":"app-dsn","secretNamespace":"default","template":{"includeAllSecrets":true,
               "data":{"DB_HOST":"{{ index (splitList \"@\" .DB_URL.Value) 1 }}"}}}])");
  h.create_cr(text);
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(data_value(*h.get(kube::kSecrets, "app-dsn"), "DB_HOST") == "db.internal:5432/app");
  CHECK(data_value(*h.get(kube::kSecrets, "app-dsn"), "DB_PASSWORD") ==
        "hunter2-value");  // includeAllSecrets
  std::string plain_before = core::to_json(*h.get(kube::kSecrets, "app-plain"));
  std::string dsn_before = core::to_json(*h.get(kube::kSecrets, "app-dsn"));

  // DB_URL loses its "@": index 1 is out of range. DB_PASSWORD changes at the same time, which the
  // plain target would otherwise take.
  h.inf_sim->set_secret("proj", "dev", "/", "DB_URL", "sqlite-file-no-host");
  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "rotated-password-2");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "error");
  // Retried at the resync interval (60 s +-10%): only a change of the secrets can mend it.
  CHECK(out.next == ReconcileOutcome::Next::kRequeueAfter);
  CHECK(out.after >= std::chrono::milliseconds(54000));
  CHECK(out.after <= std::chrono::milliseconds(66000));
  CHECK(without_events(h.recording->writes()) ==
        std::vector<std::string>{"patch-status infisicalsecrets default/app"});
  CHECK(core::to_json(*h.get(kube::kSecrets, "app-plain")) == plain_before);
  CHECK(core::to_json(*h.get(kube::kSecrets, "app-dsn")) == dsn_before);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.status == "False");
  CHECK(ready.reason == "TemplateFailed");
  CAPTURE(ready.message);
  CHECK(ready.message.starts_with(
      "spec.managedKubeSecretReferences[1].template.data[DB_HOST]: template: "
      "secret-templates:1:3: executing \"secret-templates\" at <index>: error calling index: "));
  CHECK(ready.message.find("index out of range") != std::string::npos);
  for (const char* value : {"sqlite-file-no-host", "rotated-password-2", "hunter2-value", "api-key-value-1"})
    CHECK(ready.message.find(value) == std::string::npos);
  auto events = warnings(h, "app");
  REQUIRE(events.size() == 1);
  CHECK(
      events[0].starts_with("TemplateFailed: spec.managedKubeSecretReferences[1].template.data[DB_HOST]: "));

  // The same failure again: nothing written, no second event.
  h.clock.step(out.after);
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "error");
  CHECK(h.recording->writes().empty());

  // Mended in Infisical: both Secrets follow at the next resync.
  h.inf_sim->set_secret("proj", "dev", "/", "DB_URL", "postgres://app@db3.internal/app");
  h.clock.step(std::chrono::seconds(61));
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(data_value(*h.get(kube::kSecrets, "app-dsn"), "DB_HOST") == "db3.internal/app");
  CHECK(data_value(*h.get(kube::kSecrets, "app-plain"), "DB_PASSWORD") == "rotated-password-2");
  CHECK(ready_condition(*h.get(kube::kInfisicalSecrets, "app")).reason == "Synced");
}

TEST_CASE(
    "template.metadata makes the Secret's labels and annotations exactly the template's, plus the "
    "operator's") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(templated(
      h, "app", "app-secrets",
      R"({"includeAllSecrets":true,"metadata":{"labels":{"tier":"db"},"annotations":{"owner":"team-a"}}})"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  auto secret = h.get(kube::kSecrets, "app-secrets");
  CHECK(data_value(*secret, "DB_PASSWORD") == "hunter2-value");
  // The resource's own label team=payments and annotation example.com/note are not copied.
  CHECK(string_map_at(*secret, {"metadata", "labels"}) ==
        std::map<std::string, std::string>{{"app.kubernetes.io/managed-by", "infisical-secrets-operator"},
                                           {"tier", "db"}});
  auto annotations = string_map_at(*secret, {"metadata", "annotations"});
  CHECK(annotations["owner"] == "team-a");
  CHECK(annotations.count("example.com/note") == 0);
  CHECK(annotations.count("secrets.infisical.com/version") == 1);

  // Someone adds a label and two annotations: the label and the plain annotation go at the next
  // sync (upstream does the same); the system annotation stays.
  core::JsonDoc edited;
  edited.CopyFrom(*secret, edited.GetAllocator());
  auto& a = edited.GetAllocator();
  auto& meta = core::ensure_object(edited, "metadata", a);
  core::set_string(core::ensure_object(meta, "labels", a), "extra", "x", a);
  core::set_string(core::ensure_object(meta, "annotations", a), "extra", "y", a);
  core::set_string(core::ensure_object(meta, "annotations", a), "kubectl.kubernetes.io/restartedAt", "now",
                   a);
  h.client->update(kube::kSecrets, "default", edited);
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(without_events(h.recording->writes()) ==
        std::vector<std::string>{"update secrets default/app-secrets"});
  secret = h.get(kube::kSecrets, "app-secrets");
  CHECK(string_map_at(*secret, {"metadata", "labels"}).count("extra") == 0);
  annotations = string_map_at(*secret, {"metadata", "annotations"});
  CHECK(annotations.count("extra") == 0);
  CHECK(annotations["kubectl.kubernetes.io/restartedAt"] == "now");
  CHECK(annotations["owner"] == "team-a");
  // Now exact: a resync writes nothing.
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());
}
