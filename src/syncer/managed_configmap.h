// Writing one managed ConfigMap target (upstream v0.11 managedKubeConfigMapReferences): the rendered
// data as plain strings in `.data`, created when missing, updated only when data, labels or
// annotations differ, bound to its InfisicalSecret as managed Secrets are. ConfigMaps are read with a
// plain GET (they are not watched) and take no part in workload rollouts.
#pragma once

#include <spdlog/logger.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/infisical_secret.h"
#include "syncer/kube_api.h"
#include "syncer/metrics.h"

namespace ifo::syncer {

struct ConfigMapWrite {
  bool written = false;  // created or updated
  Object config_map;     // the ConfigMap as it is now (nullptr on a conflict)
  // Bound to another InfisicalSecret, or foreign: why it was not written.
  std::optional<std::string> conflict;
};

// Whether InfisicalSecret (namespace, name) exists with this UID.
using OwnerAlive = std::function<bool(const std::string&, const std::string&, const std::string&)>;

// `values` are the target's rendered data. Values that are not valid UTF-8 are stored as the API
// server would store them (each invalid byte becomes U+FFFD), so an unchanged sync writes nothing.
// Throws kube::ApiError / kube::TransportError on a failed read or write.
ConfigMapWrite write_managed_config_map(KubeApi& kube, const core::InfisicalSecret& model,
                                        const core::ManagedConfigMapTarget& target,
                                        const std::map<std::string, std::string>& values,
                                        std::string_view digest_key, const OwnerAlive& owner_alive,
                                        Metrics& metrics, spdlog::logger& log);

// "namespace/name, ..." of a resource's ConfigMap targets, in declaration order.
std::vector<std::string> config_map_keys(const core::InfisicalSecretSpec& spec);

}  // namespace ifo::syncer
