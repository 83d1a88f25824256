// Prometheus text rendering for the webhook metrics.
#include "webhook/metrics.h"

#include <fmt/format.h>

namespace ifo::webhook {

void Metrics::record(const std::string& path, const std::string& result, double seconds) {
  std::lock_guard lock(mu_);
  requests_[{path, result}] += 1;
  auto& h = latency_[path];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

double Metrics::count(const std::string& path, const std::string& result) const {
  std::lock_guard lock(mu_);
  auto it = requests_.find({path, result});
  return it == requests_.end() ? 0 : it->second;
}

void Metrics::set_gauge_source(std::function<std::map<std::string, double>()> source) {
  std::lock_guard lock(mu_);
  gauges_ = std::move(source);
}

std::string Metrics::render() const {
  std::function<std::map<std::string, double>()> gauges;
  std::string out;
  {
    std::lock_guard lock(mu_);
    gauges = gauges_;
    out += fmt::format("# HELP {} Admission requests by path and result.\n# TYPE {} counter\n", kMetricRequests,
                       kMetricRequests);
    for (const auto& [k, v] : requests_)
      out += fmt::format("{}{{path=\"{}\",result=\"{}\"}} {}\n", kMetricRequests, k.first, k.second, v);
    out += fmt::format("# HELP {} Time from request routing to response, by path.\n# TYPE {} histogram\n",
                       kMetricLatency, kMetricLatency);
    for (const auto& [path, h] : latency_) {
      for (size_t i = 0; i < kBuckets.size(); ++i)
        out += fmt::format("{}_bucket{{path=\"{}\",le=\"{}\"}} {}\n", kMetricLatency, path, kBuckets[i], h.buckets[i]);
      out += fmt::format("{}_bucket{{path=\"{}\",le=\"+Inf\"}} {}\n", kMetricLatency, path, h.count);
      out += fmt::format("{}_sum{{path=\"{}\"}} {}\n{}_count{{path=\"{}\"}} {}\n", kMetricLatency, path, h.sum,
                         kMetricLatency, path, h.count);
    }
  }
  if (gauges) {
    for (const auto& [name, value] : gauges()) out += fmt::format("# TYPE {} {}\n{} {}\n", name,
        name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0 ? "counter" : "gauge", name, value);
  }
  return out;
}

}  // namespace ifo::webhook
