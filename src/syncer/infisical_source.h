// SecretSource over the shared infisical::Client (token cache per identity, single-flight fetches, ETags).
#pragma once

#include "infisical/client.h"
#include "syncer/metrics.h"
#include "syncer/secret_source.h"

namespace ifo::syncer {

class InfisicalSource final : public SecretSource {
 public:
  explicit InfisicalSource(infisical::Client& client) : client_(client) {}
  SourceResult fetch(const SourceRequest& request) override;

  // Copies the client's counters into the Prometheus registry (called before each scrape).
  static void export_metrics(infisical::Client& client, Metrics& metrics);

 private:
  infisical::Client& client_;
};

}  // namespace ifo::syncer
