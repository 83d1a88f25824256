// The managed-object writer against an in-memory API: Secrets and ConfigMaps created with the binding,
// left alone when nothing changed, updated keeping what others put on them, never written when bound
// elsewhere; our own Secret writes are remembered so their watch events bring nothing back.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/digest.h"
#include "core/infisical_secret.h"
#include "kube/errors.h"
#include "memory_api.h"
#include "recording_api.h"
#include "syncer/logging.h"
#include "syncer/managed_index.h"
#include "syncer/managed_writer.h"
#include "syncer/metrics.h"
#include "test_helpers.h"

using namespace ifo;
using namespace ifo::syncer;
using test::MemoryApi;
using test::RecordingApi;

namespace {

constexpr std::string_view kDigestKey = "0123456789abcdef0123456789abcdef";

core::InfisicalSecret resource() {
  auto p = core::parse_infisical_secret_json(R"({
    "metadata": {"name": "app", "namespace": "apps", "uid": "uid-app", "generation": 1},
    "spec": {"authentication": {"universalAuth": {"credentialsRef": {"secretName": "c", "secretNamespace": "apps"},
               "secretsScope": {"projectSlug": "p", "envSlug": "dev", "secretsPath": "/"}}},
             "managedSecretReference": {"secretName": "app-secrets", "secretNamespace": "apps"},
             "managedKubeConfigMapReferences": [{"configMapName": "app-config", "configMapNamespace": "apps"}]}})");
  REQUIRE(p.ok());
  return p.resource;
}

struct Fixture {
  Fixture() { describe_syncer_metrics(metrics); }

  ManagedWrite write_secret(const std::map<std::string, std::string>& values) {
    return writer.write(kManagedSecret, model, managed_target(model.spec.targets()[0]), values, kDigestKey);
  }
  ManagedWrite write_config_map(const std::map<std::string, std::string>& values) {
    return writer.write(kManagedConfigMap, model, managed_target(model.spec.config_map_targets()[0]), values,
                        kDigestKey);
  }
  std::string annotation(const Object& o, std::string_view key) {
    return core::string_or(*core::at_path(*o, {"metadata", "annotations"}), key, "<absent>");
  }

  core::InfisicalSecret model = resource();
  MemoryApi store;
  RecordingApi kube{store};
  Metrics metrics;
  ManagedIndex index;
  bool other_owner_alive = true;
  ManagedWriter writer{kube,
                       metrics,
                       index,
                       nullptr,  // no watch cache: every write reads
                       [this](const std::string&, const std::string&, const std::string&) { return other_owner_alive; },
                       make_logger("managed-writer-test", LogFormat::kText, "off")};
};

}  // namespace

TEST_CASE("a missing Secret is created bound to its resource, and an unchanged sync writes nothing") {
  Fixture f;
  const ManagedWrite w = f.write_secret({{"DB_PASSWORD", "hunter2"}});
  CHECK(w.written);
  CHECK(w.data_changed);
  CHECK_FALSE(w.previous.has_value());  // created: no pod ran with other data
  CHECK(f.kube.actions() == std::vector<std::string>{"get secrets apps/app-secrets", "create secrets apps/app-secrets"});
  const Object s = f.store.stored(kube::kSecrets, "apps", "app-secrets");
  CHECK(core::string_or(*s, "type", "") == "Opaque");
  CHECK(core::string_or(*core::member(*s, "data"), "DB_PASSWORD", "") == core::base64_encode("hunter2"));
  CHECK(core::string_or(*core::at_path(*s, {"metadata", "labels"}), "app.kubernetes.io/managed-by", "") ==
        "infisical-secrets-operator");
  CHECK(f.annotation(s, "secrets.infisical.com/owner") == "apps/app");
  CHECK(f.annotation(s, "secrets.infisical.com/owner-uid") == "uid-app");
  CHECK(f.annotation(s, "secrets.infisical.com/key-digests") ==
        core::encode_key_digests(
            core::key_digests(kDigestKey, "apps", "app-secrets", {{"DB_PASSWORD", "hunter2"}})));
  // The same digests, for status.managedKeyDigests.
  CHECK(w.digests == core::key_digests(kDigestKey, "apps", "app-secrets", {{"DB_PASSWORD", "hunter2"}}));
  CHECK(f.metrics.value(kMetricSecretWrites, {{"operation", "create"}}) == 1);

  // The watch event of this very write brings nothing back, once.
  const std::string rv = core::string_or(*core::member(*s, "metadata"), "resourceVersion", "");
  CHECK(f.index.absorbs_event("apps", "app-secrets", rv));
  CHECK_FALSE(f.index.absorbs_event("apps", "app-secrets", rv));

  f.kube.clear();
  const ManagedWrite again = f.write_secret({{"DB_PASSWORD", "hunter2"}});
  CHECK_FALSE(again.written);
  CHECK(core::to_json(*again.object) == core::to_json(*s));  // the object as read, unchanged
  CHECK(f.kube.actions() == std::vector<std::string>{"get secrets apps/app-secrets"});
  CHECK(again.digests == w.digests);  // unchanged, and still published
}

