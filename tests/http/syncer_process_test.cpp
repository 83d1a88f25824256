// The infisical-syncer executable against kube-sim and infisical-sim (both in this process):
// shared logins and fetches at scale, a restart that writes nothing, leader election hand-over,
// and no secret value in logs, events or status.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/rand.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "core/consumed_keys.h"
#include "core/constants.h"
#include "core/digest.h"
#include "core/managed_digests.h"
#include "syncer_harness.h"
#include "syncer_process.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;

namespace {

constexpr int kIdentities = 5;
constexpr int kScopes = 10;
constexpr int kResources = 100;

std::string random_hex(int bytes) {
  std::vector<unsigned char> b(static_cast<size_t>(bytes));
  RAND_bytes(b.data(), bytes);
  std::string out;
  for (auto c : b) out += fmt::format("{:02x}", c);
  return out;
}

struct ScaleWorld {
  std::vector<std::string> values;  // every secret value (to grep for)
  std::vector<std::string> client_secrets;
  std::string seed;
};

ScaleWorld make_world() {
  ScaleWorld w;
  std::string secrets, folders, identities;
  for (int s = 0; s < kScopes; ++s) {
    folders += fmt::format(R"({}{{"environment":"dev","path":"/s{}"}})", s ? "," : "", s);
    for (int k = 0; k < 2; ++k) {
      std::string v = fmt::format("value-s{}-k{}-{}", s, k, random_hex(8));
      w.values.push_back(v);
      secrets += fmt::format(R"({}{{"environment":"dev","path":"/s{}","key":"KEY_{}","value":"{}"}})",
                             secrets.empty() ? "" : ",", s, k, v);
    }
  }
  for (int i = 0; i < kIdentities; ++i) {
    std::string cs = "client-secret-" + random_hex(12);
    w.client_secrets.push_back(cs);
    identities += fmt::format(
        R"({}{{"id":"6b2f8a0e-0000-4000-8000-0000000001{:02d}","name":"id{}","projects":["proj"],"accessTokenTTL":3600,"accessTokenMaxTTL":86400,"universalAuth":{{"clientId":"client-{}","clientSecret":"{}"}}}})",
        i ? "," : "", i, i, i, cs);
  }
  w.seed = fmt::format(
      R"({{"projects":[{{"slug":"proj","name":"Proj","environments":[{{"slug":"dev","name":"Dev"}}],"folders":[{}],"secrets":[{}]}}],"identities":[{}]}})",
      folders, secrets, identities);
  return w;
}

std::string syncer_binary() {
  const char* b = std::getenv("IFO_BUILD_ROOT");
  return std::string(b ? b : ".") + "/src/syncer/infisical-syncer";
}

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("ifo-syncer-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

int ready_count(SyncerHarness& h, const std::string& ns) {
  auto l = h.client->list(kube::kInfisicalSecrets, ns);
  int n = 0;
  for (const auto& cr : l.items) {
    const auto* c = core::at_path(*cr, {"status", "conditions"});
    if (!c) continue;
    auto conds = core::conditions_from_json(*c);
    const auto* r = core::find_condition(conds, "Ready");
    if (r && r->status == "True") ++n;
  }
  return n;
}

std::map<std::string, std::string> resource_versions(SyncerHarness& h, const kube::Resource& r, const std::string& ns) {
  std::map<std::string, std::string> out;
  for (const auto& o : h.client->list(r, ns).items)
    out[core::string_or(*core::member(*o, "metadata"), "name", "")] =
        core::string_or(*core::member(*o, "metadata"), "resourceVersion", "");
  return out;
}

struct World {
  ScaleWorld w = make_world();
  SyncerHarness h{w.seed};
  std::string kubeconfig = temp_path("kubeconfig");

  World() {
    std::ofstream(kubeconfig) << h.kube_sim->kubeconfig();
    h.create_ca_secret();
    for (int i = 0; i < kIdentities; ++i) {
      h.client->create(kube::kSecrets, "default",
                       *json(fmt::format(R"({{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"creds-{}"}},"stringData":{{"clientId":"client-{}","clientSecret":"{}"}}}})",
                                         i, i, w.client_secrets[static_cast<size_t>(i)])));
    }
  }

  void create_resources(int from, int to) {
    for (int i = from; i < to; ++i) {
      int scope = i % kScopes;
      int identity = scope % kIdentities;
      h.create_cr(fmt::format(
          R"({{"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","metadata":{{"name":"res-{}","namespace":"default"}},
          "spec":{{"hostAPI":"{}","resyncInterval":60,"tls":{{"caRef":{{"secretName":"infisical-ca","secretNamespace":"default","key":"ca.crt"}}}},
          "authentication":{{"universalAuth":{{"credentialsRef":{{"secretName":"creds-{}","secretNamespace":"default"}},
          "secretsScope":{{"projectSlug":"proj","envSlug":"dev","secretsPath":"/s{}"}}}}}},
          "managedSecretReference":{{"secretName":"managed-{}","secretNamespace":"default"}}}}}})",
          i, h.inf_sim->api_url(), identity, scope, i));
    }
  }

  std::vector<std::string> args(const std::vector<std::string>& extra) {
    std::vector<std::string> a{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=127.0.0.1:0",
                               "--health-probe-bind-address=127.0.0.1:0", "--workers=4", "--log-format=json",
                               "--log-level=debug",
                               // infisical-sim listens on loopback: allowed by configuration, as an admin would.
                               "--allowed-hosts=127.0.0.1", "--allowed-address-ranges=127.0.0.0/8"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Everything a user or operator can read: must not contain any secret value or client secret.
  // `rolled`: a workload was rolled, so there is an Event to read.
  void check_no_secret_leaks(const std::vector<std::string>& logs, bool rolled) {
    std::string events = core::to_json(*h.client->request("GET", "/api/v1/events"));
    std::string statuses;
    for (const auto& cr : h.client->list(kube::kInfisicalSecrets, "").items) {
      if (const auto* s = core::member(*cr, "status")) statuses += core::to_json(*s);
    }
    std::vector<std::string> needles = w.values;
    needles.insert(needles.end(), w.client_secrets.begin(), w.client_secrets.end());
    int leaks = 0;
    for (const auto& n : needles) {
      for (const auto& l : logs)
        if (l.find(n) != std::string::npos) ++leaks;
      if (events.find(n) != std::string::npos) ++leaks;
      if (statuses.find(n) != std::string::npos) ++leaks;
    }
    CHECK(leaks == 0);
    CHECK_FALSE(statuses.empty());  // so the check reads something
    if (rolled) CHECK(events.find("RolloutTriggered") != std::string::npos);
    // A first sync records no Event of its own: its Ready condition says it.
    CHECK(events.find(R"("reason":"Synced")") == std::string::npos);
  }
};

}  // namespace

