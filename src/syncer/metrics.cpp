// Prometheus registry and text exposition.
#include "syncer/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <iterator>
#include <optional>
#include <stdexcept>

#include "core/constants.h"

namespace ifo::syncer {

namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

std::string label_text(const Labels& labels, const std::string& extra_name = "", const std::string& extra_value = "") {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + escape_label(v) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ",";
    out += extra_name + "=\"" + escape_label(extra_value) + "\"";
  }
  return out + "}";
}

// Appends the entries of `entries` after `last` (all, when there is none) to `piece` until it holds
// `chunk` bytes. True when the last entry is in; else `last` moves to the last one appended, where the
// next piece starts (entries may come and go in between).
template <class Map, class Append>
bool append_after(std::string& piece, const Map& entries, std::optional<typename Map::key_type>& last,
                  size_t chunk, const Append& append) {
  const auto first = last ? entries.upper_bound(*last) : entries.begin();
  auto entry = first;
  for (; entry != entries.end() && piece.size() < chunk; ++entry) append(entry->first, entry->second);
  if (entry == entries.end()) return true;
  if (entry != first) last = std::prev(entry)->first;
  return false;
}

// The two series of one object in a condition family, labels in name order as every other series.
void append_condition(std::string& out, const std::string& family, const std::string& escaped_condition,
                      const std::pair<std::string, std::string>& object, bool status_true) {
  const auto& [ns, name] = object;
  for (const bool status : {true, false})
    fmt::format_to(std::back_inserter(out),
                   "{}{{condition=\"{}\",name=\"{}\",namespace=\"{}\",status=\"{}\"}} {}\n", family,
                   escaped_condition, escape_label(name), escape_label(ns), status ? "True" : "False",
                   status_true == status ? 1 : 0);
}

const char* type_name(Metrics::Type t) {
  switch (t) {
    case Metrics::Type::kCounter: return "counter";
    case Metrics::Type::kGauge: return "gauge";
    case Metrics::Type::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

void Metrics::describe(const std::string& name, Type type, const std::string& help, std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = type;
  f.help = help;
  f.buckets = std::move(buckets);
}

Metrics::Family& Metrics::family(const std::string& name, Type expected) {
  auto it = families_.find(name);
  if (it == families_.end() || it->second.type != expected || !it->second.condition.empty())
    throw std::logic_error("metric used before describe() or with the wrong type: " + name);
  return it->second;
}

void Metrics::describe_condition(const std::string& name, const std::string& condition,
                                 const std::string& help) {
  if (condition.empty()) throw std::logic_error("a condition family needs a condition: " + name);
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = Type::kGauge;
  f.help = help;
  f.condition = condition;
}

Metrics::Family& Metrics::condition_family(const std::string& name) {
  auto it = families_.find(name);
  if (it == families_.end() || it->second.condition.empty())
    throw std::logic_error("metric used before describe_condition(): " + name);
  return it->second;
}

void Metrics::set_condition(const std::string& name, const std::string& ns, const std::string& object,
                            bool status_true) {
  std::lock_guard lock(mu_);
  condition_family(name).objects[{ns, object}] = status_true;
}

void Metrics::remove_condition(const std::string& name, const std::string& ns, const std::string& object) {
  std::lock_guard lock(mu_);
  condition_family(name).objects.erase({ns, object});
}

std::optional<bool> Metrics::condition(const std::string& name, const std::string& ns,
                                       const std::string& object) const {
  std::lock_guard lock(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return std::nullopt;
  auto it = f->second.objects.find({ns, object});
  if (it == f->second.objects.end()) return std::nullopt;
  return it->second;
}

void Metrics::inc(const std::string& name, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end() || it->second.type == Type::kHistogram || !it->second.condition.empty())
    throw std::logic_error("metric used before describe() or with the wrong type: " + name);
  it->second.series[labels].value += by;
}

void Metrics::set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  family(name, Type::kGauge).series[labels].value = value;
}

void Metrics::set_counter(const std::string& name, const Labels& labels, double total) {
  std::lock_guard lock(mu_);
  auto& s = family(name, Type::kCounter).series[labels];
  if (total > s.value) s.value = total;
}

void Metrics::observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  auto& f = family(name, Type::kHistogram);
  auto& s = f.series[labels];
  if (s.bucket_counts.size() != f.buckets.size()) s.bucket_counts.assign(f.buckets.size(), 0);
  for (size_t i = 0; i < f.buckets.size(); ++i) {
    if (value <= f.buckets[i]) {
      ++s.bucket_counts[i];
      break;  // cumulated at render time
    }
  }
  s.sum += value;
  ++s.count;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.series.find(labels);
  if (s == it->second.series.end()) return 0;
  return it->second.type == Type::kHistogram ? static_cast<double>(s->second.count) : s->second.value;
}

