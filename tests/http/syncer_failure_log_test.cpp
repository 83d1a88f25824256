// A failing InfisicalSecret logs one warning per change of reason, then debug lines while the same
// failure repeats (like its Events): 1,000 resources pointing at an unreachable host must not print a
// warning per retry. And the per-resource Ready gauge follows the condition.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;

namespace {

// Lines of `log` that start with "LEVEL reconcile failed" (the sink's pattern is "%l %v").
int failure_lines(const std::string& log, const std::string& level) {
  std::istringstream in(log);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind(level + " reconcile failed", 0) == 0) ++n;
  return n;
}

struct Fixture {
  SyncerHarness h;
  std::ostringstream log_text;
  Fixture() {
    h.log = std::make_shared<spdlog::logger>("syncer-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
    h.log->set_pattern("%l %v");
    h.log->set_level(spdlog::level::debug);
    h.make_reconciler();
    h.create_ca_secret();
  }
};

}  // namespace

TEST_CASE("a repeated failure warns once, then logs at debug; a new reason warns again") {
  Fixture f;
  auto& h = f.h;
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));  // its credentials Secret does not exist yet
  for (int i = 0; i < 3; ++i) {
    auto out = h.reconciler->reconcile("default/app");
    CHECK(out.ready == "False");
    h.clock.step(std::chrono::seconds(61));
  }
  CHECK(failure_lines(f.log_text.str(), "warning") == 1);
  CHECK(failure_lines(f.log_text.str(), "debug") == 2);
  CHECK(f.log_text.str().find("reason=CredentialsNotFound") != std::string::npos);

  // Back in sync, then failing again: the reason changed twice, so the next failure warns once more.
  h.create_credentials();
  h.clock.step(std::chrono::seconds(61));
  auto synced = h.reconciler->reconcile("default/app");
  CHECK(synced.result == "synced");
  CHECK(synced.ready == "True");
  h.client->remove(kube::kSecrets, "default", "universal-creds");
  for (int i = 0; i < 2; ++i) {
    h.clock.step(std::chrono::seconds(61));
    h.reconciler->reconcile("default/app");
  }
  const std::string log = f.log_text.str();
  CHECK(failure_lines(log, "warning") == 2);
  CHECK(failure_lines(log, "debug") == 3);
  // Nothing secret in any of it.
  CHECK(log.find("test-client-secret-value") == std::string::npos);
}
