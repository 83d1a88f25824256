// kube-sim's rollout simulator: stands in for the Deployment, ReplicaSet, StatefulSet and DaemonSet
// controllers, with pods that become ready at once, so that `kubectl rollout status` finishes and tests
// can count rollouts by revision.
//
// Deployment (apps/v1): when the pod template has no ReplicaSet yet, a ReplicaSet `NAME-HASH` is created
// with label/selector `pod-template-hash: HASH`, a controller ownerReference to the Deployment and
// annotation `deployment.kubernetes.io/revision` = highest revision + 1 (also written on the
// Deployment); returning to an older template re-uses its ReplicaSet and gives it the next revision,
// as the real controller does. Older ReplicaSets are scaled to 0. The Deployment status gets
// observedGeneration, replicas, updatedReplicas, readyReplicas, availableReplicas and the conditions
// Available (MinimumReplicasAvailable) and Progressing (NewReplicaSetAvailable).
// StatefulSet: status.updateRevision = currentRevision = `NAME-HASH`, observedGeneration, replicas,
// readyReplicas, currentReplicas, updatedReplicas, availableReplicas (kubectl's statefulset check).
// DaemonSet: on `node_count` simulated nodes, status desiredNumberScheduled, currentNumberScheduled,
// updatedNumberScheduled, numberReady, numberAvailable, observedGeneration, plus the real API server's
// annotation `deprecated.daemonset.template.generation`; kube-sim also writes status.updateRevision /
// currentRevision (`NAME-HASH`) on DaemonSets, which a real cluster keeps in ControllerRevisions only.
//
// Differences from the real controllers (documented): HASH is FNV-32a over the template's JSON encoded
// with the controller's "safe" alphabet, so names look real but differ from a real cluster's; the
// rollout is instantaneous (no surge/unavailable steps; Pods exist only with the kubelet stand-in, kubelet.h); `spec.paused` and
// progressDeadlineSeconds are not simulated; these writes do not run admission (store.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/json.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

// The pod-template hash as kube-sim computes it (FNV-32a of the JSON text, "safe" encoded).
std::string pod_template_hash(const core::JsonValue& pod_template);

class RolloutSimulator : public std::enable_shared_from_this<RolloutSimulator> {
 public:
  struct Options {
    int node_count = 1;  // DaemonSet: simulated schedulable nodes
    // With the kubelet stand-in (--run-pods): a Deployment's ready/available counts are its new
    // ReplicaSet's Ready Pods, and every Pod write re-examines the owning Deployment.
    bool pods_decide_readiness = false;
  };
  RolloutSimulator(Store& store, Options options);

  // Registers the store observer (which keeps this object alive); call once before serving. The
  // object must be owned by a std::shared_ptr.
  void install();

  // Re-examines one workload now (the observer calls this for every write of a workload).
  void reconcile(const std::string& resource, const std::string& ns, const std::string& name);

  // New revisions made so far, over all workloads (the admin endpoint's rollout counter).
  uint64_t rollouts() const { return rollouts_.load(); }
  // New revisions made for one workload ("deployments"|"statefulsets"|"daemonsets", ns, name).
  uint64_t rollouts_of(const std::string& resource, const std::string& ns, const std::string& name) const;

 private:
  void reconcile_deployment(const std::string& ns, const std::string& name);
  void reconcile_statefulset(const std::string& ns, const std::string& name);
  void reconcile_daemonset(const std::string& ns, const std::string& name);
  int64_t ready_pods(const std::string& rs_uid, const std::string& ns) const;
  void count(const std::string& resource, const std::string& ns, const std::string& name);

  Store& store_;
  Options options_;
  std::atomic<uint64_t> rollouts_{0};
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> per_object_;
};

}  // namespace ifo::kubesim