TEST_CASE("an update keeps what others put on the Secret and reports the digests of its data before") {
  Fixture f;
  f.write_secret({{"DB_PASSWORD", "one"}});
  f.store.put(kube::kSecrets, "apps", R"({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
    "metadata": {"name": "app-secrets", "namespace": "apps", "resourceVersion": "1",
      "labels": {"app.kubernetes.io/managed-by": "infisical-secrets-operator", "team": "payments"},
      "annotations": {"secrets.infisical.com/owner": "apps/app", "secrets.infisical.com/owner-uid": "uid-app"}},
    "data": {"DB_PASSWORD": ")" + core::base64_encode("one") + R"("}})");
  const ManagedWrite w = f.write_secret({{"DB_PASSWORD", "two"}});
  CHECK(w.written);
  CHECK(w.data_changed);
  REQUIRE(w.previous.has_value());
  CHECK(*w.previous == core::key_digests(kDigestKey, "apps", "app-secrets", {{"DB_PASSWORD", "one"}}));
  const Object s = f.store.stored(kube::kSecrets, "apps", "app-secrets");
  CHECK(core::string_or(*core::at_path(*s, {"metadata", "labels"}), "team", "") == "payments");
  CHECK(core::string_or(*core::member(*s, "data"), "DB_PASSWORD", "") == core::base64_encode("two"));
  CHECK(f.metrics.value(kMetricSecretWrites, {{"operation", "update"}}) == 1);
}

TEST_CASE("watch events of a Secret arriving while we write it are held until the write answers") {
  Fixture f;
  f.index.set_targets("apps/app", {"apps/app-secrets"});
  std::vector<std::string> requeued;
  f.index.set_requeue([&](const std::string& key) { requeued.push_back(key); });
  // The watch delivers while the write is in flight: the echo of the write itself (the store's next
  // version), and in some cases a change of someone else's before it.
  std::vector<std::string> others;
  std::vector<bool> absorbed;
  bool fail = false;
  f.store.on_call = [&](const MemoryApi::Call& call) {
    if (call.verb != "create" && call.verb != "update") return;
    for (const auto& rv : others) absorbed.push_back(f.index.absorbs_event("apps", "app-secrets", rv));
    if (fail) throw kube::ApiError(500, "InternalError", "etcd timeout");
    const std::string echo =
        std::to_string(std::stoll(f.store.list(kube::kSecrets, "apps").resource_version) + 1);
    absorbed.push_back(f.index.absorbs_event("apps", "app-secrets", echo));
  };

  SUBCASE("the echo alone brings nobody back") {
    REQUIRE(f.write_secret({{"DB_PASSWORD", "one"}}).written);
    CHECK(absorbed == std::vector<bool>{true});
    CHECK(requeued.empty());
    const Object s = f.store.stored(kube::kSecrets, "apps", "app-secrets");
    const std::string rv = core::string_or(*core::member(*s, "metadata"), "resourceVersion", "");
    CHECK_FALSE(f.index.absorbs_event("apps", "app-secrets", rv));  // settled: a later event of it is routed
  }
  SUBCASE("someone else's change held with the echo brings the owner back once the write answered") {
    others = {"999"};
    REQUIRE(f.write_secret({{"DB_PASSWORD", "one"}}).written);
    CHECK(absorbed == std::vector<bool>{true, true});
    CHECK(requeued == std::vector<std::string>{"apps/app"});
  }
  SUBCASE("a failed write: what arrived during it brings the owner back") {
    others = {"999"};
    fail = true;
    CHECK_THROWS_AS(f.write_secret({{"DB_PASSWORD", "one"}}), kube::ApiError);
    CHECK(absorbed == std::vector<bool>{true});
    CHECK(requeued == std::vector<std::string>{"apps/app"});
    CHECK_FALSE(f.index.absorbs_event("apps", "app-secrets", "1000"));  // nothing in flight any more
  }
}

