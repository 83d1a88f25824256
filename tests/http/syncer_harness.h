// Test harness for the syncer: kube-sim and infisical-sim in-process, the real kube and Infisical
// clients, a recording kube::Api over the kube client, and helpers to create objects and read them back.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/base64.h"
#include "core/conditions.h"
#include "core/json.h"
#include "core/trust_policy.h"
#include "infisical/client.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/errors.h"
#include "kube/meta.h"
#include "recording_api.h"
#include "sim/infisical/infisical_sim.h"
#include "sim/kube/modules.h"
#include "sim/kube/server.h"
#include "syncer/infisical_source.h"
#include "syncer/logging.h"
#include "syncer/metrics.h"
#include "syncer/reconciler.h"
#include "yaml_json.h"

namespace ifo::syncer::testing {

inline std::string source_root() {
  const char* r = std::getenv("IFO_SOURCE_ROOT");
  return r ? r : ".";
}

using test::load_yaml_file;

inline std::shared_ptr<core::JsonDoc> json(std::string_view text) {
  auto r = core::parse_json(text);
  if (!r) throw std::runtime_error("bad test JSON: " + r.error());
  return *r;
}

// Polls cond every 10 ms until it holds or the deadline passes.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// Reading recorded actions and objects back.
inline int count_prefix(const std::vector<std::string>& actions, const std::string& prefix) {
  return static_cast<int>(std::count_if(actions.begin(), actions.end(),
                                        [&](const std::string& a) { return a.starts_with(prefix); }));
}

// The actions that are not Event writes (an Event created, or a repeat of one counted with a patch).
inline std::vector<std::string> without_events(const std::vector<std::string>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions)
    if (!a.starts_with("create events ") && !a.starts_with("patch events ")) out.push_back(a);
  return out;
}

inline std::string data_value(const core::JsonValue& secret, const std::string& key) {
  const auto* v = core::at_path(secret, {"data", key});
  if (!v || !v->IsString()) return "<absent>";
  auto d = core::base64_decode(v->GetString());
  return d ? *d : "<undecodable>";
}

inline core::Condition ready_condition(const core::JsonValue& cr) {
  const auto* c = core::at_path(cr, {"status", "conditions"});
  if (!c) return {};
  auto conds = core::conditions_from_json(*c);
  const auto* r = core::find_condition(conds, "Ready");
  return r ? *r : core::Condition{};
}

// An apps/v1 Deployment whose pod template runs `containers` (JSON objects, comma separated), opted in
// to auto-reload unless `opted_in` is false.
inline std::string deployment_json(const std::string& name, const std::string& containers, bool opted_in = true) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name + R"(","annotations":{)" +
         (opted_in ? R"("secrets.infisical.com/auto-reload":"true")" : "") +
         R"(}},"spec":{"replicas":1,"selector":{"matchLabels":{"app":")" + name +
         R"("}},"template":{"metadata":{"labels":{"app":")" + name + R"("}},"spec":{"containers":[)" + containers +
         "]}}}}";
}

// A container reading one key of a Secret through env secretKeyRef.
inline std::string env_key_container(const std::string& secret, const std::string& key) {
  return R"({"name":"app","image":"busybox","env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":")" + secret +
         R"(","key":")" + key + R"("}}}]})";
}

inline std::string quiet_seed() {
  return R"({
  "projects": [{"slug": "proj", "name": "Proj",
    "environments": [{"slug": "dev", "name": "Development"}],
    "secrets": [
      {"environment": "dev", "path": "/", "key": "DB_PASSWORD", "value": "hunter2-value"},
      {"environment": "dev", "path": "/", "key": "API_KEY", "value": "api-key-value-1"}
    ]}],
  "identities": [{"id": "6b2f8a0e-0000-4000-8000-0000000000a1", "name": "syncer-test", "projects": ["proj"],
    "accessTokenTTL": 3600, "accessTokenMaxTTL": 86400,
    "universalAuth": {"clientId": "test-client-id", "clientSecret": "test-client-secret-value"}}]
})";
}

// kube-sim + infisical-sim + the real clients, wired to one Reconciler.
class SyncerHarness {
 public:
  explicit SyncerHarness(const std::string& seed = quiet_seed(), kubesim::Options ko = {}) {
    kube_sim = std::make_unique<kubesim::KubeSim>(ko);
    kube_modules = kubesim::install_modules(*kube_sim, kubesim::ModulesOptions{});
    kube_sim->start();
    sim::SimOptions so;
    so.seed_json = seed;
    so.tls = true;
    inf_sim = sim::InfisicalSim::start(so);

    kube::Config kc = kube::parse_kubeconfig(kube_sim->kubeconfig(), "kube-sim");
    kc.qps = 0;
    client = std::make_unique<kube::Client>(kc);
    recording = std::make_unique<test::RecordingApi>(*client);

    log = make_logger("syncer-test", LogFormat::kText, "warn");
    inf_client = std::make_unique<infisical::Client>(infisical::ClientOptions{}, inf_clock, infisical::CloudEnv{}, log);
    source = std::make_unique<InfisicalSource>(*inf_client);
    describe_syncer_metrics(metrics);
    // The product's trust policy, with infisical-sim's host (loopback, a test-only port) on the
    // allow-list as an admin would add their own Infisical host.
    trust.allowed_hosts.push_back(core::parse_host_api(inf_sim->api_url())->host);

    install_crd();
    create_namespace("default");
    create_namespace("infisical-operator-system");
    make_reconciler();
  }

