// The syncer killed with SIGKILL in the middle of a sync loop (a changed secret being written into
// many managed Secrets) and started again: no managed Secret is lost or emptied at any moment, the
// change reaches every Secret, and workloads roll only when a key they consume changed, exactly once.
#include "reliability.h"

using namespace ifo;
using namespace ifo::reliability;

TEST_CASE("SIGKILL in the middle of a sync loop, then a restart: no Secret lost or emptied, only the rollouts the data calls for") {
  const bool is_long = long_mode();
  const int n = is_long ? 120 : 24;        // InfisicalSecrets, each with its own managed Secret
  const int consumers = is_long ? 20 : 6;  // of each kind below
  const int rounds = is_long ? 5 : 1;
  Rig rig;
  for (int i = 0; i < n; ++i) rig.add_cr(fmt::format("app-{}", i), fmt::format("managed-{}", i));
  for (int i = 0; i < consumers; ++i) {
    rig.add_consumer(fmt::format("uses-db-{}", i), fmt::format("managed-{}", i), "DB_PASSWORD");    // must roll
    rig.add_consumer(fmt::format("uses-api-{}", i), fmt::format("managed-{}", i), "API_KEY");       // must not
    rig.add_consumer(fmt::format("not-opted-{}", i), fmt::format("managed-{}", i), "DB_PASSWORD", false);  // must not
  }
  rig.start_syncer("syncer-0.log");
  auto all_ready = [&] {
    for (const auto& cr : rig.h.client->list(kube::kInfisicalSecrets, "default").items) {
      const auto* c = core::at_path(*cr, {"status", "conditions"});
      if (!c) return false;
      auto conds = core::conditions_from_json(*c);
      const auto* r = core::find_condition(conds, "Ready");
      if (!r || r->status != "True") return false;
    }
    return true;
  };
  bool up = eventually(all_ready, std::chrono::seconds(120));
  if (!up) MESSAGE(rig.syncer->log());
  REQUIRE(up);
  // The consumers existed before their Secrets: the first sync records their rollout baselines and
  // rolls none of them.
  REQUIRE(eventually([&] {
    for (int i = 0; i < consumers; ++i)
      if (rig.workload(fmt::format("uses-db-{}", i)).baseline.empty() ||
          rig.workload(fmt::format("uses-api-{}", i)).baseline.empty())
        return false;
    return true;
  }));
  std::map<std::string, WorkloadSnapshot> before;
  for (const auto& d : rig.h.client->list(kube::kDeployments, "default").items) {
    std::string name = core::string_or(*core::member(*d, "metadata"), "name", "");
    before[name] = rig.workload(name);
    CHECK(before[name].generation == 1);
    CHECK(before[name].template_annotations.find("rollout-hash") == std::string::npos);
  }

  // Every managed Secret, at any moment: present, both keys, each value one that Infisical held.
  auto check_intact = [&](const std::vector<std::string>& db_values, int& missing, int& bad) {
    auto list = rig.h.client->list(kube::kSecrets, "default");
    std::set<std::string> seen;
    for (const auto& s : list.items) {
      std::string name = core::string_or(*core::member(*s, "metadata"), "name", "");
      if (!name.starts_with("managed-")) continue;
      seen.insert(name);
      auto value = [&](const char* key) {
        const auto* v = core::at_path(*s, {"data", key});
        auto d = v && v->IsString() ? core::base64_decode(v->GetString()) : core::Result<std::string>::fail("absent");
        return d ? *d : std::string();
      };
      std::string db = value("DB_PASSWORD"), api = value("API_KEY");
      if (std::find(db_values.begin(), db_values.end(), db) == db_values.end() || api != "api-key-v1-19c2") ++bad;
    }
    missing = n - static_cast<int>(seen.size());
  };

  std::string current = "db-password-v1-7f3a";
  std::map<std::string, int64_t> expected_rolls;  // deployment -> rollouts expected so far
  for (int round = 0; round < rounds; ++round) {
    std::string next = fmt::format("db-password-v{}-{:04x}", round + 2, 0x5a5a + round);
    // Let the first third of the writes land and hold every later one at the API server, then change
    // the value: the kill comes in the middle of the loop however fast or slow the machine is.
    const int let_through = n / 3;
    rig.kube_admin("POST", "/sim/faults",
                   fmt::format(R"({{"errors":[{{"verb":"update","resource":"secrets","stallAfter":{}}}]}})", let_through));
    rig.h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", next);
    int written = 0;
    bool started = eventually([&] {
      written = 0;
      for (int i = 0; i < n; ++i)
        if (rig.secret_value(fmt::format("managed-{}", i), "DB_PASSWORD") == next) ++written;
      return written >= let_through;
    }, std::chrono::seconds(kResyncSeconds * 4));
    REQUIRE(started);
    rig.syncer->signal(SIGKILL);
    REQUIRE(rig.syncer->wait(std::chrono::seconds(10)) == std::optional<int>(128 + SIGKILL));
    int written_at_kill = 0;
    for (int i = 0; i < n; ++i)
      if (rig.secret_value(fmt::format("managed-{}", i), "DB_PASSWORD") == next) ++written_at_kill;
    MESSAGE("round ", round, ": SIGKILL with ", written_at_kill, " of ", n, " managed Secrets carrying the new value");
    CHECK(written_at_kill == let_through);  // it was killed in the middle of the loop
    int missing = 0, bad = 0;
    check_intact({current, next}, missing, bad);
    CHECK(missing == 0);
    CHECK(bad == 0);
    // Releases the held writes: they land now, as writes the API server had received before the kill.
    rig.kube_admin("DELETE", "/sim/faults");

    // Restart: the rest of the loop is done, and nothing else.
    rig.start_syncer(fmt::format("syncer-{}.log", round + 1));
    auto t0 = Clock::now();
    int lagging = n;
    bool done = eventually([&] {
      lagging = 0;
      for (int i = 0; i < n; ++i)
        if (rig.secret_value(fmt::format("managed-{}", i), "DB_PASSWORD") != next) ++lagging;
      return lagging == 0;
    }, std::chrono::seconds(kResyncSeconds * 12));
    if (!done) MESSAGE(rig.syncer->log());
    REQUIRE(done);
    MESSAGE(fmt::format("round {}: every managed Secret carries the new value {:.2f} s after the restart", round,
                        seconds_since(t0)));
    check_intact({next}, missing, bad);
    CHECK(missing == 0);
    CHECK(bad == 0);
    for (int i = 0; i < consumers; ++i) expected_rolls[fmt::format("uses-db-{}", i)] += 1;
    bool rolled = eventually([&] {
      for (int i = 0; i < consumers; ++i) {
        std::string d = fmt::format("uses-db-{}", i);
        if (rig.workload(d).generation < before[d].generation + expected_rolls[d]) return false;
      }
      return true;
    }, std::chrono::seconds(kResyncSeconds * 4));
    CHECK(rolled);
    current = next;
  }
  REQUIRE(eventually(all_ready, std::chrono::seconds(kResyncSeconds * 6)));
  // A resync later: exactly the rollouts the data called for.
  std::this_thread::sleep_for(std::chrono::milliseconds(kResyncSeconds * 1100 + 500));
  int wrong = 0;
  for (const auto& [name, w] : before) {
    auto now = rig.workload(name);
    int64_t want = w.generation + (expected_rolls.count(name) ? expected_rolls[name] : 0);
    if (now.generation != want) {
      ++wrong;
      MESSAGE(name, ": generation ", now.generation, ", expected ", want);
    }
    if (!expected_rolls.count(name)) {
      CHECK(now.template_annotations == w.template_annotations);
      CHECK(now.baseline == w.baseline);
    } else {
      // Rolled: the hash is in the template now, and the baseline it superseded is gone.
      CHECK(now.template_annotations.find("rollout-hash") != std::string::npos);
      CHECK(now.baseline.empty());
    }
  }
  CHECK(wrong == 0);
  CHECK(log_leaks(rig.syncer->log()) == 0);
  rig.syncer->signal(SIGTERM);
  CHECK(rig.syncer->wait(std::chrono::seconds(20)) == std::optional<int>(0));
}
