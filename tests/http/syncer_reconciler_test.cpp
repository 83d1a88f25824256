// Reconciler against kube-sim and infisical-sim: asserts the list of Kubernetes API actions a
// reconcile performs, and what a user sees (Secret contents, status, rollouts).
#include <doctest/doctest.h>

#include <algorithm>

#include "core/base64.h"
#include "core/constants.h"
#include "core/digest.h"
#include "core/managed_digests.h"
#include "kube/meta.h"
#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;

namespace {

std::string rollout_hash_of(SyncerHarness& h, const std::string& deployment) {
  auto d = h.get(kube::kDeployments, deployment);
  const auto* v = core::at_path(*d, {"spec", "template", "metadata", "annotations", "secrets.infisical.com/rollout-hash"});
  return v && v->IsString() ? v->GetString() : "";
}

std::string baseline_of(SyncerHarness& h, const std::string& deployment) {
  auto d = h.get(kube::kDeployments, deployment);
  const auto* v = core::at_path(*d, {"metadata", "annotations", "secrets.infisical.com/rollout-baseline"});
  return v && v->IsString() ? v->GetString() : "";
}

struct Fixture {
  SyncerHarness h;
  Fixture() {
    h.create_credentials();
    h.create_ca_secret();
  }
};

}  // namespace

TEST_CASE("first sync creates the Secret and writes status once; an unchanged resync writes nothing") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "synced");
  CHECK(out.next == ReconcileOutcome::Next::kRequeueAfter);
  // Resync is jittered within +-10% of 60 s.
  CHECK(out.after >= std::chrono::milliseconds(54000));
  CHECK(out.after <= std::chrono::milliseconds(66000));
  auto writes = without_events(h.recording->writes());
  CHECK(writes == std::vector<std::string>{"create secrets default/app-secrets", "patch-status infisicalsecrets default/app"});
  // A first sync records no Event: the Ready condition says it (2 writes per resource, not 3).
  CHECK(count_prefix(h.recording->writes(), "create events") == 0);
  // Absent from the managed-Secret cache: created without a GET first.
  CHECK(count_prefix(h.recording->actions(), "get secrets default/app-secrets") == 0);

  auto s = h.get(kube::kSecrets, "app-secrets");
  REQUIRE(s);
  CHECK(data_value(*s, "DB_PASSWORD") == "hunter2-value");
  CHECK(data_value(*s, "API_KEY") == "api-key-value-1");
  CHECK(core::string_or(*s, "type", "") == "Opaque");
  const auto* labels = core::at_path(*s, {"metadata", "labels"});
  REQUIRE(labels);
  CHECK(core::string_or(*labels, "team", "") == "payments");
  CHECK(core::string_or(*labels, "app.kubernetes.io/managed-by", "") == "infisical-secrets-operator");
  const auto* ann = core::at_path(*s, {"metadata", "annotations"});
  REQUIRE(ann);
  CHECK(core::string_or(*ann, "example.com/note", "") == "copied");
  CHECK_FALSE(core::get_string(*ann, "kubectl.kubernetes.io/last-applied-configuration"));
  CHECK(core::string_or(*ann, "secrets.infisical.com/version", "").size() == 64);
  CHECK(core::string_or(*ann, "secrets.infisical.com/key-digests", "").find("DB_PASSWORD") != std::string::npos);
  CHECK(core::string_or(*ann, "secrets.infisical.com/key-digests", "").find("hunter2") == std::string::npos);
  CHECK_FALSE(core::at_path(*s, {"metadata", "ownerReferences"}));

  auto cr = h.get(kube::kInfisicalSecrets, "app");
  auto ready = ready_condition(*cr);
  CHECK(ready.status == "True");
  CHECK(ready.reason == "Synced");
  CHECK(core::get_int(*core::member(*cr, "status"), "syncedKeys").value_or(-1) == 2);
  CHECK(core::get_int(*core::member(*cr, "status"), "observedGeneration").value_or(-1) == 1);
  CHECK(core::get_string(*core::member(*cr, "status"), "lastSyncTime"));
  // The webhook's source of digests (it reads no Secret): the same digests as the annotation, in the
  // status, kept by the CRD's schema; and the digests are bound to the Secret, so a value alone does
  // not give them.
  const auto* published = core::at_path(*cr, {"status", "managedKeyDigests"});
  REQUIRE(published);
  const std::vector<core::ManagedKeyDigests> entries = core::read_managed_key_digests(*published);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].kind == "Secret");
  CHECK(entries[0].namespace_ == "default");
  CHECK(entries[0].name == "app-secrets");
  auto annotated = core::decode_key_digests(core::string_or(*ann, "secrets.infisical.com/key-digests", ""));
  REQUIRE(annotated.ok());
  CHECK(entries[0].key_digests == *annotated);
  CHECK(entries[0].key_digests.at("DB_PASSWORD") ==
        core::key_digest("0123456789abcdef0123456789abcdef", "default", "app-secrets", "DB_PASSWORD", "hunter2-value"));
  CHECK(core::to_json(*core::member(*cr, "status")).find("hunter2") == std::string::npos);

  // Unchanged resync, served from the scope's shared fetch: reads only.
  h.recording->clear();
  out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "unchanged");
  CHECK(h.recording->writes().empty());

  // Past the sharing window it asks Infisical again (If-None-Match, 304): still no write.
  auto fetches_before = h.inf_sim->counters().by_route["GET /api/v3/secrets/raw"];
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "unchanged");
  CHECK(h.recording->writes().empty());
  CHECK(h.inf_sim->counters().by_route["GET /api/v3/secrets/raw"] == fetches_before + 1);

  // After a restart (no data in memory) it refetches and still writes nothing.
  h.make_reconciler();
  h.recording->clear();
  out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "unchanged");
  CHECK(h.recording->writes().empty());
}

