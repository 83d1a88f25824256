// bench/syncer-scale: the syncer at scale against kube-sim and infisical-sim.
//
// Starts both simulators (infisical-sim over TLS with 20 ms added latency per request), seeds I
// universal-auth identities and S scopes (project/env/path, 4 keys each), creates N InfisicalSecrets
// and N consuming Deployments through the API (concurrently, no kubectl), starts the syncer and
// prints: time until all are Ready, Infisical requests by kind, Kubernetes requests by verb, the
// syncer's peak RSS and CPU seconds, and the rollouts the install caused (none: baselines only); then
// the same counters for three resync intervals with nothing changed; then, after one secret of one
// scope changes, the time until every Deployment that consumes that key has a new revision and the
// number of rollouts. Last, what the upstream
// operator's documented behaviour would cost on the same work, and PASS/FAIL against the targets.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/constants.h"
#include "core/json.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/errors.h"
#include "net/http_client.h"
#include "syncer/config.h"
#include "yaml_json.h"

namespace {

using namespace ifo;
using Clock = std::chrono::steady_clock;

constexpr int kKeysPerScope = 4;
constexpr int kScopesPerProject = 10;
constexpr int kResourcesPerNamespace = 100;
constexpr const char* kCredentialsNamespace = "bench-credentials";
constexpr const char* kOperatorNamespace = "infisical-operator-system";
constexpr int kTokenTtlSeconds = 7200;
// The syncer's own default (tests/unit/syncer_config_test.cpp holds it equal to the chart's syncer.workers).
const int kSyncerDefaultWorkers = syncer::Config{}.workers;

struct Options {
  int resources = 1000;
  int identities = 50;
  int scopes = 100;
  int interval = 60;
  int workers = 0;   // 0: the syncer's default, which is the chart's (charts/infisical-secrets-operator/values.yaml)
  int kube_qps = 0;  // 0: likewise
  int infisical_rpm = 240;
  int latency_ms = 20;
  // Added by kube-sim to every API request from the syncer's start on (0: none): a real API server's
  // write takes milliseconds (etcd commits to disk through raft), kube-sim's a fraction of one.
  int kube_latency_ms = 0;
  int ready_timeout = 600;
  // "": start kube-sim; otherwise run against the cluster this kubeconfig names (bench-* namespaces).
  std::string kubeconfig;
  // "off" (Infisical Cloud as the bench models it) or "self-hosted": infisical-sim's default limits of a
  // self-hosted server (per route and client, fixed 60 s windows; 40/min on the secrets routes),
  // refused with 500 plus retry-after and x-ratelimit-* headers, as the OSS build of 2024-10 answers.
  std::string infisical_limits = "off";
  int writer_connections = 0;  // the writer baseline's connections; 0: as many as the syncer's workers
  std::string build_dir;
  std::string source_dir;
  std::string work_dir;
  std::vector<std::string> syncer_args;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "syncer-scale: %s\n", msg.c_str());
  std::exit(1);
}

double secs_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) die("cannot write " + path);
}

// Polls `cond` every 100 ms until it holds or `seconds` pass.
bool wait_until(double seconds, const std::function<bool()>& cond) {
  auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return cond();
}

// ---------------------------------------------------------------------------------------------
// Child processes and /proc figures.

struct Child {
  std::string name;
  pid_t pid = -1;
};

std::vector<Child> g_children;

Child spawn(const std::string& name, const std::string& binary, const std::vector<std::string>& args,
            const std::string& log_path) {
  std::vector<std::string> argv_s{binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    std::fprintf(stderr, "exec %s failed\n", binary.c_str());
    _exit(127);
  }
  Child c{name, pid};
  g_children.push_back(c);
  return c;
}