void Metrics::remove(const std::string& name, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.series.erase(labels);
}

void Metrics::add_text_source(std::function<std::string()> source) {
  std::lock_guard lock(mu_);
  text_sources_.push_back(std::move(source));
}

void Metrics::add_collector(std::function<void()> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::render() const {
  std::string out;
  render_to([&out](std::string_view piece) {
    out += piece;
    return true;
  });
  return out;
}

bool Metrics::render_to(const std::function<bool(std::string_view)>& sink, size_t chunk) const {
  std::vector<std::function<void()>> collectors;
  std::vector<std::function<std::string()>> text_sources;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
    text_sources = text_sources_;
  }
  for (const auto& c : collectors) c();
  // Never an empty piece: to a chunked response, a chunk of length 0 is the end of the body.
  for (const auto& t : text_sources)
    if (const std::string text = t(); !text.empty() && !sink(text)) return false;
  // Where the next piece starts: a family (never erased: describe() only adds, so the iterator stays
  // valid between pieces), whether its header is out, and the last series written of it (series may
  // come and go between pieces; the next piece starts after that one's labels).
  std::map<std::string, Family>::const_iterator family_at;
  bool header_written = false;
  std::optional<Labels> last_written;
  std::optional<std::pair<std::string, std::string>> last_object;  // the same, in a condition family
  std::string piece;
  piece.reserve(chunk + 1024);
  {
    std::lock_guard lock(mu_);
    family_at = families_.begin();
  }
  for (;;) {
    bool finished = false;
    {
      std::lock_guard lock(mu_);
      while (family_at != families_.end() && piece.size() < chunk) {
        const auto& [name, f] = *family_at;
        if (!header_written) {
          fmt::format_to(std::back_inserter(piece), "# HELP {} {}\n# TYPE {} {}\n", name, f.help, name,
                         type_name(f.type));
          header_written = true;
        }
        const bool family_done =
            f.condition.empty()
                ? append_after(piece, f.series, last_written, chunk,
                               [&](const Labels& labels, const Series& s) {
                                 append_series(piece, name, f, labels, s);
                               })
                : append_after(
                      piece, f.objects, last_object, chunk,
                      [&, condition = escape_label(f.condition)](const auto& object, bool status_true) {
                        append_condition(piece, name, condition, object, status_true);
                      });
        if (family_done) {
          ++family_at;
          header_written = false;
          last_written.reset();
          last_object.reset();
        }
      }
      finished = family_at == families_.end();
    }
    if (!piece.empty() && !sink(piece)) return false;
    piece.clear();
    if (finished) return true;
  }
}

void Metrics::append_series(std::string& out, const std::string& name, const Family& f, const Labels& labels,
                            const Series& s) {
  if (f.type != Type::kHistogram) {
    fmt::format_to(std::back_inserter(out), "{}{} {}\n", name, label_text(labels), format_value(s.value));
    return;
  }
  uint64_t cumulative = 0;
  for (size_t i = 0; i < f.buckets.size(); ++i) {
    cumulative += i < s.bucket_counts.size() ? s.bucket_counts[i] : 0;
    fmt::format_to(std::back_inserter(out), "{}_bucket{} {}\n", name,
                   label_text(labels, "le", format_value(f.buckets[i])), cumulative);
  }
  fmt::format_to(std::back_inserter(out), "{}_bucket{} {}\n", name, label_text(labels, "le", "+Inf"),
                 s.count);
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n", name, label_text(labels), format_value(s.sum));
  fmt::format_to(std::back_inserter(out), "{}_count{} {}\n", name, label_text(labels), s.count);
}