TEST_CASE("a reconcile before the watch brings the status write back writes the status no second time") {
  // The echo of the managed Secret's creation brings the resource back at once, while the
  // InfisicalSecret cache may still show it without the status just written.
  Fixture f;
  auto& h = f.h;
  h.make_reconciler(240, true);
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  h.lagging_cr = h.get(kube::kInfisicalSecrets, "app");
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());
  // Caught up: still nothing to write.
  h.lagging_cr = nullptr;
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());
  // Someone else's change moves the version past both: a full reconcile again.
  h.client->patch(kube::kInfisicalSecrets, "default", "app", kube::PatchType::kMerge,
                  R"({"metadata":{"labels":{"team":"other"}}})");
  h.object_reads = 0;
  h.reconciler->reconcile("default/app");
  CHECK(h.object_reads > 0);
}

TEST_CASE("a changed value updates the Secret and rolls only the workloads consuming that key") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  h.client->create(kube::kDeployments, "default", *json(deployment_json("uses-db", env_key_container("app-secrets", "DB_PASSWORD"))));
  h.client->create(kube::kDeployments, "default", *json(deployment_json("uses-api", env_key_container("app-secrets", "API_KEY"))));
  h.client->create(kube::kDeployments, "default",
                   *json(deployment_json("uses-all", R"({"name":"app","image":"busybox","envFrom":[{"secretRef":{"name":"app-secrets"}}]})")));
  h.client->create(kube::kDeployments, "default",
                   *json(deployment_json("not-opted-in", env_key_container("app-secrets", "DB_PASSWORD"), false)));
  // Created while no webhook stamped them: the start-up check records a baseline for each (workload
  // metadata, no rollout) and stamps no hash; a second check patches nothing.
  RolloutCounts first = h.reconciler->check_all_workloads({});
  CHECK(first.rolled == 0);
  CHECK(first.baselined == 3);
  h.recording->clear();
  RolloutCounts second = h.reconciler->check_all_workloads({});
  CHECK(second.rolled + second.baselined == 0);
  CHECK(h.recording->writes().empty());
  for (const char* name : {"uses-db", "uses-api", "uses-all"}) {
    CAPTURE(std::string(name));
    CHECK(rollout_hash_of(h, name).empty());
    CHECK(baseline_of(h, name).size() == 64);
  }
  std::string uses_api_baseline = baseline_of(h, "uses-api");
  std::string uses_db_baseline = baseline_of(h, "uses-db");

  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "rotated-password-2");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "synced");
  auto writes = without_events(h.recording->writes());
  std::sort(writes.begin(), writes.end());
  CHECK(writes == std::vector<std::string>{"patch deployments default/uses-all", "patch deployments default/uses-db",
                                           "patch-status infisicalsecrets default/app", "update secrets default/app-secrets"});
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "rotated-password-2");
  // uses-api keeps its baseline and gets no hash; the rolled ones get the hash and lose the baseline.
  CHECK(rollout_hash_of(h, "uses-api").empty());
  CHECK(baseline_of(h, "uses-api") == uses_api_baseline);
  CHECK(rollout_hash_of(h, "uses-db").size() == 64);
  CHECK(rollout_hash_of(h, "uses-db") != uses_db_baseline);
  CHECK(baseline_of(h, "uses-db").empty());
  CHECK(rollout_hash_of(h, "uses-all").size() == 64);
  CHECK(baseline_of(h, "uses-all").empty());
  CHECK(rollout_hash_of(h, "not-opted-in").empty());
  CHECK(baseline_of(h, "not-opted-in").empty());
  CHECK(h.metrics.value(kMetricRollouts, {{"kind", "Deployment"}}) == 2);
  CHECK(h.metrics.value(kMetricRolloutBaselines, {{"kind", "Deployment"}}) == 3);
}

