// A small Prometheus registry: counters, gauges and histograms with labels, rendered as text exposition.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ifo::syncer {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  // Declares a family; must precede its first use. Buckets only for histograms (upper bounds, ascending).
  void describe(const std::string& name, Type type, const std::string& help, std::vector<double> buckets = {});

  // Declares a gauge family with one pair of series per object, as kube-state-metrics' and External
  // Secrets Operator's *_status_condition: {condition="<condition>",name,namespace,status="True"} and
  // {...,status="False"}, 1 for the status the object's condition has and 0 for the other. The registry
  // keeps one entry per object, not two labelled series: at 10,000 objects about 1 MiB instead of 7.
  void describe_condition(const std::string& name, const std::string& condition, const std::string& help);
  void set_condition(const std::string& name, const std::string& ns, const std::string& object,
                     bool status_true);
  // Drops an object's pair (the object is gone).
  void remove_condition(const std::string& name, const std::string& ns, const std::string& object);
  // The object's condition status as the family holds it: true, false, or absent.
  std::optional<bool> condition(const std::string& name, const std::string& ns,
                                const std::string& object) const;

  void inc(const std::string& name, const Labels& labels = {}, double by = 1);
  void set(const std::string& name, const Labels& labels, double value);
  // Sets a counter to a total kept elsewhere (a client's own counters), never lowering it.
  void set_counter(const std::string& name, const Labels& labels, double total);
  void observe(const std::string& name, const Labels& labels, double value);
  // Drops one series (a resource that is gone), so a per-resource family does not keep it forever.
  void remove(const std::string& name, const Labels& labels);

  // Current value of a counter or gauge series (0 when absent); for tests and readiness.
  double value(const std::string& name, const Labels& labels = {}) const;

  // A function run before each render (outside the registry's lock) to refresh gauges.
  void add_collector(std::function<void()> collector);

  // Text appended after the registry's families at each render (families kept elsewhere, such as the
  // process_* ones read from /proc); it must be complete exposition text with HELP and TYPE lines.
  void add_text_source(std::function<std::string()> source);

  // Prometheus text exposition format 0.0.4.
  std::string render() const;
  // The same text handed to `sink` in pieces of about `chunk` bytes, each written outside the
  // registry's lock: a scrape of 10,000 resources' series (about 2 MiB) costs the process one piece at
  // a time, and a slow scraper never holds up a reconcile. Series removed or added between pieces are
  // left out or included as they are then. No piece is empty. Returns false when the sink refused a
  // piece (the scraper went away).
  bool render_to(const std::function<bool(std::string_view)>& sink, size_t chunk = 32 * 1024) const;

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
    // A per-object condition family (describe_condition) when not empty: its series are `objects`.
    std::string condition;
    std::map<std::pair<std::string, std::string>, bool> objects;  // (namespace, name) -> status True
  };
  Family& family(const std::string& name, Type expected);
  Family& condition_family(const std::string& name);
  // One series' exposition lines.
  static void append_series(std::string& out, const std::string& name, const Family& f, const Labels& labels,
                            const Series& s);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<std::function<void()>> collectors_;
  std::vector<std::function<std::string()>> text_sources_;
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
inline constexpr const char* kMetricFetchDuration = "infisical_syncer_infisical_fetch_duration_seconds";
// One series per InfisicalSecret and status of its Ready condition, as External Secrets Operator's
// externalsecret_status_condition: 1 for the status the condition has, 0 for the other.
inline constexpr const char* kMetricStatusCondition = "infisicalsecret_status_condition";

// The families controller-runtime registers for every Go operator (the upstream Infisical operator
// among them), under the same names and labels, so existing dashboards and alerts keep working:
// controller="infisicalsecret", workqueue name="infisicalsecret".
inline constexpr const char* kControllerName = "infisicalsecret";
inline constexpr const char* kMetricCrReconcileTotal = "controller_runtime_reconcile_total";
inline constexpr const char* kMetricCrReconcileErrors = "controller_runtime_reconcile_errors_total";
inline constexpr const char* kMetricCrReconcileTime = "controller_runtime_reconcile_time_seconds";
inline constexpr const char* kMetricCrMaxConcurrent = "controller_runtime_max_concurrent_reconciles";
inline constexpr const char* kMetricCrActiveWorkers = "controller_runtime_active_workers";
inline constexpr const char* kMetricWorkqueueDepth = "workqueue_depth";
inline constexpr const char* kMetricWorkqueueRetries = "workqueue_retries_total";
inline constexpr const char* kMetricWorkqueueAdds = "workqueue_adds_total";
inline constexpr const char* kMetricWorkqueueQueueDuration = "workqueue_queue_duration_seconds";
inline constexpr const char* kMetricWorkqueueWorkDuration = "workqueue_work_duration_seconds";
inline constexpr const char* kMetricRestClientRequests = "rest_client_requests_total";
inline constexpr const char* kMetricLeaderStatus = "leader_election_master_status";

// Declares every syncer metric family on a registry.
void describe_syncer_metrics(Metrics& m);

}  // namespace ifo::syncer
