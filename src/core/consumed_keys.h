// Which Secret keys a pod spec consumes (DESIGN.md §3.5): env secretKeyRef consumes one key; envFrom,
// a whole-Secret volume and a whole-Secret projected source consume every key; `items` consume the
// keys they list. Optional references are included: they change what the pod sees too.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace ifo::core {

struct ConsumedKey {
  std::string secret;              // a Secret name in the pod's namespace
  std::optional<std::string> key;  // nullopt: every key of the Secret
  auto operator<=>(const ConsumedKey&) const = default;
  bool operator==(const ConsumedKey&) const = default;
};

// From a PodSpec: containers, initContainers and ephemeralContainers (env, envFrom) and volumes
// (secret, projected secret sources). The result is canonical: sorted, deduplicated, and a single-key
// entry is dropped when the same Secret is also consumed whole. Malformed parts are skipped (the API
// server validates pods; this must never fail on them).
std::vector<ConsumedKey> consumed_secret_keys(const JsonValue& pod_spec);

// From a whole object: Pod (spec), Deployment, StatefulSet, DaemonSet, ReplicaSet, Job
// (spec.template.spec) or CronJob (spec.jobTemplate.spec.template.spec). Fails for other kinds or
// when the pod spec is missing.
Result<std::vector<ConsumedKey>> consumed_secret_keys_of_object(const JsonValue& object);

// The Secrets a pod spec references with `optional: true` (anywhere a Secret is consumed), sorted and
// deduplicated. Its pods start while such a Secret is missing, so the Secret's creation changes what
// they would see; a required reference keeps them from starting until it exists.
std::vector<std::string> optionally_consumed_secrets(const JsonValue& pod_spec);

// True when `secret` appears in `keys` (whole or by key).
bool consumes_secret(const std::vector<ConsumedKey>& keys, std::string_view secret);

}  // namespace ifo::core