TEST_CASE("Events name the InfisicalSecret and the syncer; a repeated Event is counted, not created again") {
  Fixture f;
  auto& h = f.h;
  auto cr = h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(h.client->list_all(kube::kEvents, "default").items.empty());  // a first sync records none

  // A new value: the write that changes the Secret of a resource synced before is an Event.
  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "rotated-password-1");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->writes(), "create events default/") == 1);
  cr = h.get(kube::kInfisicalSecrets, "app");
  auto events = h.client->list_all(kube::kEvents, "default").items;
  REQUIRE(events.size() == 1);
  const auto& ev = *events[0];
  CHECK(core::string_or(ev, "reason", "") == "Synced");
  CHECK(core::string_or(ev, "type", "") == "Normal");
  const auto* inv = core::member(ev, "involvedObject");
  REQUIRE(inv);
  CHECK(core::string_or(*inv, "apiVersion", "") == "secrets.infisical.com/v1alpha1");
  CHECK(core::string_or(*inv, "kind", "") == "InfisicalSecret");
  CHECK(core::string_or(*inv, "name", "") == "app");
  CHECK(core::string_or(*inv, "namespace", "") == "default");
  CHECK(core::string_or(*inv, "uid", "") == core::string_or(*core::member(*cr, "metadata"), "uid", "<none>"));
  CHECK_FALSE(core::string_or(*inv, "resourceVersion", "").empty());
  CHECK(core::string_or(*core::member(ev, "source"), "component", "") == core::kSyncerFieldManager);
  CHECK(core::string_or(ev, "reportingComponent", "") == core::kSyncerFieldManager);
  CHECK(core::string_or(ev, "reportingInstance", "") == ReconcilerOptions{}.identity);
  CHECK(core::get_int(ev, "count") == 1);

  // A new value, the same message ("synced 2 keys into ..."): the Event's count goes up.
  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "rotated-password-2");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->writes(), "create events") == 0);
  CHECK(count_prefix(h.recording->writes(), "patch events default/" + kube::meta_name(ev)) == 1);
  events = h.client->list_all(kube::kEvents, "default").items;
  REQUIRE(events.size() == 1);
  CHECK(core::get_int(*events[0], "count") == 2);
  CHECK(events_about(h, "app") == std::vector<std::string>{"Normal Synced: synced 2 keys into Secret default/app-secrets"});
}

