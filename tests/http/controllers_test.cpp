// kube-sim's rollout simulator and garbage collector over the Store: revisions counted per template
// change, the status kubectl's rollout-status logic needs, and ownerReference cascades.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/json.h"
#include "kube_sim_types.h"
#include "sim/kube/gc.h"
#include "sim/kube/rollout.h"

using namespace ifo;
using namespace ifo::kubesim;

namespace {

using test::sim_type;
using test::body_doc;

struct Cluster {
  Store store;
  ResourceType ns = sim_type("", "namespaces", "Namespace", false, false, false);
  ResourceType secrets = sim_type("", "secrets", "Secret", true, false, false);
  ResourceType configmaps = sim_type("", "configmaps", "ConfigMap", true, false, false);
  ResourceType deployments = sim_type("apps", "deployments", "Deployment", true, true, true);
  ResourceType replicasets = sim_type("apps", "replicasets", "ReplicaSet", true, true, true);
  ResourceType statefulsets = sim_type("apps", "statefulsets", "StatefulSet", true, true, true);
  ResourceType daemonsets = sim_type("apps", "daemonsets", "DaemonSet", true, true, true);
  std::shared_ptr<RolloutSimulator> rollout_ptr = std::make_shared<RolloutSimulator>(store, RolloutSimulator::Options{2});
  std::shared_ptr<GarbageCollector> gc_ptr = std::make_shared<GarbageCollector>(store);
  RolloutSimulator& rollout = *rollout_ptr;
  GarbageCollector& gc = *gc_ptr;

  // `first_observer` runs before the simulators on the store's dispatcher thread (a test can stall it).
  explicit Cluster(Store::Observer first_observer = {}) {
    for (const auto& t : {ns, secrets, configmaps, deployments, replicasets, statefulsets, daemonsets}) store.register_type(t);
    if (first_observer) store.add_observer(std::move(first_observer));
    rollout.install();
    gc.install();
    store.create(ns, "", body_doc(R"({"metadata":{"name":"app"}})"));
  }
  const core::JsonValue& get(const std::string& group, const std::string& resource, const std::string& name) {
    store.wait_idle();
    ObjectPtr o = store.get(group, resource, "app", name);
    REQUIRE_MESSAGE(o, std::string(resource + "/" + name + " missing"));
    held.push_back(o);
    return o->value();
  }
  std::vector<ObjectPtr> held;
};

std::string workload(const std::string& kind, const std::string& name, const std::string& image, int replicas) {
  return R"({"apiVersion":"apps/v1","kind":")" + kind + R"(","metadata":{"name":")" + name +
         R"("},"spec":{"replicas":)" + std::to_string(replicas) +
         R"(,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":")" +
         image + R"("}]}}}})";
}

std::string annotation(const core::JsonValue& obj, const char* key) {
  const core::JsonValue* ann = core::at_path(obj, {"metadata", "annotations"});
  return ann ? core::string_or(*ann, key, "") : "";
}

int64_t status_int(const core::JsonValue& obj, const char* key) {
  return core::get_int(*core::member(obj, "status"), key).value_or(-1);
}

// kubectl's DeploymentStatusViewer: done when all of these hold.
bool rollout_done(const core::JsonValue& d) {
  int64_t gen = *core::get_int(*core::member(d, "metadata"), "generation");
  int64_t replicas = core::get_int(*core::member(d, "spec"), "replicas").value_or(1);
  const core::JsonValue* st = core::member(d, "status");
  if (!st) return false;
  bool progressing_ok = false;
  for (const auto& c : core::member(*st, "conditions")->GetArray()) {
    if (core::string_or(c, "type", "") == "Progressing")
      progressing_ok = core::string_or(c, "reason", "") != "ProgressDeadlineExceeded";
  }
  return gen <= status_int(d, "observedGeneration") && status_int(d, "updatedReplicas") >= replicas &&
         status_int(d, "replicas") <= status_int(d, "updatedReplicas") &&
         status_int(d, "availableReplicas") >= status_int(d, "updatedReplicas") && progressing_ok;
}

}  // namespace

