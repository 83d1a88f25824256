// The webhook's TLS server and admission handler exactly as infisical-webhook runs them, with a
// pre-filled digest cache instead of the API-server informer, for load measurements.
// Usage: webhook_bench_server CERT KEY THREADS  -> prints "port=N" and serves until stdin closes.
#include <cstdio>
#include <string>

#include "bench/webhook/bench_fixture.h"
#include "webhook/admission.h"
#include "webhook/digest_cache.h"

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
  ServerOptions o;
  o.workers = std::stoi(argv[3]);
  return ifo::bench::serve_until_stdin_closes("webhook_bench_server", o, handler, certs);
} catch (const std::exception& e) {
  std::fprintf(stderr, "webhook_bench_server: %s\n", e.what());
  return 1;
}
