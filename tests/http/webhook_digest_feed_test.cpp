// The webhook's digest feed (DigestFeed: a kube::Informer of InfisicalSecrets feeding the DigestCache
// from status.managedKeyDigests, and one of InfisicalReferenceGrants deciding which claims across
// namespaces count) against kube-sim with the real CRDs: a forbidden list is retried with growing
// delays and then syncs; status changes reach the cache and a deleted InfisicalSecret takes its entries
// with it; bookmarks keep it fresh; only names and digests are kept; with RBAC on, the feed works with
// a token that may list and watch InfisicalSecrets and grants only, never asking for a Secret; and a
// tenant who publishes digests for another namespace's Secret does not steer the rollout hash the
// webhook stamps there, unless that namespace grants it.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/clock.h"
#include "core/constants.h"
#include "core/json.h"
#include "kube/client.h"
#include "kube/errors.h"
#include "kube_sim_client.h"
#include "sim/kube/modules.h"
#include "sim/kube/server.h"
#include "test_helpers.h"
#include "webhook/admission.h"
#include "webhook/digest_cache.h"
#include "webhook/kube_sources.h"
#include "yaml_json.h"

using namespace std::chrono_literals;
namespace core = ifo::core;
namespace kube = ifo::kube;
namespace kubesim = ifo::kubesim;
using ifo::test::eventually;
using ifo::webhook::DigestCache;
using ifo::webhook::DigestFeed;

namespace {

const std::string kDigestA(64, 'a');
const std::string kDigestB(64, 'b');
// A spec field the feed must not keep (the store holds names and digests only).
const std::string kSpecMarker = "spec-marker-project";

std::string source_root() {
  const char* r = std::getenv("IFO_SOURCE_ROOT");
  return r ? r : ".";
}

// The InfisicalSecret and InfisicalReferenceGrant CRDs exactly as shipped (deploy/crds), so a status
// field they do not declare is pruned as a real API server prunes it.
void install_crd(kube::Client& client) {
  for (const char* file : {"infisicalsecrets.secrets.infisical.com.yaml", "infisicalreferencegrants.secrets.infisical.com.yaml"})
    client.create(kube::kCustomResourceDefinitions, "",
                  *ifo::test::load_yaml_file(source_root() + "/deploy/crds/" + file));
  REQUIRE(eventually([&] {
    try {
      client.list(kube::kInfisicalSecrets, "default");
      client.list(kube::kInfisicalReferenceGrants, "default");
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

// InfisicalSecret default/NAME writing Secret default/SECRET, publishing `digest` for key A as the
// syncer does (status subresource).
void put_resource(kube::Client& client, const std::string& name, const std::string& secret,
                  const std::string& digest) {
  const std::string object =
      R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","metadata":{"name":")" + name +
      R"("},"spec":{"authentication":{"universalAuth":{)"
      R"("credentialsRef":{"secretName":"creds","secretNamespace":"default"},)"
      R"("secretsScope":{"projectSlug":")" + kSpecMarker + R"(","envSlug":"dev","secretsPath":"/"}}},)"
      R"("managedSecretReference":{"secretName":")" + secret + R"(","secretNamespace":"default"}}})";
  try {
    client.create(kube::kInfisicalSecrets, "default", *ifo::test::parse_doc(object));
  } catch (const kube::ApiError& e) {
    REQUIRE(e.is_already_exists());
  }
  client.patch_status(kube::kInfisicalSecrets, "default", name, kube::PatchType::kMerge,
                      R"({"status":{"managedKeyDigests":[{"kind":"Secret","namespace":"default","name":")" +
                          secret + R"(","keyDigests":{"A":")" + digest + R"("}}]}})");
}

struct Sim : ifo::test::KubeSimClient {
  Sim() : KubeSimClient(bookmarks_every(100ms)) { install_crd(*client); }

  // How many times kube-sim was asked to list InfisicalSecrets since the counters were reset.
  uint64_t resource_lists() { return received("list infisicalsecrets"); }
};

std::string digest_of(const DigestFeed& feed, const std::string& name) {
  auto d = feed.key_digests("default", name);
  return d && d->count("A") ? d->at("A") : std::string();
}

}  // namespace

