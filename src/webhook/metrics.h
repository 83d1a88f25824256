// The webhook's Prometheus metrics: requests by path and result, a latency histogram, cache age and
// the serving certificate's expiry, rendered in the text exposition format.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace ifo::webhook {

inline constexpr const char* kMetricRequests = "infisical_webhook_requests_total";
inline constexpr const char* kMetricLatency = "infisical_webhook_request_duration_seconds";
inline constexpr const char* kMetricCacheAge = "infisical_webhook_digest_cache_age_seconds";
inline constexpr const char* kMetricCacheSynced = "infisical_webhook_digest_cache_synced";
inline constexpr const char* kMetricCacheSecrets = "infisical_webhook_digest_cache_secrets";
inline constexpr const char* kMetricCertExpiry = "infisical_webhook_serving_certificate_expiry_timestamp_seconds";
inline constexpr const char* kMetricCertReloads = "infisical_webhook_serving_certificate_reloads_total";
// The admission listener under load (EventServerStats): connections closed at accept because their
// address or the server had its cap, requests answered 503 because the buffered-bytes budget was
// full, and what is open and buffered now.
inline constexpr const char* kMetricRefusedPeerLimit = "infisical_webhook_connections_refused_peer_limit_total";
inline constexpr const char* kMetricRefusedConnectionLimit =
    "infisical_webhook_connections_refused_connection_limit_total";
inline constexpr const char* kMetricRefusedOverBudget = "infisical_webhook_requests_refused_over_budget_total";
inline constexpr const char* kMetricOpenConnections = "infisical_webhook_open_connections";
inline constexpr const char* kMetricBufferedBytes = "infisical_webhook_buffered_request_bytes";
// SubjectAccessReviews (SarAuthorizer): distinct ones waiting for the API server now, checks denied
// at once because the pending limit was reached, and waiters denied because no answer came in time.
inline constexpr const char* kMetricAuthorizationsPending = "infisical_webhook_authorizations_pending";
inline constexpr const char* kMetricAuthorizationsRefusedBusy = "infisical_webhook_authorizations_refused_busy_total";
inline constexpr const char* kMetricAuthorizationsTimedOut = "infisical_webhook_authorizations_timed_out_total";
// Trust lookups the cache did not hold (TrustPool): requests waiting for them now, requests denied at
// once because the pending limit was reached, and requests denied because no answer came in time.
inline constexpr const char* kMetricTrustLookupsPending = "infisical_webhook_trust_lookups_pending";
inline constexpr const char* kMetricTrustLookupsRefusedBusy = "infisical_webhook_trust_lookups_refused_busy_total";
inline constexpr const char* kMetricTrustLookupsTimedOut = "infisical_webhook_trust_lookups_timed_out_total";

class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    2.5};

  // path is normalised by the caller to a known route or "other".
  void record(std::string_view path, std::string_view result, double seconds);
  double count(const std::string& path, const std::string& result) const;

  // Gauges read at scrape time.
  void set_gauge_source(std::function<std::map<std::string, double>()> source);

  std::string render() const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  // path -> result -> count; transparent comparators, so recording a known pair allocates nothing.
  using Requests = std::map<std::string, std::map<std::string, double, std::less<>>, std::less<>>;
  using Latency = std::map<std::string, Histogram, std::less<>>;
  // Each event-loop thread records into a shard of its own, so the loops never wait for each
  // other's lock on the request path; a scrape adds the shards up.
  struct alignas(64) Shard {
    mutable std::mutex mu;
    Requests requests;
    Latency latency;
  };
  static constexpr size_t kShards = 8;
  Shard& my_shard();
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> next_shard_{0};
  mutable std::mutex gauges_mu_;
  std::function<std::map<std::string, double>()> gauges_;
};

}  // namespace ifo::webhook
