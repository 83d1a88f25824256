// Prometheus text exposition of the syncer's registry.
#include <doctest/doctest.h>

#include "syncer/metrics.h"

using ifo::syncer::Metrics;

TEST_CASE("counters, gauges and histograms render in exposition format") {
  Metrics m;
  m.describe("reqs_total", Metrics::Type::kCounter, "Requests.");
  m.describe("depth", Metrics::Type::kGauge, "Depth.");
  m.describe("dur_seconds", Metrics::Type::kHistogram, "Duration.", {0.1, 1});
  m.inc("reqs_total", {{"endpoint", "login"}, {"status", "200"}});
  m.inc("reqs_total", {{"endpoint", "login"}, {"status", "200"}}, 2);
  m.inc("reqs_total", {{"endpoint", "say \"hi\"\n"}, {"status", "500"}});
  m.set("depth", {}, 4);
  m.observe("dur_seconds", {{"result", "ok"}}, 0.05);
  m.observe("dur_seconds", {{"result", "ok"}}, 0.5);
  m.observe("dur_seconds", {{"result", "ok"}}, 5);
  std::string text = m.render();
  CHECK(text.find("# TYPE reqs_total counter\n") != std::string::npos);
  CHECK(text.find("reqs_total{endpoint=\"login\",status=\"200\"} 3\n") != std::string::npos);
  CHECK(text.find("reqs_total{endpoint=\"say \\\"hi\\\"\\n\",status=\"500\"} 1\n") != std::string::npos);
  CHECK(text.find("depth 4\n") != std::string::npos);
  CHECK(text.find("dur_seconds_bucket{result=\"ok\",le=\"0.1\"} 1\n") != std::string::npos);
  CHECK(text.find("dur_seconds_bucket{result=\"ok\",le=\"1\"} 2\n") != std::string::npos);
  CHECK(text.find("dur_seconds_bucket{result=\"ok\",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("dur_seconds_sum{result=\"ok\"} 5.55\n") != std::string::npos);
  CHECK(text.find("dur_seconds_count{result=\"ok\"} 3\n") != std::string::npos);
  CHECK(m.value("reqs_total", {{"endpoint", "login"}, {"status", "200"}}) == 3);
}

TEST_CASE("using an undeclared metric is a programming error, not silent") {
  Metrics m;
  CHECK_THROWS(m.inc("nope_total"));
  m.describe("g", Metrics::Type::kGauge, "G.");
  CHECK_THROWS(m.observe("g", {}, 1));
}

TEST_CASE("the trust boundary's metrics are declared: refusals by reason, upstream-compatible mode") {
  Metrics m;
  ifo::syncer::describe_syncer_metrics(m);
  m.inc(ifo::syncer::kMetricTrustRefusals, {{"reason", "ReferenceNotGranted"}});
  m.set(ifo::syncer::kMetricUpstreamCompatibleMode, {}, 1);
  std::string text = m.render();
  CHECK(text.find("# TYPE infisical_syncer_trust_refusals_total counter\n") != std::string::npos);
  CHECK(text.find("infisical_syncer_trust_refusals_total{reason=\"ReferenceNotGranted\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE infisical_syncer_upstream_compatible_mode gauge\n") != std::string::npos);
  CHECK(text.find("infisical_syncer_upstream_compatible_mode 1\n") != std::string::npos);
}
