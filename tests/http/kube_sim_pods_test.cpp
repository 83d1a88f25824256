// kube-sim's kubelet stand-in: a Deployment's Pods are created with ownerReferences, their containers
// run as processes with the Pod's env and volumes, readiness probes decide the Deployment's ready
// counts, an exit restarts the container, and deleting the Deployment ends the processes. A container
// without command runs its image's entrypoint; each Pod's host ports are listed in its directory.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "core/json.h"
#include "kube_sim_types.h"
#include "sim/kube/gc.h"
#include "sim/kube/kubelet.h"
#include "sim/kube/rollout.h"
#include "test_helpers.h"

using namespace ifo;
using namespace ifo::kubesim;
namespace fs = std::filesystem;

namespace {

using test::body_doc;
using test::eventually;
using test::sim_type;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A listening loopback socket on an ephemeral port (a readiness probe target the test controls).
struct Listener {
  int fd = -1;
  int port = 0;
  explicit Listener(int want = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(want));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  void listen() { REQUIRE(::listen(fd, 16) == 0); }
  ~Listener() { ::close(fd); }
};

struct Cluster {
  fs::path tmp;
  Store store;
  ResourceType ns = sim_type("", "namespaces", "Namespace", false);
  ResourceType secrets = sim_type("", "secrets", "Secret", true);
  ResourceType configmaps = sim_type("", "configmaps", "ConfigMap", true);
  ResourceType pods = sim_type("", "pods", "Pod", true, true);
  ResourceType services = sim_type("", "services", "Service", true, true);
  ResourceType deployments = sim_type("apps", "deployments", "Deployment", true, true, true);
  ResourceType replicasets = sim_type("apps", "replicasets", "ReplicaSet", true, true, true);
  ResourceType jobs = sim_type("batch", "jobs", "Job", true, true, true);
  std::shared_ptr<RolloutSimulator> rollout;
  std::shared_ptr<GarbageCollector> gc = std::make_shared<GarbageCollector>(store);
  std::unique_ptr<Kubelet> kubelet;

  Cluster() {
    char t[] = "/tmp/kube-sim-pods-test-XXXXXX";
    REQUIRE(::mkdtemp(t) != nullptr);
    tmp = t;
    // The "image": a root directory whose /bin/sh is the host's shell.
    fs::create_directories(tmp / "root/bin");
    fs::create_symlink("/bin/sh", tmp / "root/bin/sh");
    for (const auto& ty : {ns, secrets, configmaps, pods, services, deployments, replicasets, jobs}) store.register_type(ty);
    RolloutSimulator::Options ro;
    ro.pods_decide_readiness = true;
    rollout = std::make_shared<RolloutSimulator>(store, ro);
    rollout->install();
    gc->install();
    KubeletOptions ko;
    REQUIRE(parse_run_pods("example.com/shell=" + (tmp / "root").string() +
                               ",example.com/bare=" + (tmp / "root").string(),
                           ko)
                .ok());
    // The shell image's config says ENTRYPOINT ["/bin/sh", "-c"]; the bare one has no entrypoint.
    REQUIRE(parse_image_entrypoint("example.com/shell=/bin/sh,-c", ko).ok());
    ko.pod_dir = (tmp / "pods").string();
    kubelet = std::make_unique<Kubelet>(store, ko);
    kubelet->start();
    store.create(ns, "", body_doc(R"({"metadata":{"name":"app"}})"));
  }
  ~Cluster() {
    kubelet.reset();
    std::error_code ec;
    fs::remove_all(tmp, ec);
  }
  ObjectPtr get(const std::string& group, const std::string& resource, const std::string& name) {
    return store.get(group, resource, "app", name);
  }
  std::vector<ObjectPtr> app_pods() { return store.list("", "pods", "app").items; }
  // The one container status of the one Pod in "app" as JSON; "" while there is not exactly one of each.
  std::string container_status() {
    auto pods = app_pods();
    if (pods.size() != 1) return "";
    const auto* cs = core::at_path(pods[0]->value(), {"status", "containerStatuses"});
    return cs && cs->IsArray() && cs->Size() == 1 ? core::to_json((*cs)[0]) : "";
  }
  int64_t deployment_status(const char* field) {
    ObjectPtr d = get("apps", "deployments", "web");
    const core::JsonValue* st = d ? core::member(d->value(), "status") : nullptr;
    return st ? core::get_int(*st, field).value_or(0) : -1;
  }
};

// `,"<kind>":{...}`: a tcpSocket probe of `port` every second, for deployment()'s `probe`.
std::string tcp_probe(std::string_view kind, int port, int failure_threshold) {
  return fmt::format(R"(,"{}":{{"tcpSocket":{{"port":{}}},"periodSeconds":1,"failureThreshold":{}}})", kind, port,
                     failure_threshold);
}

std::string deployment(const std::string& script, const std::string& probe) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,
    "selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{
    "containers":[{"name":"main","image":"example.com/shell:1.0","command":["/bin/sh","-c"],"args":[")" +
         script + R"("],
      "env":[{"name":"GREETING","value":"hello"},{"name":"MSG","value":"$(GREETING) world"},
             {"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
             {"name":"NS","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}},
             {"name":"PASSWORD","valueFrom":{"secretKeyRef":{"name":"db","key":"password"}}},
             {"name":"MODE","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"mode"}}}],
      "volumeMounts":[{"name":"creds","mountPath":"/etc/creds"},{"name":"conf","mountPath":"/etc/conf"}])" +
         probe + R"(}],
    "volumes":[{"name":"creds","secret":{"secretName":"db"}},{"name":"conf","configMap":{"name":"cfg"}}]}}}})";
}

