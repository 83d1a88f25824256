// The rollout hash of a workload's pod spec from the digest cache: which (Secret, key) pairs it
// consumes and the hash over their digests (DESIGN.md §3.5, §3.6). Must agree with the syncer.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "webhook/admission.h"

namespace ifo::webhook {

// (secret, key) pairs, sorted; key "" = every key of the Secret (a whole-Secret reference covers
// single-key references to the same Secret).
using Consumed = std::vector<std::pair<std::string, std::string>>;
Consumed consumed_keys(const core::JsonValue& pod_spec);

// A Secret the cache does not know (or a key it lacks) is a distinct "missing" input, so creating
// it later changes the hash.
std::string rollout_hash(const std::string& ns, const Consumed& consumed, const DigestSource& digests);

}  // namespace ifo::webhook