// Stops the children last-started first (the syncer before the simulators it talks to), each one
// waited for before the next gets its signal.
void stop_child(Child& c) {
  if (c.pid <= 0) return;
  kill(c.pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(c.pid, nullptr, WNOHANG) == c.pid) {
      c.pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(c.pid, SIGKILL);
  waitpid(c.pid, nullptr, 0);
  c.pid = -1;
}

void stop_children() {
  for (auto it = g_children.rbegin(); it != g_children.rend(); ++it) stop_child(*it);
}

// Stops the child `pid` (started by spawn) now rather than at the end.
void stop_child_now(pid_t pid) {
  for (auto& c : g_children)
    if (c.pid == pid) stop_child(c);
}

bool alive(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

struct ProcFigures {
  double cpu_seconds = 0;  // utime + stime
  long hwm_kib = 0;        // VmHWM
  long rss_kib = 0;        // VmRSS
};

ProcFigures proc_figures(pid_t pid) {
  ProcFigures f;
  std::string stat = read_file(fmt::format("/proc/{}/stat", pid));
  auto close_paren = stat.rfind(')');
  if (close_paren != std::string::npos) {
    std::istringstream in(stat.substr(close_paren + 2));
    std::vector<std::string> fields;
    std::string tok;
    while (in >> tok) fields.push_back(tok);
    // After "pid (comm) ": state is field 3; utime/stime are fields 14/15 (indices 11/12 here).
    if (fields.size() > 12)
      f.cpu_seconds = static_cast<double>(std::stoll(fields[11]) + std::stoll(fields[12])) /
                      static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::istringstream status(read_file(fmt::format("/proc/{}/status", pid)));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) f.hwm_kib = std::stol(line.substr(6));
    if (line.rfind("VmRSS:", 0) == 0) f.rss_kib = std::stol(line.substr(6));
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// JSON helpers.

using test::yaml_to_json;

std::shared_ptr<core::JsonDoc> parse(const std::string& text) {
  auto r = core::parse_json(text);
  if (!r) die("internal JSON error: " + r.error());
  return *r;
}

std::string json_quote(std::string_view s) {
  core::JsonDoc d;
  core::JsonValue v = core::json_string(s, d.GetAllocator());
  return core::to_json(v);
}

std::map<std::string, int64_t> int_map(const core::JsonValue* obj) {
  std::map<std::string, int64_t> out;
  if (!obj || !obj->IsObject()) return out;
  for (auto it = obj->MemberBegin(); it != obj->MemberEnd(); ++it)
    if (it->value.IsInt64()) out[it->name.GetString()] = it->value.GetInt64();
  return out;
}

std::map<std::string, int64_t> diff(const std::map<std::string, int64_t>& after,
                                    const std::map<std::string, int64_t>& before) {
  std::map<std::string, int64_t> out;
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    int64_t d = v - (it == before.end() ? 0 : it->second);
    if (d != 0) out[k] = d;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The scenario's names.

struct Layout {
  int n, identities, scopes;
  int namespaces() const { return (n + kResourcesPerNamespace - 1) / kResourcesPerNamespace; }
  static std::string ns_name(int j) { return fmt::format("bench-{}", j); }
  std::string ns_of(int i) const { return ns_name(i / kResourcesPerNamespace); }
  int scope_of(int i) const { return i % scopes; }
  int identity_of_scope(int s) const { return s % identities; }
  static std::string project_of(int s) { return fmt::format("proj-{}", s / kScopesPerProject); }
  static std::string path_of(int s) { return fmt::format("/svc-{}", s % kScopesPerProject); }
  static std::string key_name(int k) { return fmt::format("KEY_{}", k); }
  // Deployment i reads two of its scope's four keys, varying within a scope.
  std::pair<int, int> consumed_keys(int i) const {
    int a = (i / scopes) % kKeysPerScope;
    return {a, (a + 1) % kKeysPerScope};
  }
  static std::string name_of(int i) { return fmt::format("app-{}", i); }
  static std::string secret_of(int i) { return fmt::format("app-{}-env", i); }
  static std::string identity_id(int j) { return fmt::format("00000000-0000-4000-8000-{:012d}", j); }
  static std::string client_id(int j) { return fmt::format("bench-client-{}", j); }
  static std::string client_secret(int j) { return fmt::format("bench-secret-{}-7f3a9c2e5b1d", j); }
  static std::string credentials_secret(int j) { return fmt::format("identity-{}", j); }
};

std::string seed_json(const Layout& l, bool self_hosted_limits) {
  // Without "limits", infisical-sim applies its defaults: the observed self-hosted per-route limits.
  std::string out = self_hosted_limits ? R"({"rateLimits":{"mode":"500","by":"ip"},"projects":[)"
                                       : R"({"rateLimits":{"mode":"off"},"projects":[)";
  int projects = (l.scopes + kScopesPerProject - 1) / kScopesPerProject;
  for (int p = 0; p < projects; ++p) {
    if (p) out += ",";
    out += fmt::format(R"({{"slug":"proj-{}","name":"Bench project {}","environments":[{{"slug":"prod","name":"Production"}}],"secrets":[)", p, p);
    bool first = true;
    for (int s = p * kScopesPerProject; s < std::min(l.scopes, (p + 1) * kScopesPerProject); ++s) {
      for (int k = 0; k < kKeysPerScope; ++k) {
        if (!first) out += ",";
        first = false;
        out += fmt::format(R"({{"environment":"prod","path":"{}","key":"{}","value":"value-{}-{}-v1"}})",
                           Layout::path_of(s), Layout::key_name(k), s, k);
      }
    }
    out += "]}";
  }
  out += R"(],"identities":[)";
  for (int j = 0; j < l.identities; ++j) {
    if (j) out += ",";
    out += fmt::format(R"({{"id":"{}","name":"bench-identity-{}","projects":[)", Layout::identity_id(j), j);
    for (int p = 0; p < projects; ++p) out += fmt::format("{}\"proj-{}\"", p ? "," : "", p);
    out += fmt::format(R"(],"accessTokenTTL":{},"accessTokenMaxTTL":86400,"universalAuth":{{"clientId":"{}","clientSecret":"{}"}}}})",
                       kTokenTtlSeconds, Layout::client_id(j), Layout::client_secret(j));
  }
  out += "]}";
  return out;
}

std::string infisical_secret_json(const Layout& l, int i, const std::string& host_api, int interval) {
  int s = l.scope_of(i);
  return fmt::format(
      R"({{"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","metadata":{{"name":"{}","namespace":"{}"}},)"
      R"("spec":{{"hostAPI":{},"resyncInterval":{},"tls":{{"caRef":{{"secretName":"infisical-ca","secretNamespace":"{}","key":"ca.crt"}}}},)"
      R"("authentication":{{"universalAuth":{{"credentialsRef":{{"secretName":"{}","secretNamespace":"{}"}},)"
      R"("secretsScope":{{"projectSlug":"{}","envSlug":"prod","secretsPath":"{}"}}}}}},)"
      R"("managedSecretReference":{{"secretName":"{}","secretNamespace":"{}"}}}}}})",
      Layout::name_of(i), l.ns_of(i), json_quote(host_api), interval, kCredentialsNamespace,
      Layout::credentials_secret(l.identity_of_scope(s)), kCredentialsNamespace, Layout::project_of(s),
      Layout::path_of(s), Layout::secret_of(i), l.ns_of(i));
}

// replicas 0 against a real cluster: the Deployments get revisions but schedule no pods.
std::string deployment_json(const Layout& l, int i, int replicas) {
  auto [a, b] = l.consumed_keys(i);
  std::string name = Layout::name_of(i);
  return fmt::format(
      R"({{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{0}","namespace":"{1}","annotations":{{"secrets.infisical.com/auto-reload":"true"}}}},)"
      R"("spec":{{"replicas":{5},"selector":{{"matchLabels":{{"app":"{0}"}}}},"template":{{"metadata":{{"labels":{{"app":"{0}"}}}},)"
      R"("spec":{{"containers":[{{"name":"app","image":"registry.example/app:1.0","env":[)"
      R"({{"name":"{3}","valueFrom":{{"secretKeyRef":{{"name":"{2}","key":"{3}"}}}}}},)"
      R"({{"name":"{4}","valueFrom":{{"secretKeyRef":{{"name":"{2}","key":"{4}"}}}}}}]}}]}}}}}}}})",
      name, l.ns_of(i), Layout::secret_of(i), Layout::key_name(a), Layout::key_name(b), replicas);
}

// ---------------------------------------------------------------------------------------------
// Counters of the three processes.

struct Snapshot {
  Clock::time_point at;
  std::map<std::string, int64_t> kube;       // "verb resource" -> n
  std::map<std::string, int64_t> infisical;  // "METHOD /route STATUS" -> n
  ProcFigures syncer, kube_sim, infisical_sim;
  ProcFigures driver;  // this program: its watches and counters share the cores with the syncer
  int64_t infisical_max_in_flight = 0;  // the most Infisical requests in progress at once since the reset
};

struct Sims {
  kube::Client* kube = nullptr;
  net::HttpClient* http = nullptr;
  std::string infisical_api;  // https://127.0.0.1:PORT/api
  std::string infisical_admin;
  std::string infisical_ca;
  pid_t syncer = -1, kube_sim = -1, infisical_sim = -1;

  net::Response infisical_admin_call(const std::string& method, const std::string& path, const std::string& body) {
    net::Request r;
    r.method = method;
    r.url = infisical_api.substr(0, infisical_api.size() - 4) + path;
    r.headers.push_back({"Authorization", "Bearer " + infisical_admin});
    if (!body.empty()) {
      r.headers.push_back({"Content-Type", "application/json"});
      r.body = body;
    }
    auto res = http->perform(r);
    if (res.status != 200) die(fmt::format("infisical-sim {} {} answered {}", method, path, res.status));
    return res;
  }

  Snapshot snapshot() {
    Snapshot s;
    s.at = Clock::now();
    if (kube_sim > 0) {  // against a real cluster there are no server-side counters
      auto k = kube->request("GET", "/sim/counters");
      s.kube = int_map(core::member(*k, "counters"));
    }
    auto inf = parse(infisical_admin_call("GET", "/sim/counters", "").body);
    s.infisical = int_map(core::member(*inf, "byRouteStatus"));
    if (const core::JsonValue* m = core::member(*inf, "maxInFlight"); m && m->IsInt64())
      s.infisical_max_in_flight = m->GetInt64();
    if (syncer > 0) s.syncer = proc_figures(syncer);
    if (kube_sim > 0) s.kube_sim = proc_figures(kube_sim);
    s.infisical_sim = proc_figures(infisical_sim);
    s.driver = proc_figures(getpid());
    return s;
  }
};

struct InfisicalKinds {
  int64_t logins = 0, renewals = 0, project_lookups = 0, fetch_200 = 0, fetch_304 = 0, other = 0, errors = 0;
  int64_t refusals = 0;  // 429 or 500: rate-limit answers when the limits are on (a fetch refused is no fetch)
  int64_t fetches() const { return fetch_200 + fetch_304; }
  int64_t total() const { return logins + renewals + project_lookups + fetches() + other; }
};

InfisicalKinds classify(const std::map<std::string, int64_t>& by_route_status) {
  InfisicalKinds k;
  for (const auto& [label, n] : by_route_status) {
    auto sp = label.rfind(' ');
    std::string route = label.substr(0, sp);
    int status = std::atoi(label.c_str() + sp + 1);
    if (status >= 400) k.errors += n;
    if (status == 429 || status == 500) k.refusals += n;
    if (route.find("/auth/token/renew") != std::string::npos) k.renewals += n;
    else if (route.find("/login") != std::string::npos) k.logins += n;
    else if (route.find("/workspace/") != std::string::npos || route.find("/projects/") != std::string::npos)
      k.project_lookups += n;
    else if (route.find("/secrets/raw") != std::string::npos) {
      if (status == 304) k.fetch_304 += n;
      else if (status < 400) k.fetch_200 += n;
    } else k.other += n;
  }
  return k;
}

// infisical-sim's default per-route limits per minute (tests/sim/infisical/README.md), which are the
// observed self-hosted ones: `secrets` 40, `reads` (project lookups, service tokens) 60, `writes`
// (logins, renewals) 200. 0: the route is not limited.
int route_limit_per_minute(const std::string& route) {
  if (route.find("/secrets/raw") != std::string::npos) return 40;
  if (route.find("/workspace/") != std::string::npos || route.find("/service-token") != std::string::npos) return 60;
  if (route.find("/auth/") != std::string::npos) return 200;
  return 0;
}

// The shortest time in which the limits let the answered requests through. Each route has its own
// window, so the routes proceed side by side and the floor is the slowest route's: n requests at L
// per minute take n / L minutes at an even pace (the issue's "about 2.5 minutes" for 100 fetches at
// 40/min). A fixed window admits L at once, so a client bursting at each window's start could finish
// in floor((n - 1) / L) whole windows (2 minutes for 100 at 40); both are printed. A route that needs
// no more than L requests does not bind (floor 0).
struct LimitsFloor {
  double even_seconds = 0, burst_seconds = 0;
  std::string detail;
};

// `scopes`: the fetches the initial sync needs, one per scope. The answered fetches can be more (the
// first scopes come due for their refresh before the last one is fetched), and those refreshes are no
// part of what Ready needed.
LimitsFloor limits_floor(const std::map<std::string, int64_t>& by_route_status, int64_t scopes) {
  std::map<std::string, int64_t> answered;
  for (const auto& [label, n] : by_route_status) {
    auto sp = label.rfind(' ');
    if (std::atoi(label.c_str() + sp + 1) < 400) answered[label.substr(0, sp)] += n;
  }
  LimitsFloor f;
  for (auto [route, n] : answered) {
    if (route == "GET /api/v3/secrets/raw") n = std::min(n, scopes);
    const int limit = route_limit_per_minute(route);
    if (limit <= 0 || n <= 0) continue;
    const double even = n > limit ? 60.0 * static_cast<double>(n) / limit : 0.0;
    const double burst = 60.0 * static_cast<double>((n - 1) / limit);
    f.even_seconds = std::max(f.even_seconds, even);
    f.burst_seconds = std::max(f.burst_seconds, burst);
    f.detail += fmt::format("{}{} {} at {}/min = {:.0f} s", f.detail.empty() ? "" : "; ", route, n, limit, even);
  }
  return f;
}

struct KubeVerbs {
  std::map<std::string, int64_t> by_verb;
  int64_t writes = 0, total = 0;
};

KubeVerbs kube_verbs(const std::map<std::string, int64_t>& d) {
  KubeVerbs v;
  for (const auto& [label, n] : d) {
    auto sp = label.find(' ');
    if (sp == std::string::npos) continue;  // simulator-internal counts such as "rollouts"
    std::string verb = label.substr(0, sp);
    v.by_verb[verb] += n;
    v.total += n;
    if (verb == "create" || verb == "update" || verb == "patch" || verb == "delete" || verb == "deletecollection" ||
        verb == "apply")
      v.writes += n;
  }
  return v;
}

std::string fmt_map(const std::map<std::string, int64_t>& m) {
  std::string out;
  for (const auto& [k, v] : m) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", k, v);
  return out.empty() ? "none" : out;
}

void print_window(const std::string& title, const Snapshot& a, const Snapshot& b) {
  auto inf = classify(diff(b.infisical, a.infisical));
  auto kd = diff(b.kube, a.kube);
  auto kv = kube_verbs(kd);
  std::map<std::string, int64_t> requests;
  for (const auto& [k, n] : kd)
    if (k.find(' ') != std::string::npos) requests[k] = n;
  std::printf("%s (%.1f s)\n", title.c_str(), std::chrono::duration<double>(b.at - a.at).count());
  std::printf("  Infisical requests: %lld total; logins %lld, token renewals %lld, project lookups %lld, "
              "fetches %lld (200: %lld, 304: %lld), other %lld, errors %lld\n",
              (long long)inf.total(), (long long)inf.logins, (long long)inf.renewals, (long long)inf.project_lookups,
              (long long)inf.fetches(), (long long)inf.fetch_200, (long long)inf.fetch_304, (long long)inf.other,
              (long long)inf.errors);
  std::printf("  Kubernetes requests: %lld total, %lld writes; by verb: %s\n", (long long)kv.total,
              (long long)kv.writes, fmt_map(kv.by_verb).c_str());
  std::printf("    by verb and resource: %s\n", fmt_map(requests).c_str());
  std::printf("  CPU seconds: syncer %.2f, kube-sim %.2f, infisical-sim %.2f, this driver %.2f\n",
              b.syncer.cpu_seconds - a.syncer.cpu_seconds, b.kube_sim.cpu_seconds - a.kube_sim.cpu_seconds,
              b.infisical_sim.cpu_seconds - a.infisical_sim.cpu_seconds,
              b.driver.cpu_seconds - a.driver.cpu_seconds);
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// Watches the driver keeps open (opened outside the measured windows, so their requests are in
// none of them): InfisicalSecrets' Ready from before the syncer starts, Deployments' revisions from
// after the initial sync.

class Tracker {
 public:
  Tracker(kube::Client& client, const kube::Resource& resource, std::function<std::string(const core::JsonValue&)> value)
      : client_(client), resource_(resource), value_(std::move(value)) {}
  ~Tracker() { stop(); }

  void start() {
    auto l = client_.list_all(resource_, "", {});
    {
      std::lock_guard lock(mu_);
      for (const auto& o : l.items) record(*o);
    }
    rv_ = l.resource_version;
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::map<std::string, std::string> values() const {
    std::lock_guard lock(mu_);
    return values_;
  }
  std::map<std::string, Clock::time_point> changed_at() const {
    std::lock_guard lock(mu_);
    return changed_at_;
  }
  int64_t count_equal(const std::string& v) const {
    std::lock_guard lock(mu_);
    return std::count_if(values_.begin(), values_.end(), [&](const auto& kv) { return kv.second == v; });
  }

 private:
  void record(const core::JsonValue& o) {
    std::string ns = core::string_or(*core::at_path(o, {"metadata"}), "namespace", "");
    std::string name = core::string_or(*core::at_path(o, {"metadata"}), "name", "");
    std::string v = value_(o);
    std::string key = ns + "/" + name;
    auto it = values_.find(key);
    if (it == values_.end() || it->second != v) {
      values_[key] = v;
      changed_at_[key] = Clock::now();
    }
  }
  void run() {
    while (!stop_) {
      try {
        kube::WatchOptions wo;
        wo.resource_version = rv_;
        wo.timeout_seconds = 3600;
        wo.cancel = &stop_;
        client_.watch(resource_, "", wo, [&](kube::WatchEvent& ev) {
          if (ev.type == kube::WatchEvent::Type::kError) return false;
          std::string rv = ev.resource_version();
          if (!rv.empty()) rv_ = rv;
          if (ev.type == kube::WatchEvent::Type::kAdded || ev.type == kube::WatchEvent::Type::kModified) {
            std::lock_guard lock(mu_);
            record(*ev.object);
          }
          return !stop_.load();
        });
      } catch (const std::exception& e) {
        if (stop_) return;
        std::fprintf(stderr, "syncer-scale: watch %s: %s (resuming)\n", std::string(resource_.resource).c_str(), e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  }

  kube::Client& client_;
  const kube::Resource& resource_;
  std::function<std::string(const core::JsonValue&)> value_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> values_;
  std::map<std::string, Clock::time_point> changed_at_;
  std::string rv_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string ready_status(const core::JsonValue& o) {
  const core::JsonValue* conds = core::at_path(o, {"status", "conditions"});
  if (!conds || !conds->IsArray()) return "";
  for (const auto& c : conds->GetArray())
    if (core::string_or(c, "type", "") == "Ready") return core::string_or(c, "status", "");
  return "";
}

// metadata.generation: it moves when the spec (the pod template) is written, not the metadata.
std::string generation(const core::JsonValue& o) {
  const core::JsonValue* g = core::at_path(o, {"metadata", "generation"});
  return g && g->IsInt64() ? std::to_string(g->GetInt64()) : "";
}

std::string revision(const core::JsonValue& o) {
  const core::JsonValue* r = core::at_path(o, {"metadata", "annotations", "deployment.kubernetes.io/revision"});
  return r && r->IsString() ? r->GetString() : "";
}

// Every Deployment's generation and revision, from one list: the install's rollouts are compared only
// before and after the initial sync, and both figures only ever grow, so no watch is open while the
// syncer is measured (each watch is one more copy of every Deployment event for the server to send
// and this driver to parse, on the cores the syncer uses).
struct DeploymentMarks {
  std::map<std::string, std::string> generations, revisions;
};
DeploymentMarks marks_of_deployments(kube::Client& client) {
  DeploymentMarks out;
  for (const auto& d : client.list_all(kube::kDeployments, "", {}).items) {
    const std::string key = core::string_or(*core::at_path(*d, {"metadata"}), "namespace", "") + "/" +
                            core::string_or(*core::at_path(*d, {"metadata"}), "name", "");
    out.generations[key] = generation(*d);
    out.revisions[key] = revision(*d);
  }
  return out;
}

// Runs fn(i) for i in [0, n) on `threads` threads; the first exception is rethrown.
void parallel_for(int n, int threads, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::mutex mu;
  std::exception_ptr error;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        try {
          fn(i);
        } catch (...) {
          std::lock_guard lock(mu);
          if (!error) error = std::current_exception();
          next = n;
        }
      }
    });
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

void create_ignoring_exists(kube::Client& c, const kube::Resource& r, const std::string& ns, const std::string& json) {
  try {
    c.create(r, ns, *parse(json));
  } catch (const kube::ApiError& e) {
    if (!e.is_already_exists()) throw;
  }
}

int parse_int_flag(const std::string& flag, const std::string& v, int min, int max) {
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < min || n > max)
    die(fmt::format("{}: expected an integer in [{}, {}], got \"{}\"", flag, min, max, v));
  return static_cast<int>(n);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--resources") o.resources = parse_int_flag(a, value(), 1, 100000);
    else if (a == "--identities") o.identities = parse_int_flag(a, value(), 1, 10000);
    else if (a == "--scopes") o.scopes = parse_int_flag(a, value(), 1, 10000);
    else if (a == "--interval") o.interval = parse_int_flag(a, value(), 5, 3600);
    else if (a == "--workers") o.workers = parse_int_flag(a, value(), 1, 256);
    else if (a == "--kube-api-qps") o.kube_qps = parse_int_flag(a, value(), 1, 100000);
    else if (a == "--infisical-requests-per-minute") o.infisical_rpm = parse_int_flag(a, value(), 1, 1000000);
    else if (a == "--latency-ms") o.latency_ms = parse_int_flag(a, value(), 0, 10000);
    else if (a == "--kube-latency-ms") o.kube_latency_ms = parse_int_flag(a, value(), 0, 1000);
    else if (a == "--ready-timeout") o.ready_timeout = parse_int_flag(a, value(), 1, 7200);
    else if (a == "--build-dir") o.build_dir = value();
    else if (a == "--source-dir") o.source_dir = value();
    else if (a == "--work-dir") o.work_dir = value();
    else if (a == "--syncer-arg") o.syncer_args.push_back(value());
    else if (a == "--kubeconfig") o.kubeconfig = value();
    else if (a == "--infisical-limits") {
      o.infisical_limits = value();
      if (o.infisical_limits != "off" && o.infisical_limits != "self-hosted")
        die("--infisical-limits: expected \"off\" or \"self-hosted\", got \"" + o.infisical_limits + "\"");
    } else if (a == "--writer-connections") o.writer_connections = parse_int_flag(a, value(), 1, 256);
    else die("unknown flag " + a + " (see bench/syncer-scale/README.md)");
  }
  if (o.build_dir.empty() || o.source_dir.empty() || o.work_dir.empty())
    die("--build-dir, --source-dir and --work-dir are required (bench/syncer-scale/run sets them)");
  if (o.scopes > o.resources) die("--scopes must not exceed --resources");
  if (o.identities > o.scopes) die("--identities must not exceed --scopes (each scope is read by one identity)");
  return o;
}

std::string machine_line() {
  std::string model;
  std::istringstream cpu(read_file("/proc/cpuinfo"));
  std::string line;
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  long mem_kib = 0;
  std::istringstream mem(read_file("/proc/meminfo"));
  while (std::getline(mem, line))
    if (line.rfind("MemTotal:", 0) == 0) mem_kib = std::stol(line.substr(9));
  std::string load = read_file("/proc/loadavg");
  load = load.substr(0, load.find(' ', load.find(' ', load.find(' ') + 1) + 1));
  return fmt::format("machine: {} CPUs ({}), {:.1f} GiB RAM, load average {}", sysconf(_SC_NPROCESSORS_ONLN), model,
                     static_cast<double>(mem_kib) / 1048576.0, load);
}

// ---------------------------------------------------------------------------------------------
// The API server's own write throughput: a plain parallel writer of Secrets.

struct WriterBaseline {
  int writes = 0, connections = 0;
  size_t body_bytes = 0;  // one Secret as sent
  double seconds = 0;
  double rate() const { return seconds > 0 ? writes / seconds : 0; }
};

// What the server set in an object's metadata, which a client does not send when it creates one.
void drop_server_metadata(core::JsonValue& metadata) {
  for (const char* f : {"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"})
    metadata.RemoveMember(f);
}

// Creates `count` Secrets in namespace `ns`, each a copy of the managed Secret `model` as the syncer
// sent it (same data, labels, annotations, type; the server's fields dropped), with the syncer's
// managed-by label value replaced so that its watch does not see them, and its ownerReferences (which
// would point across namespaces) replaced by an annotation of the same length. Same client library as
// the syncer, `connections` threads on one client as its workers share one.
WriterBaseline run_writer(const kube::Config& kc, const core::JsonValue& model, const std::string& ns,
                          const std::string& prefix, int count, int connections) {
  core::JsonDoc doc;
  doc.CopyFrom(model, doc.GetAllocator());
  auto& a = doc.GetAllocator();
  core::JsonValue* meta = core::member(doc, "metadata");
  if (!meta || !meta->IsObject()) die("writer baseline: the managed Secret has no metadata");
  drop_server_metadata(*meta);
  meta->RemoveMember("namespace");
  size_t owner_len = 0;
  if (const core::JsonValue* owners = core::member(*meta, "ownerReferences")) {
    owner_len = core::to_json(*owners).size();
    meta->RemoveMember("ownerReferences");
  }
  core::JsonValue* labels = core::member(*meta, "labels");
  if (labels && labels->IsObject())
    if (core::JsonValue* v = core::member(*labels, "app.kubernetes.io/managed-by")) {
      std::string other(v->GetStringLength(), 'x');
      other.replace(0, std::min<size_t>(other.size(), 19), std::string("syncer-scale-writer").substr(0, other.size()));
      v->SetString(other.c_str(), static_cast<rapidjson::SizeType>(other.size()), a);
    }
  if (owner_len > 0) {
    core::JsonValue* ann = core::member(*meta, "annotations");
    if (!ann || !ann->IsObject()) {
      core::JsonValue empty(rapidjson::kObjectType);
      meta->AddMember("annotations", empty, a);
      ann = core::member(*meta, "annotations");
    }
    // "ownerReferences":[...] against "bench/padding":"xxx": the same bytes on the wire.
    const std::string pad(owner_len > 3 ? owner_len - 3 : 1, 'x');
    core::JsonValue padding(pad.c_str(), static_cast<rapidjson::SizeType>(pad.size()), a);
    ann->AddMember("bench/padding", padding, a);
  }
  const std::string placeholder = "@@NAME@@";
  core::JsonValue* name = core::member(*meta, "name");
  if (!name) die("writer baseline: the managed Secret has no name");
  const size_t name_len = name->GetStringLength();
  name->SetString(placeholder.c_str(), a);
  const std::string text = core::to_json(doc);
  const size_t at = text.find(placeholder);

  kube::Config wc = kc;
  wc.qps = 0;
  kube::ClientOptions wo;
  wo.logger = std::make_shared<spdlog::logger>("bench-writer", std::make_shared<spdlog::sinks::null_sink_mt>());
  kube::Client writer(wc, wo);
  // Bodies are prepared before the clock starts: what is timed is the client and the server.
  std::vector<std::shared_ptr<core::JsonDoc>> bodies(count);
  for (int i = 0; i < count; ++i) {
    std::string n = fmt::format("{}{}", prefix, i);
    if (n.size() < name_len) n += std::string(name_len - n.size(), 'x');
    std::string t = text;
    t.replace(at, placeholder.size(), n);
    bodies[i] = parse(t);
  }
  WriterBaseline w;
  w.writes = count;
  w.connections = connections;
  w.body_bytes = text.size() - placeholder.size() + name_len;
  auto t0 = Clock::now();
  parallel_for(count, connections, [&](int i) { writer.create(kube::kSecrets, ns, *bodies[i]); });
  w.seconds = secs_since(t0);
  return w;
}

// ---------------------------------------------------------------------------------------------
// The Kubernetes floor of an initial sync: the syncer's own requests replayed by a program with no
// logic, after the syncer stopped, on the same objects. What any controller that writes what the
// syncer writes (and watches what it writes) pays on this server, so that the syncer's Ready time
// splits into what the server and its watches cost and what the syncer's own work adds.

struct ReplayFloor {
  int64_t writes = 0, echoes = 0;
  double lists_seconds = 0;   // until the three lists were in (the syncer's caches synced)
  double seconds = 0;         // until the last write was answered
  double echoes_seconds = 0;  // until the last write's watch event arrived (-1: not all arrived)
  Snapshot start, end;        // around the timed part: the lists, the writes and their echoes
};

// Per InfisicalSecret i, in the syncer's order over `connections` threads: create its managed Secret
// (the body the syncer sent, the server's fields dropped; the Secret is deleted beforehand, outside
// the clock), merge-patch its Deployment's rollout baseline (metadata only, as core::baseline_patch),
// merge-patch its status (the status the syncer wrote, with new timestamps so that it is a write).
// Before the writes, as the syncer's start: paged lists (500 a page) of InfisicalSecrets, Deployments
// and managed Secrets, each followed by a watch whose events are parsed (not kept). Not replayed: the
// syncer's Infisical requests, its smaller caches (ConfigMaps, the digest key, StatefulSets,
// DaemonSets) and its occasional reads.
ReplayFloor run_replay(Sims& sims, const kube::Config& kc, kube::Client& admin, const Layout& l,
                       int connections) {
  const std::string managed = fmt::format("{}={}", core::kManagedByLabel, core::kManagedByValue);
  auto key = [](const core::JsonValue& o) {
    const core::JsonValue* md = core::member(o, "metadata");
    return md ? core::string_or(*md, "namespace", "") + "/" + core::string_or(*md, "name", "")
              : std::string();
  };
  // The bodies, prepared outside the clock.
  std::map<std::string, std::shared_ptr<core::JsonDoc>> secret_bodies;
  kube::ListOptions by_label;
  by_label.label_selector = managed;
  for (const auto& s : admin.list_all(kube::kSecrets, "", by_label).items) {
    auto doc = std::make_shared<core::JsonDoc>();
    doc->CopyFrom(*s, doc->GetAllocator());
    if (core::JsonValue* md = core::member(*doc, "metadata")) drop_server_metadata(*md);
    secret_bodies[key(*s)] = std::move(doc);
  }
  // A timestamp of the same length as the syncer's, an hour on: every status patch changes something.
  const std::string later = [] {
    std::time_t t = std::time(nullptr) + 3600;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf);
  }();
  std::map<std::string, std::string> status_patches;
  for (const auto& o : admin.list_all(kube::kInfisicalSecrets, "", {}).items) {
    const core::JsonValue* st = core::member(*o, "status");
    if (!st || !st->IsObject()) continue;
    core::JsonDoc patch(rapidjson::kObjectType);
    auto& a = patch.GetAllocator();
    core::JsonValue status(*st, a);
    if (core::member(status, "lastSyncTime")) core::set_string(status, "lastSyncTime", later, a);
    if (core::JsonValue* conds = core::member(status, "conditions"); conds && conds->IsArray())
      for (auto& c : conds->GetArray())
        if (c.IsObject() && core::member(c, "lastTransitionTime"))
          core::set_string(c, "lastTransitionTime", later, a);
    patch.AddMember("status", status, a);
    status_patches[key(*o)] = core::to_json(patch);
  }
  std::vector<int> items;
  for (int i = 0; i < l.n; ++i) {
    const std::string k = l.ns_of(i) + "/";
    if (secret_bodies.count(k + Layout::secret_of(i)) && status_patches.count(k + Layout::name_of(i)))
      items.push_back(i);
  }
  if (items.empty()) die("replay: no managed Secret with a written status to replay");
  parallel_for(static_cast<int>(items.size()), connections,
               [&](int j) { admin.remove(kube::kSecrets, l.ns_of(items[j]), Layout::secret_of(items[j])); });
  const std::string baseline_annotation = std::string(core::kRolloutBaselineAnnotation);

  kube::Config rc = kc;
  rc.qps = 0;
  kube::ClientOptions ro;
  ro.logger =
      std::make_shared<spdlog::logger>("bench-replay", std::make_shared<spdlog::sinks::null_sink_mt>());
  kube::Client replay(rc, ro);
  const auto writer_options = kube::as_manager(core::kSyncerFieldManager);

  ReplayFloor f;
  std::atomic<bool> stop{false};
  std::atomic<int> listed{0};
  std::atomic<int64_t> echoes{0};
  std::atomic<int64_t> last_echo_ns{0};
  f.start = sims.snapshot();
  const auto t0 = Clock::now();
  struct Watched {
    const kube::Resource* resource;
    std::string selector;
  };
  std::vector<Watched> watched{
      {&kube::kInfisicalSecrets, ""}, {&kube::kDeployments, ""}, {&kube::kSecrets, managed}};
  std::vector<std::thread> watchers;
  std::mutex error_mu;
  std::string watch_error;
  for (const auto& w : watched)
    watchers.emplace_back([&, w] {
      try {
        kube::ListOptions lo;
        lo.label_selector = w.selector;
        lo.limit = 500;
        std::string rv;
        do {
          auto page = replay.list(*w.resource, "", lo);
          rv = page.resource_version;
          lo.continue_token = page.continue_token;
        } while (!lo.continue_token.empty());
        ++listed;
        kube::WatchOptions wo;
        wo.label_selector = w.selector;
        wo.resource_version = rv;
        wo.cancel = &stop;
        replay.watch(*w.resource, "", wo, [&](kube::WatchEvent& ev) {
          if (ev.type == kube::WatchEvent::Type::kAdded || ev.type == kube::WatchEvent::Type::kModified) {
            ++echoes;
            last_echo_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
          }
          return !stop.load();
        });
      } catch (const std::exception& e) {
        if (stop) return;
        std::lock_guard lock(error_mu);
        watch_error = e.what();
        ++listed;  // do not leave the writers waiting
      }
    });
  while (listed.load() < static_cast<int>(watched.size()))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  f.lists_seconds = secs_since(t0);
  parallel_for(static_cast<int>(items.size()), connections, [&](int j) {
    const int i = items[j];
    const std::string ns = l.ns_of(i), k = ns + "/";
    replay.create(kube::kSecrets, ns, *secret_bodies.at(k + Layout::secret_of(i)), writer_options);
    // A SHA-256 in hex, as the syncer's, differing from the one it wrote.
    std::string hash = fmt::format("{:064x}", static_cast<unsigned>(i) * 2654435761u + 1);
    replay.patch(kube::kDeployments, ns, Layout::name_of(i), kube::PatchType::kMerge,
                 fmt::format(R"({{"metadata":{{"annotations":{{"{}":"{}"}}}}}})", baseline_annotation, hash),
                 writer_options);
    replay.patch_status(kube::kInfisicalSecrets, ns, Layout::name_of(i), kube::PatchType::kMerge,
                        status_patches.at(k + Layout::name_of(i)), writer_options);
  });
  f.seconds = secs_since(t0);
  f.writes = 3 * static_cast<int64_t>(items.size());
  // The echoes of the last writes are still on their way.
  wait_until(10, [&] { return echoes.load() >= f.writes; });
  f.echoes = echoes.load();
  f.echoes_seconds = f.echoes >= f.writes ? last_echo_ns.load() / 1e9 : -1;
  f.end = sims.snapshot();
  stop = true;
  for (auto& t : watchers) t.join();
  if (!watch_error.empty()) die("replay: a watch failed: " + watch_error);
  return f;
}

// A scrape of the syncer's metrics endpoint (on loopback).
net::Request metrics_request(int metrics_port) {
  net::Request r;
  r.method = "GET";
  r.url = fmt::format("http://127.0.0.1:{}/metrics", metrics_port);
  return r;
}

// The samples of one metric family on the syncer's metrics endpoint: "name{labels} value" lines.
std::vector<std::pair<std::string, double>> syncer_samples(net::HttpClient& http, int metrics_port,
                                                           std::string_view family) {
  auto res = http.perform(metrics_request(metrics_port));
  // A figure read from an endpoint that did not answer would be a made-up zero.
  if (res.status != 200)
    die(fmt::format("the syncer's /metrics answered {} (reading {})", res.status, family));
  std::vector<std::pair<std::string, double>> out;
  std::istringstream in(res.body);
  std::string line;
  const std::string prefix = std::string(family) + "{";
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0)
      out.emplace_back(line.substr(0, line.rfind(' ')), std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr));
  return out;
}

