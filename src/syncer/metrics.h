// A small Prometheus registry: counters, gauges and histograms with labels, rendered as text exposition.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ifo::syncer {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  // Declares a family; must precede its first use. Buckets only for histograms (upper bounds, ascending).
  void describe(const std::string& name, Type type, const std::string& help, std::vector<double> buckets = {});

  void inc(const std::string& name, const Labels& labels = {}, double by = 1);
  void set(const std::string& name, const Labels& labels, double value);
  // Sets a counter to a total kept elsewhere (a client's own counters), never lowering it.
  void set_counter(const std::string& name, const Labels& labels, double total);
  void observe(const std::string& name, const Labels& labels, double value);

  // Current value of a counter or gauge series (0 when absent); for tests and readiness.
  double value(const std::string& name, const Labels& labels = {}) const;

  // A function run before each render (outside the registry's lock) to refresh gauges.
  void add_collector(std::function<void()> collector);

  // Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  struct Series {
    double value = 0;                 // counter / gauge
    std::vector<uint64_t> bucket_counts;  // histogram, cumulative at render time
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::vector<double> buckets;
    std::map<Labels, Series> series;
  };
  Family& family(const std::string& name, Type expected);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<std::function<void()>> collectors_;
};

// Metric names of the syncer, declared once.
inline constexpr const char* kMetricReconciles = "infisical_syncer_reconciles_total";
inline constexpr const char* kMetricReconcileDuration = "infisical_syncer_reconcile_duration_seconds";
inline constexpr const char* kMetricInfisicalRequests = "infisical_syncer_infisical_requests_total";
inline constexpr const char* kMetricTokenCache = "infisical_syncer_token_cache_requests_total";
inline constexpr const char* kMetricRollouts = "infisical_syncer_rollouts_triggered_total";
inline constexpr const char* kMetricRolloutBaselines = "infisical_syncer_rollout_baselines_total";
inline constexpr const char* kMetricWorkloadsPreviousKey = "infisical_syncer_workloads_previous_digest_key";
inline constexpr const char* kMetricQueueDepth = "infisical_syncer_workqueue_depth";
inline constexpr const char* kMetricManagedSecrets = "infisical_syncer_managed_secrets";
inline constexpr const char* kMetricSecretWrites = "infisical_syncer_secret_writes_total";
inline constexpr const char* kMetricConfigMapWrites = "infisical_syncer_configmap_writes_total";
inline constexpr const char* kMetricThrottled = "infisical_syncer_budget_deferrals_total";
inline constexpr const char* kMetricIsLeader = "infisical_syncer_leader";
inline constexpr const char* kMetricTrustRefusals = "infisical_syncer_trust_refusals_total";
inline constexpr const char* kMetricUpstreamCompatibleMode = "infisical_syncer_upstream_compatible_mode";

// Declares every syncer metric family on a registry.
void describe_syncer_metrics(Metrics& m);

}  // namespace ifo::syncer
