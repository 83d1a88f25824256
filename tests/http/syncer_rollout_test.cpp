// Rollouts of opted-in workloads that existed before the operator wrote their Secret (an install into a
// running cluster, an adoption of the upstream operator's Secrets): the reconciler against kube-sim and
// infisical-sim. Installing, adopting and restarting roll nothing; afterwards exactly the workloads
// that consume a changed key roll, once.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "core/constants.h"
#include "core/consumed_keys.h"
#include "core/digest.h"
#include "core/managed_digests.h"
#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;

namespace {

// What a user sees of a Deployment's rollouts.
struct RolloutView {
  int64_t generation = -1;
  std::string hash;      // the pod template's rollout hash
  std::string baseline;  // the metadata's rollout baseline
  bool operator==(const RolloutView&) const = default;
};

RolloutView view_of(SyncerHarness& h, const std::string& deployment) {
  RolloutView v;
  auto d = h.get(kube::kDeployments, deployment);
  REQUIRE(d);
  v.generation = core::get_int(*core::member(*d, "metadata"), "generation").value_or(-1);
  if (const auto* a = core::at_path(*d, {"spec", "template", "metadata", "annotations"}))
    v.hash = core::string_or(*a, core::kRolloutHashAnnotation, "");
  if (const auto* a = core::at_path(*d, {"metadata", "annotations"}))
    v.baseline = core::string_or(*a, core::kRolloutBaselineAnnotation, "");
  return v;
}

// The rollout hash of a Deployment's whole pod spec over the managed Secrets' digest annotations, as
// the webhook computes it (a Secret without them counts as missing).
std::string expected_hash(SyncerHarness& h, const std::string& deployment) {
  auto d = h.get(kube::kDeployments, deployment);
  REQUIRE(d);
  auto consumed = core::consumed_secret_keys(*core::at_path(*d, {"spec", "template", "spec"}));
  std::map<std::string, core::KeyDigests> digests;
  for (const auto& c : consumed) {
    auto s = h.get(kube::kSecrets, c.secret);
    const auto* ann = s ? core::at_path(*s, {"metadata", "annotations"}) : nullptr;
    auto text = ann ? core::get_string(*ann, core::kKeyDigestsAnnotation) : std::nullopt;
    if (!text) continue;
    if (auto decoded = core::decode_key_digests(*text)) digests[c.secret] = *decoded;
  }
  return core::rollout_hash("default", consumed, [&](std::string_view n) -> const core::KeyDigests* {
    auto it = digests.find(std::string(n));
    return it == digests.end() ? nullptr : &it->second;
  });
}

std::string env_from_container(const std::string& secret, bool optional = false) {
  return R"({"name":"app","image":"busybox","envFrom":[{"secretRef":{"name":")" + secret + "\"" +
         (optional ? R"(,"optional":true)" : "") + "}}]}";
}

void create_deployment(SyncerHarness& h, const std::string& name, const std::string& containers, bool opted_in = true) {
  h.client->create(kube::kDeployments, "default", *json(deployment_json(name, containers, opted_in)));
}

std::vector<std::string> sorted_writes(SyncerHarness& h) {
  auto writes = without_events(h.recording->writes());
  std::sort(writes.begin(), writes.end());
  return writes;
}

double rollouts(SyncerHarness& h) { return h.metrics.value(kMetricRollouts, {{"kind", "Deployment"}}); }
double baselines(SyncerHarness& h) { return h.metrics.value(kMetricRolloutBaselines, {{"kind", "Deployment"}}); }

struct Fixture {
  SyncerHarness h;
  Fixture() {
    h.create_credentials();
    h.create_ca_secret();
  }
};

}  // namespace