TEST_CASE(
    "digest feed: a 403 on listing InfisicalSecrets is retried with growing delays, then the cache syncs") {
  Sim s;
  put_resource(*s.client, "app", "app-secrets", kDigestA);
  s.inject(R"({"verb":"list","resource":"infisicalsecrets","code":403,"count":-1})");
  s.client->request("DELETE", "/sim/counters");

  // The informer waits on a fake clock: each retry happens only when the test moves time to it, so
  // the delays are read exactly and no request can slip in between.
  core::FakeClock clock;
  kube::InformerOptions tuning;
  tuning.clock = &clock;
  tuning.backoff_initial = 1s;
  tuning.backoff_max = 8s;
  tuning.jitter_seed = 42;
  DigestCache cache;
  DigestFeed feed(*s.client, cache, tuning);
  feed.start();

  std::vector<core::Clock::duration> delays;
  for (uint64_t attempt = 1; attempt <= 6; ++attempt) {
    // The attempt failed and the informer is waiting: kube-sim saw exactly one list per attempt.
    REQUIRE(
        eventually([&] { return feed.informer().retry_at().has_value() && s.resource_lists() == attempt; }));
    CHECK_FALSE(feed.synced());
    const auto retry_at = *feed.informer().retry_at();
    delays.push_back(retry_at - clock.now());
    clock.step(retry_at - clock.now());
    REQUIRE(eventually([&] {
      auto next = feed.informer().retry_at();
      return next.has_value() && *next > retry_at;
    }));
  }
  // initial * 2^n capped at max, plus up to 100% jitter: 1-2 s, 2-4 s, 4-8 s, then 8-16 s.
  for (size_t n = 0; n < delays.size(); ++n) {
    const auto base = std::min<core::Clock::duration>(1s * (int64_t{1} << n), 8s);
    CHECK(delays[n] >= base);
    CHECK(delays[n] < 2 * base);
  }
  // Over all that (fake) time, kube-sim saw one list per attempt: 7 after about a minute of refusals.
  CHECK(s.resource_lists() == 7);

  // RBAC fixed: the next attempt lists, and the cache syncs with the published digests.
  s.clear_faults();
  clock.step(*feed.informer().retry_at() - clock.now());
  REQUIRE(eventually([&] { return feed.synced(); }));
  CHECK(digest_of(feed, "app-secrets") == kDigestA);
  CHECK(s.resource_lists() == 8);
  feed.stop();
}

TEST_CASE(
    "digest feed: follows InfisicalSecret status, forgets a deleted InfisicalSecret, keeps names and digests "
    "only") {
  Sim s;
  put_resource(*s.client, "app", "app-secrets", kDigestA);
  // Synced by nobody yet: it publishes nothing and is not kept.
  put_resource(*s.client, "fresh", "fresh-secrets", kDigestA);
  s.client->patch_status(kube::kInfisicalSecrets, "default", "fresh", kube::PatchType::kMerge,
                         R"({"status":{"managedKeyDigests":null}})");
  DigestCache cache;
  DigestFeed feed(*s.client, cache);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(feed.age_seconds(t0) == -1);
  feed.start();
  REQUIRE(eventually([&] { return feed.synced(); }));
  CHECK(digest_of(feed, "app-secrets") == kDigestA);
  CHECK(feed.key_digests("default", "fresh-secrets") == nullptr);

  // A new sync's status, and a second resource, reach the cache.
  put_resource(*s.client, "app", "app-secrets", kDigestB);
  put_resource(*s.client, "second", "second-secrets", kDigestA);
  CHECK(eventually([&] {
    return digest_of(feed, "app-secrets") == kDigestB && digest_of(feed, "second-secrets") == kDigestA;
  }));
  // Deleting the InfisicalSecret takes its entries with it.
  s.client->remove(kube::kInfisicalSecrets, "default", "second");
  CHECK(eventually([&] { return feed.key_digests("default", "second-secrets") == nullptr; }));
  CHECK(digest_of(feed, "app-secrets") == kDigestB);

  // The store holds each resource's name and published digests, nothing of its spec.
  auto kept = feed.informer().store().list();
  REQUIRE(kept.size() == 1);
  CHECK(core::member(*kept[0], "spec") == nullptr);
  CHECK(core::to_json(*kept[0]).find(kSpecMarker) == std::string::npos);
  CHECK(core::at_path(*kept[0], {"status", "managedKeyDigests"}) != nullptr);

  // Freshness: an idle watch ages; a bookmark that moves the resourceVersion (anything written in the
  // cluster moves it) makes the cache fresh again, though no InfisicalSecret changed.
  CHECK(feed.age_seconds(t0) == doctest::Approx(0.0));
  CHECK(feed.age_seconds(t0 + 30s) == doctest::Approx(30.0));
  const std::string rv = feed.informer().resource_version();
  s.client->create(
      kube::kConfigMaps, "default",
      *ifo::test::parse_doc(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"unrelated"}})"));
  REQUIRE(eventually([&] { return feed.informer().resource_version() != rv; }));
  CHECK(feed.age_seconds(t0 + 31s) == doctest::Approx(0.0));
  feed.stop();
}

