// The status after a reconcile (core::decide_status): conditions and their reasons, one status patch
// only when something changed, Events on a reason change, and when the resource comes back.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "core/conditions.h"
#include "core/infisical_secret.h"
#include "core/json.h"
#include "core/sync_status.h"
#include "test_helpers.h"

using namespace ifo::core;
using namespace std::chrono_literals;

namespace {

const std::chrono::sys_seconds kNow{std::chrono::seconds(1'800'000'000)};  // 2027-01-15T08:00:00Z

// A resource of generation 3 writing Secret apps/app-secrets, resynced every 30 s; `extra_spec` adds
// spec fields.
InfisicalSecret resource(const std::string& extra_spec = "") {
  auto p = parse_infisical_secret_json(R"({
    "metadata": {"name": "app", "namespace": "apps", "uid": "u-1", "generation": 3},
    "spec": {"resyncInterval": 30,)" + extra_spec + R"(
      "authentication": {"universalAuth": {"credentialsRef": {"secretName": "creds", "secretNamespace": "apps"},
        "secretsScope": {"projectSlug": "proj", "envSlug": "dev", "secretsPath": "/"}}},
      "managedSecretReference": {"secretName": "app-secrets", "secretNamespace": "apps"}}})");
  REQUIRE(p.ok());
  return p.resource;
}

SyncReport synced(int keys, bool written) {
  SyncReport r;
  r.token_strategy = "UNIVERSAL_MACHINE_IDENTITY";
  r.synced_keys = keys;
  r.synced_now = written;
  r.next_sync = 31s;
  return r;
}

SyncReport failed(std::string_view reason, std::string message) {
  SyncReport r;
  r.failure = SyncFailure(reason, std::move(message));
  return r;
}

const Condition& condition(const StatusDecision& d, std::string_view type) {
  const Condition* c = find_condition(d.conditions, type);
  REQUIRE_MESSAGE(c != nullptr, std::string(type));
  return *c;
}

// `r` as the API server holds it once `d`'s patch is applied.
InfisicalSecret applied(InfisicalSecret r, const StatusDecision& d) {
  REQUIRE(d.patch.has_value());
  auto patch = ifo::test::parse_doc(*d.patch);
  const JsonValue& status = *member(*patch, "status");
  r.status.conditions = conditions_from_json(*member(status, "conditions"));
  r.status.observed_generation = *get_int(status, "observedGeneration");
  r.status.synced_keys = *get_int(status, "syncedKeys");
  r.status.last_sync_time = string_or(status, "lastSyncTime", r.status.last_sync_time);
  if (const JsonValue* managed = member(status, "managedSecrets")) {
    r.status.managed_secrets.clear();
    for (const auto& m : managed->GetArray()) r.status.managed_secrets.emplace_back(m.GetString());
  }
  if (const JsonValue* digests = member(status, "managedKeyDigests"))
    r.status.managed_key_digests = read_managed_key_digests(*digests);
  return r;
}

const std::string kDigestA(64, 'a');
const std::string kDigestB(64, 'b');

// A sync of apps/app-secrets whose managed Secret holds one key with digest `digest`.
SyncReport synced_with(const std::string& digest, bool written) {
  SyncReport r = synced(1, written);
  r.key_digests = {{"Secret", "apps", "app-secrets", {{"DB_PASSWORD", digest}}, std::nullopt}};
  return r;
}

}  // namespace

TEST_CASE("a first sync is Ready, names its targets and writes the whole status once") {
  const StatusDecision d = decide_status(resource(), synced(2, true), kNow);
  const Condition& ready = condition(d, "Ready");
  CHECK(ready.status == "True");
  CHECK(ready.reason == "Synced");
  CHECK(ready.message == "2 keys synced into Secret apps/app-secrets");
  CHECK(ready.observed_generation == 3);
  CHECK(ready.last_transition_time == "2027-01-15T08:00:00Z");
  CHECK(condition(d, "secrets.infisical.com/LoadedInfisicalToken").reason == "OK");
  CHECK(condition(d, "secrets.infisical.com/LoadedInfisicalToken").message ==
        "Infisical controller has loaded the Infisical token in provided Kubernetes secret, using "
        "UNIVERSAL_MACHINE_IDENTITY authentication strategy");
  CHECK(condition(d, "secrets.infisical.com/ReadyToSyncSecrets").message ==
        "Infisical controller has started syncing your secrets. Last reconcile synced 2 secrets");
  CHECK(condition(d, "secrets.infisical.com/AutoRedeployReady").message ==
        "Infisical has found 0 deployments which are ready to be auto redeployed when secrets change");
  CHECK(find_condition(d.conditions, "secrets.infisical.com/InstantUpdates") == nullptr);

  const InfisicalSecret after = applied(resource(), d);
  CHECK(after.status.observed_generation == 3);
  CHECK(after.status.synced_keys == 2);
  CHECK(after.status.last_sync_time == "2027-01-15T08:00:00Z");
  CHECK(after.status.managed_secrets == std::vector<std::string>{"apps/app-secrets"});
  CHECK(d.result == "synced");
  CHECK(d.requeue.kind == Requeue::Kind::kAfter);
  CHECK(d.requeue.after == 31s);
  CHECK(d.requeue.jittered == 0s);
  CHECK_FALSE(d.event.has_value());  // a first sync records no Event: Ready says it
}

TEST_CASE("an unchanged resync writes no status; a sync that wrote moves lastSyncTime") {
  const InfisicalSecret first = applied(resource(), decide_status(resource(), synced(2, true), kNow));
  const StatusDecision unchanged = decide_status(first, synced(2, false), kNow + 30s);
  CHECK_FALSE(unchanged.patch.has_value());
  CHECK_FALSE(unchanged.event.has_value());
  CHECK(unchanged.result == "unchanged");

  const StatusDecision wrote = decide_status(first, synced(2, true), kNow + 60s);
  CHECK(applied(first, wrote).status.last_sync_time == "2027-01-15T08:01:00Z");
  CHECK(condition(wrote, "Ready").last_transition_time == "2027-01-15T08:00:00Z");  // still True
  // A write after the first sync changed what the resource manages: one Normal Event says where.
  REQUIRE(wrote.event.has_value());
  CHECK_FALSE(wrote.event->warning);
  CHECK(wrote.event->reason == "Synced");
  CHECK(wrote.event->message == "synced 2 keys into Secret apps/app-secrets");
}

TEST_CASE("a failure: Ready False with its reason, the upstream conditions stopped, one Warning per new reason") {
  const InfisicalSecret ok = applied(resource(), decide_status(resource(), synced(2, true), kNow));
  const StatusDecision d = decide_status(ok, failed("FetchFailed", "GET /api/v3/secrets: 503"), kNow + 30s);
  CHECK(condition(d, "Ready").status == "False");
  CHECK(condition(d, "Ready").reason == "FetchFailed");
  CHECK(condition(d, "Ready").message == "GET /api/v3/secrets: 503");
  CHECK(condition(d, "Ready").last_transition_time == "2027-01-15T08:00:30Z");
  CHECK(condition(d, "secrets.infisical.com/ReadyToSyncSecrets").reason == "Error");
  CHECK(condition(d, "secrets.infisical.com/ReadyToSyncSecrets").message ==
        "Failed to sync secrets. This can be caused by invalid access token or an invalid API host that is set. "
        "Error: GET /api/v3/secrets: 503");
  CHECK(condition(d, "secrets.infisical.com/AutoRedeployReady").status == "False");
  CHECK(condition(d, "secrets.infisical.com/AutoRedeployReady").reason == "Stopped");
  CHECK(condition(d, "secrets.infisical.com/LoadedInfisicalToken").status == "True");  // not an auth failure
  REQUIRE(d.event.has_value());
  CHECK(d.event->warning);
  CHECK(d.event->reason == "FetchFailed");
  CHECK(d.event->message == "GET /api/v3/secrets: 503");
  CHECK(d.result == "error");
  CHECK(d.requeue.kind == Requeue::Kind::kBackoff);

  const InfisicalSecret after = applied(ok, d);
  CHECK(after.status.synced_keys == 2);                         // kept from the last sync
  CHECK(after.status.last_sync_time == "2027-01-15T08:00:00Z");  // kept too
  CHECK(d.patch->find("managedSecrets") == std::string::npos);   // a failure leaves it alone

  // The same failure again: no Event, nothing to write.
  const StatusDecision again = decide_status(after, failed("FetchFailed", "GET /api/v3/secrets: 503"), kNow + 60s);
  CHECK_FALSE(again.event.has_value());
  CHECK_FALSE(again.patch.has_value());
}

TEST_CASE("an auth failure sets LoadedInfisicalToken False; an invalid spec touches only Ready") {
  SyncReport auth = failed("AuthFailed", "universal-auth login: 401");
  auth.failure->auth = true;
  const StatusDecision d = decide_status(resource(), auth, kNow);
  CHECK(condition(d, "secrets.infisical.com/LoadedInfisicalToken").status == "False");
  CHECK(condition(d, "secrets.infisical.com/LoadedInfisicalToken").message ==
        "Failed to load Infisical Token from the provided Kubernetes secret because: universal-auth login: 401");

  const StatusDecision invalid = decide_status(resource(), failed("InvalidSpec", "invalid spec: x"), kNow);
  CHECK(invalid.conditions.size() == 1);
  CHECK(condition(invalid, "Ready").reason == "InvalidSpec");
  CHECK(invalid.result == "invalid");
  CHECK(invalid.requeue.kind == Requeue::Kind::kForget);  // only a new generation can mend it
}

TEST_CASE("when a failed resource comes back") {
  struct Case {
    SyncReport report;
    Requeue::Kind kind;
    std::chrono::milliseconds after;
    std::chrono::seconds jittered;
    std::string result;
  };
  SyncReport refused = failed("ReferenceNotGranted", "spec.x: not granted");
  refused.failure->refused = true;
  SyncReport limited = failed("RateLimited", "429");
  limited.failure->retry_after = 20s;
  for (const Case& c : {Case{refused, Requeue::Kind::kAfter, 0ms, 30s, "refused"},
                        Case{failed("SecretConflict", "bound"), Requeue::Kind::kAfter, 0ms, 30s, "conflict"},
                        Case{failed("TemplateFailed", "t"), Requeue::Kind::kAfter, 0ms, 30s, "error"},
                        Case{failed("DataNotStorable", "d"), Requeue::Kind::kAfter, 0ms, 30s, "error"},
                        Case{limited, Requeue::Kind::kAfter, 20s, 1s, "error"},
                        Case{failed("WriteFailed", "w"), Requeue::Kind::kBackoff, 0ms, 0s, "error"}}) {
    CAPTURE(c.report.failure->reason);
    const StatusDecision d = decide_status(resource(), c.report, kNow);
    CHECK(d.requeue.kind == c.kind);
    CHECK(d.requeue.after == c.after);
    CHECK(d.requeue.jittered == c.jittered);
    CHECK(d.result == c.result);
  }
}

TEST_CASE("back in sync: a Normal Event when nothing was written, and lastSyncTime moves") {
  const InfisicalSecret broken = applied(resource(), decide_status(resource(), failed("FetchFailed", "503"), kNow));
  const StatusDecision d = decide_status(broken, synced(2, false), kNow + 30s);
  REQUIRE(d.event.has_value());
  CHECK_FALSE(d.event->warning);
  CHECK(d.event->reason == "Synced");
  CHECK(d.event->message == "secrets are in sync again");
  CHECK(applied(broken, d).status.last_sync_time == "2027-01-15T08:00:30Z");
  CHECK(condition(d, "secrets.infisical.com/AutoRedeployReady").status == "True");

  // Mended by a write: one Event, the write's, which names where the keys went.
  const StatusDecision mended = decide_status(broken, synced(2, true), kNow + 30s);
  REQUIRE(mended.event.has_value());
  CHECK(mended.event->reason == "Synced");
  CHECK(mended.event->message == "synced 2 keys into Secret apps/app-secrets");
}

TEST_CASE("a write that changed data reports the workloads rolled") {
  SyncReport r = synced(2, true);
  r.rolled = 3;
  const StatusDecision d = decide_status(resource(), r, kNow);
  CHECK(condition(d, "secrets.infisical.com/AutoRedeployReady").message ==
        "Infisical has found 3 deployments which are ready to be auto redeployed when secrets change");
}

TEST_CASE("instant updates asked for: a condition says this operator polls, and goes when no longer asked") {
  const StatusDecision d = decide_status(resource(R"("instantUpdates": true,)"), synced(1, true), kNow);
  const Condition& c = condition(d, "secrets.infisical.com/InstantUpdates");
  CHECK(c.status == "False");
  CHECK(c.reason == "Polling");
  CHECK(c.message.find("it polls Infisical every 30s instead") != std::string::npos);

  const InfisicalSecret asked = applied(resource(R"("instantUpdates": true,)"), d);
  InfisicalSecret not_asked = resource();
  not_asked.status = asked.status;
  const StatusDecision later = decide_status(not_asked, synced(1, false), kNow + 30s);
  CHECK(find_condition(later.conditions, "secrets.infisical.com/InstantUpdates") == nullptr);
  CHECK(later.patch.has_value());
}

TEST_CASE("Secret and ConfigMap targets are named in Ready and in the Event of a write") {
  const std::string config_maps =
      R"("managedKubeConfigMapReferences": [{"configMapName": "app-config", "configMapNamespace": "apps"}],)";
  const StatusDecision d = decide_status(resource(config_maps), synced(2, true), kNow);
  CHECK(condition(d, "Ready").message == "2 keys synced into Secret apps/app-secrets and ConfigMap apps/app-config");
  const StatusEvent e = written_event(resource(config_maps).spec, 2);
  CHECK_FALSE(e.warning);
  CHECK(e.reason == "Synced");
  CHECK(e.message == "synced 2 keys into Secret apps/app-secrets and ConfigMap apps/app-config");
  CHECK(managed_config_map_keys(resource(config_maps).spec) == std::vector<std::string>{"apps/app-config"});
  CHECK(managed_secret_keys(resource().spec) == std::vector<std::string>{"apps/app-secrets"});
}

TEST_CASE("status.managedKeyDigests: published by a sync, written only when it changed, kept on failure") {
  // A first sync publishes each managed Secret's digests, under the documented field.
  const StatusDecision first = decide_status(resource(), synced_with(kDigestA, true), kNow);
  REQUIRE(first.patch.has_value());
  auto patch = ifo::test::parse_doc(*first.patch);
  const JsonValue* published = at_path(*patch, {"status", "managedKeyDigests"});
  REQUIRE(published != nullptr);
  CHECK(to_json(*published) ==
        R"([{"kind":"Secret","namespace":"apps","name":"app-secrets","keyDigests":{"DB_PASSWORD":")" + kDigestA +
            R"("}}])");
  const InfisicalSecret after = applied(resource(), first);
  REQUIRE(after.status.managed_key_digests.size() == 1);
  CHECK(after.status.managed_key_digests[0].key_digests.at("DB_PASSWORD") == kDigestA);

  // The same digests again: no API write at all.
  CHECK_FALSE(decide_status(after, synced_with(kDigestA, false), kNow + 30s).patch.has_value());

  // Only the digests changed (e.g. re-hashed after an upgrade, the data the same): one patch, with them.
  const StatusDecision rehashed = decide_status(after, synced_with(kDigestB, false), kNow + 60s);
  REQUIRE(rehashed.patch.has_value());
  CHECK(rehashed.patch->find(kDigestB) != std::string::npos);
  const InfisicalSecret later = applied(after, rehashed);
  CHECK(later.status.managed_key_digests[0].key_digests.at("DB_PASSWORD") == kDigestB);

  // Another condition changed but the digests did not: the (largest) member stays out of the patch.
  const StatusDecision failure = decide_status(later, failed("FetchFailed", "503"), kNow + 90s);
  REQUIRE(failure.patch.has_value());
  CHECK(failure.patch->find("managedKeyDigests") == std::string::npos);  // the Secret is as it was
  const StatusDecision back = decide_status(applied(later, failure), synced_with(kDigestB, false), kNow + 120s);
  REQUIRE(back.patch.has_value());  // Ready again
  CHECK(back.patch->find("managedKeyDigests") == std::string::npos);
}

