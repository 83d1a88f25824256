// One call that plugs kube-sim's admission webhooks, service-account auth, rollout simulator and
// garbage collector into a KubeSim, plus the command-line flags that configure them.
//
// For the server's main.cpp:
//   ModulesOptions mo;                                  // defaults: allow-all SAR, 1 DaemonSet node
//   ... for each argv flag: if (auto r = parse_module_flag(flag, value, mo); !r.ok()) usage_error(r.error());
//                           else if (*r) continue;      // consumed
//   KubeSim sim(opts);
//   auto modules = install_modules(sim, mo);            // before sim.start(); keep it alive while serving
//   ... /sim/counters may add modules->counters().
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "sim/kube/admission_hook.h"
#include "sim/kube/auth.h"
#include "sim/kube/gc.h"
#include "sim/kube/kubelet.h"
#include "sim/kube/rollout.h"
#include "sim/kube/server.h"

namespace ifo::kubesim {

struct ModulesOptions {
  AdmissionOptions admission;  // --webhook-service entries
  AuthOptions auth;  // --service-account-issuer, --api-audiences, --access-rules-file, --authorize-requests,
                     // --authorization-mode
  RolloutSimulator::Options rollout;  // --daemonset-nodes
  KubeletOptions kubelet;             // --run-pods, --image-entrypoint, --pod-dir
};

// The flags, for --help.
inline constexpr const char* kModulesUsage =
    R"(  --webhook-service NS/NAME:PORT=127.0.0.1:PORT
                              where a webhook clientConfig.service is reached (repeatable); the URL and
                              TLS server name stay https://NAME.NS.svc:PORT as in a cluster
  --access-rules-file PATH    access rules for SubjectAccessReviews (and, with --authorize-requests, every
                              request), one per line: allow|deny SUBJECT VERB RESOURCE NAMESPACE NAME
                              (SUBJECT *, user:NAME or group:NAME; RESOURCE secrets, deployments.apps,
                              serviceaccounts/token, or a path for non-resource requests; * matches
                              anything, NAMESPACE * also cluster scope); first match wins, no match is
                              no; without a file everything is allowed
  --authorize-requests        authorize every API request as kube-apiserver with RBAC does: system:masters
                              and the admin token may do everything, everyone may read discovery
                              (/api*, /apis*, /openapi*, /version) and create selfsubjectaccessreviews;
                              the rest needs an allow rule, else 403 Forbidden with the real message
  --authorization-mode RBAC|AlwaysAllow
                              RBAC: authorize every API request from the stored Roles, ClusterRoles,
                              RoleBindings and ClusterRoleBindings as kube-apiserver's RBAC authorizer
                              does (plus the built-in bootstrap policy: cluster-admin for system:masters,
                              discovery, version and self reviews for everyone); SubjectAccessReviews and
                              SelfSubjectRulesReview (kubectl auth can-i --list) answer from RBAC too. Not
                              with --access-rules-file. AlwaysAllow (default): as without the flag
  --service-account-issuer URL
                              iss of TokenRequest JWTs (default https://kubernetes.default.svc.cluster.local)
  --api-audiences A,B         audiences a token needs to authenticate to the API (default: the issuer)
  --daemonset-nodes N         simulated nodes a DaemonSet rolls out to (default 1)
  --run-pods IMAGE=ROOT[,IMAGE=ROOT...]
                              run Pods: ReplicaSets get their Pods, and each container of an image with
                              a mapping runs as a local process, command[0] looked up under ROOT (the
                              image's root directory); volume mountPaths in args/env are rewritten to the
                              Pod's directory; Deployments become ready when their Pods pass readiness
                              (README.md, "Pods"). "IMAGE" without a tag matches every tag
  --image-entrypoint IMAGE=ARG0[,ARG...]
                              the image's ENTRYPOINT, as its config gives it (repeatable, one image
                              each): a container of IMAGE without `command` runs these words followed
                              by its args; ARG0 is looked up under the image's --run-pods ROOT
  --pod-dir DIR               where Pods' volumes, logs and host ports go (DIR/NS_POD/...; default a
                              new /tmp dir)
)";

// The flags parse_module_flag applies (without "--"), each taking a value; kube-sim's main registers
// them with its FlagSet.
inline constexpr std::array<std::string_view, 9> kModuleFlags = {
    "webhook-service", "access-rules-file", "authorization-mode", "service-account-issuer",
    "api-audiences",   "daemonset-nodes",   "run-pods",           "image-entrypoint",
    "pod-dir"};

// Applies one flag (name with leading "--", value) to `options`. Returns false when the flag is not a
// module flag, an error (one line naming the flag and the problem) when its value is bad.
core::Result<bool> parse_module_flag(const std::string& flag, const std::string& value, ModulesOptions& options);

struct Modules {
  std::shared_ptr<WebhookAdmissionHook> admission;
  std::shared_ptr<ServiceAccountAuth> auth;
  std::shared_ptr<RolloutSimulator> rollout;
  std::shared_ptr<GarbageCollector> gc;
  std::shared_ptr<Kubelet> kubelet;  // with --run-pods only

  // admission_webhook_calls, rollouts, gc_collected, gc_orphaned, tokens_issued.
  std::map<std::string, uint64_t> counters() const;
};

// Registers the admission hook, the authenticator, the TokenRequest/TokenReview/(Local, Self)
// SubjectAccessReview/SelfSubjectRulesReview handlers, the authorizer (options.auth.authorize_requests
// or options.auth.rbac; throws std::invalid_argument for rbac with a rule table) and the store
// observers. Call before sim.start(). The modules stay alive as long as the KubeSim holds them,
// whatever happens to the returned handle; add its counters() to /sim/counters with
// sim.add_counter_source while the handle lives.
// options.auth.static_tokens empty: the KubeSim's static tokens (so TokenReview accepts them too).
std::unique_ptr<Modules> install_modules(KubeSim& sim, ModulesOptions options);

}  // namespace ifo::kubesim
