// Prometheus text rendering for the webhook metrics.
#include "webhook/metrics.h"

#include <fmt/format.h>

#include <atomic>

#include "core/process_metrics.h"

namespace ifo::webhook {

namespace {
template <typename Map>
typename Map::mapped_type& entry(Map& map, std::string_view key) {
  auto it = map.find(key);
  if (it == map.end()) it = map.emplace(std::string(key), typename Map::mapped_type{}).first;
  return it->second;
}
// The HELP line of each gauge source entry (a name not listed here gets a generic one, so a new entry
// still renders valid exposition text; tests/http/metrics_promtool_test notices a missing help).
std::string_view help_of(std::string_view name) {
  static const std::map<std::string_view, std::string_view> kHelp = {
      {kMetricCacheAge, "Seconds since the digest cache's informer last listed or saw a watch event; -1 before "
                        "its first sync."},
      {kMetricCacheSynced, "1 once the digest cache has listed the InfisicalSecrets."},
      {kMetricCacheSecrets, "Managed Secrets whose key digests the cache holds."},
      {kMetricCertExpiry, "Expiry of the serving certificate, seconds since the Unix epoch."},
      {kMetricCertReloads, "Times the serving certificate was reloaded from its files after a change."},
      {kMetricRefusedPeerLimit, "Connections closed at accept because their address had its connection cap."},
      {kMetricRefusedConnectionLimit, "Connections closed at accept because the server had its connection cap."},
      {kMetricRefusedOverBudget, "Requests answered 503 because the buffered-bytes budget was full."},
      {kMetricOpenConnections, "Open admission connections."},
      {kMetricBufferedBytes, "Bytes of request bodies buffered now."},
      {kMetricAuthorizationsPending, "Distinct SubjectAccessReviews waiting for the API server."},
      {kMetricAuthorizationsRefusedBusy, "Authorization checks denied at once because the pending limit was "
                                         "reached."},
      {kMetricAuthorizationsTimedOut, "Authorization checks denied because no answer came before the deadline."},
      {kMetricTrustLookupsPending, "Trust lookups (grants, ServiceAccount opt-ins, infisical-config) waiting for "
                                   "the API server off the event loops."},
      {kMetricTrustLookupsRefusedBusy, "Validations denied at once because the trust-lookup pending limit was "
                                       "reached."},
      {kMetricTrustLookupsTimedOut, "Validations denied because a trust lookup had no answer before the deadline."},
  };
  auto it = kHelp.find(name);
  return it == kHelp.end() ? std::string_view("Webhook gauge.") : it->second;
}

}  // namespace

Metrics::Shard& Metrics::my_shard() {
  // Each thread picks its shard on its first request; any shard is correct, distinct ones avoid waits.
  thread_local const size_t index = next_shard_.fetch_add(1) % kShards;
  return shards_[index];
}

void Metrics::record(std::string_view path, std::string_view result, double seconds) {
  Shard& shard = my_shard();
  std::lock_guard lock(shard.mu);
  entry(entry(shard.requests, path), result) += 1;
  auto& h = entry(shard.latency, path);
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

double Metrics::count(const std::string& path, const std::string& result) const {
  double total = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    auto by_path = shard.requests.find(path);
    if (by_path == shard.requests.end()) continue;
    auto it = by_path->second.find(result);
    if (it != by_path->second.end()) total += it->second;
  }
  return total;
}

void Metrics::set_gauge_source(std::function<std::map<std::string, double>()> source) {
  std::lock_guard lock(gauges_mu_);
  gauges_ = std::move(source);
}

std::string Metrics::render() const {
  Requests requests;
  Latency latency;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (const auto& [path, by_result] : shard.requests)
      for (const auto& [result, v] : by_result) entry(entry(requests, path), result) += v;
    for (const auto& [path, h] : shard.latency) {
      auto& sum = entry(latency, path);
      for (size_t i = 0; i < kBuckets.size(); ++i) sum.buckets[i] += h.buckets[i];
      sum.count += h.count;
      sum.sum += h.sum;
    }
  }
  std::function<std::map<std::string, double>()> gauges;
  {
    std::lock_guard lock(gauges_mu_);
    gauges = gauges_;
  }
  std::string out;
  out += fmt::format("# HELP {} Admission requests by path and result.\n# TYPE {} counter\n", kMetricRequests,
                     kMetricRequests);
  for (const auto& [path, by_result] : requests)
    for (const auto& [result, v] : by_result)
      out += fmt::format("{}{{path=\"{}\",result=\"{}\"}} {}\n", kMetricRequests, path, result, v);
  out += fmt::format("# HELP {} Time from request routing to response, by path.\n# TYPE {} histogram\n",
                     kMetricLatency, kMetricLatency);
  for (const auto& [path, h] : latency) {
    for (size_t i = 0; i < kBuckets.size(); ++i)
      out += fmt::format("{}_bucket{{path=\"{}\",le=\"{}\"}} {}\n", kMetricLatency, path, kBuckets[i], h.buckets[i]);
    out += fmt::format("{}_bucket{{path=\"{}\",le=\"+Inf\"}} {}\n", kMetricLatency, path, h.count);
    out += fmt::format("{}_sum{{path=\"{}\"}} {}\n{}_count{{path=\"{}\"}} {}\n", kMetricLatency, path, h.sum,
                       kMetricLatency, path, h.count);
  }
  if (gauges) {
    for (const auto& [name, value] : gauges()) {
      const bool counter = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help_of(name), name,
                         counter ? "counter" : "gauge", name, value);
    }
  }
  out += core::process_metrics_text();
  out += core::build_info_metric_text("infisical_webhook_build_info");
  return out;
}

}  // namespace ifo::webhook