TEST_CASE("a Deployment gets a ReplicaSet per template and a revision per rollout") {
  Cluster c;
  c.store.create(c.deployments, "app", body_doc(workload("Deployment", "web", "nginx:1", 3)));
  const core::JsonValue& d1 = c.get("apps", "deployments", "web");
  CHECK(annotation(d1, "deployment.kubernetes.io/revision") == "1");
  CHECK(rollout_done(d1));
  CHECK(c.rollout.rollouts_of("deployments", "app", "web") == 1);
  auto rs = c.store.list("apps", "replicasets", "app").items;
  REQUIRE(rs.size() == 1);
  const core::JsonValue& rs1 = rs[0]->value();
  std::string hash = core::string_or(*core::at_path(rs1, {"metadata", "labels"}), "pod-template-hash", "");
  CHECK(core::string_or(*core::member(rs1, "metadata"), "name", "") == "web-" + hash);
  CHECK(annotation(rs1, "deployment.kubernetes.io/revision") == "1");
  const core::JsonValue& ref = (*core::at_path(rs1, {"metadata", "ownerReferences"}))[0];
  CHECK(core::string_or(ref, "uid", "") == core::string_or(*core::member(d1, "metadata"), "uid", ""));
  CHECK(core::get_bool(ref, "controller") == true);
  CHECK(core::string_or(*core::at_path(rs1, {"spec", "selector", "matchLabels"}), "pod-template-hash", "") == hash);

  // A scale change is not a rollout.
  c.store.update(c.deployments, "app", body_doc(workload("Deployment", "web", "nginx:1", 5)));
  const core::JsonValue& d_scaled = c.get("apps", "deployments", "web");
  CHECK(annotation(d_scaled, "deployment.kubernetes.io/revision") == "1");
  CHECK(status_int(d_scaled, "availableReplicas") == 5);
  CHECK(rollout_done(d_scaled));

  // A template change is revision 2, with the old ReplicaSet scaled down.
  c.store.update(c.deployments, "app", body_doc(workload("Deployment", "web", "nginx:2", 5)));
  const core::JsonValue& d2 = c.get("apps", "deployments", "web");
  CHECK(annotation(d2, "deployment.kubernetes.io/revision") == "2");
  CHECK(rollout_done(d2));
  CHECK(c.store.list("apps", "replicasets", "app").items.size() == 2);
  const core::JsonValue& old_rs = c.get("apps", "replicasets", "web-" + hash);
  CHECK(core::get_int(*core::member(old_rs, "spec"), "replicas") == 0);

  // Back to the first template: its ReplicaSet returns as revision 3.
  c.store.update(c.deployments, "app", body_doc(workload("Deployment", "web", "nginx:1", 5)));
  const core::JsonValue& d3 = c.get("apps", "deployments", "web");
  CHECK(annotation(d3, "deployment.kubernetes.io/revision") == "3");
  CHECK(annotation(c.get("apps", "replicasets", "web-" + hash), "deployment.kubernetes.io/revision") == "3");
  CHECK(c.store.list("apps", "replicasets", "app").items.size() == 2);
  CHECK(c.rollout.rollouts_of("deployments", "app", "web") == 3);
  CHECK(c.rollout.rollouts() == 3);

  // Deleting the Deployment collects its ReplicaSets.
  c.store.remove(c.deployments, "app", "web");
  c.store.wait_idle();
  CHECK(c.store.list("apps", "replicasets", "app").items.empty());
}

TEST_CASE("StatefulSet and DaemonSet revisions and the counts kubectl rollout status reads") {
  Cluster c;
  c.store.create(c.statefulsets, "app", body_doc(workload("StatefulSet", "db", "pg:1", 2)));
  const core::JsonValue& s1 = c.get("apps", "statefulsets", "db");
  std::string rev1 = core::string_or(*core::member(s1, "status"), "updateRevision", "");
  CHECK(rev1.rfind("db-", 0) == 0);
  CHECK(core::string_or(*core::member(s1, "status"), "currentRevision", "") == rev1);
  CHECK(status_int(s1, "readyReplicas") == 2);
  CHECK(status_int(s1, "observedGeneration") == 1);
  c.store.update(c.statefulsets, "app", body_doc(workload("StatefulSet", "db", "pg:2", 2)));
  const core::JsonValue& s2 = c.get("apps", "statefulsets", "db");
  CHECK(core::string_or(*core::member(s2, "status"), "updateRevision", "") != rev1);
  CHECK(status_int(s2, "observedGeneration") == 2);
  CHECK(c.rollout.rollouts_of("statefulsets", "app", "db") == 2);

  c.store.create(c.daemonsets, "app", body_doc(workload("DaemonSet", "agent", "a:1", 1)));
  const core::JsonValue& ds1 = c.get("apps", "daemonsets", "agent");
  CHECK(status_int(ds1, "desiredNumberScheduled") == 2);
  CHECK(status_int(ds1, "numberAvailable") == 2);
  CHECK(status_int(ds1, "updatedNumberScheduled") == 2);
  CHECK(annotation(ds1, "deprecated.daemonset.template.generation") == "1");
  c.store.update(c.daemonsets, "app", body_doc(workload("DaemonSet", "agent", "a:2", 1)));
  const core::JsonValue& ds2 = c.get("apps", "daemonsets", "agent");
  CHECK(annotation(ds2, "deprecated.daemonset.template.generation") == "2");
  CHECK(c.rollout.rollouts_of("daemonsets", "app", "agent") == 2);
}