void describe_syncer_metrics(Metrics& m) {
  m.describe(kMetricReconciles, Metrics::Type::kCounter, "Reconciles of InfisicalSecrets by result.");
  m.describe(kMetricReconcileDuration, Metrics::Type::kHistogram, "Duration of one reconcile in seconds.",
             {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  m.describe(kMetricInfisicalRequests, Metrics::Type::kCounter,
             "Requests sent to the Infisical API by endpoint and HTTP status (0: no response).");
  m.describe(kMetricTokenCache, Metrics::Type::kCounter, "Access token cache lookups by result (hit or miss).");
  m.describe(kMetricRollouts, Metrics::Type::kCounter, "Workload rollouts triggered by a rollout-hash patch, by kind.");
  m.describe(kMetricRolloutBaselines, Metrics::Type::kCounter,
             "Rollout baselines recorded in a workload's metadata (first seen without a rollout hash; no rollout), "
             "by kind.");
  m.describe(kMetricWorkloadsPreviousKey, Metrics::Type::kGauge,
             "Opted-in workloads up to date but stamped under the previous digest key, at the last full workload "
             "check (0 when no rotation is in progress: then ending it rolls nothing).");
  m.describe(kMetricQueueDepth, Metrics::Type::kGauge, "Keys waiting in the work queue.");
  m.describe(kMetricManagedSecrets, Metrics::Type::kGauge, "Managed Secrets known to the syncer.");
  m.describe(kMetricSecretWrites, Metrics::Type::kCounter, "Managed Secret writes by operation.");
  m.describe(kMetricConfigMapWrites, Metrics::Type::kCounter, "Managed ConfigMap writes by operation.");
  m.describe(kMetricThrottled, Metrics::Type::kCounter,
             "Reconciles deferred because the Infisical request budget had no free slot, or Infisical "
             "rate-limited a refresh of data the syncer holds.");
  m.describe(kMetricIsLeader, Metrics::Type::kGauge, "1 when this replica holds the leader lease.");
  m.describe(kMetricTrustRefusals, Metrics::Type::kCounter,
             "Reconciles refused by the trust boundary, by reason (a reconcile refused for two reasons counts "
             "under both).");
  const std::vector<double> seconds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  m.describe(kMetricFetchDuration, Metrics::Type::kHistogram,
             "Time to read one scope from Infisical in seconds (including a login when the token had to be "
             "renewed), by result: ok, not_modified (304) or error.",
             seconds);
  m.describe_condition(
      kMetricStatusCondition, std::string(core::kConditionReady),
      "The Ready condition of each InfisicalSecret: 1 for the status it has, 0 for the other.");
  m.describe(kMetricCrReconcileTotal, Metrics::Type::kCounter,
             "Total number of reconciliations per controller (controller-runtime compatible).");
  m.describe(kMetricCrReconcileErrors, Metrics::Type::kCounter,
             "Total number of reconciliation errors per controller (controller-runtime compatible).");
  m.describe(kMetricCrReconcileTime, Metrics::Type::kHistogram,
             "Length of time per reconciliation per controller (controller-runtime compatible).", seconds);
  m.describe(kMetricCrMaxConcurrent, Metrics::Type::kGauge,
             "Maximum number of concurrent reconciles per controller (controller-runtime compatible).");
  m.describe(kMetricCrActiveWorkers, Metrics::Type::kGauge,
             "Number of currently used workers per controller (controller-runtime compatible).");
  m.describe(kMetricWorkqueueDepth, Metrics::Type::kGauge, "Current depth of workqueue (client-go compatible).");
  m.describe(kMetricWorkqueueRetries, Metrics::Type::kCounter,
             "Total number of retries handled by workqueue (client-go compatible).");
  m.describe(kMetricWorkqueueAdds, Metrics::Type::kCounter,
             "Total number of adds handled by workqueue (client-go compatible).");
  m.describe(kMetricWorkqueueQueueDuration, Metrics::Type::kHistogram,
             "How long in seconds an item stays in workqueue before being requested (client-go compatible).",
             seconds);
  m.describe(kMetricWorkqueueWorkDuration, Metrics::Type::kHistogram,
             "How long in seconds processing an item from workqueue takes (client-go compatible).", seconds);
  m.describe(kMetricRestClientRequests, Metrics::Type::kCounter,
             "Number of HTTP requests to the Kubernetes API server, partitioned by status code, method, and host "
             "(client-go compatible; code \"<error>\" when no answer came).");
  m.describe(kMetricLeaderStatus, Metrics::Type::kGauge,
             "1 when this replica leads the lease of the given name, 0 when it is a standby (client-go "
             "compatible).");
  m.describe(kMetricUpstreamCompatibleMode, Metrics::Type::kGauge,
             "1 when cross-namespace references need no InfisicalReferenceGrant and Kubernetes auth no "
             "ServiceAccount opt-in (--cross-namespace-references=allow).");
}

}  // namespace ifo::syncer
