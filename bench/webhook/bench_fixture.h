// What both webhook benchmarks (bench/webhook, bench/hostile-load) serve: the digests of one managed
// Secret and the trust policy their validate.json passes on the fast path.
#pragma once

#include <chrono>
#include <string>

#include "core/json.h"
#include "core/trust_policy.h"
#include "webhook/digest_cache.h"

namespace ifo::bench {

// An InfisicalSecret publishing the digests of its managed Secret apps/app-secrets (API_KEY and
// DB_PASSWORD), as the syncer writes its status; mutate.json's Deployment consumes them.
inline void fill_digest_cache(webhook::DigestCache& cache) {
  auto resource = core::parse_json(
      R"({"metadata":{"namespace":"apps","name":"app"},"status":{"managedKeyDigests":[{"kind":"Secret",
      "namespace":"apps","name":"app-secrets","keyDigests":{"API_KEY":")" +
      std::string(64, 'a') + R"(","DB_PASSWORD":")" + std::string(64, 'b') + R"("}}]}})");
  cache.replace({resource->get()}, std::chrono::steady_clock::now());
}

// validate.json's hostAPI is on the allow-list, as an admin would configure it, and its references
// stay in its namespace: the fast path, which asks the API server nothing.
inline core::TrustPolicy trust_policy() {
  core::TrustPolicy trust;
  trust.allowed_hosts.push_back("infisical.example.com");
  return trust;
}

}  // namespace ifo::bench