  // `versions`: the reconciler may also ask the resourceVersions the syncer's caches give without
  // decoding (an unchanged resync then reads no object); object_reads counts the objects it reads.
  void make_reconciler(int requests_per_minute = 240, bool versions = false) {
    CacheLookups lookups;
    lookups.infisical_secret = [this](const std::string& ns, const std::string& name) -> Object {
      ++object_reads;
      if (lagging_cr) return lagging_cr;
      try {
        return client->get(kube::kInfisicalSecrets, ns, name);
      } catch (const kube::ApiError& e) {
        if (e.is_not_found()) return nullptr;
        throw;
      }
    };
    lookups.managed_secret = [this](const std::string& ns, const std::string& name) -> Object {
      ++object_reads;
      Object s;
      try {
        s = client->get(kube::kSecrets, ns, name);
      } catch (const kube::ApiError& e) {
        if (e.is_not_found()) return nullptr;
        throw;
      }
      const auto* l = core::at_path(*s, {"metadata", "labels", "app.kubernetes.io/managed-by"});
      return l && l->IsString() && std::string(l->GetString()) == "infisical-secrets-operator" ? s : nullptr;
    };
    lookups.global_config = [] { return Object(); };
    if (versions) {
      auto version_of = [this](const kube::Resource& r, const std::string& key) -> std::string {
        const auto slash = key.find('/');
        try {
          return kube::meta_resource_version(*client->get(r, key.substr(0, slash), key.substr(slash + 1)));
        } catch (const kube::ApiError& e) {
          if (e.is_not_found()) return "";
          throw;
        }
      };
      lookups.infisical_secret_version = [this, version_of](const std::string& key) {
        if (lagging_cr) return kube::meta_resource_version(*lagging_cr);
        return version_of(kube::kInfisicalSecrets, key);
      };
      lookups.managed_secret_version = [version_of](const std::string& key) { return version_of(kube::kSecrets, key); };
      lookups.global_config_version = [] { return std::string(); };
    }
    ReconcilerOptions ro;
    ro.jitter_seed = 42;
    ro.infisical_requests_per_minute = requests_per_minute;
    ro.trust = trust;
    reconciler = std::make_unique<Reconciler>(*recording, *source, metrics, clock, lookups, ro, log);
    reconciler->set_digest_key("0123456789abcdef0123456789abcdef");
  }

  void install_crd() {
    for (const char* file : {"infisicalsecrets.secrets.infisical.com.yaml", "infisicalreferencegrants.secrets.infisical.com.yaml"}) {
      auto crd = load_yaml_file(source_root() + "/deploy/crds/" + file);
      client->create(kube::kCustomResourceDefinitions, "", *crd);
    }
    // Served as soon as they are established.
    eventually([&] {
      try {
        client->list(kube::kInfisicalSecrets, "default");
        client->list(kube::kInfisicalReferenceGrants, "default");
        return true;
      } catch (const std::exception&) {
        return false;
      }
    });
  }