void objects(Cluster& c) {
  c.store.create(c.secrets, "app", body_doc(R"({"metadata":{"name":"db"},"data":{"password":"czNjcjN0"}})"));
  c.store.create(c.configmaps, "app", body_doc(R"({"metadata":{"name":"cfg"},"data":{"mode":"fast"}})"));
}

}  // namespace

TEST_CASE("a Deployment's Pod runs its container with the Pod's env and volumes, and is killed with it") {
  Cluster c;
  objects(c);
  fs::path out = c.tmp / "out.txt";
  std::string script = "echo $$$$ > " + out.string() + ".pid; echo $POD $NS $MSG $PASSWORD $MODE > " + out.string() +
                       ".tmp; cat /etc/creds/password /etc/conf/mode >> " + out.string() + ".tmp; mv " +
                       out.string() + ".tmp " + out.string() + "; exec sleep 600";
  c.store.create(c.deployments, "app", body_doc(deployment(script, "")));
  REQUIRE(eventually([&] { return fs::exists(out); }, std::chrono::seconds(20)));
  auto pods = c.app_pods();
  REQUIRE(pods.size() == 1);
  const auto& pod = pods[0]->value();
  std::string pod_name = core::string_or(pod["metadata"], "name", "");
  CHECK(pod_name.rfind("web-", 0) == 0);
  const auto* refs = core::at_path(pod, {"metadata", "ownerReferences"});
  REQUIRE(refs != nullptr);
  CHECK(core::string_or((*refs)[0], "kind", "") == "ReplicaSet");
  CHECK(core::get_bool((*refs)[0], "controller").value_or(false));
  CHECK(read_file(out) == pod_name + " app hello world s3cr3t fast\ns3cr3tfast");

  // The kubelet's volume layout: KEY -> ..data/KEY, ..data -> ..TIMESTAMP.
  fs::path vol = c.tmp / "pods" / ("app_" + pod_name) / "volumes" / "creds";
  CHECK(fs::is_symlink(vol / "..data"));
  CHECK(fs::read_symlink(vol / "password") == fs::path("..data/password"));
  // An update of the Secret is swapped in atomically.
  c.store.update(c.secrets, "app", body_doc(R"({"metadata":{"name":"db"},"data":{"password":"bmV3"}})"));
  CHECK(eventually([&] { return read_file(vol / "password") == "new"; }, std::chrono::seconds(10)));

  // Ready without a readiness probe: the Deployment's counts follow the Pod.
  CHECK(eventually([&] { return c.deployment_status("availableReplicas") == 1; }, std::chrono::seconds(10)));

  // Deleting the Deployment: GC removes ReplicaSet and Pod, the process ends.
  pid_t pid = std::stoi(read_file(fs::path(out.string() + ".pid")));
  CHECK(::kill(pid, 0) == 0);
  c.store.remove(c.deployments, "app", "web");
  CHECK(eventually([&] { return c.app_pods().empty(); }, std::chrono::seconds(10)));
  CHECK(eventually([&] { return ::kill(pid, 0) != 0; }, std::chrono::seconds(40)));
}

