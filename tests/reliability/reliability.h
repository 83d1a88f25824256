// Shared rig of the reliability suite: kube-sim and infisical-sim in this process (SyncerHarness), the
// real infisical-syncer binary as a child (ChildProcess), and the probes the tests assert with
// (managed Secret snapshots, conditions, kube-sim counters, the syncer's /metrics).
//
// Short form by default (CI); IFO_RELIABILITY_LONG=1 (or `scripts/test --long`) holds every fault
// for a minute and scales the resource counts up.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/conditions.h"
#include "core/constants.h"
#include "syncer_harness.h"
#include "syncer_process.h"

namespace ifo::reliability {

using namespace ifo::syncer::testing;
using Clock = std::chrono::steady_clock;

inline bool long_mode() {
  const char* v = std::getenv("IFO_RELIABILITY_LONG");
  return v && *v && std::string(v) != "0";
}

// The shortest resyncInterval the CRD admits: recovery is asserted against it.
constexpr int kResyncSeconds = 5;

inline std::string build_root() {
  const char* b = std::getenv("IFO_BUILD_ROOT");
  return b ? b : ".";
}
inline std::string syncer_binary() { return build_root() + "/src/syncer/infisical-syncer"; }

inline std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("ifo-reliability-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The values in the seed and the client secret: none may ever show in a condition, event or log.
inline const std::vector<std::string>& sensitive_values() {
  static const std::vector<std::string> v{"db-password-v1-7f3a", "api-key-v1-19c2", "test-client-secret-value"};
  return v;
}

// One project, one environment, two keys at "/"; rate limiting off so only the injected faults count.
inline std::string reliability_seed() {
  return R"({
  "projects": [{"slug": "proj", "name": "Proj",
    "environments": [{"slug": "dev", "name": "Development"}],
    "secrets": [
      {"environment": "dev", "path": "/", "key": "DB_PASSWORD", "value": "db-password-v1-7f3a"},
      {"environment": "dev", "path": "/", "key": "API_KEY", "value": "api-key-v1-19c2"}
    ]}],
  "identities": [{"id": "6b2f8a0e-0000-4000-8000-0000000000a1", "name": "syncer-test", "projects": ["proj"],
    "accessTokenTTL": 3600, "accessTokenMaxTTL": 86400,
    "universalAuth": {"clientId": "test-client-id", "clientSecret": "test-client-secret-value"}}],
  "rateLimits": {"mode": "off"}
})";
}

// A managed Secret as a reader sees it: what must stay byte-for-byte the same during an outage.
struct SecretSnapshot {
  bool exists = false;
  std::string resource_version;
  std::string data;  // the data member as JSON text
  std::string type;
  std::string annotations;
  bool operator==(const SecretSnapshot&) const = default;
};

// A workload's rollout-relevant state.
struct WorkloadSnapshot {
  int64_t generation = -1;
  std::string template_annotations;
  std::string baseline;  // metadata annotation secrets.infisical.com/rollout-baseline ("" when absent)
  bool operator==(const WorkloadSnapshot&) const = default;
};

struct ConditionView {
  std::string status, reason, message;
};

// Writes kube-sim committed (not attempts: a 409 or an injected error commits nothing), counted as
// "ADDED secrets default/managed-0" -> n, from the store's observer.
class CommittedWrites {
 public:
  void record(const kubesim::WriteEvent& e) {
    if (!e.object) return;
    const auto* name = core::at_path(e.object->value(), {"metadata", "name"});
    std::string key = fmt::format("{} {} {}/{}", kubesim::event_type_name(e.type), e.resource, e.ns,
                                  name && name->IsString() ? name->GetString() : "");
    std::lock_guard lock(mu_);
    ++counts_[key];
  }
  // Committed creates + updates of the Secrets whose name starts with prefix.
  int64_t secret_writes(const std::string& prefix = "managed-") const {
    std::lock_guard lock(mu_);
    int64_t n = 0;
    for (const auto& [k, v] : counts_)
      for (const char* type : {"ADDED secrets ", "MODIFIED secrets "})
        if (k.starts_with(std::string(type) + "default/" + prefix)) n += v;
    return n;
  }
  int64_t count(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(key);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> counts_;
};

class Rig {
 public:
  // kube-sim drops idle keep-alive connections after 1 s, so that its stop() (a restart) is prompt.
  static kubesim::Options kube_options() {
    kubesim::Options o;
    o.keep_alive_timeout_seconds = 1;
    return o;
  }
  explicit Rig(const std::string& seed = reliability_seed()) : h(seed, kube_options()) {
    h.kube_sim->store().add_observer([w = committed](const kubesim::WriteEvent& e) { w->record(e); });
    std::ofstream(kubeconfig) << h.kube_sim->kubeconfig();
    h.create_ca_secret();
    h.create_credentials();
  }
  ~Rig() { syncer.reset(); }