TEST_CASE("an Infisical 500 or timeout leaves the Secret byte-for-byte and sets the condition") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  auto before = h.get(kube::kSecrets, "app-secrets");
  std::string before_text = core::to_json(*before);

  SUBCASE("500") {
    h.inf_admin("/sim/errors", R"({"route":"GET /api/v3/secrets/raw","status":500})");
    h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "never-seen-value");
    h.clock.step(std::chrono::seconds(61));
    h.recording->clear();
    auto out = h.reconciler->reconcile("default/app");
    CHECK(out.result == "error");
    CHECK(out.next != ReconcileOutcome::Next::kForget);
    auto writes = without_events(h.recording->writes());
    CHECK(writes == std::vector<std::string>{"patch-status infisicalsecrets default/app"});
    CHECK(count_prefix(h.recording->writes(), "create events") == 1);
    CHECK(core::to_json(*h.get(kube::kSecrets, "app-secrets")) == before_text);
    auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
    CHECK(ready.status == "False");
    CHECK(ready.reason == "FetchFailed");
    // A retry with the same failure writes nothing and records no second event.
    h.clock.step(std::chrono::seconds(61));
    h.recording->clear();
    h.reconciler->reconcile("default/app");
    CHECK(h.recording->writes().empty());
    // Recovery.
    h.inf_admin("/sim/errors", R"({"route":"GET /api/v3/secrets/raw","status":0})");
    h.clock.step(std::chrono::seconds(61));
    CHECK(h.reconciler->reconcile("default/app").result == "synced");
    CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "never-seen-value");
    CHECK(ready_condition(*h.get(kube::kInfisicalSecrets, "app")).reason == "Synced");
  }
  SUBCASE("timeout") {
    // A server slower than the client's request timeout.
    infisical::ClientOptions short_timeouts;
    short_timeouts.connect_timeout = std::chrono::milliseconds(2000);
    short_timeouts.request_timeout = std::chrono::milliseconds(500);
    h.inf_client = std::make_unique<infisical::Client>(short_timeouts, h.inf_clock, infisical::CloudEnv{}, h.log);
    h.source = std::make_unique<InfisicalSource>(*h.inf_client);
    h.make_reconciler();
    h.inf_admin("/sim/latency", R"({"route":"GET /api/v3/secrets/raw","ms":3000})");
    h.recording->clear();
    auto out = h.reconciler->reconcile("default/app");
    CHECK(out.result == "error");
    CHECK(core::to_json(*h.get(kube::kSecrets, "app-secrets")) == before_text);
    auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
    CHECK(ready.status == "False");
    CHECK(ready.reason == "FetchFailed");
    h.inf_admin("/sim/latency", R"({"route":"GET /api/v3/secrets/raw","ms":0})");
  }
}

TEST_CASE("a deleted or edited managed Secret comes back, also when Infisical answers 304") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(h.reconciler->owners_of_secret("default", "app-secrets") == std::vector<std::string>{"default/app"});

  h.client->remove(kube::kSecrets, "default", "app-secrets");
  h.clock.step(std::chrono::seconds(61));  // the fetch is conditional and answers 304
  auto not_modified_before = h.inf_client->metrics().secrets_not_modified.load();
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->writes(), "create secrets default/app-secrets") == 1);
  CHECK(h.inf_client->metrics().secrets_not_modified.load() == not_modified_before + 1);
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");

  // Someone edits a value: restored from memory without asking Infisical.
  auto s = h.get(kube::kSecrets, "app-secrets");
  core::JsonDoc edited;
  edited.CopyFrom(*s, edited.GetAllocator());
  core::set_string(*core::member(edited, "data"), "DB_PASSWORD", core::base64_encode("tampered"), edited.GetAllocator());
  h.client->update(kube::kSecrets, "default", edited);
  auto fetches = h.inf_sim->counters().by_route["GET /api/v3/secrets/raw"];
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(without_events(h.recording->writes()) == std::vector<std::string>{"update secrets default/app-secrets"});
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");
  CHECK(h.inf_sim->counters().by_route["GET /api/v3/secrets/raw"] == fetches);
}

