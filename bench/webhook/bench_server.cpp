// The webhook's TLS server and admission handler exactly as infisical-webhook runs them, with a
// pre-filled digest cache instead of the API-server informer, for load measurements.
// Usage: webhook_bench_server CERT KEY THREADS  -> prints "port=N" and serves until stdin closes.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "webhook/admission.h"
#include "bench/webhook/bench_fixture.h"
#include "webhook/digest_cache.h"
#include "webhook/server.h"

int main(int argc, char** argv) noexcept try {
  using namespace ifo::webhook;
  if (argc != 4) {
    std::fprintf(stderr, "usage: webhook_bench_server CERT KEY THREADS\n");
    return 2;
  }
  DigestCache cache;
  ifo::bench::fill_digest_cache(cache);
  const ifo::core::TrustPolicy trust = ifo::bench::trust_policy();
  AdmissionHandler handler(CrossNamespacePolicy::kAllow, nullptr, &cache, trust, nullptr);
  CertStore certs(argv[1], argv[2]);
  Metrics metrics;
  ServerOptions o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.health_port = -1;
  o.workers = std::stoi(argv[3]);
  auto log = std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  WebhookServer server(o, handler, certs, metrics, [] { return std::string(); }, log);
  auto started = server.start();
  if (!started) {
    std::fprintf(stderr, "webhook_bench_server: %s\n", started.error().c_str());
    return 1;
  }
  std::printf("port=%d\n", server.port());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.stop();
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "webhook_bench_server: %s\n", e.what());
  return 1;
}