  // An InfisicalReferenceGrant in `ns` letting InfisicalSecrets of `from_ns` refer to `kind` `name`
  // ("" = any) of `ns`.
  void create_grant(const std::string& ns, const std::string& grant_name, const std::string& from_ns,
                    const std::string& kind, const std::string& name = "") {
    std::string to = R"({"kind":")" + kind + "\"" + (name.empty() ? "" : R"(,"name":")" + name + "\"") + "}";
    client->create(kube::kInfisicalReferenceGrants, ns,
                   *json(R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalReferenceGrant",
                     "metadata":{"name":")" + grant_name + R"("},
                     "spec":{"from":[{"namespace":")" + from_ns + R"("}],"to":[)" + to + "]}}"));
  }

  void create_service_account(const std::string& ns, const std::string& name, const std::string& annotations = "") {
    client->create(kube::kServiceAccounts, ns,
                   *json(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":")" + name +
                         R"(","annotations":{)" + annotations + "}}}"));
  }

  void create_namespace(const std::string& ns) {
    try {
      client->create(kube::kNamespaces, "", *json(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns + "\"}}"));
    } catch (const kube::ApiError& e) {
      if (!e.is_already_exists()) throw;
    }
  }

  void create_credentials(const std::string& ns = "default", const std::string& name = "universal-creds") {
    client->create(kube::kSecrets, ns, *json(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + name +
                                            R"("},"stringData":{"clientId":"test-client-id","clientSecret":"test-client-secret-value"}})"));
  }
  void create_ca_secret(const std::string& ns = "default") {
    core::JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    core::set_string(d, "apiVersion", "v1", a);
    core::set_string(d, "kind", "Secret", a);
    core::set_string(core::ensure_object(d, "metadata", a), "name", "infisical-ca", a);
    core::set_string(core::ensure_object(d, "stringData", a), "ca.crt", inf_sim->ca_pem(), a);
    client->create(kube::kSecrets, ns, d);
  }

  // An InfisicalSecret reading proj/dev/ with universal auth into Secret `target`.
  std::string infisical_secret_json(const std::string& name, const std::string& target,
                                    const std::string& policy = "Orphan", const std::string& extra_annotations = "") {
    return R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret",
      "metadata":{"name":")" + name + R"(","namespace":"default","labels":{"team":"payments"},
        "annotations":{"example.com/note":"copied")" + extra_annotations + R"(}},
      "spec":{"hostAPI":")" + inf_sim->api_url() + R"(","resyncInterval":60,
        "tls":{"caRef":{"secretName":"infisical-ca","secretNamespace":"default","key":"ca.crt"}},
        "authentication":{"universalAuth":{"credentialsRef":{"secretName":"universal-creds","secretNamespace":"default"},
          "secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}}},
        "managedSecretReference":{"secretName":")" + target + R"(","secretNamespace":"default","creationPolicy":")" + policy + R"("}}})";
  }

  // POST to infisical-sim's admin endpoint (fault injection).
  void inf_admin(const std::string& path, const std::string& body) {
    net::TlsOptions tls;
    tls.ca_pem = inf_sim->ca_pem();
    net::HttpClient http(tls);
    net::Request r;
    r.method = "POST";
    std::string base = inf_sim->api_url();
    r.url = base.substr(0, base.size() - 4) + path;  // strip "/api"
    r.headers = {{"Authorization", "Bearer " + inf_sim->admin_token()}, {"Content-Type", "application/json"}};
    r.body = body;
    auto res = http.perform(r);
    if (res.status != 200) throw std::runtime_error("admin " + path + " answered " + std::to_string(res.status) + ": " + res.body);
  }

  kube::ObjectPtr create_cr(const std::string& text) { return client->create(kube::kInfisicalSecrets, "default", *json(text)); }

  kube::ObjectPtr get(const kube::Resource& r, const std::string& name, const std::string& ns = "default") {
    try {
      return client->get(r, ns, name);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) return nullptr;
      throw;
    }
  }

  std::unique_ptr<kubesim::KubeSim> kube_sim;
  std::unique_ptr<kubesim::Modules> kube_modules;
  std::unique_ptr<sim::InfisicalSim> inf_sim;
  std::unique_ptr<kube::Client> client;
  std::unique_ptr<test::RecordingApi> recording;  // over client: what the code under test calls
  std::shared_ptr<spdlog::logger> log;
  core::RealClock inf_clock;
  std::unique_ptr<infisical::Client> inf_client;
  std::unique_ptr<InfisicalSource> source;
  Metrics metrics;
  core::FakeClock clock;
  core::TrustPolicy trust;  // used by make_reconciler
  std::unique_ptr<Reconciler> reconciler;
  std::atomic<int> object_reads{0};
  // When set, the InfisicalSecret cache shows this object whatever the server holds: a watch that
  // has not yet brought the latest write back.
  Object lagging_cr;
};

// Replaces the first `from` in `text` (which must hold it) with `to`: edits of a test's JSON.
inline void replace_once(std::string& text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  text.replace(pos, from.size(), to);
}

// The string members of the object at `path` (labels, annotations, a ConfigMap's data).
inline std::map<std::string, std::string> string_map_at(const core::JsonValue& o,
                                                        std::initializer_list<std::string_view> path) {
  std::map<std::string, std::string> out;
  const auto* m = core::at_path(o, path);
  if (!m || !m->IsObject()) return out;
  for (auto it = m->MemberBegin(); it != m->MemberEnd(); ++it)
    if (it->value.IsString()) out[it->name.GetString()] = it->value.GetString();
  return out;
}

// The Events in namespace default about object `name`, as "Type Reason: message".
inline std::vector<std::string> events_about(SyncerHarness& h, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : h.client->list_all(kube::kEvents, "default").items) {
    const auto* inv = core::member(*e, "involvedObject");
    if (!inv || core::string_or(*inv, "name", "") != name) continue;
    out.push_back(core::string_or(*e, "type", "") + " " + core::string_or(*e, "reason", "") + ": " +
                  core::string_or(*e, "message", ""));
  }
  return out;
}

// Only the Warning Events about `name`, as "Reason: message".
inline std::vector<std::string> warnings(SyncerHarness& h, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : events_about(h, name))
    if (e.starts_with("Warning ")) out.push_back(e.substr(8));
  return out;
}

}  // namespace ifo::syncer::testing