TEST_CASE("a Secret bound to another live InfisicalSecret is never written") {
  Fixture f;
  f.store.put(kube::kSecrets, "apps", R"({"metadata": {"name": "app-secrets", "namespace": "apps",
    "annotations": {"secrets.infisical.com/owner": "apps/other", "secrets.infisical.com/owner-uid": "uid-other"}},
    "data": {}})");
  const ManagedWrite w = f.write_secret({{"DB_PASSWORD", "hunter2"}});
  CHECK_FALSE(w.written);
  REQUIRE(w.conflict.has_value());
  CHECK(w.conflict->find("Secret apps/app-secrets is managed by InfisicalSecret apps/other") == 0);
  CHECK_FALSE(w.digests.has_value());  // not ours: nothing to publish for it
  CHECK(f.kube.actions() == std::vector<std::string>{"get secrets apps/app-secrets"});
}

TEST_CASE("a ConfigMap holds strings as the API server stores them, and our keys leave binaryData") {
  Fixture f;
  const ManagedWrite w = f.write_config_map({{"BIN", "a\xff"}, {"TEXT", "plain"}});
  CHECK(w.written);
  const Object cm = f.store.stored(kube::kConfigMaps, "apps", "app-config");
  CHECK(core::string_or(*core::member(*cm, "data"), "BIN", "") == "a\xEF\xBF\xBD");
  CHECK(core::string_or(*core::member(*cm, "data"), "TEXT", "") == "plain");
  CHECK(core::member(*cm, "type") == nullptr);
  CHECK(f.annotation(cm, "secrets.infisical.com/key-digests") == "<absent>");  // rollouts follow Secrets only
  CHECK_FALSE(w.digests.has_value());
  CHECK_FALSE(f.index.absorbs_event("apps", "app-config", "1"));  // ConfigMaps are not watched
  CHECK_FALSE(f.write_config_map({{"BIN", "a\xff"}, {"TEXT", "plain"}}).written);

  // A key of ours that someone put into binaryData would make the update invalid: it goes, others stay.
  auto with_binary = std::make_shared<core::JsonDoc>();
  with_binary->CopyFrom(*cm, with_binary->GetAllocator());
  auto binary_data = test::parse_doc(R"({"TEXT": "eA==", "LOGO": "eA=="})");
  core::set_member(*with_binary, "binaryData", core::JsonValue(*binary_data, with_binary->GetAllocator()),
                   with_binary->GetAllocator());
  f.store.put(kube::kConfigMaps, "apps", core::to_json(*with_binary));
  CHECK(f.write_config_map({{"BIN", "a\xff"}, {"TEXT", "plain"}}).written);
  const Object updated = f.store.stored(kube::kConfigMaps, "apps", "app-config");
  const core::JsonValue* binary = core::member(*updated, "binaryData");
  REQUIRE(binary != nullptr);
  CHECK(core::member(*binary, "TEXT") == nullptr);
  CHECK(core::member(*binary, "LOGO") != nullptr);
  CHECK(f.metrics.value(kMetricConfigMapWrites, {{"operation", "update"}}) == 1);
}