TEST_CASE("status.managedKeyDigests reads back strictly per entry: a malformed entry is dropped whole") {
  auto status = ifo::test::parse_doc(R"([
    {"kind":"Secret","namespace":"apps","name":"ok","keyDigests":{"A":")" + kDigestA + R"("}},
    {"kind":"Secret","namespace":"apps","name":"empty","keyDigests":{}},
    {"kind":"Secret","namespace":"apps","name":"short","keyDigests":{"A":"abc","B":")" + kDigestA + R"("}},
    {"kind":"Secret","namespace":"apps","name":"upper","keyDigests":{"A":")" + std::string(64, 'A') + R"("}},
    {"kind":"Secret","namespace":"apps","keyDigests":{"A":")" + kDigestA + R"("}},
    {"kind":"Secret","namespace":"apps","name":"nodigests"},
    "apps/plain", 7])");
  const std::vector<ManagedKeyDigests> read = read_managed_key_digests(*status);
  REQUIRE(read.size() == 2);
  CHECK(read[0] == ManagedKeyDigests{"Secret", "apps", "ok", {{"A", kDigestA}}, std::nullopt});
  CHECK(read[1] == ManagedKeyDigests{"Secret", "apps", "empty", {}, std::nullopt});
  CHECK(read_managed_key_digests(*ifo::test::parse_doc("{}")).empty());
}

