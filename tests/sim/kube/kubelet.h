// kube-sim's kubelet stand-in (opt-in, `--run-pods IMAGE=ROOT`): the ReplicaSet controller's Pods and
// their containers as local processes, so a chart's Pod specs (command, args, env, volumes, probes)
// really run.
//
// ReplicaSets: each one gets spec.replicas Pods `RSNAME-XXXXX` from its template, with the template's
// labels and a controller ownerReference to the ReplicaSet (surplus Pods are deleted), as the
// ReplicaSet controller does. Pods of other owners (or none) written through the API run too.
//
// A Pod's containers: the image names a root directory given on the command line (an image without a
// mapping leaves the container Waiting with reason ErrImagePull); `command[0]` is looked up in it
// (`/usr/local/bin/x` -> ROOT/usr/local/bin/x; a relative name in ROOT's usr/local/bin, usr/bin, bin).
// A container without `command` runs the image's ENTRYPOINT (`--image-entrypoint IMAGE=ARG0,...`, what
// an image's config says) followed by its args; without one it is Waiting, CreateContainerError.
// env: value, fieldRef metadata.name/namespace/uid and status.podIP (127.0.0.1), secretKeyRef and
// configMapKeyRef (optional honoured; a missing required key leaves the container Waiting with
// CreateContainerConfigError and the kubelet's message).
// Volumes: secret and configMap volumes (items and optional honoured) are written under
// DIR/NS_POD/volumes/VOLUME with the kubelet's atomic layout (`..TIMESTAMP/` files, `..data` symlink to
// it, `KEY` -> `..data/KEY`), refreshed when the object changes. Processes cannot mount: every
// occurrence of a volumeMount's mountPath (at a path boundary) in command, args and env values is
// rewritten to that directory (plus subPath). That needs nothing from the binaries, and the chart's
// own args (`--tls-cert-file=/etc/webhook/tls/tls.crt`) stay as written in the template.
// Processes: own process group, working directory DIR/NS_POD, stdout+stderr appended to
// DIR/NS_POD/CONTAINER.log; an exit restarts the container after the kubelet's back-off (10 s doubling,
// 5 min cap; restartPolicy Always); the Pod's deletion sends SIGTERM, then SIGKILL after
// terminationGracePeriodSeconds (at most 30 s).
// Ports: all processes share 127.0.0.1, so each declared containerPort of a Pod gets its own host
// port (an ephemeral one), and in command, args and env values a number equal to a declared
// containerPort right after ':' or '=' (`--port=9443`, `--metrics-bind-address=:8080`) is rewritten
// to it. Probes and Services use the same table, so the chart's ports stay as written. The table is
// written to DIR/NS_POD/ports, a line `CONTAINERPORT HOSTPORT` per port (kubectl port-forward is not
// served: that file is how one reaches a Pod's port).
// API access: the kubelet's kube-api-access volume is `/var/run/secrets/kubernetes.io/serviceaccount`,
// a path compiled into the binaries that no process here can be given. Instead each Pod (unless
// automountServiceAccountToken is false) gets DIR/NS_POD/serviceaccount/{token,ca.crt,namespace}, the
// token a TokenRequest for the Pod's ServiceAccount bound to the Pod (so RBAC applies to it as in a
// cluster), and DIR/NS_POD/kubeconfig naming the server, that CA and the token file; the container's
// env gets KUBECONFIG pointing at it and no KUBERNETES_SERVICE_HOST, so the binaries' "in-cluster, else
// $KUBECONFIG" lookup takes it. A missing ServiceAccount keeps the Pod in ContainerCreating.
// Jobs: each Job without a Complete/Failed condition gets one Pod at a time (`JOB-XXXXX`, labels
// job-name, controller-uid, controller ownerReference); a Succeeded Pod completes the Job
// (status.succeeded, Complete and SuccessCriteriaMet conditions), Failed Pods count against
// backoffLimit (default 6; then Failed, BackoffLimitExceeded). restartPolicy Never/OnFailure: a
// container that exits 0 stays Terminated (Completed); all of them done makes the Pod Succeeded; under
// Never a failure makes it Failed. CronJobs are not run.
// Readiness: readinessProbe httpGet (http or https, certificate not verified, as the kubelet) or
// tcpSocket to 127.0.0.1:PORT (a named port from the container's ports), every periodSeconds after
// initialDelaySeconds, failureThreshold/successThreshold counted; no probe: ready once started.
// Pod status: phase Pending/Running, podIP 127.0.0.1, conditions PodScheduled, Initialized,
// ContainersReady, Ready, containerStatuses (state, ready, started, restartCount, lastState).
//
// Not done (documented in README.md): init containers, liveness/startup probes, exec probes, CronJobs,
// downward-API volumes, token refresh (a token lives 3607 s).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