TEST_CASE("workloads created before their Secret: the first sync records baselines and rolls none; a changed key "
          "rolls exactly its consumers once; a restart rolls nothing") {
  Fixture f;
  auto& h = f.h;
  // A Secret the operator does not manage, which one workload reads besides the managed one.
  h.client->create(kube::kSecrets, "default",
                   *json(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"hand-made"},"stringData":{"TOKEN":"t"}})"));
  create_deployment(h, "uses-db", env_key_container("app-secrets", "DB_PASSWORD"));
  create_deployment(h, "uses-api", env_key_container("app-secrets", "API_KEY"));
  create_deployment(h, "uses-all", env_from_container("app-secrets"));
  // Its pods started without the Secret (optional): its creation is a change for them.
  create_deployment(h, "optional-all", env_from_container("app-secrets", true));
  create_deployment(h, "mixed", env_key_container("app-secrets", "DB_PASSWORD") + "," +
                                    R"({"name":"side","image":"busybox","env":[{"name":"T","valueFrom":{"secretKeyRef":{"name":"hand-made","key":"TOKEN"}}}]})");
  create_deployment(h, "not-opted-in", env_key_container("app-secrets", "DB_PASSWORD"), false);
  const std::vector<std::string> all = {"uses-db", "uses-api", "uses-all", "optional-all", "mixed", "not-opted-in"};
  for (const auto& name : all) REQUIRE(view_of(h, name) == RolloutView{1, "", ""});

  // The syncer starts: no managed Secret exists yet, so the start-up check has nothing to look at.
  h.recording->clear();
  RolloutCounts at_start = h.reconciler->check_all_workloads({});
  CHECK(at_start.rolled + at_start.baselined == 0);
  CHECK(h.recording->writes().empty());

  // The first sync creates the Secret: the three workloads that could not start without it get a
  // baseline (metadata only: same generation, no hash in the pod template).
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(sorted_writes(h) == std::vector<std::string>{"create secrets default/app-secrets",
                                                     "patch deployments default/optional-all",
                                                     "patch deployments default/uses-all",
                                                     "patch deployments default/uses-api",
                                                     "patch deployments default/uses-db",
                                                     "patch-status infisicalsecrets default/app"});
  for (const char* name : {"uses-db", "uses-api", "uses-all"}) {
    CAPTURE(std::string(name));
    CHECK(view_of(h, name) == RolloutView{1, "", expected_hash(h, name)});
  }
  CHECK(view_of(h, "optional-all") == RolloutView{2, expected_hash(h, "optional-all"), ""});
  // It reads a Secret the operator does not manage: no baseline (see core::decide_rollout), no rollout.
  CHECK(view_of(h, "mixed") == RolloutView{1, "", ""});
  CHECK(view_of(h, "not-opted-in") == RolloutView{1, "", ""});
  CHECK(rollouts(h) == 1);
  CHECK(baselines(h) == 3);

  // A consumed key changes: exactly the workloads that read it roll, once each.
  const RolloutView uses_api = view_of(h, "uses-api");
  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "rotated-password-2");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(sorted_writes(h) == std::vector<std::string>{"patch deployments default/mixed",
                                                     "patch deployments default/optional-all",
                                                     "patch deployments default/uses-all",
                                                     "patch deployments default/uses-db",
                                                     "patch-status infisicalsecrets default/app",
                                                     "update secrets default/app-secrets"});
  CHECK(view_of(h, "uses-db") == RolloutView{2, expected_hash(h, "uses-db"), ""});  // the baseline superseded
  CHECK(view_of(h, "uses-all") == RolloutView{2, expected_hash(h, "uses-all"), ""});
  CHECK(view_of(h, "optional-all") == RolloutView{3, expected_hash(h, "optional-all"), ""});
  // Judged without a baseline, from the Secret's previous data: DB_PASSWORD changed, so it rolls.
  CHECK(view_of(h, "mixed") == RolloutView{2, expected_hash(h, "mixed"), ""});
  CHECK(view_of(h, "uses-api") == uses_api);
  CHECK(uses_api.baseline == expected_hash(h, "uses-api"));  // still what its pods run with
  CHECK(view_of(h, "not-opted-in") == RolloutView{1, "", ""});
  CHECK(rollouts(h) == 1 + 4);

  // A restart, or a new leader: nothing in memory, data unchanged. Nothing is written, nothing rolls.
  std::map<std::string, RolloutView> before;
  for (const auto& name : all) before[name] = view_of(h, name);
  h.make_reconciler();
  h.recording->clear();
  RolloutCounts after_restart = h.reconciler->check_all_workloads({});
  CHECK(after_restart.rolled + after_restart.baselined == 0);
  CHECK(h.recording->writes().empty());
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());
  for (const auto& name : all) {
    CAPTURE(name);
    CHECK(view_of(h, name) == before[name]);
  }
}

