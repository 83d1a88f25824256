// SecretSource over the shared infisical::Client (token cache per identity, single-flight fetches, ETags).
#pragma once

#include "infisical/client.h"
#include "syncer/metrics.h"
#include "syncer/secret_source.h"

namespace ifo::syncer {

class InfisicalSource final : public SecretSource {
 public:
  explicit InfisicalSource(infisical::Client& client) : client_(client) {}
  // Observe each fetch's duration into `metrics` (infisical_syncer_infisical_fetch_duration_seconds).
  void observe_into(Metrics& metrics) { metrics_ = &metrics; }
  SourceResult fetch(const SourceRequest& request) override;
  void close_idle_connections() override { client_.close_idle_connections(); }

  // Copies the client's counters into the Prometheus registry (called before each scrape).
  static void export_metrics(infisical::Client& client, Metrics& metrics);

 private:
  infisical::SecretsResult timed_fetch(const infisical::HostConfig& host, const infisical::AuthConfig& auth,
                                       const infisical::SecretsScope& scope, const infisical::FetchOptions& options);

  infisical::Client& client_;
  Metrics* metrics_ = nullptr;
};

}  // namespace ifo::syncer