TEST_CASE(
    "digest feed: works with a token that may list and watch InfisicalSecrets only, and reads no Secret") {
  // kube-sim authorizing every request from RBAC objects, as kube-apiserver does; the webhook's token
  // gets exactly the chart's rules for the feed (list, watch on infisicalsecrets and on
  // infisicalreferencegrants) and nothing on Secrets.
  const std::string admin = "admin-token", webhook = "webhook-token";
  kubesim::Options o = ifo::test::KubeSimClient::bookmarks_every(100ms);
  o.tokens = {kubesim::StaticToken{admin, kubesim::UserInfo{"admin", "admin", {"system:masters"}, {}}},
              kubesim::StaticToken{webhook, kubesim::UserInfo{"webhook", "webhook", {}, {}}}};
  o.admin_token = admin;
  kubesim::KubeSim sim(o);
  kubesim::ModulesOptions mo;
  REQUIRE(*kubesim::parse_module_flag("--authorization-mode", "RBAC", mo));
  auto modules = kubesim::install_modules(sim, std::move(mo));
  sim.start();
  auto config = [&](const std::string& token) {
    kube::Config c;
    c.server = sim.url();
    c.tls.ca_pem = sim.ca_pem();
    c.token = token;
    c.qps = 0;
    c.source = "kube-sim";
    return c;
  };
  kube::Client as_admin(config(admin)), as_webhook(config(webhook));
  install_crd(as_admin);
  as_admin.request(
      "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
      R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"webhook"},
      "rules":[{"apiGroups":["secrets.infisical.com"],"resources":["infisicalsecrets"],"verbs":["list","watch"]},
               {"apiGroups":["secrets.infisical.com"],"resources":["infisicalreferencegrants"],"verbs":["list","watch"]}]})");
  as_admin.request(
      "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
      R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"webhook"},
      "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"webhook"},
      "subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"webhook"}]})");
  put_resource(as_admin, "app", "app-secrets", kDigestA);
  // The managed Secret exists, with the same digests in its annotation, but the feed never asks for it.
  const std::string secret =
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"app-secrets",)"
      R"("labels":{"app.kubernetes.io/managed-by":"infisical-secrets-operator"},)"
      R"("annotations":{"secrets.infisical.com/key-digests":"{\"A\":\")" + kDigestA + R"(\"}"}},)"
      R"("data":{"A":"c2VjcmV0LXZhbHVl"}})";
  as_admin.create(kube::kSecrets, "default", *ifo::test::parse_doc(secret));
  as_admin.request("DELETE", "/sim/counters");

  // The token really cannot read Secrets.
  try {
    as_webhook.list(kube::kSecrets, "");
    FAIL("the webhook's token listed Secrets");
  } catch (const kube::ApiError& e) {
    CHECK(e.code() == 403);
  }

  DigestCache cache;
  DigestFeed feed(as_webhook, cache);
  feed.start();
  REQUIRE(eventually([&] { return feed.synced(); }));
  CHECK(digest_of(feed, "app-secrets") == kDigestA);
  put_resource(as_admin, "app", "app-secrets", kDigestB);
  CHECK(eventually([&] { return digest_of(feed, "app-secrets") == kDigestB; }));
  feed.stop();

  // kube-sim saw the feed list and watch InfisicalSecrets and no request for Secrets but the refused one.
  auto counters = as_admin.request("GET", "/sim/counters");
  const core::JsonValue* by_verb = core::member(*counters, "counters");
  REQUIRE(by_verb != nullptr);
  CHECK(core::get_int(*by_verb, "list infisicalsecrets").value_or(0) >= 1);
  CHECK(core::get_int(*by_verb, "watch infisicalsecrets").value_or(0) >= 1);
  CHECK(core::get_int(*by_verb, "list secrets").value_or(0) <= 1);  // at most the refused one above
  CHECK(core::get_int(*by_verb, "watch secrets").value_or(0) == 0);
  CHECK(core::get_int(*by_verb, "get secrets").value_or(0) == 0);
}

