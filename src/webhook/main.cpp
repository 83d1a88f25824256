// infisical-webhook: thin main; flags, logging, kube clients, digest-cache feed, off-loop authorizer and
// trust lookups, TLS server, signals.
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

#include "core/build_info.h"
#include "core/constants.h"
#include "core/logging.h"
#include "core/process_hygiene.h"
#include "kube/client.h"
#include "kube/config.h"
#include "webhook/admission.h"
#include "webhook/cert_store.h"
#include "webhook/digest_cache.h"
#include "webhook/kube_sources.h"
#include "webhook/malloc_tuning.h"
#include "webhook/metrics.h"
#include "webhook/options.h"
#include "webhook/sar_authorizer.h"
#include "webhook/server.h"
#include "webhook/trust_lookup.h"
#include "webhook/trust_pool.h"

int main(int argc, char** argv) noexcept try {
  // Holds tokens, secret values or keys: no core file, not dumpable (core/process_hygiene.h).
  // Both run before anything else; what they could not do is logged once the logger exists, so every
  // line the webhook prints is in its log format.
  std::vector<std::string> early_warnings;
  if (auto failed = ifo::core::disable_core_dumps()) early_warnings.push_back(*failed);
  using namespace ifo::webhook;
  if (auto failed = return_large_buffers_to_os()) early_warnings.push_back(*failed);
  auto opts = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  if (!opts) {
    std::fprintf(stderr, "infisical-webhook: %s\n", opts.error().c_str());
    return 2;
  }
  if (opts->help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (opts->version) {
    std::puts(ifo::core::version_line("infisical-webhook").c_str());
    return 0;
  }
  auto log = spdlog::stderr_logger_mt("webhook");  // stderr, like the syncer and certs-gen
  log->set_level(opts->log_level);
  ifo::core::set_log_format(*log, opts->log_format);
  spdlog::set_default_logger(log);
  for (const std::string& w : early_warnings) log->warn("{}", w);

  // Block the signals before any thread starts, so only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CertStore certs(opts->tls_cert_file, opts->tls_key_file);
  if (auto first = certs.reload(); !first) {
    std::fprintf(stderr, "infisical-webhook: %s\n", first.error().c_str());
    return 2;
  }
  ifo::kube::Config config;
  try {
    config = ifo::kube::load_config(opts->kubeconfig.empty() ? std::nullopt : std::optional<std::string>(opts->kubeconfig));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "infisical-webhook: %s\n", e.what());
    return 2;
  }
  // SubjectAccessReviews go through a client of their own: a flood of them does not spend the QPS
  // budget of the digest feed and the trust lookups, and a review the API server sits on is given up
  // at twice the deadline (its waiters were answered at the deadline), which frees its pending slot.
  ifo::kube::Config review_config = config;
  review_config.timeout = 2 * opts->authorization_timeout;
  ifo::kube::Client review_client(review_config);
  // The trust lookups likewise: a lookup the API server sits on is given up at twice the deadline, so
  // it frees its pool thread.
  ifo::kube::Client lookup_client(std::move(review_config));
  ifo::kube::Client client(std::move(config));
  DigestCache cache(opts->trust);
  ifo::kube::InformerOptions feed_options;
  feed_options.logger = log;
  DigestFeed feed(client, cache, feed_options);
  KubeTrustLookup trust_lookup(lookup_client, opts->operator_namespace, opts->authorization_cache_ttl);
  // The handler asks no SubjectAccessReview itself, and makes no trust lookup on an event loop: the
  // server asks `authorizer` and `trust_pool` off its loops. Both are declared after the handler and
  // the pool after the authorizer: on shutdown each answers its waiters through what outlives it.
  AdmissionHandler handler(opts->policy, nullptr, &feed, opts->trust, &trust_lookup);
  TrustPoolOptions pool_options;
  pool_options.deadline = opts->authorization_timeout;
  pool_options.max_pending = opts->max_pending_authorizations;
  TrustPool trust_pool(trust_lookup, pool_options);
  SarAuthorizerOptions sar;
  sar.cache_ttl = opts->authorization_cache_ttl;
  sar.deadline = opts->authorization_timeout;
  sar.max_pending = opts->max_pending_authorizations;
  SarAuthorizer authorizer(review_client, sar);
  Metrics metrics;
  WebhookServer server(opts->server, handler, certs, metrics,
                       [&feed]() -> std::string { return feed.synced() ? "" : "managed-secret cache not synced"; }, log,
                       &authorizer, &trust_pool);
  metrics.set_gauge_source([&] {
    const auto now = std::chrono::steady_clock::now();
    const auto https = server.https_stats();
    return std::map<std::string, double>{
        {kMetricCertExpiry, static_cast<double>(certs.not_after())},
        {kMetricCertReloads, static_cast<double>(certs.generation() > 0 ? certs.generation() - 1 : 0)},
        {kMetricCacheAge, feed.age_seconds(now)},
        {kMetricCacheSynced, feed.synced() ? 1.0 : 0.0},
        {kMetricCacheSecrets, static_cast<double>(cache.size())},
        {kMetricRefusedPeerLimit, static_cast<double>(https.refused_peer_limit)},
        {kMetricRefusedConnectionLimit, static_cast<double>(https.refused_connection_limit)},
        {kMetricRefusedOverBudget, static_cast<double>(https.refused_over_budget)},
        {kMetricOpenConnections, static_cast<double>(server.https_connections())},
        {kMetricBufferedBytes, static_cast<double>(https.buffered_bytes)},
        {kMetricAuthorizationsPending, static_cast<double>(authorizer.pending())},
        {kMetricAuthorizationsRefusedBusy, static_cast<double>(authorizer.refused_busy())},
        {kMetricAuthorizationsTimedOut, static_cast<double>(authorizer.timed_out())},
        {kMetricTrustLookupsPending, static_cast<double>(trust_pool.pending())},
        {kMetricTrustLookupsRefusedBusy, static_cast<double>(trust_pool.refused_busy())},
        {kMetricTrustLookupsTimedOut, static_cast<double>(trust_pool.timed_out())},
    };
  });
  auto started = server.start();
  if (!started) {
    log->error("cannot serve: {}", started.error());
    return 1;
  }
  log->info("started policy={} cross_namespace_references={} allowed_hosts={} allow_insecure_http={} "
            "operator_namespace={}",
            policy_name(opts->policy), opts->trust.cross_namespace_without_grant ? "allow" : "grant",
            fmt::join(opts->trust.allowed_hosts, ","), opts->trust.allow_http, opts->operator_namespace);
  if (opts->trust.cross_namespace_without_grant)
    log->warn("upstream-compatible mode: references into other namespaces need no {} and Kubernetes auth needs "
              "no ServiceAccount opt-in (--cross-namespace-references=allow)",
              ifo::core::kGrantKind);
  feed.start();
  int sig = 0;
  sigwait(&signals, &sig);
  log->info("shutting down signal={}", sig);
  feed.stop();
  server.stop();
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "infisical-webhook: %s\n", e.what());
  return 1;
} catch (...) {
  std::fprintf(stderr, "infisical-webhook: unexpected error\n");
  return 1;
}
