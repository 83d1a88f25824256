// Rollout hash inputs from the digest cache.
#include "webhook/workload_hash.h"

#include <map>

#include "core/digest.h"

namespace ifo::webhook {

std::string rollout_hash(const std::string& ns, const Consumed& consumed, const DigestSource& digests) {
  // core's lookup hands out pointers: hold the cache's shared entries for the computation.
  std::map<std::string, std::shared_ptr<const core::KeyDigests>, std::less<>> fetched;
  auto lookup = [&](std::string_view name) -> const core::KeyDigests* {
    auto it = fetched.find(name);
    if (it == fetched.end()) it = fetched.emplace(std::string(name), digests.key_digests(ns, std::string(name))).first;
    return it->second.get();
  };
  return core::rollout_hash(ns, consumed, lookup);
}

}  // namespace ifo::webhook
