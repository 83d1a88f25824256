// `infisical-syncer preflight`: which existing InfisicalSecrets the trust boundary would refuse, and
// what admits each (a grant or an annotation), before the boundary is switched on in a cluster.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "core/trust_policy.h"
#include "kube/api.h"
#include "core/clock.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

struct PreflightFinding {
  std::string namespace_;
  std::string name;
  std::vector<core::TrustRefusal> refusals;  // never empty
};

// An InfisicalSecret whose spec this operator rejects (upstream may have accepted it, e.g. two auth
// blocks, one of which upstream picked at random): the syncer reports InvalidSpec and writes nothing.
struct PreflightInvalid {
  std::string namespace_;
  std::string name;
  std::string message;  // the field errors, "path: message; ..."
};

struct PreflightReport {
  int checked = 0;  // InfisicalSecrets whose references were checked
  std::vector<PreflightInvalid> invalid;  // not checked further; in list order
  std::vector<PreflightFinding> refused;  // in list order
  bool clean() const { return invalid.empty() && refused.empty(); }
};

// Lists every InfisicalSecret, reads the global ConfigMap (operator_namespace/infisical-config) and the
// grants and ServiceAccount annotations each one needs (as the reconciler does), and decides with the
// policy. Reads only. Throws kube::ApiError / kube::TransportError when the API cannot be read.
PreflightReport run_preflight(kube::Api& kube, core::Clock& clock, const core::TrustPolicy& policy,
                              const std::string& operator_namespace);

// Per invalid spec "NAMESPACE/NAME: InvalidSpec: <field errors>"; per refusal "NAMESPACE/NAME: REASON
// at PATH: message", then its remedy indented by four spaces; last the summary
// "N InfisicalSecrets checked, M would be refused, K have an invalid spec".
std::string format_preflight(const PreflightReport& report);

// The subcommand (args after the word "preflight"): 0 none refused or invalid, 1 some refused or
// invalid, 2 usage error or the API could not be read.
int preflight_main(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                   std::ostream& out, std::ostream& err);

std::string preflight_usage();

}  // namespace ifo::syncer
