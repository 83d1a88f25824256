// Rollout hash inputs from the digest cache.
#include "webhook/workload_hash.h"

#include <utility>
#include <vector>

#include "core/digest.h"

namespace ifo::webhook {

std::string rollout_hash(std::string_view ns, const Consumed& consumed, const DigestSource& digests) {
  // core's lookup hands out pointers that must stay valid for the whole computation: hold the
  // cache's shared entries here. A workload names few Secrets, so a short list beats a map.
  std::vector<std::pair<std::string_view, std::shared_ptr<const core::KeyDigests>>> fetched;
  fetched.reserve(consumed.size());
  auto lookup = [&](std::string_view name) -> const core::KeyDigests* {
    for (const auto& [n, d] : fetched)
      if (n == name) return d.get();
    fetched.emplace_back(name, digests.key_digests(ns, name));
    return fetched.back().second.get();
  };
  return core::rollout_hash(ns, consumed, lookup);
}

}  // namespace ifo::webhook