TEST_CASE("garbage collection of owned Secrets: background, orphan, foreground, several owners") {
  Cluster c;
  auto owner = [&](const std::string& name) {
    ObjectPtr o = c.store.create(c.configmaps, "app", body_doc(R"({"metadata":{"name":")" + name + R"("}})"));
    return core::string_or(*core::member(o->value(), "metadata"), "uid", "");
  };
  auto owned_secret = [&](const std::string& name, const std::vector<std::pair<std::string, std::string>>& owners) {
    std::string refs;
    for (const auto& [oname, uid] : owners) {
      refs += std::string(refs.empty() ? "" : ",") + R"({"apiVersion":"v1","kind":"ConfigMap","name":")" + oname +
              R"(","uid":")" + uid + R"("})";
    }
    c.store.create(c.secrets, "app", body_doc(R"({"metadata":{"name":")" + name + R"(","ownerReferences":[)" + refs + "]}}"));
  };

  std::string u1 = owner("o1");
  owned_secret("s1", {{"o1", u1}});
  c.store.create(c.secrets, "app", body_doc(R"({"metadata":{"name":"unrelated"}})"));
  c.store.remove(c.configmaps, "app", "o1");
  c.store.wait_idle();
  CHECK_FALSE(c.store.get("", "secrets", "app", "s1"));
  CHECK(c.store.get("", "secrets", "app", "unrelated"));
  CHECK(c.gc.collected() == 1);

  std::string u2 = owner("o2");
  owned_secret("s2", {{"o2", u2}});
  DeleteOptions orphan;
  orphan.propagation_policy = "Orphan";
  c.store.remove(c.configmaps, "app", "o2", orphan);
  c.store.wait_idle();
  ObjectPtr s2 = c.store.get("", "secrets", "app", "s2");
  REQUIRE(s2);
  CHECK(core::at_path(s2->value(), {"metadata", "ownerReferences"}) == nullptr);

  std::string u3 = owner("o3");
  std::string u4 = owner("o4");
  owned_secret("s3", {{"o3", u3}, {"o4", u4}});
  c.store.remove(c.configmaps, "app", "o3");
  c.store.wait_idle();
  ObjectPtr s3 = c.store.get("", "secrets", "app", "s3");
  REQUIRE(s3);  // o4 still owns it
  CHECK(core::at_path(s3->value(), {"metadata", "ownerReferences"})->Size() == 1);
  c.store.remove(c.configmaps, "app", "o4");
  c.store.wait_idle();
  CHECK_FALSE(c.store.get("", "secrets", "app", "s3"));

  std::string u5 = owner("o5");
  owned_secret("s5", {{"o5", u5}});
  DeleteOptions fg;
  fg.propagation_policy = "Foreground";
  c.store.remove(c.configmaps, "app", "o5", fg);
  c.store.wait_idle();
  CHECK_FALSE(c.store.get("", "secrets", "app", "s5"));
  CHECK_FALSE(c.store.get("", "configmaps", "app", "o5"));

  // A reference whose uid does not match the live object of that name is dangling: collected.
  owner("o6");
  owned_secret("s6", {{"o6", "some-other-uid"}});
  std::string u7 = owner("o7");
  owned_secret("s7", {{"o7", u7}, {"o6", "some-other-uid"}});
  c.store.remove(c.configmaps, "app", "o7");
  c.store.wait_idle();
  CHECK_FALSE(c.store.get("", "secrets", "app", "s7"));
  c.store.wait_idle();
  CHECK_FALSE(c.store.get("", "secrets", "app", "s6"));  // written dangling: collected on arrival

  // A dependent recreated after its owner went (a controller with a stale cache) is collected too;
  // one whose owner is of a kind the server does not serve is left alone.
  std::string u8 = owner("o8");
  c.store.remove(c.configmaps, "app", "o8");
  c.store.wait_idle();
  owned_secret("s8", {{"o8", u8}});
  c.store.create(c.secrets, "app", body_doc(R"({"metadata":{"name":"s9","ownerReferences":[{"apiVersion":"example.com/v1","kind":"Widget","name":"w","uid":"u9"}]}})"));
  c.store.wait_idle();
  CHECK_FALSE(c.store.get("", "secrets", "app", "s8"));
  CHECK(c.store.get("", "secrets", "app", "s9"));
}

TEST_CASE("garbage collection judges an owner by event order: a dependent created just before its owner's Orphan delete stays") {
  // The dispatcher is stalled on the dependent's create event until the owner's delete is committed,
  // the interleaving a busy server produces: the collector must not take the committed delete as
  // "owner already gone" and collect the dependent the Orphan policy was meant to keep.
  std::mutex mu;
  std::condition_variable cv;
  bool owner_deleted = false;
  Cluster c([&](const WriteEvent& ev) {
    if (ev.type != EventType::kAdded || ev.resource != "secrets") return;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return owner_deleted; });
  });
  ObjectPtr o = c.store.create(c.configmaps, "app", body_doc(R"({"metadata":{"name":"owner"}})"));
  std::string uid = core::string_or(*core::member(o->value(), "metadata"), "uid", "");
  c.store.create(c.secrets, "app", body_doc(R"({"metadata":{"name":"kept","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":")" + uid + R"("}]}})"));
  DeleteOptions orphan;
  orphan.propagation_policy = "Orphan";
  c.store.remove(c.configmaps, "app", "owner", orphan);
  {
    std::lock_guard<std::mutex> lock(mu);
    owner_deleted = true;
  }
  cv.notify_all();
  c.store.wait_idle();
  ObjectPtr kept = c.store.get("", "secrets", "app", "kept");
  REQUIRE(kept);
  CHECK(core::at_path(kept->value(), {"metadata", "ownerReferences"}) == nullptr);
  CHECK(c.gc.collected() == 0);
  CHECK(c.gc.orphaned() == 1);
}