// The syncer's Kubernetes writes so far, from its rest_client_requests_total (against a real cluster,
// where there are no server-side counters): POST, PUT, PATCH and DELETE answers.
int64_t syncer_kube_writes(net::HttpClient& http, int metrics_port) {
  int64_t writes = 0;
  for (const auto& [labels, value] : syncer_samples(http, metrics_port, "rest_client_requests_total"))
    for (const char* m : {"method=\"POST\"", "method=\"PUT\"", "method=\"PATCH\"", "method=\"DELETE\""})
      if (labels.find(m) != std::string::npos) writes += std::llround(value);
  return writes;
}

// The syncer's reconciles so far by result (infisical_syncer_reconciles_total{result="..."}).
std::map<std::string, int64_t> syncer_reconciles(net::HttpClient& http, int metrics_port) {
  std::map<std::string, int64_t> out;
  for (const auto& [labels, value] : syncer_samples(http, metrics_port, "infisical_syncer_reconciles_total")) {
    const auto at = labels.find("result=\"");
    if (at == std::string::npos) continue;
    const auto from = at + 8;
    out[labels.substr(from, labels.find('"', from) - from)] += std::llround(value);
  }
  return out;
}

// Prometheus as the chart's ServiceMonitor sets it up: a scrape of the syncer's /metrics every 30 s
// from the syncer's start, so the peak RSS and idle CPU figures include what a scraped syncer pays.
class MetricsScraper {
 public:
  static constexpr std::chrono::seconds kInterval{30};

