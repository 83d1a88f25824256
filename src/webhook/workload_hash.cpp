// Rollout hash inputs from the digest cache.
#include "webhook/workload_hash.h"

#include <map>

#include "core/digest.h"

namespace ifo::webhook {

std::string rollout_hash(const std::string& ns, const Consumed& consumed, const DigestSource& digests) {
  // core's lookup hands out pointers: keep the copies from the cache alive for the computation.
  std::map<std::string, std::optional<core::KeyDigests>, std::less<>> fetched;
  auto lookup = [&](std::string_view name) -> const core::KeyDigests* {
    auto it = fetched.find(name);
    if (it == fetched.end()) it = fetched.emplace(std::string(name), digests.key_digests(ns, std::string(name))).first;
    return it->second ? &*it->second : nullptr;
  };
  return core::rollout_hash(ns, consumed, lookup);
}

}  // namespace ifo::webhook