TEST_CASE("100 InfisicalSecrets over 5 identities and 10 scopes: 5 logins, 10 fetches; a restart writes nothing") {
  World world;
  auto& h = world.h;
  world.create_resources(0, kResources);
  h.client->create(kube::kDeployments, "default", *json(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"consumer","annotations":{"secrets.infisical.com/auto-reload":"true"}},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"consumer"}},"template":{"metadata":{"labels":{"app":"consumer"}},
    "spec":{"initContainers":[{"name":"init","image":"busybox","envFrom":[{"secretRef":{"name":"managed-3"}}]}],
      "containers":[{"name":"app","image":"busybox","env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":"managed-7","key":"KEY_1"}}},
        {"name":"PLAIN","value":"not a secret"}]}],
      "volumes":[{"name":"v","secret":{"secretName":"managed-5","items":[{"key":"KEY_0","path":"k0"}]}}]}}}})"));
  // Also reads a Secret the operator does not manage: it gets no baseline (and no rollout).
  h.client->create(kube::kDeployments, "default", *json(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"mixed-consumer","annotations":{"secrets.infisical.com/auto-reload":"true"}},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"mixed"}},"template":{"metadata":{"labels":{"app":"mixed"}},
    "spec":{"containers":[{"name":"app","image":"busybox","env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":"managed-7","key":"KEY_1"}}}]}],
      "volumes":[{"name":"p","projected":{"sources":[{"secret":{"name":"not-managed"}}]}}]}}}})"));
  // Reads its Secret as optional, so its pods started without it: the Secret's creation rolls it, once.
  h.client->create(kube::kDeployments, "default", *json(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"optional-consumer","annotations":{"secrets.infisical.com/auto-reload":"true"}},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"optional"}},"template":{"metadata":{"labels":{"app":"optional"}},
    "spec":{"containers":[{"name":"app","image":"busybox","envFrom":[{"secretRef":{"name":"managed-9","optional":true}}]}]}}}})"));
  h.inf_sim->reset_counters();
  // Infisical 300 ms away: the start-up warm-up asks for scopes beside the workers (more requests at
  // once than the 4 workers make), and no more of them.
  h.inf_sim->set_latency("*", 300);

  std::string log1 = temp_path("syncer-1.log"), log2 = temp_path("syncer-2.log");
  std::remove(log1.c_str());
  std::remove(log2.c_str());
  {
    ChildProcess syncer(syncer_binary(), world.args({}), log1);
    bool all_ready = eventually([&] { return ready_count(h, "default") == kResources; }, std::chrono::seconds(60));
    if (!all_ready) MESSAGE(syncer.log());
    REQUIRE(all_ready);
    CHECK(core_file_limits(syncer.pid()) == "0 0");  // it holds tokens and values: no core file
    auto c = h.inf_sim->counters();
    CHECK(c.by_route["POST /api/v1/auth/universal-auth/login"] == kIdentities);
    CHECK(c.by_route["GET /api/v3/secrets/raw"] == kScopes);
    CHECK(c.max_in_flight > 4);
    MESSAGE("first sync: logins=", c.by_route["POST /api/v1/auth/universal-auth/login"],
            " fetches=", c.by_route["GET /api/v3/secrets/raw"], " total Infisical requests=", c.total,
            " at most ", c.max_in_flight, " at once");
    h.inf_sim->set_latency("*", 0);
    auto port = syncer.port_of("metrics");
    REQUIRE(port);
    CHECK(scrape(*port, "infisical_syncer_managed_secrets") == kResources);
    // Ready is written as the last step of a reconcile; the metric follows right after.
    CHECK(eventually([&] { return scrape(*port, "infisical_syncer_reconciles_total{result=\"synced\"}") >= kResources; }));
    // Each resource was reconciled once: the watch echo of its own Secret write, which often arrives
    // before the write's answer, brought none back for a second pass with nothing to do.
    CHECK(scrape(*port, "infisical_syncer_reconciles_total{result=\"unchanged\"}") == 0);
    syncer.signal(SIGTERM);
    auto rc = syncer.wait(std::chrono::seconds(20));
    REQUIRE(rc);
    CHECK(*rc == 0);
  }
  auto secrets_before = resource_versions(h, kube::kSecrets, "default");
  auto deployments_before = resource_versions(h, kube::kDeployments, "default");
  auto crs_before = resource_versions(h, kube::kInfisicalSecrets, "default");
  auto consumer = h.get(kube::kDeployments, "consumer");
  // It existed before its Secrets: the first sync recorded a baseline in its metadata and left the pod
  // template (so its pods) alone.
  CHECK(core::at_path(*consumer, {"spec", "template", "metadata", "annotations", "secrets.infisical.com/rollout-hash"}) ==
        nullptr);
  CHECK(core::get_int(*core::member(*consumer, "metadata"), "generation").value_or(0) == 1);
  const core::JsonValue* stamped =
      core::at_path(*consumer, {"metadata", "annotations", "secrets.infisical.com/rollout-baseline"});
  REQUIRE(stamped);
  auto mixed = h.get(kube::kDeployments, "mixed-consumer");
  CHECK(core::at_path(*mixed, {"metadata", "annotations", "secrets.infisical.com/rollout-baseline"}) == nullptr);
  CHECK(core::at_path(*mixed, {"spec", "template", "metadata", "annotations"}) == nullptr);
  CHECK(core::get_int(*core::member(*mixed, "metadata"), "generation").value_or(0) == 1);
  auto optional = h.get(kube::kDeployments, "optional-consumer");
  CHECK(core::get_int(*core::member(*optional, "metadata"), "generation").value_or(0) == 2);
  CHECK(core::at_path(*optional, {"spec", "template", "metadata", "annotations", "secrets.infisical.com/rollout-hash"}) !=
        nullptr);
  // The syncer caches only what each workload consumes, not its pod spec; the baseline it recorded
  // must be the hash computed from the whole pod spec (as the webhook computes it).
  {
    std::map<std::string, core::KeyDigests> digests;
    for (const char* name : {"managed-3", "managed-5", "managed-7"}) {
      auto s = h.get(kube::kSecrets, name);
      REQUIRE(s);
      auto d = core::decode_key_digests(
          core::string_or(*core::at_path(*s, {"metadata", "annotations"}), "secrets.infisical.com/key-digests", ""));
      REQUIRE(d);
      digests[name] = *d;
    }
    auto consumed = core::consumed_secret_keys(*core::at_path(*consumer, {"spec", "template", "spec"}));
    CHECK(consumed.size() == 3);
    std::string expected = core::rollout_hash("default", consumed, [&](std::string_view n) -> const core::KeyDigests* {
      auto it = digests.find(std::string(n));
      return it == digests.end() ? nullptr : &it->second;
    });
    CHECK(std::string(stamped->GetString()) == expected);
  }
  int64_t generation_before = core::get_int(*core::member(*consumer, "metadata"), "generation").value_or(0);

  {
    ChildProcess syncer(syncer_binary(), world.args({}), log2);
    REQUIRE(eventually([&] { return syncer.port_of("metrics").has_value(); }));
    int port = *syncer.port_of("metrics");
    // Every resource reconciled once after the restart.
    bool done = eventually([&] { return scrape(port, "infisical_syncer_reconciles_total") >= kResources; },
                           std::chrono::seconds(60));
    if (!done) MESSAGE(syncer.log());
    REQUIRE(done);
    CHECK(resource_versions(h, kube::kSecrets, "default") == secrets_before);
    CHECK(resource_versions(h, kube::kDeployments, "default") == deployments_before);
    CHECK(resource_versions(h, kube::kInfisicalSecrets, "default") == crs_before);
    auto after = h.get(kube::kDeployments, "consumer");
    CHECK(core::get_int(*core::member(*after, "metadata"), "generation").value_or(0) == generation_before);
    CHECK(scrape(port, "infisical_syncer_secret_writes_total") == 0);
    CHECK(scrape(port, "infisical_syncer_rollouts_triggered_total") == 0);
    syncer.signal(SIGTERM);
    CHECK(syncer.wait(std::chrono::seconds(20)) == std::optional<int>(0));
    world.check_no_secret_leaks({syncer.log(), ChildProcess::read_file(log1)}, /*rolled=*/true);
  }
}