  explicit MetricsScraper(int metrics_port) : port_(metrics_port), thread_([this] { run(); }) {}
  ~MetricsScraper() { stop(); }
  MetricsScraper(const MetricsScraper&) = delete;
  MetricsScraper& operator=(const MetricsScraper&) = delete;

  // Stops scraping (before the syncer stops) and prints what was scraped.
  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    wake_.notify_all();
    thread_.join();
    std::printf("  metrics scrapes (every %lld s, as the chart's ServiceMonitor): %d, %d failed, largest %zu bytes\n",
                (long long)kInterval.count(), scrapes_, failures_, largest_);
  }

 private:
  void run() {
    net::HttpClient http;
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, kInterval, [this] { return stopped_; })) {
      lock.unlock();
      net::Response res;
      try {
        res = http.perform(metrics_request(port_));
      } catch (const std::exception&) {
        res.status = 0;  // counted as failed
      }
      lock.lock();
      ++scrapes_;
      if (res.status != 200) ++failures_;
      largest_ = std::max(largest_, res.body.size());
    }
  }

  const int port_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopped_ = false;
  int scrapes_ = 0, failures_ = 0;
  size_t largest_ = 0;
  std::thread thread_;
};

// Against a cluster given by --kubeconfig: the bench's namespaces (all bench-*) go when it ends; the
// CRDs stay, as they may have been there before.
void delete_bench_namespaces(kube::Client& client, const std::vector<std::string>& namespaces) {
  for (const auto& ns : namespaces) {
    if (ns.rfind("bench-", 0) != 0) continue;
    try {
      client.remove(kube::kNamespaces, "", ns);
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) std::fprintf(stderr, "syncer-scale: deleting namespace %s: %s\n", ns.c_str(), e.what());
    }
  }
  std::printf("deleted the bench's namespaces (%zu)\n", namespaces.size());
}