TEST_CASE("a foreign Secret is not touched and the condition says SecretConflict; adoption is opt-in") {
  Fixture f;
  auto& h = f.h;
  h.client->create(kube::kSecrets, "default",
                   *json(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"someone-elses"},"stringData":{"K":"theirs"}})"));
  std::string before = core::to_json(*h.get(kube::kSecrets, "someone-elses"));
  h.create_cr(h.infisical_secret_json("app", "someone-elses"));
  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "conflict");
  // The managed-Secret cache holds only labelled Secrets, so the syncer learns of the foreign one from
  // its create being refused (409 AlreadyExists); it then reads it and stops. Never an update.
  CHECK(count_prefix(h.recording->writes(), "create secrets") == 1);
  CHECK(count_prefix(h.recording->actions(), "get secrets default/someone-elses") == 1);
  CHECK(count_prefix(h.recording->writes(), "update secrets") == 0);
  CHECK(core::to_json(*h.get(kube::kSecrets, "someone-elses")) == before);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.status == "False");
  CHECK(ready.reason == "SecretConflict");
  CHECK(ready.message.find("secrets.infisical.com/adopt") != std::string::npos);

  // Opting in adopts it.
  auto cr = h.get(kube::kInfisicalSecrets, "app");
  h.client->patch(kube::kInfisicalSecrets, "default", "app", kube::PatchType::kMerge,
                  R"({"metadata":{"annotations":{"secrets.infisical.com/adopt":"true"}}})");
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->writes(), "update secrets default/someone-elses") == 1);
  auto s = h.get(kube::kSecrets, "someone-elses");
  CHECK(data_value(*s, "DB_PASSWORD") == "hunter2-value");
  CHECK(data_value(*s, "K") == "<absent>");
}

TEST_CASE("Owner sets the ownerReference and deleting the InfisicalSecret collects the Secret; Orphan keeps it") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(h.infisical_secret_json("owned", "owned-secret", "Owner"));
  h.create_cr(h.infisical_secret_json("orphaned", "orphan-secret", "Orphan"));
  REQUIRE(h.reconciler->reconcile("default/owned").result == "synced");
  REQUIRE(h.reconciler->reconcile("default/orphaned").result == "synced");
  auto owned = h.get(kube::kSecrets, "owned-secret");
  const auto* refs = core::at_path(*owned, {"metadata", "ownerReferences"});
  REQUIRE(refs);
  REQUIRE(refs->IsArray());
  REQUIRE(refs->Size() == 1);
  auto cr = h.get(kube::kInfisicalSecrets, "owned");
  CHECK(core::string_or((*refs)[0], "uid", "") == core::string_or(*core::member(*cr, "metadata"), "uid", "x"));
  CHECK(core::string_or((*refs)[0], "kind", "") == "InfisicalSecret");
  CHECK((*refs)[0]["controller"].IsTrue());

  h.client->remove(kube::kInfisicalSecrets, "default", "owned");
  h.client->remove(kube::kInfisicalSecrets, "default", "orphaned");
  CHECK(eventually([&] { return h.get(kube::kSecrets, "owned-secret") == nullptr; }));
  CHECK(h.get(kube::kSecrets, "orphan-secret") != nullptr);
  // A reconcile of a deleted resource does nothing.
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/orphaned").result == "deleted");
  CHECK(h.recording->writes().empty());
}

TEST_CASE("an invalid spec sets InvalidSpec with field paths and is not retried") {
  Fixture f;
  auto& h = f.h;
  std::string text = h.infisical_secret_json("bad", "bad-secret");
  // Two auth methods: admitted before the webhook existed.
  auto pos = text.find("\"universalAuth\"");
  text.insert(pos, R"("awsIamAuth":{"identityId":"id-1","secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}},)");
  h.create_cr(text);
  auto out = h.reconciler->reconcile("default/bad");
  CHECK(out.result == "invalid");
  CHECK(out.next == ReconcileOutcome::Next::kForget);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "bad"));
  CHECK(ready.reason == "InvalidSpec");
  CHECK(ready.message.find("spec.authentication") != std::string::npos);
  CHECK(h.get(kube::kSecrets, "bad-secret") == nullptr);
  h.recording->clear();
  h.reconciler->reconcile("default/bad");
  CHECK(h.recording->writes().empty());
}

