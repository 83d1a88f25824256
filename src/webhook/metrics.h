// The webhook's Prometheus metrics: requests by path and result, a latency histogram, cache age and
// the serving certificate's expiry, rendered in the text exposition format.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace ifo::webhook {

inline constexpr const char* kMetricRequests = "infisical_webhook_requests_total";
inline constexpr const char* kMetricLatency = "infisical_webhook_request_duration_seconds";
inline constexpr const char* kMetricCacheAge = "infisical_webhook_digest_cache_age_seconds";
inline constexpr const char* kMetricCacheSynced = "infisical_webhook_digest_cache_synced";
inline constexpr const char* kMetricCacheSecrets = "infisical_webhook_digest_cache_secrets";
inline constexpr const char* kMetricCertExpiry = "infisical_webhook_serving_certificate_expiry_timestamp_seconds";
inline constexpr const char* kMetricCertReloads = "infisical_webhook_serving_certificate_reloads_total";

class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    2.5};

  // path is normalised by the caller to a known route or "other".
  void record(const std::string& path, const std::string& result, double seconds);
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
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, double> requests_;
  std::map<std::string, Histogram> latency_;
  std::function<std::map<std::string, double>()> gauges_;
};

}  // namespace ifo::webhook