TEST_CASE("a readiness probe holds the Deployment unavailable until it passes") {
  Cluster c;
  objects(c);
  Listener l;  // bound, not listening: the tcpSocket probe fails
  c.store.create(c.deployments, "app", body_doc(deployment("exec sleep 600", tcp_probe("readinessProbe", l.port, 1))));
  REQUIRE(eventually([&] {
    auto pods = c.app_pods();
    if (pods.size() != 1) return false;
    const auto* phase = core::at_path(pods[0]->value(), {"status", "phase"});
    return phase && std::string(phase->GetString()) == "Running";
  }, std::chrono::seconds(20)));
  // Running but not ready: the rollout is not done (kubectl rollout status keeps waiting).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // more than one probe period
  CHECK(c.deployment_status("availableReplicas") == 0);
  CHECK(c.deployment_status("unavailableReplicas") == 1);
  l.listen();
  CHECK(eventually([&] { return c.deployment_status("availableReplicas") == 1; }, std::chrono::seconds(10)));
  CHECK(c.deployment_status("readyReplicas") == 1);
}

TEST_CASE("a failing liveness probe restarts the container; a passing one leaves it running") {
  Cluster c;
  objects(c);
  Listener l;  // bound, not listening: the tcpSocket probe fails
  c.store.create(c.deployments, "app", body_doc(deployment("exec sleep 600", tcp_probe("livenessProbe", l.port, 2))));
  // sleep 600 never exits on its own: a restart is the probe's doing, killed as the kubelet kills.
  CHECK(eventually([&] { return c.container_status().find("\"restartCount\":1") != std::string::npos; },
                   std::chrono::seconds(20)));
  CHECK(c.container_status().find("\"exitCode\":137") != std::string::npos);
  l.listen();
  // Restarted after the 10 s back-off, it now passes and stays up.
  REQUIRE(eventually([&] { return c.container_status().find("\"running\"") != std::string::npos; },
                     std::chrono::seconds(20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // more than failureThreshold periods
  CHECK(c.container_status().find("\"restartCount\":1") != std::string::npos);
  CHECK(c.container_status().find("\"running\"") != std::string::npos);
}

TEST_CASE("a container that exits is restarted and counted; a missing Secret key or image keeps it waiting") {
  Cluster c;
  objects(c);
  c.store.create(c.deployments, "app", body_doc(deployment("exit 3", "")));
  CHECK(eventually([&] { return c.container_status().find("\"CrashLoopBackOff\"") != std::string::npos; },
                   std::chrono::seconds(20)));
  std::string s = c.container_status();
  CHECK(s.find("\"exitCode\":3") != std::string::npos);
  CHECK(s.find("\"restartCount\":1") != std::string::npos);
  // After the 10 s back-off it runs (and fails) again.
  CHECK(eventually([&] { return c.container_status().find("\"restartCount\":2") != std::string::npos; },
                   std::chrono::seconds(30)));
  c.store.remove(c.deployments, "app", "web");
  REQUIRE(eventually([&] { return c.app_pods().empty(); }, std::chrono::seconds(10)));

  // A Pod written through the API whose secretKeyRef names a missing key.
  c.store.create(c.pods, "app", body_doc(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"main",
    "image":"example.com/shell","command":["/bin/sh","-c","sleep 600"],
    "env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":"db","key":"nope"}}}]},
    {"name":"other","image":"registry.example/unknown:1","command":["x"]}]}})"));
  CHECK(eventually([&] { return c.container_status().empty(); }));  // two containers now
  CHECK(eventually([&] {
    ObjectPtr p = c.get("", "pods", "p");
    const core::JsonValue* status = p ? core::member(p->value(), "status") : nullptr;
    if (status == nullptr) return false;
    std::string st = core::to_json(*status);
    return st.find("CreateContainerConfigError") != std::string::npos &&
           st.find("couldn't find key nope in Secret app/db") != std::string::npos &&
           st.find("ErrImagePull") != std::string::npos;
  }, std::chrono::seconds(10)));
}