TEST_CASE("the Infisical request budget defers work to the next free slot without failing it") {
  Fixture f;
  auto& h = f.h;
  h.make_reconciler(1);  // one request in any minute
  h.inf_sim->set_secret("proj", "dev", "/other", "OTHER_KEY", "other-value");
  h.create_cr(h.infisical_secret_json("first", "first-secret"));
  std::string second = h.infisical_secret_json("second", "second-secret");
  second.replace(second.find(R"("secretsPath":"/")"), 17, R"("secretsPath":"/other")");
  h.create_cr(second);
  CHECK(h.reconciler->reconcile("default/first").result == "synced");
  h.recording->clear();
  auto out = h.reconciler->reconcile("default/second");
  CHECK(out.result == "throttled");
  CHECK(out.next == ReconcileOutcome::Next::kRequeueAfter);
  CHECK(out.after > std::chrono::milliseconds(59000));
  CHECK(out.after <= std::chrono::milliseconds(60001));
  CHECK(h.recording->writes().empty());  // no failure condition, no event
  // Coming back early keeps waiting for its slot; at its slot it syncs.
  h.clock.step(std::chrono::seconds(30));
  CHECK(h.reconciler->reconcile("default/second").result == "throttled");
  h.clock.step(std::chrono::seconds(30));
  CHECK(h.reconciler->reconcile("default/second").result == "synced");
  CHECK(data_value(*h.get(kube::kSecrets, "second-secret"), "OTHER_KEY") == "other-value");
}

TEST_CASE("the start-up warm-up fetches a resource's scope and writes nothing; its reconcile asks no more") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  std::string bad = h.infisical_secret_json("bad", "bad-secret");
  bad.insert(
      bad.find("\"universalAuth\""),
      R"("awsIamAuth":{"identityId":"id-1","secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}},)");
  h.create_cr(bad);
  auto fetches = [&] { return h.inf_sim->counters().by_route["GET /api/v3/secrets/raw"]; };
  h.recording->clear();
  CHECK(h.reconciler->warm_scope("default/app"));
  CHECK(fetches() == 1);
  CHECK(h.recording->writes().empty());  // no Secret, status, Event or finalizer patch
  CHECK(h.get(kube::kSecrets, "app-secrets") == nullptr);
  CHECK_FALSE(core::at_path(*h.get(kube::kInfisicalSecrets, "app"), {"status", "conditions"}));
  // Held now: a second warm-up asks nothing.
  CHECK_FALSE(h.reconciler->warm_scope("default/app"));
  CHECK(fetches() == 1);
  // An invalid spec is not fetched for, and its reconcile still reports it.
  CHECK_FALSE(h.reconciler->warm_scope("default/bad"));
  CHECK_FALSE(h.reconciler->warm_scope("default/gone"));
  CHECK(fetches() == 1);
  CHECK(h.recording->writes().empty());
  // The reconcile uses the fetched scope.
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(fetches() == 1);
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");
  CHECK(h.reconciler->reconcile("default/bad").result == "invalid");
}

TEST_CASE("the start-up warm-up stops at the trust boundary: a refused resource makes no request") {
  Fixture f;
  auto& h = f.h;
  std::string cr = h.infisical_secret_json("app", "app-secrets");
  // Credentials in another namespace without a grant: the reconcile refuses it before reading them.
  const std::string creds = R"("secretName":"universal-creds","secretNamespace":"default")";
  cr.replace(cr.find(creds), creds.size(), R"("secretName":"universal-creds","secretNamespace":"other")");
  h.create_cr(cr);
  CHECK_FALSE(h.reconciler->warm_scope("default/app"));
  CHECK(h.inf_sim->counters().total == 0);
  CHECK(h.recording->writes().empty());
  // The refusal is counted once, by the reconcile that reports it.
  CHECK(h.metrics.value(kMetricTrustRefusals, {{"reason", "ReferenceNotGranted"}}) == 0);
  CHECK(h.reconciler->reconcile("default/app").result == "refused");
  CHECK(h.metrics.value(kMetricTrustRefusals, {{"reason", "ReferenceNotGranted"}}) == 1);
}