  // An InfisicalSecret reading proj/dev/ into Secret `target`, resynced every kResyncSeconds.
  void add_cr(const std::string& name, const std::string& target, const std::string& ns = "default") {
    h.client->create(kube::kInfisicalSecrets, ns, *json(fmt::format(
        R"({{"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","metadata":{{"name":"{}","namespace":"{}"}},
        "spec":{{"hostAPI":"{}","resyncInterval":{},
          "tls":{{"caRef":{{"secretName":"infisical-ca","secretNamespace":"default","key":"ca.crt"}}}},
          "authentication":{{"universalAuth":{{"credentialsRef":{{"secretName":"universal-creds","secretNamespace":"default"}},
            "secretsScope":{{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}}}}}},
          "managedSecretReference":{{"secretName":"{}","secretNamespace":"{}"}}}}}})",
        name, ns, h.inf_sim->api_url(), kResyncSeconds, target, ns)));
  }

  // An opted-in Deployment whose container reads `key` of Secret `secret` through secretKeyRef.
  void add_consumer(const std::string& name, const std::string& secret, const std::string& key,
                    bool opted_in = true) {
    std::string ann = opted_in ? R"("annotations":{"secrets.infisical.com/auto-reload":"true"},)" : "";
    h.client->create(kube::kDeployments, "default", *json(fmt::format(
        R"({{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{0}",{1}"labels":{{"app":"{0}"}}}},
        "spec":{{"replicas":1,"selector":{{"matchLabels":{{"app":"{0}"}}}},"template":{{"metadata":{{"labels":{{"app":"{0}"}}}},
        "spec":{{"containers":[{{"name":"app","image":"busybox","env":[{{"name":"X","valueFrom":{{"secretKeyRef":{{"name":"{2}","key":"{3}"}}}}}}]}}]}}}}}}}})",
        name, ann, secret, key)));
  }

  void start_syncer(const std::string& log_name, const std::vector<std::string>& extra = {}) {
    log_path = temp_path(log_name);
    std::remove(log_path.c_str());
    std::vector<std::string> a{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=127.0.0.1:0",
                               "--health-probe-bind-address=127.0.0.1:0", "--workers=4", "--log-format=json",
                               "--log-level=info", "--infisical-request-timeout=1s",
                               // infisical-sim listens on loopback: allowed by configuration, as an admin would.
                               "--allowed-hosts=127.0.0.1", "--allowed-address-ranges=127.0.0.0/8"};
    a.insert(a.end(), extra.begin(), extra.end());
    syncer = std::make_unique<ChildProcess>(syncer_binary(), a, log_path);
    REQUIRE(eventually([&] { return syncer->port_of("metrics").has_value(); }, std::chrono::seconds(30)));
    metrics_port = *syncer->port_of("metrics");
  }

  double metric(const std::string& series) const { return scrape(metrics_port, series); }

  SecretSnapshot secret(const std::string& name, const std::string& ns = "default") {
    SecretSnapshot s;
    auto o = h.get(kube::kSecrets, name, ns);
    if (!o) return s;
    s.exists = true;
    s.resource_version = core::string_or(*core::member(*o, "metadata"), "resourceVersion", "");
    if (const auto* d = core::member(*o, "data")) s.data = core::to_json(*d);
    s.type = core::string_or(*o, "type", "");
    if (const auto* a = core::at_path(*o, {"metadata", "annotations"})) s.annotations = core::to_json(*a);
    return s;
  }

  // The decoded value of one key of a Secret ("" when absent).
  std::string secret_value(const std::string& name, const std::string& key, const std::string& ns = "default") {
    auto o = h.get(kube::kSecrets, name, ns);
    if (!o) return "";
    const auto* v = core::at_path(*o, {"data", key});
    if (!v || !v->IsString()) return "";
    auto d = core::base64_decode(v->GetString());
    return d ? *d : "";
  }

  WorkloadSnapshot workload(const std::string& name) {
    WorkloadSnapshot w;
    auto o = h.get(kube::kDeployments, name);
    if (!o) return w;
    w.generation = core::get_int(*core::member(*o, "metadata"), "generation").value_or(-1);
    if (const auto* a = core::at_path(*o, {"spec", "template", "metadata", "annotations"})) w.template_annotations = core::to_json(*a);
    if (const auto* a = core::at_path(*o, {"metadata", "annotations"}))
      w.baseline = core::string_or(*a, core::kRolloutBaselineAnnotation, "");
    return w;
  }

  std::optional<ConditionView> condition(const std::string& cr, const std::string& type, const std::string& ns = "default") {
    auto o = h.get(kube::kInfisicalSecrets, cr, ns);
    if (!o) return std::nullopt;
    const auto* c = core::at_path(*o, {"status", "conditions"});
    if (!c) return std::nullopt;
    auto conds = core::conditions_from_json(*c);
    const auto* f = core::find_condition(conds, type);
    if (!f) return std::nullopt;
    return ConditionView{f->status, f->reason, f->message};
  }
  bool ready(const std::string& cr) {
    auto c = condition(cr, "Ready");
    return c && c->status == "True";
  }
  // The whole status of every InfisicalSecret, and every event: what users read.
  std::string user_visible_text() {
    std::string out = core::to_json(*h.client->request("GET", "/api/v1/events"));
    for (const auto& cr : h.client->list(kube::kInfisicalSecrets, "").items)
      if (const auto* s = core::member(*cr, "status")) out += core::to_json(*s);
    return out;
  }
  int leaks(const std::string& text, const std::vector<std::string>& extra = {}) {
    int n = 0;
    for (const auto& v : sensitive_values())
      if (text.find(v) != std::string::npos) ++n;
    for (const auto& v : extra)
      if (text.find(v) != std::string::npos) ++n;
    return n;
  }

  // kube-sim's admin endpoint.
  std::string kube_admin(const std::string& method, const std::string& path, const std::string& body = "") {
    net::TlsOptions tls;
    tls.ca_pem = h.kube_sim->ca_pem();
    net::HttpClient http(tls);
    net::Request r;
    r.method = method;
    r.url = h.kube_sim->url() + path;
    r.headers = {{"Authorization", "Bearer " + h.kube_sim->admin_token()}, {"Content-Type", "application/json"}};
    r.body = body;
    auto res = http.perform(r);
    if (res.status != 200) throw std::runtime_error("kube-sim admin " + path + " answered " + std::to_string(res.status) + ": " + res.body);
    return res.body;
  }
  // kube-sim's request counters ("update secrets" -> n), every attempt including injected failures.
  std::map<std::string, int64_t> kube_counters() {
    auto doc = json(kube_admin("GET", "/sim/counters"));
    std::map<std::string, int64_t> out;
    if (const auto* c = core::member(*doc, "counters"); c && c->IsObject())
      for (auto it = c->MemberBegin(); it != c->MemberEnd(); ++it)
        if (it->value.IsInt64()) out[it->name.GetString()] = it->value.GetInt64();
    return out;
  }

  // Infisical requests the syncer made, by its own count (also when nothing answered).
  double infisical_requests() const { return metric("infisical_syncer_infisical_requests_total"); }

  std::shared_ptr<CommittedWrites> committed = std::make_shared<CommittedWrites>();
  SyncerHarness h;
  std::string kubeconfig = temp_path("kubeconfig");
  std::string log_path;
  std::unique_ptr<ChildProcess> syncer;
  int metrics_port = 0;
};

// Lines of the syncer's log that mention any sensitive value.
inline int log_leaks(const std::string& log) {
  int n = 0;
  for (const auto& v : sensitive_values())
    if (log.find(v) != std::string::npos) ++n;
  return n;
}

}  // namespace ifo::reliability