TEST_CASE("status.managedKeyDigests carries previousKeyDigests during a digest-key rotation and reads it back") {
  const std::string kDigestB(64, 'b');
  std::vector<ManagedKeyDigests> entries = {{"Secret", "apps", "rotating", {{"A", kDigestA}}, KeyDigests{{"A", kDigestB}}},
                                            {"Secret", "apps", "plain", {{"A", kDigestA}}, std::nullopt}};
  JsonDoc doc;
  JsonValue list = managed_key_digests_json(entries, doc.GetAllocator());
  const std::string text = to_json(list);
  CHECK(text.find(R"("previousKeyDigests":{"A":")" + kDigestB + "\"}") != std::string::npos);
  // Only the rotating entry has one: without a rotation the field is not written at all.
  CHECK(text.find("previousKeyDigests") == text.rfind("previousKeyDigests"));
  CHECK(read_managed_key_digests(list) == entries);
  // An unchanged status compares equal, so a sync during a rotation writes no status.
  CHECK_FALSE(entries[0] == ManagedKeyDigests{"Secret", "apps", "rotating", {{"A", kDigestA}}, std::nullopt});
  // A malformed previousKeyDigests makes the whole entry untrusted, as a malformed keyDigests does.
  auto bad = ifo::test::parse_doc(R"([{"kind":"Secret","namespace":"apps","name":"x","keyDigests":{"A":")" + kDigestA +
                                  R"("},"previousKeyDigests":{"A":"abc"}}])");
  CHECK(read_managed_key_digests(*bad).empty());
}