TEST_CASE("two replicas with --leader-elect: only the leader reconciles; killing it hands over within the lease") {
  World world;
  auto& h = world.h;
  world.create_resources(0, 10);
  std::vector<std::string> le{"--leader-elect", "--leader-election-namespace=default", "--leader-elect-lease-duration=3s",
                              "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=500ms"};
  auto args_a = world.args(le), args_b = world.args(le);
  args_a.push_back("--identity=replica-a");
  args_b.push_back("--identity=replica-b");
  std::string log_a = temp_path("replica-a.log"), log_b = temp_path("replica-b.log");
  std::remove(log_a.c_str());
  std::remove(log_b.c_str());
  auto a = std::make_unique<ChildProcess>(syncer_binary(), args_a, log_a);
  REQUIRE(eventually([&] { return ready_count(h, "default") == 10; }, std::chrono::seconds(30)));
  auto b = std::make_unique<ChildProcess>(syncer_binary(), args_b, log_b);
  auto holder = [&] {
    auto lease = h.get(kube::kLeases, "infisical-syncer.secrets.infisical.com");
    return lease ? core::string_or(*core::member(*lease, "spec"), "holderIdentity", "") : std::string();
  };
  CHECK(holder() == "replica-a");
  REQUIRE(eventually([&] { return b->log().find("waiting for the leader lease") != std::string::npos; }));
  // The standby reconciles nothing.
  world.create_resources(10, 12);
  REQUIRE(eventually([&] { return ready_count(h, "default") == 12; }, std::chrono::seconds(30)));
  REQUIRE(eventually([&] { return b->port_of("metrics").has_value(); }));
  CHECK(scrape(*b->port_of("metrics"), "infisical_syncer_reconciles_total") == 0);
  CHECK(b->log().find("managed secret created") == std::string::npos);

  // Kill the leader without a chance to release: the standby takes over once the lease expires.
  auto killed_at = std::chrono::steady_clock::now();
  a->signal(SIGKILL);
  a->wait();
  REQUIRE(eventually([&] { return holder() == "replica-b"; }, std::chrono::seconds(10)));
  auto handover = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
  MESSAGE("hand-over after SIGKILL took ", handover.count(), " ms (lease duration 3000 ms, retry period 500 ms)");
  CHECK(handover <= std::chrono::milliseconds(3000 + 2 * 500));
  world.create_resources(12, 13);
  CHECK(eventually([&] { return ready_count(h, "default") == 13; }, std::chrono::seconds(30)));

  // A graceful stop releases the lease at once.
  b->signal(SIGTERM);
  CHECK(b->wait(std::chrono::seconds(20)) == std::optional<int>(0));
  CHECK(holder().empty());
  world.check_no_secret_leaks({a->log(), b->log()}, /*rolled=*/false);
}

