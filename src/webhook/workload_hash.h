// The rollout hash of a workload's pod spec from the digest cache, with core's consumed-keys analysis
// and hash encoding (shared with the syncer, so both always compute the same value).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/consumed_keys.h"
#include "core/json.h"
#include "webhook/admission.h"

namespace ifo::webhook {

using Consumed = std::vector<core::ConsumedKey>;
inline Consumed consumed_keys(const core::JsonValue& pod_spec) { return core::consumed_secret_keys(pod_spec); }

// A Secret the cache does not know is core's "missing Secret" input, so creating it later changes the hash.
std::string rollout_hash(std::string_view ns, const Consumed& consumed, const DigestSource& digests);

}  // namespace ifo::webhook
