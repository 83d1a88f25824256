// `infisical-syncer preflight`: which existing InfisicalSecrets the trust boundary would refuse, and
// what admits each (a grant or an annotation), before the boundary is switched on in a cluster.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "core/trust_policy.h"
#include "kube/clock.h"
#include "syncer/kube_api.h"

namespace ifo::syncer {

struct PreflightFinding {
  std::string namespace_;
  std::string name;
  std::vector<core::TrustRefusal> refusals;  // never empty
};

struct PreflightReport {
  int checked = 0;  // InfisicalSecrets whose references were checked
  int invalid = 0;  // skipped: their spec is invalid (the syncer reports InvalidSpec for them)
  std::vector<PreflightFinding> refused;  // in list order
};

// Lists every InfisicalSecret, reads the global ConfigMap (operator_namespace/infisical-config) and the
// grants and ServiceAccount annotations each one needs (as the reconciler does), and decides with the
// policy. Reads only. Throws kube::ApiError / kube::TransportError when the API cannot be read.
PreflightReport run_preflight(KubeApi& kube, kube::Clock& clock, const core::TrustPolicy& policy,
                              const std::string& operator_namespace);

// Per refusal "NAMESPACE/NAME: REASON at PATH: message", then its remedy indented by four spaces;
// last the summary "N InfisicalSecrets checked, M would be refused".
std::string format_preflight(const PreflightReport& report);

// The subcommand (args after the word "preflight"): 0 none refused, 1 some refused, 2 usage error or
// the API could not be read.
int preflight_main(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                   std::ostream& out, std::ostream& err);

std::string preflight_usage();

}  // namespace ifo::syncer