TEST_CASE("a digest key rotated while the syncer runs is picked up: digests re-published under the new key, nothing "
          "rolls, the workloads still under the previous key are counted, no key in the log") {
  World world;
  auto& h = world.h;
  world.create_resources(0, 3);
  h.client->create(kube::kDeployments, "default", *json(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"consumer","annotations":{"secrets.infisical.com/auto-reload":"true"}},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"consumer"}},"template":{"metadata":{"labels":{"app":"consumer"}},
    "spec":{"containers":[{"name":"app","image":"busybox","envFrom":[{"secretRef":{"name":"managed-1"}}],
      "env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":"managed-2","key":"KEY_1"}}}]}]}}}})"));
  const std::string log = temp_path("syncer-rotation.log");
  std::remove(log.c_str());
  ChildProcess syncer(syncer_binary(), world.args({}), log);
  bool synced = eventually([&] { return ready_count(h, "default") == 3; }, std::chrono::seconds(60)) &&
                eventually([&] {  // its baseline, under the first key, once both its Secrets exist
                  auto d = h.get(kube::kDeployments, "consumer");
                  return core::at_path(*d, {"metadata", "annotations", core::kRolloutBaselineAnnotation}) != nullptr;
                });
  if (!synced) MESSAGE(syncer.log());
  REQUIRE(synced);
  REQUIRE(eventually([&] { return syncer.port_of("metrics").has_value(); }));
  const int port = *syncer.port_of("metrics");
  const auto deployments_before = resource_versions(h, kube::kDeployments, "default");

  // The admin's rotation (docs/security.md): the key becomes `previous`, a fresh key becomes `key`.
  const std::string ns(core::kDefaultOperatorNamespace), name(core::kDigestKeySecretName);
  auto key_secret = h.get(kube::kSecrets, name, ns);
  REQUIRE(key_secret);
  const std::string old_b64 = core::string_or(*core::member(*key_secret, "data"), core::kDigestKeyDataKey, "");
  REQUIRE(!old_b64.empty());
  const std::string new_key = "rotated-digest-key-" + random_hex(16);
  const std::string new_b64 = core::base64_encode(new_key);
  h.client->patch(kube::kSecrets, ns, name, kube::PatchType::kMerge,
                  R"({"data":{"key":")" + new_b64 + R"(","previous":")" + old_b64 + R"("}})");

  // Every status is re-published under the new key, with the previous key's digests beside it.
  auto republished = [&] {
    for (int i = 0; i < 3; ++i) {
      auto cr = h.get(kube::kInfisicalSecrets, fmt::format("res-{}", i));
      auto secret = h.get(kube::kSecrets, fmt::format("managed-{}", i));
      const auto* list = cr ? core::at_path(*cr, {"status", core::kStatusManagedKeyDigests}) : nullptr;
      if (!list || !secret) return false;
      auto entries = core::read_managed_key_digests(*list);
      if (entries.size() != 1 || !entries[0].previous_key_digests) return false;
      if (entries[0].key_digests != core::key_digests(new_key, "default", fmt::format("managed-{}", i), secret_data(*secret)))
        return false;
    }
    return true;
  };
  const bool done = eventually(republished, std::chrono::seconds(30)) && eventually([&] {
    return syncer.log().find("digest key change: workload check done rolled=0 baselined=0 previous_key=1") !=
           std::string::npos;
  });
  if (!done) MESSAGE(syncer.log());
  CHECK(done);
  CHECK(scrape(port, "infisical_syncer_workloads_previous_digest_key") == 1);
  CHECK(scrape(port, "infisical_syncer_rollouts_triggered_total") == 0);
  CHECK(resource_versions(h, kube::kDeployments, "default") == deployments_before);
  // The keys are never logged, in any encoding.
  const std::string text = syncer.log();
  CHECK(text.find(old_b64) == std::string::npos);
  CHECK(text.find(new_b64) == std::string::npos);
  CHECK(text.find(new_key) == std::string::npos);
  syncer.signal(SIGTERM);
  CHECK(syncer.wait(std::chrono::seconds(20)) == std::optional<int>(0));
}

TEST_CASE("the binary rejects a wrong flag with one line and exit code 2") {
  std::string log = temp_path("bad-flag.log");
  std::remove(log.c_str());
  ChildProcess p(syncer_binary(), {"--wokers=3"}, log);
  CHECK(p.wait() == std::optional<int>(2));
  std::string out = p.log();
  CHECK(out == "infisical-syncer: unknown flag --wokers (see --help)\n");
}