TEST_CASE("each Pod's declared ports get their own host port; a Service reaches a Ready Pod behind it") {
  Cluster c;
  fs::path out = c.tmp / "port.txt";
  c.store.create(c.services, "app", body_doc(R"({"metadata":{"name":"hook"},"spec":{"selector":{"app":"hook"},
    "ports":[{"port":443,"targetPort":"https"}]}})"));
  auto no_endpoints = c.kubelet->service_endpoint("app", "hook", 443);
  REQUIRE(!no_endpoints.ok());
  CHECK(no_endpoints.error() == "no endpoints available for service \"hook\"");
  CHECK(c.kubelet->service_endpoint("app", "hook", 80).error() == "no service port 80 found for service \"hook\"");
  CHECK(c.kubelet->service_endpoint("app", "gone", 443).error() == "service \"gone\" not found");
  c.store.create(c.pods, "app", body_doc(R"({"metadata":{"name":"hook-1","labels":{"app":"hook"}},"spec":{"containers":[{
    "name":"main","image":"example.com/shell","command":["/bin/sh","-c","echo $0 > )" + out.string() + R"(.tmp; mv )" +
                                          out.string() + ".tmp " + out.string() + R"(; exec sleep 600","--port=9443"],
    "ports":[{"name":"https","containerPort":9443}],
    "readinessProbe":{"tcpSocket":{"port":"https"},"periodSeconds":1,"failureThreshold":1}}]}})"));
  REQUIRE(eventually([&] { return fs::exists(out); }, std::chrono::seconds(20)));
  std::string arg = read_file(out);
  REQUIRE(arg.rfind("--port=", 0) == 0);
  int port = std::stoi(arg.substr(7));
  CHECK(port != 9443);
  // Below the kernel's ephemeral range (where no outgoing connection takes it before the Pod binds it)
  // when the range leaves room below it.
  int ephemeral_low = 0;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low;
  if (ephemeral_low - 10000 >= 1000) {
    CHECK(port >= 10000);
    CHECK(port < ephemeral_low);
  }
  CHECK(!c.kubelet->service_endpoint("app", "hook", 443).ok());  // running, not ready: no endpoint yet
  Listener l(port);
  l.listen();
  CHECK(eventually([&] { return c.kubelet->service_endpoint("app", "hook", 443).ok(); }, std::chrono::seconds(10)));
  CHECK(*c.kubelet->service_endpoint("app", "hook", 443) == "127.0.0.1:" + std::to_string(port));
  // Where a user finds the host port (kubectl port-forward is not served).
  CHECK(read_file(c.tmp / "pods" / "app_hook-1" / "ports") == "9443 " + std::to_string(port) + "\n");
}

