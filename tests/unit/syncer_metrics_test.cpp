// Prometheus text exposition of the syncer's registry.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

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

TEST_CASE("a scrape is handed out in bounded pieces, and series may change between pieces") {
  Metrics m;
  m.describe("a_total", Metrics::Type::kCounter, "A.");
  m.describe("isec_ready", Metrics::Type::kGauge, "Per resource.");
  m.inc("a_total");
  for (int i = 0; i < 2000; ++i) m.set("isec_ready", {{"name", fmt::format("r{:04}", i)}}, 1);
  const std::string whole = m.render();
  REQUIRE(whole.size() > 40000);

  std::string joined;
  size_t pieces = 0, largest = 0;
  CHECK(m.render_to(
      [&](std::string_view piece) {
        joined += piece;
        ++pieces;
        largest = std::max(largest, piece.size());
        return true;
      },
      4096));
  CHECK(joined == whole);
  CHECK(pieces > 10);
  CHECK(largest < 4096 + 200);  // a piece stops at the first series past the size

  // The registry is not locked while a piece is out: a reconcile may drop and add series meanwhile.
  // What is gone is left out, what is new and not yet passed is included, nothing is repeated.
  joined.clear();
  bool changed = false;
  CHECK(m.render_to(
      [&](std::string_view piece) {
        joined += piece;
        if (!changed && joined.find("r0100") != std::string::npos) {
          m.remove("isec_ready", {{"name", "r1999"}});
          m.set("isec_ready", {{"name", "r1500a"}}, 1);
          m.set("isec_ready", {{"name", "r0000a"}}, 1);  // before the cursor: comes at the next scrape
          changed = true;
        }
        return true;
      },
      4096));
  CHECK(changed);
  CHECK(joined.find("name=\"r1999\"") == std::string::npos);
  CHECK(joined.find("isec_ready{name=\"r1500a\"} 1\n") != std::string::npos);
  CHECK(joined.find("name=\"r0000a\"") == std::string::npos);
  CHECK(joined.find("# TYPE isec_ready gauge\n") == joined.rfind("# TYPE isec_ready gauge\n"));
  size_t lines = std::count(joined.begin(), joined.end(), '\n');
  CHECK(lines == std::count(whole.begin(), whole.end(), '\n'));  // one gone, one new

  // A scraper that goes away stops the rendering.
  size_t asked = 0;
  CHECK_FALSE(m.render_to([&](std::string_view) { return ++asked < 3; }, 4096));
  CHECK(asked == 3);
}

TEST_CASE("no piece of a scrape is empty: to a chunked response an empty chunk ends the body") {
  Metrics m;
  m.describe("a_total", Metrics::Type::kCounter, "A.");
  m.add_text_source([] { return std::string(); });  // e.g. a /proc read that found nothing
  m.add_text_source([] { return std::string("# HELP p P.\n# TYPE p gauge\np 1\n"); });
  std::vector<size_t> sizes;
  CHECK(m.render_to([&](std::string_view piece) {
    sizes.push_back(piece.size());
    return true;
  }));
  CHECK(std::find(sizes.begin(), sizes.end(), 0) == sizes.end());
  CHECK(m.render().find("p 1\n# HELP a_total A.\n") != std::string::npos);
}

TEST_CASE("a condition family renders each object's pair of series, one entry per object") {
  Metrics m;
  m.describe("a_total", Metrics::Type::kCounter, "A.");
  m.describe_condition("isec_status_condition", "Ready", "Ready of each.");
  m.set_condition("isec_status_condition", "shop", "app", true);
  m.set_condition("isec_status_condition", "shop", "db", true);
  m.set_condition("isec_status_condition", "shop", "db", false);  // a later reconcile: the pair flips
  m.set_condition("isec_status_condition", "a\"b", "x\\y", true);
  std::string text = m.render();
  CHECK(text.find("# TYPE isec_status_condition gauge\n") != std::string::npos);
  CHECK(text.find(
            "isec_status_condition{condition=\"Ready\",name=\"app\",namespace=\"shop\",status=\"True\"} 1\n"
            "isec_status_condition{condition=\"Ready\",name=\"app\",namespace=\"shop\",status=\"False\"} "
            "0\n") != std::string::npos);
  CHECK(
      text.find(
          "isec_status_condition{condition=\"Ready\",name=\"db\",namespace=\"shop\",status=\"True\"} 0\n"
          "isec_status_condition{condition=\"Ready\",name=\"db\",namespace=\"shop\",status=\"False\"} 1\n") !=
      std::string::npos);
  CHECK(text.find("name=\"x\\\\y\",namespace=\"a\\\"b\",status=\"True\"} 1\n") != std::string::npos);
  CHECK(m.condition("isec_status_condition", "shop", "db") == false);
  CHECK(m.condition("isec_status_condition", "shop", "app") == true);

  m.remove_condition("isec_status_condition", "shop", "app");  // deleted: its pair goes
  text = m.render();
  CHECK(text.find("name=\"app\"") == std::string::npos);
  CHECK_FALSE(m.condition("isec_status_condition", "shop", "app").has_value());
  CHECK(std::count(text.begin(), text.end(), '\n') == 2 + 2 + 4);  // two headers, two objects' pairs

  // The family takes no labelled series, and the labelled families no objects.
  CHECK_THROWS(m.set("isec_status_condition", {{"name", "app"}}, 1));
  CHECK_THROWS(m.set_condition("a_total", "shop", "app", true));
}

TEST_CASE("a condition family of many objects is handed out in bounded pieces, changes between them too") {
  Metrics m;
  m.describe_condition("isec_status_condition", "Ready", "Ready of each.");
  m.describe("z_total", Metrics::Type::kCounter, "After it.");
  m.inc("z_total");
  for (int i = 0; i < 2000; ++i)
    m.set_condition("isec_status_condition", "ns", fmt::format("r{:04}", i), i % 3 != 0);
  const std::string whole = m.render();
  CHECK(std::count(whole.begin(), whole.end(), '\n') == 2 + 4000 + 3);

  std::string joined;
  size_t pieces = 0, largest = 0;
  bool changed = false;
  CHECK(m.render_to(
      [&](std::string_view piece) {
        joined += piece;
        ++pieces;
        largest = std::max(largest, piece.size());
        if (!changed && joined.find("r0100") != std::string::npos) {
          m.remove_condition("isec_status_condition", "ns", "r1999");
          m.set_condition("isec_status_condition", "ns", "r1500a", true);
          m.set_condition("isec_status_condition", "ns", "r0000a", true);  // behind the cursor: next scrape
          changed = true;
        }
        return true;
      },
      4096));
  CHECK(changed);
  CHECK(pieces > 10);
  CHECK(largest < 4096 + 300);
  CHECK(joined.find("name=\"r1999\"") == std::string::npos);
  CHECK(joined.find("name=\"r1500a\",namespace=\"ns\",status=\"True\"} 1\n") != std::string::npos);
  CHECK(joined.find("name=\"r0000a\"") == std::string::npos);
  CHECK(joined.find("z_total 1\n") != std::string::npos);
  CHECK(std::count(joined.begin(), joined.end(), '\n') == std::count(whole.begin(), whole.end(), '\n'));
}
