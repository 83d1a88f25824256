// The preflight subcommand: the trust decision of the reconciler, for every InfisicalSecret at once.
#include "syncer/preflight.h"

#include <fmt/format.h>

#include <exception>

#include "core/constants.h"
#include "core/infisical_secret.h"
#include "core/validation.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/errors.h"
#include "kube/resource.h"
#include "syncer/config.h"
#include "syncer/logging.h"
#include "syncer/trust_inputs.h"

namespace ifo::syncer {

PreflightReport run_preflight(kube::Api& kube, core::Clock& clock, const core::TrustPolicy& policy,
                              const std::string& operator_namespace) {
  PreflightReport report;
  Object config_map;
  try {
    config_map = kube.get(kube::kConfigMaps, operator_namespace, std::string(core::kGlobalConfigMapName));
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
  }
  const std::string global_host = global_host_api_of(config_map);
  TrustInputsReader reader(kube, clock);
  for (const auto& o : kube.list_all(kube::kInfisicalSecrets, "").items) {
    if (auto validation = core::check_infisical_secret(*o); !validation.ok()) {
      const core::JsonValue* md = core::member(*o, "metadata");
      report.invalid.push_back({md ? core::string_or(*md, "namespace", "") : "", md ? core::string_or(*md, "name", "") : "",
                                validation.message()});
      continue;
    }
    core::InfisicalSecret resource = core::parse_infisical_secret(*o).resource;
    ++report.checked;
    auto refusals = core::check_trust(resource, policy, reader.gather(resource, policy, global_host));
    if (!refusals.empty())
      report.refused.push_back({resource.metadata.namespace_, resource.metadata.name, std::move(refusals)});
  }
  return report;
}

std::string format_preflight(const PreflightReport& report) {
  std::string out;
  for (const auto& f : report.invalid)
    out += fmt::format("{}/{}: {}: {}\n", f.namespace_, f.name, core::kReasonInvalidSpec, f.message);
  for (const auto& f : report.refused) {
    for (const auto& r : f.refusals) {
      out += fmt::format("{}/{}: {} at {}: {}\n", f.namespace_, f.name, r.reason, r.path, r.message);
      std::string_view remedy = r.remedy;
      while (!remedy.empty()) {
        auto nl = remedy.find('\n');
        std::string_view line = remedy.substr(0, nl);
        out += line.empty() ? "\n" : fmt::format("    {}\n", line);
        if (nl == std::string_view::npos) break;
        remedy.remove_prefix(nl + 1);
      }
    }
  }
  out += fmt::format("{} InfisicalSecrets checked, {} would be refused, {} have an invalid spec\n",
                     report.checked, report.refused.size(), report.invalid.size());
  return out;
}

std::string preflight_usage() {
  return R"(Usage: infisical-syncer preflight [--kubeconfig FILE] [--operator-namespace NS]
                                   [--cross-namespace-references grant|allow] [--allowed-hosts a,b]
                                   [--allow-insecure-http]

Lists every InfisicalSecret and reports each one this operator would not sync: a spec it rejects
(InvalidSpec, with the field errors; e.g. two authentication blocks, of which upstream picked one at
random), and each one the trust boundary would refuse under these flags (the same flags, environment
and defaults as the syncer), with what would admit it: an InfisicalReferenceGrant to create, or a
kubectl annotate command. Reads only.
Exit status: 0 none found, 1 some would not sync, 2 usage error or the API could not be read.
)";
}

int preflight_main(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                   std::ostream& out, std::ostream& err) {
  auto parsed = parse_config(args, env);
  if (!parsed) {
    err << "infisical-syncer preflight: " << parsed.error() << "\n";
    return 2;
  }
  const Config& config = *parsed;
  if (config.help) {
    out << preflight_usage();
    return 0;
  }
  try {
    kube::Config kube_config =
        kube::load_config(config.kubeconfig.empty() ? std::nullopt : std::optional(config.kubeconfig));
    kube::ClientOptions options;
    options.logger = make_logger("kube", config.log_format, "error");
    kube::Client client(kube_config, options);
    PreflightReport report = run_preflight(client, core::real_clock(), config.trust, config.operator_namespace);
    out << format_preflight(report);
    return report.clean() ? 0 : 1;
  } catch (const std::exception& e) {
    err << "infisical-syncer preflight: cannot read the cluster: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace ifo::syncer