TEST_CASE("the upstream operator's finalizer is removed, so deleting a migrated resource completes") {
  Fixture f;
  auto& h = f.h;
  auto doc = core::parse_json(h.infisical_secret_json("migrated", "migrated-secret")).value();
  auto& a = doc->GetAllocator();
  core::JsonValue fins(rapidjson::kArrayType);
  fins.PushBack(core::json_string("example.com/keep-me", a), a);
  fins.PushBack(core::json_string(core::kUpstreamFinalizer, a), a);
  core::set_member(core::ensure_object(*doc, "metadata", a), "finalizers", std::move(fins), a);
  h.create_cr(core::to_json(*doc));
  REQUIRE(h.reconciler->reconcile("default/migrated").result == "synced");
  auto cr = h.get(kube::kInfisicalSecrets, "migrated");
  const auto* left = core::at_path(*cr, {"metadata", "finalizers"});
  REQUIRE(left);
  REQUIRE(left->Size() == 1);
  CHECK(std::string((*left)[0].GetString()) == "example.com/keep-me");  // another controller's stays
  CHECK(h.get(kube::kSecrets, "migrated-secret") != nullptr);

  // Deleted while upstream's finalizer is still on it (the syncer was not running): the next
  // reconcile removes it and the deletion completes once the other finalizer's owner is done.
  auto doc2 = core::parse_json(h.infisical_secret_json("stuck", "stuck-secret")).value();
  auto& a2 = doc2->GetAllocator();
  core::JsonValue fins2(rapidjson::kArrayType);
  fins2.PushBack(core::json_string(core::kUpstreamFinalizer, a2), a2);
  core::set_member(core::ensure_object(*doc2, "metadata", a2), "finalizers", std::move(fins2), a2);
  h.create_cr(core::to_json(*doc2));
  h.client->remove(kube::kInfisicalSecrets, "default", "stuck");
  REQUIRE(h.get(kube::kInfisicalSecrets, "stuck") != nullptr);  // held by the finalizer
  CHECK(eventually([&] {
    h.reconciler->reconcile("default/stuck");
    return h.get(kube::kInfisicalSecrets, "stuck") == nullptr;
  }));
}

TEST_CASE("instant updates asked for: a condition says the resource is polled, and at what interval") {
  SyncerHarness h;
  h.create_credentials();
  h.create_ca_secret();
  std::string text = h.infisical_secret_json("app", "app-secrets");
  auto at = text.find(R"("resyncInterval":60,)");
  REQUIRE(at != std::string::npos);
  text.replace(at, 20, R"("syncConfig":{"resyncInterval":"2m","instantUpdates":true},)");
  h.create_cr(text);
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  auto conditions_of = [&] {
    auto cr = h.get(kube::kInfisicalSecrets, "app");
    return core::conditions_from_json(*core::at_path(*cr, {"status", "conditions"}));
  };
  auto conds = conditions_of();
  const auto* instant = core::find_condition(conds, "secrets.infisical.com/InstantUpdates");
  REQUIRE(instant != nullptr);
  CHECK(instant->status == "False");
  CHECK(instant->reason == "Polling");
  CHECK(instant->message.find("every 120s") != std::string::npos);
  CHECK(core::condition_is_true(conds, "Ready"));

  // Turned off: the condition goes away.
  auto cr = h.get(kube::kInfisicalSecrets, "app");
  auto edited = core::parse_json(core::to_json(*cr));
  REQUIRE(edited.ok());
  core::remove_member(**edited, "status");
  core::JsonValue* spec = core::member(**edited, "spec");
  REQUIRE(spec != nullptr);
  core::JsonValue* sc = core::member(*spec, "syncConfig");
  REQUIRE(sc != nullptr);
  core::remove_member(*sc, "instantUpdates");
  h.client->update(kube::kInfisicalSecrets, "default", **edited);
  h.reconciler->reconcile("default/app");
  conds = conditions_of();
  CHECK(core::find_condition(conds, "secrets.infisical.com/InstantUpdates") == nullptr);
}

