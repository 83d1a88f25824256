// infisical-syncer: parses its configuration, wires the clients and the controller, runs until SIGTERM.
#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include "core/build_info.h"
#include "core/process_hygiene.h"
#include "core/process_metrics.h"
#include "infisical/client.h"
#include "kube/client.h"
#include "kube/config.h"
#include "syncer/config.h"
#include "syncer/controller.h"
#include "syncer/heap_trimmer.h"
#include "syncer/http_endpoints.h"
#include "syncer/infisical_source.h"
#include "syncer/logging.h"
#include "syncer/preflight.h"

extern char** environ;

int main(int argc, char** argv) noexcept try {
  // Holds tokens, secret values or keys: no core file, not dumpable (core/process_hygiene.h).
  // What it could not do is logged once the logger exists, so every line is in the log format.
  const auto core_dumps_failed = ifo::core::disable_core_dumps();
  using namespace ifo;
  // Two malloc arenas instead of glibc's default of eight per core: the workers and watch threads
  // allocate and free short-lived JSON documents all the time, and with one arena per thread each
  // arena keeps its own free holes, which measured as a third of the resident memory at 10,000
  // resources (bench/syncer-scale). MALLOC_ARENA_MAX in the environment still wins.
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
  std::vector<std::string> args(argv + 1, argv + argc);
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // `infisical-syncer preflight [flags]`: what the trust boundary would refuse, then exit.
  if (!args.empty() && args.front() == "preflight")
    return syncer::preflight_main({args.begin() + 1, args.end()}, env, std::cout, std::cerr);
  auto parsed = syncer::parse_config(args, env);
  if (!parsed) {
    std::fprintf(stderr, "infisical-syncer: %s\n", parsed.error().c_str());
    return 2;
  }
  syncer::Config config = *parsed;
  if (config.help) {
    std::cout << syncer::usage();
    return 0;
  }
  if (config.version) {
    std::cout << core::version_line("infisical-syncer") << '\n';
    return 0;
  }
  if (config.identity.empty()) config.identity = syncer::default_identity();

  // Signals are taken by one thread with sigwait, so no handler runs on an arbitrary thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto log = syncer::make_logger("syncer", config.log_format, config.log_level);
  auto kube_log = syncer::make_logger("kube", config.log_format, config.log_level);
  auto inf_log = syncer::make_logger("infisical", config.log_format, config.log_level);
  if (core_dumps_failed) log->warn("{}", *core_dumps_failed);

  kube::Config kube_config;
  try {
    kube_config = kube::load_config(config.kubeconfig.empty() ? std::nullopt : std::optional(config.kubeconfig));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "infisical-syncer: %s\n", e.what());
    return 2;
  }
  kube_config.qps = config.kube_qps;
  kube_config.burst = static_cast<int>(config.kube_qps * 2);
  kube::ClientOptions kube_options;
  kube_options.logger = kube_log;
  kube::Client kube_client(kube_config, kube_options);

  core::RealClock inf_clock;
  infisical::ClientOptions inf_options;
  inf_options.request_timeout = config.infisical_request_timeout;
  inf_options.max_response_bytes = config.infisical_max_response_bytes;
  inf_options.max_keys_per_scope = config.infisical_max_keys_per_scope;
  inf_options.connect_timeout = std::min(inf_options.connect_timeout, config.infisical_request_timeout);
  // The Infisical hosts are tenant input (spec.hostAPI): their connections are address-checked. The
  // cloud-metadata transport (the client's default) and the Kubernetes client are the admin's and are not.
  net::AddressPolicy address_policy{true, {}};
  if (auto ranges = core::parse_address_ranges(config.allowed_address_ranges)) {
    address_policy.allowed = std::move(*ranges);
  } else {
    std::fprintf(stderr, "infisical-syncer: --allowed-address-ranges: %s\n", ranges.error().c_str());
    return 2;
  }
  infisical::TransportFactory infisical_transports = [ua = inf_options.user_agent, address_policy](
                                                         const std::string&, const std::string& ca_pem) {
    net::TlsOptions tls;
    tls.ca_pem = ca_pem;
    return std::make_shared<infisical::CurlTransport>(tls, ua, address_policy);
  };
  infisical::Client inf_client(inf_options, inf_clock, infisical::CloudEnv::from_environment(), inf_log,
                               infisical_transports);
  syncer::InfisicalSource source(inf_client);

  syncer::Metrics metrics;
  syncer::describe_syncer_metrics(metrics);
  metrics.set(syncer::kMetricUpstreamCompatibleMode, {}, config.trust.cross_namespace_without_grant ? 1 : 0);
  metrics.add_collector([&] { syncer::InfisicalSource::export_metrics(inf_client, metrics); });
  metrics.add_text_source(core::process_metrics_text);
  metrics.add_text_source([] { return core::build_info_metric_text("infisical_syncer_build_info"); });
  source.observe_into(metrics);

  syncer::Controller controller(config, kube_client, kube_client, source, metrics, core::real_clock(), log);
  const syncer::HeapTrimmer heap_trimmer;

  std::unique_ptr<syncer::EndpointServer> metrics_server, health_server;
  auto metrics_addr = syncer::parse_bind_address(config.metrics_bind_address);
  auto health_addr = syncer::parse_bind_address(config.health_probe_bind_address);
  try {
    if (*metrics_addr && *health_addr && (*metrics_addr)->host == (*health_addr)->host &&
        (*metrics_addr)->port == (*health_addr)->port && (*metrics_addr)->port != 0) {
      health_server = std::make_unique<syncer::EndpointServer>(
          **health_addr, syncer::EndpointServer::Handlers{&metrics, [&] { return controller.healthy(); },
                                                          [&] { return controller.ready(); }});
    } else {
      if (*metrics_addr)
        metrics_server = std::make_unique<syncer::EndpointServer>(**metrics_addr,
                                                                  syncer::EndpointServer::Handlers{&metrics, {}, {}});
      if (*health_addr)
        health_server = std::make_unique<syncer::EndpointServer>(
            **health_addr, syncer::EndpointServer::Handlers{nullptr, [&] { return controller.healthy(); },
                                                            [&] { return controller.ready(); }});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "infisical-syncer: %s\n", e.what());
    return 2;
  }
  if (metrics_server) log->info("serving metrics address={}:{}", metrics_server->host(), metrics_server->port());
  if (health_server) log->info("serving probes address={}:{}", health_server->host(), health_server->port());
  log->info("starting version={} kube={} identity={} leader_elect={} workers={}", IFO_VERSION, kube_config.source,
            config.identity, config.leader_elect, config.workers);
  // The trust boundary (DESIGN.md section 8) loosened on purpose by the admin: said once, loudly.
  if (config.trust.cross_namespace_without_grant)
    log->warn("upstream-compatible mode: the trust boundary is off (--cross-namespace-references=allow): an "
              "InfisicalSecret may use credentials, CA and ServiceAccounts of any namespace and write Secrets into "
              "any namespace without an InfisicalReferenceGrant, and Kubernetes auth mints tokens for "
              "ServiceAccounts that did not opt in");
  if (std::find(config.trust.allowed_hosts.begin(), config.trust.allowed_hosts.end(), "*") !=
      config.trust.allowed_hosts.end())
    log->warn("--allowed-hosts contains \"*\": a spec's hostAPI may name any host, and the syncer sends the "
              "credentials it reads to that host");
  if (config.trust.allow_http)
    log->warn("--allow-insecure-http: a spec's hostAPI may use http://, so credentials and secret values may "
              "cross the network unencrypted");

  std::atomic<bool> stop{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log->info("signal received signal={}: shutting down", sig);
    stop = true;
  });
  int rc = controller.run(stop);
  if (!stop.load()) {
    // Leadership lost or a fatal error: wake the signal thread so the process can exit.
    stop = true;
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  if (metrics_server) metrics_server->stop();
  if (health_server) health_server->stop();
  log->info("stopped rc={}", rc);
  return rc;
} catch (const std::exception& e) {
  std::fprintf(stderr, "infisical-syncer: fatal: %s\n", e.what());
  return 1;
} catch (...) {
  std::fprintf(stderr, "infisical-syncer: fatal error\n");
  return 1;
}