// A free loopback port for the syncer's metrics endpoint.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    die("cannot find a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

int run(const Options& o) {
  Layout l{o.resources, o.identities, o.scopes};
  std::printf("syncer-scale: N=%d InfisicalSecrets (+%d Deployments) in %d namespaces, I=%d identities, S=%d scopes "
              "(%d keys each), resync interval %d s, %d ms added per Infisical request\n",
              l.n, l.n, l.namespaces(), l.identities, l.scopes, kKeysPerScope, o.interval, o.latency_ms);
  std::printf("%s\n", machine_line().c_str());
  std::fflush(stdout);
  mkdir(o.work_dir.c_str(), 0755);

  const bool own_cluster = o.kubeconfig.empty();
  const bool limited = o.infisical_limits == "self-hosted";
  // Against a cluster of someone else's, everything the bench creates is in bench-* namespaces.
  const std::string operator_ns = own_cluster ? std::string(kOperatorNamespace) : std::string("bench-operator");

  // --- kube-sim, unless a cluster was given
  std::string kubeconfig = o.kubeconfig;
  Child kube_sim;
  if (own_cluster) {
    kubeconfig = o.work_dir + "/kubeconfig";
    unlink(kubeconfig.c_str());
    kube_sim = spawn("kube-sim", o.build_dir + "/tests/sim/kube/kube-sim",
                     {"--kubeconfig", kubeconfig, "--port-file", o.work_dir + "/kube.port", "--history", "2000000",
                      "--threads", "64"},
                     o.work_dir + "/kube-sim.log");
    if (!wait_until(30, [&] { return !read_file(kubeconfig).empty() && !read_file(o.work_dir + "/kube.port").empty(); }))
      die("kube-sim did not start (" + o.work_dir + "/kube-sim.log)");
  } else {
    std::printf("cluster: %s (no server-side counters: Kubernetes writes come from the syncer's metrics)\n",
                kubeconfig.c_str());
  }
  kube::Config kc = kube::load_config(kubeconfig);
  kc.qps = 0;  // the driver is not what is measured
  kube::ClientOptions kopts;
  kopts.logger = std::make_shared<spdlog::logger>("bench-kube", std::make_shared<spdlog::sinks::null_sink_mt>());
  kube::Client client(kc, kopts);

  // --- infisical-sim (TLS, as Infisical Cloud)
  std::string seed_path = o.work_dir + "/seed.json";
  write_file(seed_path, seed_json(l, limited));
  if (limited)
    std::printf("infisical limits: self-hosted defaults (per route and client, fixed 60 s windows: secrets 40/min, "
                "project lookups 60/min, logins and renewals 200/min; refused with 500 + retry-after)\n");
  std::string ports = o.work_dir + "/infisical.json";
  unlink(ports.c_str());
  Child inf_sim = spawn("infisical-sim", o.build_dir + "/tests/sim/infisical/infisical-sim",
                        {"--seed", seed_path, "--ports-file", ports, "--tls", "--ca-file", o.work_dir + "/infisical-ca.pem"},
                        o.work_dir + "/infisical-sim.log");
  if (!wait_until(60, [&] { return !read_file(ports).empty(); }))
    die("infisical-sim did not start (" + o.work_dir + "/infisical-sim.log)");
  auto ports_doc = parse(read_file(ports));
  Sims sims;
  sims.kube = &client;
  sims.infisical_api = core::string_or(*ports_doc, "apiUrl", "");
  sims.infisical_admin = core::string_or(*ports_doc, "adminToken", "");
  sims.infisical_ca = read_file(core::string_or(*ports_doc, "caFile", ""));
  net::TlsOptions tls;
  tls.ca_pem = sims.infisical_ca;
  net::HttpClient http(tls);
  sims.http = &http;
  sims.kube_sim = kube_sim.pid;
  sims.infisical_sim = inf_sim.pid;
  sims.infisical_admin_call("POST", "/sim/latency", fmt::format(R"({{"route":"*","ms":{}}})", o.latency_ms));

  // --- the cluster's content
  auto t_setup = Clock::now();
  auto crd_yaml = YAML::LoadFile(o.source_dir + "/deploy/crds/infisicalsecrets.secrets.infisical.com.yaml");
  core::JsonDoc crd;
  core::JsonValue crd_v = yaml_to_json(crd_yaml, crd.GetAllocator());
  crd.CopyFrom(crd_v, crd.GetAllocator());
  auto create_crd = [&](const core::JsonDoc& d) {
    try {
      client.create(kube::kCustomResourceDefinitions, "", d);
    } catch (const kube::ApiError& e) {
      if (own_cluster || !e.is_already_exists()) throw;  // a cluster's existing CRD is used as it is
    }
  };
  create_crd(crd);
  // The credentials and the CA live in their own namespace: InfisicalReferenceGrants there let each
  // tenant namespace refer to them (docs/security.md), as a platform team would set it up.
  auto grant_crd_yaml =
      YAML::LoadFile(o.source_dir + "/deploy/crds/infisicalreferencegrants.secrets.infisical.com.yaml");
  core::JsonDoc grant_crd;
  core::JsonValue grant_crd_v = yaml_to_json(grant_crd_yaml, grant_crd.GetAllocator());
  grant_crd.CopyFrom(grant_crd_v, grant_crd.GetAllocator());
  create_crd(grant_crd);
  if (!wait_until(30, [&] {
        try {
          client.list(kube::kInfisicalSecrets, "default");
          client.list(kube::kInfisicalReferenceGrants, "default");
          return true;
        } catch (const std::exception&) {
          return false;
        }
      }))
    die("the InfisicalSecret and InfisicalReferenceGrant CRDs are not served");
  std::vector<std::string> namespaces{operator_ns, kCredentialsNamespace};
  for (int j = 0; j < l.namespaces(); ++j) namespaces.push_back(Layout::ns_name(j));
  for (const auto& ns : namespaces)
    create_ignoring_exists(client, kube::kNamespaces, "",
                           fmt::format(R"({{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{}"}}}})", ns));
  create_ignoring_exists(client, kube::kSecrets, kCredentialsNamespace,
                         fmt::format(R"({{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"infisical-ca"}},"stringData":{{"ca.crt":{}}}}})",
                                     json_quote(sims.infisical_ca)));
  for (int j = 0; j < l.namespaces(); ++j)
    create_ignoring_exists(
        client, kube::kInfisicalReferenceGrants, kCredentialsNamespace,
        fmt::format(R"({{"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalReferenceGrant",)"
                    R"("metadata":{{"name":"{0}"}},"spec":{{"from":[{{"namespace":"{0}"}}],"to":[{{"kind":"Secret"}}]}}}})",
                    Layout::ns_name(j)));
  for (int j = 0; j < l.identities; ++j)
    create_ignoring_exists(client, kube::kSecrets, kCredentialsNamespace,
                           fmt::format(R"({{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"{}"}},"stringData":{{"clientId":"{}","clientSecret":"{}"}}}})",
                                       Layout::credentials_secret(j), Layout::client_id(j), Layout::client_secret(j)));
  parallel_for(l.n, 8, [&](int i) {
    create_ignoring_exists(client, kube::kDeployments, l.ns_of(i), deployment_json(l, i, own_cluster ? 1 : 0));
    create_ignoring_exists(client, kube::kInfisicalSecrets, l.ns_of(i),
                           infisical_secret_json(l, i, sims.infisical_api, o.interval));
  });
  std::printf("setup: %d InfisicalSecrets, %d Deployments, %d credential Secrets created through the API in %.1f s\n",
              l.n, l.n, l.identities + 1, secs_since(t_setup));
  std::fflush(stdout);

  Tracker ready(client, kube::kInfisicalSecrets, ready_status);
  Tracker revisions(client, kube::kDeployments, revision);  // started after the initial sync
  ready.start();
  const DeploymentMarks initial_marks = marks_of_deployments(client);

  if (own_cluster) client.request("DELETE", "/sim/counters");
  sims.infisical_admin_call("POST", "/sim/counters/reset", "{}");
  if (o.kube_latency_ms > 0) {
    if (!own_cluster) die("--kube-latency-ms: only kube-sim can add latency (drop it with --kubeconfig)");
    client.request("POST", "/sim/faults", fmt::format(R"({{"latencyMs":{}}})", o.kube_latency_ms));
    std::printf("kube-sim adds %d ms to every API request from here on\n", o.kube_latency_ms);
  }

  // --- the syncer
  std::vector<std::string> sargs{"--kubeconfig=" + kubeconfig,
                                 "--health-probe-bind-address=0",
                                 "--operator-namespace=" + operator_ns,
                                 fmt::format("--infisical-requests-per-minute={}", o.infisical_rpm),
                                 // infisical-sim listens on loopback: allowed by configuration.
                                 "--allowed-hosts=127.0.0.1", "--allowed-address-ranges=127.0.0.0/8"};
  // The syncer's reconciles come from its metrics; against a real cluster also its writes (its own
  // request counters are the only count of them there).
  const int metrics_port = free_port();
  sargs.push_back(fmt::format("--metrics-bind-address=127.0.0.1:{}", metrics_port));
  // Without --workers/--kube-api-qps the syncer runs with its defaults, the chart's.
  if (o.workers > 0) sargs.push_back(fmt::format("--workers={}", o.workers));
  if (o.kube_qps > 0) sargs.push_back(fmt::format("--kube-api-qps={}", o.kube_qps));
  sargs.insert(sargs.end(), o.syncer_args.begin(), o.syncer_args.end());
  std::printf("syncer: infisical-syncer %s\n", fmt::format("{}", fmt::join(sargs, " ")).c_str());
  Snapshot s0 = sims.snapshot();
  Child syncer = spawn("infisical-syncer", o.build_dir + "/src/syncer/infisical-syncer", sargs,
                       o.work_dir + "/syncer.log");
  sims.syncer = syncer.pid;
  s0.syncer = ProcFigures{};
  MetricsScraper scraper(metrics_port);

  // --- phase 1: until every InfisicalSecret is Ready. Meanwhile note when the first and the S-th
  // fetch happened: every scope is refreshed once per interval at the phase of its first fetch.
  std::optional<Clock::time_point> first_fetch, all_fetched;
  bool all_ready = wait_until(o.ready_timeout, [&] {
    if (!alive(syncer.pid)) die("the syncer exited (" + o.work_dir + "/syncer.log)");
    if (!all_fetched) {
      auto inf = parse(sims.infisical_admin_call("GET", "/sim/counters", "").body);
      int64_t fetches = classify(int_map(core::member(*inf, "byRouteStatus"))).fetches();
      if (fetches > 0 && !first_fetch) first_fetch = Clock::now();
      if (fetches >= l.scopes) all_fetched = Clock::now();
    }
    return ready.count_equal("True") >= l.n;
  });
  auto ready_times = ready.changed_at();
  Clock::time_point last_ready = s0.at;
  for (const auto& [k, t] : ready_times) last_ready = std::max(last_ready, t);
  double ready_seconds = all_ready ? std::chrono::duration<double>(last_ready - s0.at).count() : -1;
  Snapshot s1 = sims.snapshot();
  std::printf("\n== Initial sync\n");
  if (all_ready) std::printf("  all %d InfisicalSecrets Ready after %.2f s (from the syncer's start)\n", l.n, ready_seconds);
  else
    std::printf("  NOT all Ready after %d s: %lld of %d Ready\n", o.ready_timeout, (long long)ready.count_equal("True"), l.n);
  if (all_ready) {
    // Where the time went: how the Ready count grew, and when Infisical had answered for every scope.
    std::vector<double> at;
    for (const auto& [k, t] : ready_times) at.push_back(std::chrono::duration<double>(t - s0.at).count());
    std::sort(at.begin(), at.end());
    auto nth = [&](double q) { return at.empty() ? 0.0 : at[std::min(at.size() - 1, size_t(q * double(at.size())))]; };
    std::printf("  Ready count over time: first %.2f s, 10%% %.2f s, 50%% %.2f s, 90%% %.2f s, all %.2f s", nth(0), nth(0.1),
                nth(0.5), nth(0.9), ready_seconds);
    if (first_fetch && all_fetched)
      std::printf("; Infisical fetches: first %.2f s, all %d scopes %.2f s, at most %lld requests at once",
                  std::chrono::duration<double>(*first_fetch - s0.at).count(), l.scopes,
                  std::chrono::duration<double>(*all_fetched - s0.at).count(),
                  (long long)s1.infisical_max_in_flight);
    std::printf("\n");
  }
  print_window("  initial sync window", s0, s1);
  std::printf("  syncer memory: peak RSS (VmHWM) %.1f MiB, RSS now %.1f MiB\n", s1.syncer.hwm_kib / 1024.0,
              s1.syncer.rss_kib / 1024.0);
  std::fflush(stdout);
  auto init_inf = classify(diff(s1.infisical, s0.infisical));
  auto init_kube_diff = diff(s1.kube, s0.kube);
  auto init_kube = kube_verbs(init_kube_diff);
  // The Deployments existed before their Secrets (an install into a running cluster): the first sync
  // must record a rollout baseline on each (a metadata patch) and roll none of them. A rollout is a
  // pod-template write (a new generation) and a revision past the first one. (kube-sim's own rollout
  // count is no help here: it also counts first revisions it completes late, at the next write of a
  // Deployment created a moment before.)
  size_t install_rolled = 0, install_new_revisions = 0;
  const DeploymentMarks synced_marks = marks_of_deployments(client);
  for (const auto& [k, v] : synced_marks.generations)
    if (auto it = initial_marks.generations.find(k); it == initial_marks.generations.end() || it->second != v)
      ++install_rolled;
  for (const auto& [k, v] : synced_marks.revisions)
    if (auto it = initial_marks.revisions.find(k);
        it != initial_marks.revisions.end() && !it->second.empty() && it->second != v)
      ++install_new_revisions;
  // From now on the change's rollouts are timed: a watch of Deployment revisions.
  revisions.start();
  int64_t install_patches = init_kube_diff.count("patch deployments") ? init_kube_diff["patch deployments"] : 0;
  // Writes per InfisicalSecret by kind: what a real API server (etcd) pays for the first sync.
  std::map<std::string, int64_t> writes_by_resource;
  for (const auto& [label, n] : init_kube_diff) {
    auto sp = label.find(' ');
    if (sp == std::string::npos) continue;
    const std::string verb = label.substr(0, sp);
    if (verb == "create" || verb == "update" || verb == "patch" || verb == "delete" || verb == "apply")
      writes_by_resource[label.substr(sp + 1)] += n;
  }
  int64_t own_writes = 0, workload_writes = 0;
  std::string by_kind;
  for (const auto& [resource, n] : writes_by_resource) {
    const bool workload = resource == "deployments" || resource == "statefulsets" || resource == "daemonsets";
    (workload ? workload_writes : own_writes) += n;
    by_kind += fmt::format("{}{} {:.2f}", by_kind.empty() ? "" : ", ", resource, static_cast<double>(n) / l.n);
  }
  const double writes_per_resource = static_cast<double>(own_writes) / l.n;
  std::printf("  writes per InfisicalSecret: %.2f without workload patches, %.2f with them; by kind: %s\n",
              writes_per_resource, static_cast<double>(own_writes + workload_writes) / l.n,
              by_kind.empty() ? "none" : by_kind.c_str());
  {
    // A resource reconciled twice at its first sync (the echo of its own Secret write bringing it
    // back) costs the syncer a second pass with nothing to write.
    int64_t total = 0;
    std::string by_result;
    for (const auto& [result, n] : syncer_reconciles(http, metrics_port)) {
      total += n;
      by_result += fmt::format("{}{} {}", by_result.empty() ? "" : ", ", result, n);
    }
    std::printf("  reconciles: %lld, %.2f per InfisicalSecret (%s)\n", (long long)total,
                static_cast<double>(total) / l.n, by_result.empty() ? "none" : by_result.c_str());
  }
  std::printf("  install rollouts (pod-template writes): %zu Deployments got a new generation, %zu a revision past "
              "their first, during the initial sync; %lld Deployment patches (rollout baselines in metadata: %lld)\n",
              install_rolled, install_new_revisions, (long long)install_patches,
              (long long)install_patches - static_cast<long long>(install_rolled));
  std::fflush(stdout);

  // Each target's verdict; finish() prints the outcome, stops everything and gives the exit status.
  int failed = 0;
  auto verdict = [&](bool ok, const std::string& text) {
    std::printf("  %s  %s\n", ok ? "PASS" : "FAIL", text.c_str());
    if (!ok) ++failed;
  };
  auto finish = [&] {
    std::printf("\nsyncer-scale: %s (logs in %s)\n",
                failed ? fmt::format("{} target(s) missed", failed).c_str() : "all targets met", o.work_dir.c_str());
    std::fflush(stdout);
    ready.stop();
    revisions.stop();
    stop_children();
    if (!own_cluster) delete_bench_namespaces(client, namespaces);
    return failed ? 1 : 0;
  };
  if (limited) {
    // Infisical's limits, not the API server, decide this run: the floor they allow, the Ready time as
    // a ratio of it, the refusals; then one more interval to see that the refreshes stay under them.
    auto init_routes = diff(s1.infisical, s0.infisical);
    LimitsFloor floor = limits_floor(init_routes, l.scopes);
    const bool binds = floor.even_seconds > 0;
    const double ratio = all_ready && binds ? ready_seconds / floor.even_seconds : -1;
    std::printf("\n== Against Infisical's limits\n");
    std::printf("  requests per route the initial sync needed (fetches: one per scope; answered: %lld): %s\n",
                (long long)init_inf.fetches(), floor.detail.c_str());
    std::printf("  floor the limits allow: %.1f s at an even pace (%.1f s bursting at each fixed window's start)\n",
                floor.even_seconds, floor.burst_seconds);
    std::printf("  Ready after %.2f s: %.2f x the floor (%.2f x the burst bound)\n", ready_seconds, ratio,
                all_ready && floor.burst_seconds > 0 ? ready_seconds / floor.burst_seconds : -1.0);
    std::printf("  rate-limit answers (500 with retry-after) at the initial sync: %lld\n", (long long)init_inf.refusals);
    std::printf("\n== One more resync interval of %d s (%d scopes at 40/min need %.0f s: refreshes spread, none refused)\n",
                o.interval, l.scopes, l.scopes > 40 ? 60.0 * l.scopes / 40 : 0.0);
    Snapshot a = sims.snapshot();
    std::this_thread::sleep_for(std::chrono::seconds(o.interval));
    if (!alive(syncer.pid)) die("the syncer exited (" + o.work_dir + "/syncer.log)");
    Snapshot b = sims.snapshot();
    print_window("  interval 1", a, b);
    auto after = classify(diff(b.infisical, a.infisical));
    ProcFigures fig = proc_figures(syncer.pid);
    std::printf("\n== Targets (--infisical-limits self-hosted)\n");
    verdict(all_ready && (!binds || ratio <= 1.3),
            fmt::format("all {} Ready within 1.3 x the floor the limits allow ({:.1f} s): {}", l.n, floor.even_seconds,
                        !all_ready ? std::string("not all Ready")
                        : binds    ? fmt::format("{:.2f} s, {:.2f} x", ready_seconds, ratio)
                                   : fmt::format("{:.2f} s (the limits do not bind at this size)", ready_seconds)));
    verdict(init_inf.refusals + after.refusals <= 5,
            fmt::format("at most a handful (5) of rate-limit answers: {} at the initial sync, {} in the next interval",
                        init_inf.refusals, after.refusals));
    verdict(init_inf.logins <= l.identities, fmt::format("logins <= I = {}: {}", l.identities, init_inf.logins));
    verdict(ready.count_equal("True") == l.n, fmt::format("still {} Ready after the interval: {}", l.n, ready.count_equal("True")));
    verdict(fig.hwm_kib / 1024.0 < 64.0, fmt::format("syncer peak RSS < 64 MiB: {:.1f} MiB", fig.hwm_kib / 1024.0));
    return finish();
  }

  // --- the API server's own write throughput, measured now on fresh objects: Secrets of the managed
  // ones' size, as many as there are InfisicalSecrets, over as many connections as the syncer has
  // workers, then over 16 (whether the server takes more from more connections). The syncer's Ready
  // time is then a ratio of the best rate: what this server can take.
  const int syncer_workers = o.workers > 0 ? o.workers : kSyncerDefaultWorkers;
  std::vector<int> writer_settings{o.writer_connections > 0 ? o.writer_connections : syncer_workers};
  if (o.writer_connections == 0 && syncer_workers != 16) writer_settings.push_back(16);
  const int64_t writes_needed = own_cluster ? init_kube.writes : syncer_kube_writes(http, metrics_port);
  auto model = client.get(kube::kSecrets, l.ns_of(0), Layout::secret_of(0));
  const std::string writer_ns = "bench-writer";
  namespaces.push_back(writer_ns);
  create_ignoring_exists(client, kube::kNamespaces, "",
                         fmt::format(R"({{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{}"}}}})", writer_ns));
  std::printf("\n== The API server's write throughput (a plain parallel writer, after the initial sync)\n");
  WriterBaseline writer;
  for (size_t k = 0; k < writer_settings.size(); ++k) {
    Snapshot w0 = sims.snapshot();
    WriterBaseline w = run_writer(kc, *model, writer_ns, fmt::format("w{}-", k), l.n, writer_settings[k]);
    Snapshot w1 = sims.snapshot();
    std::printf(
        "  %d Secret creates of %zu bytes each (the managed Secret's size) over %d connections in %.2f s: "
        "%.0f writes/s (CPU: kube-sim %.2f s, the writer %.2f s)\n",
        w.writes, w.body_bytes, w.connections, w.seconds, w.rate(),
        w1.kube_sim.cpu_seconds - w0.kube_sim.cpu_seconds, w1.driver.cpu_seconds - w0.driver.cpu_seconds);
    std::fflush(stdout);
    if (w.rate() > writer.rate()) writer = w;
  }
  const double baseline_seconds = writer.rate() > 0 ? static_cast<double>(writes_needed) / writer.rate() : -1;
  const double write_ratio = all_ready && baseline_seconds > 0 ? ready_seconds / baseline_seconds : -1;
  std::printf("  the syncer's initial sync needed %lld writes: %.2f s at the best rate (%.0f writes/s, %d connections); "
              "Ready after %.2f s = %.2f x\n",
              (long long)writes_needed, baseline_seconds, writer.rate(), writer.connections, ready_seconds, write_ratio);
  {
    // The other floor: the syncer's own Infisical budget (--infisical-requests-per-minute in any
    // minute, infisical::WindowBudget) paces the S first fetches, whatever the API server takes: a
    // whole minute for each budget past the first. When this floor is the larger, the Kubernetes
    // writes are not what Ready waits for.
    const double budget_floor = 60.0 * ((l.scopes - 1) / o.infisical_rpm);
    std::printf("  the Infisical request budget (%d in any minute) lets %d scope fetches finish after %.0f s at the "
                "earliest%s\n",
                o.infisical_rpm, l.scopes, budget_floor,
                all_ready && budget_floor > 0 ? fmt::format(": Ready = {:.2f} x that floor", ready_seconds / budget_floor).c_str()
                                              : "");
  }
  std::fflush(stdout);

  // --- phase 2: three resync intervals with nothing changed
  // Each scope is refreshed once per interval at the phase of its first fetch, and those phases lie
  // between the first and the S-th fetch of the initial sync. The windows start in the middle of the
  // quiet part of the interval, so no refresh falls on a window's edge.
  auto interval = std::chrono::seconds(o.interval);
  Clock::time_point start = s1.at + interval / 2;
  auto after_writer = Clock::now() + std::chrono::seconds(1);  // no window may hold the writer's creates
  double spread_s = -1;
  if (first_fetch && all_fetched) {
    spread_s = std::chrono::duration<double>(*all_fetched - *first_fetch).count();
    double mid = spread_s + std::max(0.0, o.interval - spread_s) / 2;
    start = *first_fetch + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(mid));
  }
  while (start < after_writer) start += interval;
  std::printf("\n== Steady state: three resync intervals of %d s, nothing changed\n"
              "  (the scopes' refresh phases span %.1f s of each interval; the windows start %.1f s after the last Ready,\n"
              "   in the middle of the quiet part, so that no refresh falls on a window's edge)\n",
              o.interval, spread_s, std::chrono::duration<double>(start - s1.at).count());
  std::this_thread::sleep_until(start);
  std::vector<Snapshot> marks{sims.snapshot()};
  std::vector<InfisicalKinds> win_inf;
  std::vector<KubeVerbs> win_kube;
  for (int w = 0; w < 3; ++w) {
    std::this_thread::sleep_until(marks.back().at + std::chrono::seconds(o.interval));
    if (!alive(syncer.pid)) die("the syncer exited (" + o.work_dir + "/syncer.log)");
    marks.push_back(sims.snapshot());
    print_window(fmt::format("  interval {}", w + 1), marks[marks.size() - 2], marks.back());
    win_inf.push_back(classify(diff(marks.back().infisical, marks[marks.size() - 2].infisical)));
    win_kube.push_back(kube_verbs(diff(marks.back().kube, marks[marks.size() - 2].kube)));
  }
  int64_t ready_after_steady = ready.count_equal("True");

  // --- phase 3: one secret of one scope changes
  int changed_scope = 0, changed_key = 0;
  std::set<std::string> consumers;
  for (int i = 0; i < l.n; ++i) {
    if (l.scope_of(i) != changed_scope) continue;
    auto [a, b] = l.consumed_keys(i);
    if (a == changed_key || b == changed_key) consumers.insert(l.ns_of(i) + "/" + Layout::name_of(i));
  }
  auto before_change = revisions.values();
  Snapshot c0 = sims.snapshot();
  sims.infisical_admin_call("POST", "/sim/secrets",
                            fmt::format(R"({{"project":"{}","environment":"prod","path":"{}","key":"{}","value":"value-changed"}})",
                                        Layout::project_of(changed_scope), Layout::path_of(changed_scope),
                                        Layout::key_name(changed_key)));
  std::printf("\n== Change: %s in %s prod %s changed; %zu Deployments consume it\n",
              Layout::key_name(changed_key).c_str(), Layout::project_of(changed_scope).c_str(),
              Layout::path_of(changed_scope).c_str(), consumers.size());
  auto rolled = [&] {
    std::set<std::string> out;
    for (const auto& [k, v] : revisions.values()) {
      auto it = before_change.find(k);
      if (it == before_change.end() || it->second != v) out.insert(k);
    }
    return out;
  };
  bool all_rolled = wait_until(2.0 * o.interval + 30, [&] {
    auto r = rolled();
    return std::includes(r.begin(), r.end(), consumers.begin(), consumers.end());
  });
  auto roll_times = revisions.changed_at();
  Clock::time_point last_roll = c0.at;
  for (const auto& k : consumers)
    if (auto it = roll_times.find(k); it != roll_times.end()) last_roll = std::max(last_roll, it->second);
  // Let stragglers (wrong rollouts) show up for a few more seconds before counting.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  Snapshot c1 = sims.snapshot();
  auto rolled_set = rolled();
  size_t wrong = 0;
  for (const auto& k : rolled_set)
    if (!consumers.count(k)) ++wrong;
  double change_seconds = all_rolled ? std::chrono::duration<double>(last_roll - c0.at).count() : -1;
  if (all_rolled)
    std::printf("  every consuming Deployment has a new revision after %.2f s (one resync interval is %d s)\n",
                change_seconds, o.interval);
  else
    std::printf("  NOT every consumer rolled within %d s\n", 2 * o.interval + 30);
  int64_t sim_rollouts = 0;
  if (auto it = c1.kube.find("rollouts"); it != c1.kube.end()) sim_rollouts = it->second;
  if (auto it = c0.kube.find("rollouts"); it != c0.kube.end()) sim_rollouts -= it->second;
  std::printf("  rollouts: %zu Deployments got a new revision (%zu consume the key, %zu do not); kube-sim counted %lld\n",
              rolled_set.size(), rolled_set.size() - wrong, wrong, (long long)sim_rollouts);
  print_window("  change window (until the last consumer rolled, +5 s)", c0, c1);

  ProcFigures final_fig = proc_figures(syncer.pid);
  std::printf("\n== Syncer process\n  peak RSS (VmHWM) %.1f MiB, RSS %.1f MiB, CPU %.2f s (user+system) over %.0f s\n",
              final_fig.hwm_kib / 1024.0, final_fig.rss_kib / 1024.0, final_fig.cpu_seconds, secs_since(s0.at));
  ProcFigures ks = proc_figures(kube_sim.pid), is = proc_figures(inf_sim.pid);
  std::printf("  simulators: kube-sim CPU %.2f s, peak RSS %.1f MiB; infisical-sim CPU %.2f s, peak RSS %.1f MiB\n",
              ks.cpu_seconds, ks.hwm_kib / 1024.0, is.cpu_seconds, is.hwm_kib / 1024.0);

  scraper.stop();

  // --- the Kubernetes floor: the initial sync's requests replayed without the syncer
  stop_child_now(syncer.pid);
  sims.syncer = -1;
  std::printf(
      "\n== The Kubernetes floor: the initial sync's requests replayed without the syncer (stopped now)\n");
  std::fflush(stdout);
  const ReplayFloor replay_floor = run_replay(sims, kc, client, l, syncer_workers);
  const Snapshot& r0 = replay_floor.start;
  const Snapshot& r1 = replay_floor.end;
  // The server is not the one the initial sync met (minutes later, the writer's Secrets added): the
  // floor is a ratio to a writer measured right after it, against the same server.
  const std::string floor_writer_ns = "bench-writer-floor";
  namespaces.push_back(floor_writer_ns);
  create_ignoring_exists(
      client, kube::kNamespaces, "",
      fmt::format(R"({{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{}"}}}})", floor_writer_ns));
  const WriterBaseline floor_writer = run_writer(kc, *model, floor_writer_ns, "f-", l.n, writer.connections);
  const double replay_baseline =
      floor_writer.rate() > 0 ? static_cast<double>(replay_floor.writes) / floor_writer.rate() : -1;
  std::printf(
      "  lists and watches of InfisicalSecrets, Deployments and managed Secrets: %.2f s; then %lld writes "
      "(a Secret create, a Deployment baseline patch, a status patch per InfisicalSecret) over %d "
      "connections: "
      "done after %.2f s, their %lld watch events in after %.2f s (CPU: kube-sim %.2f s, the replay and the "
      "bench's Ready watch %.2f s)\n",
      replay_floor.lists_seconds, (long long)replay_floor.writes, syncer_workers, replay_floor.seconds,
      (long long)replay_floor.echoes, replay_floor.echoes_seconds,
      r1.kube_sim.cpu_seconds - r0.kube_sim.cpu_seconds, r1.driver.cpu_seconds - r0.driver.cpu_seconds);
  std::printf("  the writer right after it: %d Secret creates over %d connections in %.2f s, %.0f writes/s\n",
              floor_writer.writes, floor_writer.connections, floor_writer.seconds, floor_writer.rate());
  if (replay_baseline > 0 && replay_floor.seconds > 0)
    std::printf(
        "  the floor = %.2f x that writer for as many writes (%.2f s)%s\n",
        replay_floor.seconds / replay_baseline, replay_baseline,
        all_ready
            ? fmt::format("; the syncer's Ready ({:.2f} s, {:.2f} x the writer after the sync) = {:.2f} x "
                          "this floor",
                          ready_seconds, write_ratio, ready_seconds / replay_floor.seconds)
                  .c_str()
            : "");
  {
    // The server's own share: its CPU for these requests, spread over every core of the machine, is a
    // time no client of this server can beat here, however little CPU the client itself needs.
    const double server_cpu = r1.kube_sim.cpu_seconds - r0.kube_sim.cpu_seconds;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const double server_seconds = cores > 0 ? server_cpu / static_cast<double>(cores) : 0;
    if (server_seconds > 0 && replay_baseline > 0)
      std::printf(
          "  kube-sim's CPU for these requests alone, over all %ld cores: %.2f s = %.2f x that writer\n",
          cores, server_seconds, server_seconds / replay_baseline);
  }
  std::fflush(stdout);

  // --- upstream's documented behaviour on the same work
  // One client and login per InfisicalSecret, a project lookup (GET /v2/workspace/{slug}, uncached for
  // v1alpha1) and a list call per InfisicalSecret per reconcile, i.e. per resync interval.
  int64_t up_initial = 3LL * l.n, up_interval = 2LL * l.n;
  int64_t our_interval_max = 0;
  for (const auto& w : win_inf) our_interval_max = std::max(our_interval_max, w.total());
  std::printf("\n== Against the upstream operator's documented behaviour (same N, I, S)\n");
  std::printf("  initial sync: upstream %lld Infisical requests (%d logins + %d project lookups + %d fetches); "
              "ours %lld (%lld logins + %lld lookups + %lld fetches): ratio %.4f\n",
              (long long)up_initial, l.n, l.n, l.n, (long long)init_inf.total(), (long long)init_inf.logins,
              (long long)init_inf.project_lookups, (long long)init_inf.fetches(),
              static_cast<double>(init_inf.total()) / static_cast<double>(up_initial));
  for (size_t w = 0; w < win_inf.size(); ++w)
    std::printf("  interval %zu: upstream %lld (%d lookups + %d fetches, each a full 200); ours %lld "
                "(%lld fetches: %lld x 304, %lld x 200; %lld logins; %lld lookups): ratio %.4f\n",
                w + 1, (long long)up_interval, l.n, l.n, (long long)win_inf[w].total(), (long long)win_inf[w].fetches(),
                (long long)win_inf[w].fetch_304, (long long)win_inf[w].fetch_200, (long long)win_inf[w].logins,
                (long long)win_inf[w].project_lookups,
                static_cast<double>(win_inf[w].total()) / static_cast<double>(up_interval));
  std::printf("  logins: upstream %d (one per InfisicalSecret); ours %lld (identities: %d)\n", l.n,
              (long long)init_inf.logins, l.identities);

  // --- targets
  std::printf("\n== Targets\n");
  verdict(all_ready && ready_seconds <= 30.0,
          fmt::format("all {} InfisicalSecrets Ready within 30 s: {}", l.n,
                      all_ready ? fmt::format("{:.2f} s", ready_seconds) : std::string("not all Ready")));
  {
    std::string figures;
    bool ok = true;
    for (size_t w = 0; w < win_inf.size(); ++w) {
      figures += fmt::format("{}{} ({} x 304, {} x 200)", w ? ", " : "", win_inf[w].fetches(), win_inf[w].fetch_304,
                             win_inf[w].fetch_200);
      ok = ok && win_inf[w].fetches() == l.scopes;
    }
    verdict(ok, fmt::format("fetches per interval == S = {} (conditional: 304 when unchanged): {}", l.scopes, figures));
  }
  {
    int64_t logins = init_inf.logins;
    for (const auto& w : win_inf) logins += w.logins;
    verdict(logins <= l.identities,
            fmt::format("logins <= I = {} per token lifetime ({} s; the run is shorter): {} logins, {} renewals", l.identities,
                        kTokenTtlSeconds, logins, init_inf.renewals + [&] {
                          int64_t r = 0;
                          for (const auto& w : win_inf) r += w.renewals;
                          return r;
                        }()));
  }
  {
    std::string figures;
    bool ok = true;
    for (size_t w = 0; w < win_kube.size(); ++w) {
      figures += fmt::format("{}{}", w ? ", " : "", win_kube[w].writes);
      ok = ok && win_kube[w].writes == 0;
    }
    if (own_cluster) verdict(ok, "zero Kubernetes writes per interval when nothing changed: " + figures);
    else std::printf("  n/a   zero Kubernetes writes per interval (no server-side counters with --kubeconfig)\n");
  }
  verdict(write_ratio > 0 && write_ratio <= 1.5,
          fmt::format("Ready within 1.5 x the writer baseline ({} writes at {:.0f} writes/s = {:.2f} s): {:.2f} s, {:.2f} x",
                      writes_needed, writer.rate(), baseline_seconds, ready_seconds, write_ratio));
  if (!own_cluster)
    std::printf("  n/a   writes per InfisicalSecret by kind (no server-side counters with --kubeconfig)\n");
  else verdict(writes_per_resource <= 2.1,
          fmt::format("<= 2.1 writes per InfisicalSecret at the first sync (workload patches aside): {:.2f}",
                      writes_per_resource));
  {
    std::string figures;
    bool ok = true;
    for (size_t w = 1; w < marks.size(); ++w) {
      const double cpu = marks[w].syncer.cpu_seconds - marks[w - 1].syncer.cpu_seconds;
      figures += fmt::format("{}{:.2f}", w > 1 ? ", " : "", cpu);
      ok = ok && cpu <= 1.0;
    }
    verdict(ok, fmt::format("syncer CPU <= 1 s per unchanged {} s interval: {} s", o.interval, figures));
  }
  verdict(all_rolled && wrong == 0 && rolled_set.size() == consumers.size(),
          fmt::format("rollouts after the change == consumers of the changed key ({}): {}", consumers.size(),
                      rolled_set.size()));
  verdict(install_rolled == 0 && install_new_revisions == 0,
          fmt::format("the install rolls no Deployment (baselines only): {} rollouts during the initial sync",
                      std::max(install_rolled, install_new_revisions)));
  verdict(ready_after_steady == l.n, fmt::format("still {} Ready after the steady intervals: {}", l.n, ready_after_steady));
  double hwm_mib = final_fig.hwm_kib / 1024.0;
  verdict(hwm_mib < 64.0, fmt::format("syncer peak RSS < 64 MiB (target stated for 10,000 resources): {:.1f} MiB", hwm_mib));
  return finish();
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  try {
    int rc = run(o);
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "syncer-scale: %s\n", e.what());
    stop_children();
    return 1;
  }
}