TEST_CASE("a container without command runs its image's entrypoint followed by its args") {
  Cluster c;
  fs::path out = c.tmp / "entry.txt";
  // As examples/deployment.yaml's nginx container: no command, the image decides what runs.
  c.store.create(c.pods, "app",
                 body_doc(R"({"metadata":{"name":"ep"},"spec":{"containers":[{"name":"main",
    "image":"example.com/shell:2.0","args":["echo entry $0 > )" +
                          out.string() + R"(.tmp; mv )" + out.string() + ".tmp " + out.string() +
                          R"(; exec sleep 600","first-arg"]}]}})"));
  REQUIRE(eventually([&] { return fs::exists(out); }, std::chrono::seconds(20)));
  CHECK(read_file(out) == "entry first-arg\n");  // /bin/sh -c SCRIPT first-arg

  // An image whose entrypoint kube-sim was not told: the container cannot be created.
  c.store.create(c.pods, "app", body_doc(R"({"metadata":{"name":"bare"},"spec":{"containers":[{"name":"main",
    "image":"example.com/bare:1","args":["600"]}]}})"));
  CHECK(eventually(
      [&] {
        ObjectPtr p = c.get("", "pods", "bare");
        const core::JsonValue* status = p ? core::member(p->value(), "status") : nullptr;
        std::string st = status ? core::to_json(*status) : "";
        return st.find("CreateContainerError") != std::string::npos &&
               st.find("--image-entrypoint example.com/bare:1=") != std::string::npos;
      },
      std::chrono::seconds(10)));

  KubeletOptions ko;
  for (const char* bad : {"nginx", "nginx=", "=/bin/sleep", "nginx=,infinity"}) {
    INFO(bad);
    CHECK(!parse_image_entrypoint(bad, ko).ok());
  }
  REQUIRE(parse_image_entrypoint("nginx=/bin/sleep,infinity", ko).ok());
  CHECK(ko.entrypoints["nginx"] == std::vector<std::string>{"/bin/sleep", "infinity"});
}

TEST_CASE("a Job runs its Pod to completion; a failing one stops at backoffLimit") {
  Cluster c;
  auto job = [](const std::string& name, const std::string& script, int backoff) {
    return R"({"metadata":{"name":")" + name + R"("},"spec":{"backoffLimit":)" + std::to_string(backoff) +
           R"(,"template":{"spec":{"restartPolicy":"Never","automountServiceAccountToken":false,
      "containers":[{"name":"main","image":"example.com/shell","command":["/bin/sh","-c",")" + script + R"("]}]}}}})";
  };
  auto condition = [&](const std::string& name, const std::string& type) {
    ObjectPtr j = c.get("batch", "jobs", name);
    const core::JsonValue* conds = j ? core::at_path(j->value(), {"status", "conditions"}) : nullptr;
    if (conds == nullptr || !conds->IsArray()) return std::string();
    for (const auto& cond : conds->GetArray()) {
      if (core::string_or(cond, "type", "") == type) return core::string_or(cond, "status", "") + "/" + core::string_or(cond, "reason", "");
    }
    return std::string();
  };
  auto status_int = [&](const std::string& name, const char* field) {
    ObjectPtr j = c.get("batch", "jobs", name);
    const core::JsonValue* st = j ? core::member(j->value(), "status") : nullptr;
    return st ? core::get_int(*st, field).value_or(0) : 0;
  };
  c.store.create(c.jobs, "app", body_doc(job("ok", "exit 0", 6)));
  c.store.create(c.jobs, "app", body_doc(job("bad", "exit 2", 1)));
  CHECK(eventually([&] { return condition("ok", "Complete") == "True/CompletionsReached"; }, std::chrono::seconds(20)));
  CHECK(status_int("ok", "succeeded") == 1);
  CHECK(status_int("ok", "active") == 0);
  // backoffLimit 1: the first failure is retried with a new Pod, the second ends the Job.
  CHECK(eventually([&] { return condition("bad", "Failed") == "True/BackoffLimitExceeded"; }, std::chrono::seconds(20)));
  CHECK(status_int("bad", "failed") == 2);
  int failed_pods = 0, succeeded_pods = 0;
  for (const auto& p : c.app_pods()) {
    const core::JsonValue* phase = core::at_path(p->value(), {"status", "phase"});
    std::string ph = phase && phase->IsString() ? phase->GetString() : "";
    const core::JsonValue* labels = core::at_path(p->value(), {"metadata", "labels"});
    std::string job_name = labels ? core::string_or(*labels, "job-name", "") : "";
    if (job_name == "bad" && ph == "Failed") ++failed_pods;
    if (job_name == "ok" && ph == "Succeeded") ++succeeded_pods;
  }
  CHECK(failed_pods == 2);
  CHECK(succeeded_pods == 1);
}