TEST_CASE("data Kubernetes would refuse (a key it cannot hold, over 1 MiB) leaves the Secret as it was and names the keys") {
  SyncerHarness h;
  h.create_credentials();
  h.create_ca_secret();
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  const std::string before = core::to_json(*core::member(*h.get(kube::kSecrets, "app-secrets"), "data"));
  auto ready = [&] { return ready_condition(*h.get(kube::kInfisicalSecrets, "app")); };

  h.inf_sim->set_secret("proj", "dev", "/", "BLOB", std::string(1100000, 'b'));
  h.clock.step(std::chrono::seconds(61));
  h.reconciler->reconcile("default/app");
  auto c = ready();
  CHECK(c.status == "False");
  CHECK(c.reason == "DataNotStorable");
  CHECK(c.message.find("Secret default/app-secrets would hold ") == 0);
  CHECK(c.message.find("the largest keys: BLOB (1100000 bytes)") != std::string::npos);
  CHECK(core::to_json(*core::member(*h.get(kube::kSecrets, "app-secrets"), "data")) == before);

  h.inf_sim->set_secret("proj", "dev", "/", "BLOB", "small now");
  h.inf_sim->set_secret("proj", "dev", "/", "my key", "v");
  h.clock.step(std::chrono::seconds(61));
  h.reconciler->reconcile("default/app");
  c = ready();
  CHECK(c.reason == "DataNotStorable");
  CHECK(c.message.find("cannot hold the key \"my key\"") != std::string::npos);
  CHECK(core::to_json(*core::member(*h.get(kube::kSecrets, "app-secrets"), "data")) == before);
}

TEST_CASE("a resync that finds nothing changed reads no object; a changed Secret, value or digest key is reconciled") {
  Fixture f;
  auto& h = f.h;
  h.make_reconciler(240, /*versions=*/true);
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  // Remembered with the versions its own writes left: the next resync compares versions only.
  h.object_reads = 0;
  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "unchanged");
  CHECK(out.next == ReconcileOutcome::Next::kRequeueAfter);
  CHECK(out.after >= std::chrono::seconds(59));
  CHECK(h.object_reads == 0);
  CHECK(h.recording->actions().empty());

  // Someone edits the Secret: its version moved, so it is read and put back.
  core::JsonDoc edited;
  edited.CopyFrom(*h.get(kube::kSecrets, "app-secrets"), edited.GetAllocator());
  core::set_string(*core::member(edited, "data"), "DB_PASSWORD", core::base64_encode("tampered"),
                   edited.GetAllocator());
  h.client->update(kube::kSecrets, "default", edited);
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->writes(), "update secrets default/app-secrets") == 1);
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");

  // A new value in Infisical: the scope's next refresh brings it.
  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "rotated-password-3");
  h.clock.step(std::chrono::seconds(61));
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "rotated-password-3");
  h.object_reads = 0;
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.object_reads == 0);

  // A new digest key: the Secret's digests are written under it.
  const std::string digests_before =
      core::string_or(*core::at_path(*h.get(kube::kSecrets, "app-secrets"), {"metadata", "annotations"}),
                      "secrets.infisical.com/key-digests", "");
  h.reconciler->set_digest_key("fedcba9876543210fedcba9876543210");
  h.recording->clear();
  h.reconciler->reconcile("default/app");
  CHECK(count_prefix(h.recording->writes(), "update secrets default/app-secrets") == 1);
  CHECK(core::string_or(*core::at_path(*h.get(kube::kSecrets, "app-secrets"), {"metadata", "annotations"}),
                        "secrets.infisical.com/key-digests", "") != digests_before);
}
