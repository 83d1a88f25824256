// The syncer's configuration: flags > environment > defaults, parsed once by a pure function.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/logging.h"
#include "core/result.h"
#include "core/trust_policy.h"

namespace ifo::syncer {

using LogFormat = core::LogFormat;

struct Config {
  std::string kubeconfig;               // empty: in-cluster configuration
  std::vector<std::string> namespaces;  // empty: all namespaces
  bool leader_elect = false;
  std::string leader_election_namespace;  // empty: the operator namespace
  std::string leader_election_id = "infisical-syncer.secrets.infisical.com";
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  std::string metrics_bind_address = ":8080";       // "0": disabled
  std::string health_probe_bind_address = ":8081";  // "0": disabled
  int workers = 16;
  std::string operator_namespace = "infisical-operator-system";
  int infisical_requests_per_minute = 240;
  std::chrono::milliseconds infisical_request_timeout{30000};  // whole request, connect included
  std::size_t infisical_max_response_bytes = 4 << 20;
  std::size_t infisical_max_keys_per_scope = 10000;
  // A ceiling, not the pacing: the API server's own 429 with Retry-After (API Priority and Fairness)
  // slows the client below it. 10,000 InfisicalSecrets synced from scratch need about 30,000 requests;
  // at 2,000 per second the limit itself paced that initial sync to 15 s, twice what kube-sim took.
  double kube_qps = 10000;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;
  std::string identity;  // leader-election identity; empty: hostname + pid
  // The trust boundary (docs/security.md): grants, the hostAPI allow-list, http, ServiceAccount opt-in.
  core::TrustPolicy trust;
  // Address ranges that are normally refused for Infisical hosts (loopback, link-local, cloud metadata)
  // but that the admin allows, as CIDRs ("127.0.0.0/8"); checked at connect time.
  std::vector<std::string> allowed_address_ranges;
  bool help = false;
  bool version = false;  // --version: print the version and commit, then exit
};

// A bind address split into host and port; port 0 asks the kernel for a free one.
struct BindAddress {
  std::string host;
  int port = 0;
};
// ":8080" -> 0.0.0.0:8080, "127.0.0.1:0" -> ephemeral; "0" or "" -> nullopt (disabled).
core::Result<std::optional<BindAddress>> parse_bind_address(const std::string& text);

// Parses argv (without the program name) and an environment map. An error message names the flag and
// the offending value in one line.
core::Result<Config> parse_config(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env);

std::string usage();

}  // namespace ifo::syncer
