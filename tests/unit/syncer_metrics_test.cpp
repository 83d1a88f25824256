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
