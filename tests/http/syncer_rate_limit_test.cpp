// The syncer against a self-hosted Infisical's rate limiter: infisical-sim with its per-route limit of
// 40 a minute, refusing with the older server's 500 (with the limiter's headers). The real reconciler,
// Infisical client and kube client run; time is a fake clock for the reconciler and infisical-sim's
// clock offset for the server, moved together one second at a time, so two minutes take seconds.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kScopes = 6;

// One project, six folders (one scope each), the self-hosted limiter: 40 a minute per route, 500.
std::string six_scope_seed() {
  std::string secrets;
  for (int i = 0; i < kScopes; ++i) {
    if (!secrets.empty()) secrets += ",";
    secrets += R"({"environment": "dev", "path": "/s)" + std::to_string(i) +
               R"(", "key": "DB_PASSWORD", "value": "pw-)" + std::to_string(i) + R"("},
      {"environment": "dev", "path": "/s)" +
               std::to_string(i) + R"(", "key": "API_KEY", "value": "key-)" + std::to_string(i) + R"("})";
  }
  return R"({
  "projects": [{"slug": "proj", "name": "Proj", "environments": [{"slug": "dev", "name": "Development"}],
    "secrets": [)" +
         secrets + R"(]}],
  "identities": [{"id": "6b2f8a0e-0000-4000-8000-0000000000a1", "name": "syncer-test", "projects": ["proj"],
    "accessTokenTTL": 3600, "accessTokenMaxTTL": 86400,
    "universalAuth": {"clientId": "test-client-id", "clientSecret": "test-client-secret-value"}}],
  "rateLimits": {"mode": "500", "limits": {"secrets": 40}}
})";
}

int64_t refusals(const sim::Counters& c) {
  int64_t n = 0;
  for (const char* route : {"GET /api/v3/secrets/raw", "GET /api/v3/secrets/raw/{secretName}"})
    for (const char* status : {" 429", " 500"}) {
      auto it = c.by_route_status.find(std::string(route) + status);
      if (it != c.by_route_status.end()) n += it->second;
    }
  return n;
}

}  // namespace

TEST_CASE("six scopes at resyncInterval 5 against a 40/min route limit: no refusal, Secrets intact") {
  SyncerHarness h(six_scope_seed());
  h.create_credentials();
  h.create_ca_secret();
  for (int i = 0; i < kScopes; ++i) {
    std::string cr =
        h.infisical_secret_json("app-" + std::to_string(i), "app-" + std::to_string(i) + "-secret");
    replace_once(cr, R"("resyncInterval":60)", R"("resyncInterval":5)");
    replace_once(cr, R"("secretsPath":"/")", R"("secretsPath":"/s)" + std::to_string(i) + "\"");
    h.create_cr(cr);
  }
  h.inf_sim->reset_counters();

  // The controller's queue in miniature: each key comes back when its outcome says.
  std::map<std::string, core::Clock::time_point> due;
  for (int i = 0; i < kScopes; ++i) due["default/app-" + std::to_string(i)] = h.clock.now();
  std::map<std::string, int> results;
  int ticks_intact = 0;
  for (int second = 0; second < 120; ++second) {
    for (auto& [key, when] : due) {
      if (h.clock.now() < when) continue;
      ReconcileOutcome out = h.reconciler->reconcile(key);
      ++results[out.result];
      // A backoff is the work queue's, capped by the resource's interval: come back within it.
      when = h.clock.now() + (out.next == ReconcileOutcome::Next::kRequeueAfter ? out.after : 1s);
    }
    // Once synced, every managed Secret holds its scope's values at every step: never emptied,
    // never deleted, whatever the budget made the syncer wait for.
    bool all_synced = true;
    for (int i = 0; i < kScopes && all_synced; ++i) {
      auto s = h.get(kube::kSecrets, "app-" + std::to_string(i) + "-secret");
      if (second < 10 && !s) {
        all_synced = false;  // the first round may still be on its way
        continue;
      }
      REQUIRE_MESSAGE(s, "app-" << i << "-secret missing at " << second << " s");
      CHECK(data_value(*s, "DB_PASSWORD") == "pw-" + std::to_string(i));
      CHECK(data_value(*s, "API_KEY") == "key-" + std::to_string(i));
    }
    if (all_synced) ++ticks_intact;
    h.clock.step(1s);
    h.inf_sim->advance_clock(1);
  }

  sim::Counters c = h.inf_sim->counters();
  const int64_t fetches = c.by_route["GET /api/v3/secrets/raw"];
  MESSAGE("secrets requests: " << fetches << ", refusals: " << refusals(c) << ", throttled reconciles: "
                               << results["throttled"] << ", synced: " << results["synced"]
                               << ", unchanged: " << results["unchanged"]);
  // The acceptance line: no rate-limit answer after the first one (there is not even a first: the
  // first answer's headers already tell the limit).
  CHECK(refusals(c) <= 1);
  // The server's limit, not the configured 240/min (which would have let about 145 through), paced the
  // route, and most of it was used. Two windows, or three when this machine is slow: the server's
  // clock runs on by the real time the test takes, so its windows turn a little early.
  CHECK(fetches <= 3 * 40);
  CHECK(fetches >= 60);
  CHECK(results["throttled"] > 0);
  CHECK(ticks_intact >= 105);
  // Nothing was ever deleted or written empty.
  for (const auto& a : h.recording->actions()) {
    CHECK_FALSE(a.starts_with("delete secrets"));
  }
  // One login, one project lookup: the limiter's other routes were hardly touched.
  CHECK(c.by_route["POST /api/v1/auth/universal-auth/login"] == 1);
}