TEST_CASE("a Secret written by the upstream operator is adopted without rolling workloads whose consumed keys did "
          "not change") {
  Fixture f;
  auto& h = f.h;
  // Upstream's Secret: its version annotation, none of ours, no managed-by label. API_KEY is either
  // what Infisical holds or a value upstream wrote before it changed.
  std::string api_key;
  SUBCASE("same data") { api_key = "api-key-value-1"; }
  SUBCASE("one key differs") { api_key = "api-key-from-upstream"; }
  const bool api_changes = api_key != "api-key-value-1";
  h.client->create(kube::kSecrets, "default", *json(R"({"apiVersion":"v1","kind":"Secret","type":"Opaque",
      "metadata":{"name":"app-secrets","annotations":{"secrets.infisical.com/version":"upstream-etag-1"}},
      "stringData":{"DB_PASSWORD":"hunter2-value","API_KEY":")" + api_key + R"("}})"));
  create_deployment(h, "uses-db", env_key_container("app-secrets", "DB_PASSWORD"));
  create_deployment(h, "uses-api", env_key_container("app-secrets", "API_KEY"));
  create_deployment(h, "uses-all", env_from_container("app-secrets"));

  // Not ours yet (no label, no digests): the start-up check leaves the workloads alone.
  h.recording->clear();
  RolloutCounts at_start = h.reconciler->check_all_workloads({});
  CHECK(at_start.rolled + at_start.baselined == 0);
  CHECK(h.recording->writes().empty());

  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->writes(), "update secrets default/app-secrets") == 1);
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "API_KEY") == "api-key-value-1");
  CHECK(view_of(h, "uses-db") == RolloutView{1, "", expected_hash(h, "uses-db")});
  if (api_changes) {
    // Their pods run with upstream's API_KEY: they roll, once.
    CHECK(view_of(h, "uses-api") == RolloutView{2, expected_hash(h, "uses-api"), ""});
    CHECK(view_of(h, "uses-all") == RolloutView{2, expected_hash(h, "uses-all"), ""});
    CHECK(rollouts(h) == 2);
    CHECK(baselines(h) == 1);
  } else {
    CHECK(view_of(h, "uses-api") == RolloutView{1, "", expected_hash(h, "uses-api")});
    CHECK(view_of(h, "uses-all") == RolloutView{1, "", expected_hash(h, "uses-all")});
    CHECK(rollouts(h) == 0);
    CHECK(baselines(h) == 3);
  }

  // A new leader takes over: it writes nothing and rolls nothing.
  std::map<std::string, RolloutView> before;
  for (const char* name : {"uses-db", "uses-api", "uses-all"}) before[name] = view_of(h, name);
  h.make_reconciler();
  h.recording->clear();
  RolloutCounts after = h.reconciler->check_all_workloads({});
  CHECK(after.rolled + after.baselined == 0);
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());
  for (const auto& [name, v] : before) {
    CAPTURE(name);
    CHECK(view_of(h, name) == v);
  }
}

namespace {

// The published digests of the InfisicalSecret's one managed Secret (status.managedKeyDigests[0]).
core::ManagedKeyDigests published_digests(SyncerHarness& h, const std::string& cr) {
  auto o = h.get(kube::kInfisicalSecrets, cr);
  REQUIRE(o);
  const auto* list = core::at_path(*o, {"status", core::kStatusManagedKeyDigests});
  REQUIRE(list);
  auto entries = core::read_managed_key_digests(*list);
  REQUIRE(entries.size() == 1);
  return entries[0];
}

double previous_key_gauge(SyncerHarness& h) { return h.metrics.value(kMetricWorkloadsPreviousKey, {}); }

}  // namespace

