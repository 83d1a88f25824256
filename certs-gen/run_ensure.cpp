// `certs-gen ensure` over the project's kube client.
#include "certs-gen/run_ensure.h"

#include <cstdio>

#include "certs-gen/ensure.h"
#include "certs-gen/files.h"
#include "kube/client.h"
#include "kube/config.h"

namespace ifo::certsgen {

int run_ensure(const Options& o) {
  kube::Config config;
  try {
    config = kube::load_config(o.kubeconfig.empty() ? std::nullopt : std::optional<std::string>(o.kubeconfig));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "certs-gen: %s\n", e.what());
    return 2;
  }
  kube::Client client(std::move(config));
  EnsureOptions eo;
  eo.secret_namespace = o.secret_namespace;
  eo.secret_name = o.secret_name;
  eo.ca_secret_name = o.ca_secret_name;
  eo.validating_configs = o.validating_configs;
  eo.mutating_configs = o.mutating_configs;
  eo.policy = o.policy;
  EnsureReport report;
  try {
    report = ensure(client, eo, [] { return std::chrono::time_point_cast<std::chrono::seconds>(Clock::now()); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "certs-gen: ensure failed: %s\n", e.what());
    return 1;
  }
  for (const auto& line : report.log) std::printf("certs-gen: %s\n", line.c_str());
  if (!o.out_dir.empty()) {
    auto w = write_material(o.out_dir, report.material, false);
    if (!w) {
      std::fprintf(stderr, "certs-gen: %s\n", w.error().c_str());
      return 2;
    }
    std::printf("certs-gen: wrote tls.crt, tls.key, ca.crt to %s\n", o.out_dir.c_str());
  }
  return 0;
}

}  // namespace ifo::certsgen