struct KubeletOptions {
  std::map<std::string, std::string> images;  // image ("repo:tag", or "repo" for any tag) -> root dir
  std::map<std::string, std::vector<std::string>> entrypoints;  // image (same keys) -> its ENTRYPOINT
  std::string pod_dir;                        // where pods' files go; "" = a fresh directory under /tmp
  // API access for the processes (install_modules sets these): the server URL and CA, asked when a
  // Pod starts (the server may start after the kubelet), and a TokenRequest for (ns, serviceaccount,
  // pod name, pod uid) answering the token or throwing StatusError (ServiceAccount missing).
  std::function<std::pair<std::string, std::string>()> api;
  std::function<std::string(const std::string&, const std::string&, const std::string&, const std::string&)> token;
  bool enabled() const { return !images.empty(); }
};

// Parses `IMAGE=ROOT[,IMAGE=ROOT...]` into options.images.
core::Result<bool> parse_run_pods(const std::string& value, KubeletOptions& options);
// Parses `IMAGE=ARG0[,ARG...]` (one image) into options.entrypoints.
core::Result<bool> parse_image_entrypoint(const std::string& value, KubeletOptions& options);

class Kubelet {
 public:
  Kubelet(Store& store, KubeletOptions options);
  ~Kubelet();  // stop()
  Kubelet(const Kubelet&) = delete;
  Kubelet& operator=(const Kubelet&) = delete;

  // The TokenRequest issuer (options.token), for when it is made after the kubelet; before start().
  void set_token_source(decltype(KubeletOptions::token) token) { options_.token = std::move(token); }
  void start();  // the control loop (ReplicaSets -> Pods -> processes -> status), every 100 ms
  // Ends the loop and every container it started (SIGTERM, SIGKILL after the grace period, at most
  // 5 s), as a node shutting down; the stored Pods are left as they are. Idempotent; the destructor
  // calls it.
  void stop();

  const std::string& pod_dir() const { return options_.pod_dir; }
  // Where the API server reaches Service NS/NAME's `port` (a webhook clientConfig.service): the host
  // port of a Ready Pod the Service selects, behind the Service's targetPort, as "127.0.0.1:PORT".
  // Errors are the API server's texts (`service "x" not found`, `no endpoints available for service
  // "x"`). Thread safe.
  core::Result<std::string> service_endpoint(const std::string& ns, const std::string& name, int64_t port) const;
  uint64_t containers_started() const { return started_.load(); }

 private:
  struct PodState;
  void loop();
  void sync_replicasets();
  void sync_jobs();
  bool write_api_access(const core::JsonValue& pod, PodState& st);
  void sync_pods();
  void sync_pod(const ObjectPtr& pod, PodState& st);
  void stop_pod(PodState& st);  // SIGTERM now; reap_terminating() finishes it
  void reap_terminating(bool wait);

  struct Terminating {
    pid_t pid;
    std::chrono::steady_clock::time_point deadline;  // SIGKILL then
  };
  std::vector<Terminating> terminating_;  // loop thread only

  Store& store_;
  KubeletOptions options_;
  std::map<std::string, std::unique_ptr<PodState>> pods_;  // "ns/name" (loop thread only)
  mutable std::mutex ports_mu_;
  std::map<std::string, std::map<int, int>> ports_;  // "ns/pod" -> containerPort -> host port
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> started_{0};
  std::thread thread_;
};

}  // namespace ifo::kubesim