TEST_CASE("digest key rotation: the old key kept as `previous` rolls nothing on restart or re-sync; a real change "
          "rolls its consumers once, under the new key; ending the rotation rolls exactly what was counted") {
  Fixture f;
  auto& h = f.h;
  const std::string old_key = "0123456789abcdef0123456789abcdef";  // the harness's key
  const std::string new_key = "fedcba9876543210fedcba9876543210";
  create_deployment(h, "uses-db", env_key_container("app-secrets", "DB_PASSWORD"));
  create_deployment(h, "uses-api", env_key_container("app-secrets", "API_KEY"));
  create_deployment(h, "uses-all", env_from_container("app-secrets"));
  const std::vector<std::string> all = {"uses-db", "uses-api", "uses-all"};
  // Before the rotation: every workload gets a baseline at the first sync, then a changed DB_PASSWORD
  // rolls two of them, so the marks under the old key are both kinds (template hash and baseline).
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "rotated-password-2");
  h.clock.step(std::chrono::seconds(61));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(view_of(h, "uses-db") == RolloutView{2, expected_hash(h, "uses-db"), ""});
  CHECK(view_of(h, "uses-all") == RolloutView{2, expected_hash(h, "uses-all"), ""});
  CHECK(view_of(h, "uses-api") == RolloutView{1, "", expected_hash(h, "uses-api")});
  CHECK(published_digests(h, "app").previous_key_digests == std::nullopt);
  const double rolled_before = rollouts(h);
  std::map<std::string, RolloutView> before;
  for (const auto& name : all) before[name] = view_of(h, name);

  // The admin rotates: the old key becomes `previous`, a new one `key`; the syncer restarts. The start-up
  // check, still seeing the digest annotations written under the old key, rolls and writes nothing.
  h.make_reconciler();
  h.reconciler->set_digest_key(new_key, old_key);
  h.recording->clear();
  RolloutCounts at_restart = h.reconciler->check_all_workloads({});
  CHECK(at_restart.rolled + at_restart.baselined == 0);
  CHECK(at_restart.previous_key == 3);
  CHECK(previous_key_gauge(h) == 3);
  CHECK(h.recording->writes().empty());
  // The re-sync rewrites the Secret's digest annotation and the status under the new key (data
  // unchanged), publishing the old key's digests beside them; no workload is touched.
  h.recording->clear();
  h.reconciler->reconcile("default/app");
  CHECK(sorted_writes(h) == std::vector<std::string>{"patch-status infisicalsecrets default/app",
                                                     "update secrets default/app-secrets"});
  auto secret = h.get(kube::kSecrets, "app-secrets");
  REQUIRE(secret);
  const core::SecretData data = secret_data(*secret);
  const core::ManagedKeyDigests published = published_digests(h, "app");
  CHECK(published.key_digests == core::key_digests(new_key, "default", "app-secrets", data));
  CHECK(published.previous_key_digests == core::key_digests(old_key, "default", "app-secrets", data));
  CHECK(string_map_at(*secret, {"metadata", "annotations"})[std::string(core::kKeyDigestsAnnotation)] ==
        core::encode_key_digests(core::key_digests(new_key, "default", "app-secrets", data)));
  for (const auto& name : all) {
    CAPTURE(name);
    CHECK(view_of(h, name) == before[name]);
  }
  // Restarted again mid-rotation: the annotations are the new key's now, the marks still the old key's.
  h.make_reconciler();
  h.reconciler->set_digest_key(new_key, old_key);
  h.recording->clear();
  RolloutCounts again = h.reconciler->check_all_workloads({});
  CHECK(again.rolled + again.baselined == 0);
  CHECK(again.previous_key == 3);
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.recording->writes().empty());
  CHECK(rollouts(h) == rolled_before);

  // A real change of API_KEY: exactly its two consumers roll, once each, stamped under the new key.
  h.inf_sim->set_secret("proj", "dev", "/", "API_KEY", "api-key-value-2");
  h.clock.step(std::chrono::seconds(61));
  h.recording->clear();
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(sorted_writes(h) == std::vector<std::string>{"patch deployments default/uses-all",
                                                     "patch deployments default/uses-api",
                                                     "patch-status infisicalsecrets default/app",
                                                     "update secrets default/app-secrets"});
  CHECK(view_of(h, "uses-api") == RolloutView{2, expected_hash(h, "uses-api"), ""});  // baseline superseded
  CHECK(view_of(h, "uses-all") == RolloutView{3, expected_hash(h, "uses-all"), ""});
  CHECK(view_of(h, "uses-db") == before["uses-db"]);
  CHECK(rollouts(h) == rolled_before + 2);
  // expected_hash reads the Secret's annotation: it must be the new key's, so the stamps are too.
  secret = h.get(kube::kSecrets, "app-secrets");
  CHECK(string_map_at(*secret, {"metadata", "annotations"})[std::string(core::kKeyDigestsAnnotation)] ==
        core::encode_key_digests(core::key_digests(new_key, "default", "app-secrets", secret_data(*secret))));

  // The full check counts the one workload still stamped under the old key; ending the rotation (no
  // `previous` any more) rolls exactly that one, once.
  RolloutCounts counted = h.reconciler->check_all_workloads({});
  CHECK(counted.rolled == 0);
  CHECK(counted.previous_key == 1);
  CHECK(previous_key_gauge(h) == 1);
  h.make_reconciler();
  h.reconciler->set_digest_key(new_key);
  RolloutCounts ended = h.reconciler->check_all_workloads({});
  CHECK(ended.rolled == 1);
  CHECK(ended.previous_key == 0);
  CHECK(previous_key_gauge(h) == 0);
  CHECK(view_of(h, "uses-db") == RolloutView{3, expected_hash(h, "uses-db"), ""});
  CHECK(h.reconciler->reconcile("default/app").result != "error");
  CHECK(published_digests(h, "app").previous_key_digests == std::nullopt);
  CHECK(h.reconciler->check_all_workloads({}).rolled == 0);
}
