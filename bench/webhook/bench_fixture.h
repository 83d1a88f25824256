// What both webhook benchmarks (bench/webhook, bench/hostile-load) serve: the digests of one managed
// Secret and the trust policy their validate.json passes on the fast path, and the way their servers
// run under the driver (an ephemeral loopback port printed as "port=N", served until stdin closes).
#pragma once

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "core/json.h"
#include "core/trust_policy.h"
#include "webhook/admission.h"
#include "webhook/digest_cache.h"
#include "webhook/server.h"

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

// Serves `handler` with the production WebhookServer on 127.0.0.1 (port chosen by the kernel, no
// health port, logs discarded), prints "port=N" for the driver, and returns once stdin closes and the
// server has stopped: 0, or 1 when the server could not start (the reason on stderr after `program`).
inline int serve_until_stdin_closes(const char* program, webhook::ServerOptions options,
                                    const webhook::AdmissionHandler& handler, webhook::CertStore& certs,
                                    webhook::AsyncAuthorizer* authorizer = nullptr) {
  options.bind_address = "127.0.0.1";
  options.port = 0;
  options.health_port = -1;
  webhook::Metrics metrics;
  auto log = std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  webhook::WebhookServer server(
      options, handler, certs, metrics, [] { return std::string(); }, log, authorizer);
  auto started = server.start();
  if (!started) {
    std::fprintf(stderr, "%s: %s\n", program, started.error().c_str());
    return 1;
  }
  std::printf("port=%d\n", server.port());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.stop();
  return 0;
}

}  // namespace ifo::bench