namespace {

// The rollout hash /mutate-workload stamps on a new opted-in Deployment web in team-b that reads key A
// of Secret team-b/app-secrets; "" when it answers without one.
std::string stamped_hash(const ifo::webhook::AdmissionHandler& handler) {
  const std::string review =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"web-1",)"
      R"("kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"CREATE","namespace":"team-b",)"
      R"("object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"team-b",)"
      R"("annotations":{")" + std::string(core::kAutoReloadAnnotation) + R"(":"true"}},)"
      R"("spec":{"template":{"spec":{"containers":[{"name":"app","image":"app",)"
      R"("env":[{"name":"A","valueFrom":{"secretKeyRef":{"name":"app-secrets","key":"A"}}}]}]}}}}}})";
  const ifo::webhook::Reply reply = handler.mutate(review);
  REQUIRE(reply.status == 200);
  auto doc = core::parse_json(reply.body);
  REQUIRE(doc.ok());
  const core::JsonValue* patch = core::at_path(**doc, {"response", "patch"});
  if (patch == nullptr) return "";
  auto ops = core::parse_json(core::base64_decode(patch->GetString()).value());
  REQUIRE(ops.ok());
  // The pod template has no metadata: the first operation adds it, with the hash as its annotation.
  const core::JsonValue* hash = core::at_path((**ops)[0]["value"], {"annotations", core::kRolloutHashAnnotation});
  REQUIRE(hash != nullptr);
  return hash->GetString();
}

void create_namespace(kube::Client& client, const std::string& name) {
  client.create(kube::kNamespaces, "",
                *ifo::test::parse_doc(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + name + R"("}})"));
}

}  // namespace

TEST_CASE(
    "digest feed: a tenant publishing digests for another namespace's Secret does not steer its rollout hash, "
    "unless that namespace grants it") {
  Sim s;
  create_namespace(*s.client, "team-a");
  create_namespace(*s.client, "team-b");
  DigestCache cache;
  DigestFeed feed(*s.client, cache);
  const ifo::webhook::AdmissionHandler handler(ifo::webhook::CrossNamespacePolicy::kAuthorize, nullptr, &feed);
  feed.start();
  REQUIRE(eventually([&] { return feed.synced(); }));
  // Nobody publishes digests for team-b/app-secrets: the hash of a workload whose Secret is missing.
  const std::string missing = stamped_hash(handler);
  REQUIRE_FALSE(missing.empty());

  // Tenant team-a writes the status of its own InfisicalSecret, claiming team-b's Secret.
  const std::string isec =
      R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","metadata":{"name":"steer"},)"
      R"("spec":{"authentication":{"universalAuth":{"credentialsRef":{"secretName":"creds","secretNamespace":"team-a"},)"
      R"("secretsScope":{"projectSlug":"p","envSlug":"dev","secretsPath":"/"}}},)"
      R"("managedSecretReference":{"secretName":"own-secrets","secretNamespace":"team-a"}}})";
  s.client->create(kube::kInfisicalSecrets, "team-a", *ifo::test::parse_doc(isec));
  s.client->patch_status(kube::kInfisicalSecrets, "team-a", "steer", kube::PatchType::kMerge,
                         R"({"status":{"managedKeyDigests":[{"kind":"Secret","namespace":"team-b",)"
                         R"("name":"app-secrets","keyDigests":{"A":")" + kDigestA + R"("}}]}})");
  // The feed has the claim (the store holds it) ...
  REQUIRE(eventually([&] { return feed.informer().store().list().size() == 1; }));
  // ... and the workload in team-b is still stamped as if no digests were known.
  CHECK(feed.key_digests("team-b", "app-secrets") == nullptr);
  CHECK(stamped_hash(handler) == missing);

  // What the hash is when the claim counts: the same digests published from team-b itself.
  DigestCache reference;
  reference.replace({ifo::test::parse_doc(R"({"metadata":{"namespace":"team-b","name":"x"},"status":{"managedKeyDigests":[)"
                                          R"({"kind":"Secret","namespace":"team-b","name":"app-secrets","keyDigests":{"A":")" +
                                          kDigestA + R"("}}]}})")
                         .get()},
                    std::chrono::steady_clock::now());
  const ifo::webhook::AdmissionHandler reference_handler(ifo::webhook::CrossNamespacePolicy::kAuthorize, nullptr,
                                                         &reference);
  const std::string granted = stamped_hash(reference_handler);
  REQUIRE(granted != missing);

  // team-b grants team-a that Secret: the claim counts, and the workload gets the hash from its digests.
  const std::string grant =
      R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalReferenceGrant",)"
      R"("metadata":{"name":"from-team-a"},"spec":{"from":[{"namespace":"team-a"}],)"
      R"("to":[{"kind":"Secret","name":"app-secrets"}]}})";
  s.client->create(kube::kInfisicalReferenceGrants, "team-b", *ifo::test::parse_doc(grant));
  CHECK(eventually([&] { return stamped_hash(handler) == granted; }));

  // Revoked: the claim stops counting at once the feed sees the deletion.
  s.client->remove(kube::kInfisicalReferenceGrants, "team-b", "from-team-a");
  CHECK(eventually([&] { return stamped_hash(handler) == missing; }));
  feed.stop();
}
