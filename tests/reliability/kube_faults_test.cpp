// kube-sim closing every watch, forcing 410 Expired, answering 409 and 500 on writes, and restarting
// with the same data: no event is lost (a change made while the syncer could not see it is applied
// after) and nothing is written twice (kube-sim's request counters).
#include "reliability.h"

using namespace ifo;
using namespace ifo::reliability;

namespace {

int64_t delta(const std::map<std::string, int64_t>& after, const std::map<std::string, int64_t>& before,
              const std::string& key) {
  auto a = after.find(key), b = before.find(key);
  return (a == after.end() ? 0 : a->second) - (b == before.end() ? 0 : b->second);
}

// A Rig with app-0 -> managed-0, app-1 -> managed-1 and an opted-in consumer of managed-0, all synced.
void bring_up(Rig& rig) {
  rig.add_cr("app-0", "managed-0");
  rig.add_cr("app-1", "managed-1");
  rig.add_consumer("consumer", "managed-0", "DB_PASSWORD");
  rig.start_syncer("syncer.log");
  bool up = eventually([&] { return rig.ready("app-0") && rig.ready("app-1"); }, std::chrono::seconds(60));
  if (!up) MESSAGE(rig.syncer->log());
  REQUIRE(up);
  // The consumer existed before its Secret: the first sync records its baseline (no rollout).
  REQUIRE(eventually([&] { return !rig.workload("consumer").baseline.empty(); }));
  REQUIRE(rig.workload("consumer").template_annotations.find("rollout-hash") == std::string::npos);
}

std::string label_of(Rig& rig, const std::string& secret, const std::string& key) {
  auto o = rig.h.get(kube::kSecrets, secret);
  if (!o) return "";
  const auto* v = core::at_path(*o, {"metadata", "labels", key});
  return v && v->IsString() ? v->GetString() : "";
}

}  // namespace

TEST_CASE("watches closed, 410 Expired, history compacted: every change made in the gap is applied, once") {
  Rig rig;
  bring_up(rig);
  auto consumer_before = rig.workload("consumer");
  const int rounds = long_mode() ? 30 : 3;
  auto counters_before = rig.kube_counters();
  int64_t committed_before = rig.committed->secret_writes();
  int deletes = 0, relabels = 0;
  for (int round = 0; round < rounds; ++round) {
    // The three ways a watch ends badly, in turn.
    switch (round % 3) {
      case 0: rig.kube_admin("POST", "/sim/watches/close"); break;
      case 1:
        rig.kube_admin("POST", "/sim/compact");
        rig.kube_admin("POST", "/sim/watches/close");
        break;
      case 2:
        rig.kube_admin("POST", "/sim/watches/expire-next");
        rig.kube_admin("POST", "/sim/watches/close");
        break;
    }
    // Changes while the syncer re-establishes its watches: someone deletes a managed Secret, and
    // someone relabels an InfisicalSecret (its labels are propagated to its Secret).
    rig.h.client->remove(kube::kSecrets, "default", "managed-0");
    ++deletes;
    std::string label = fmt::format("round-{}", round);
    rig.h.client->patch(kube::kInfisicalSecrets, "default", "app-1", kube::PatchType::kMerge,
                         fmt::format(R"({{"metadata":{{"labels":{{"round":"{}"}}}}}})", label));
    ++relabels;
    auto t0 = Clock::now();
    bool restored = eventually([&] { return rig.secret_value("managed-0", "DB_PASSWORD") == "db-password-v1-7f3a"; },
                               std::chrono::seconds(20));
    bool relabelled = eventually([&] { return label_of(rig, "managed-1", "round") == label; }, std::chrono::seconds(20));
    MESSAGE(fmt::format("round {} ({}): deleted Secret restored={} relabel applied={} after {:.2f} s", round,
                        round % 3 == 0 ? "watches closed" : round % 3 == 1 ? "compacted + closed (410)" : "expire-next + closed (410)",
                        restored, relabelled, seconds_since(t0)));
    if (!restored || !relabelled) MESSAGE(rig.syncer->log());
    REQUIRE(restored);
    REQUIRE(relabelled);
  }
  // Let one more resync pass, so a duplicate write would show.
  std::this_thread::sleep_for(std::chrono::milliseconds(kResyncSeconds * 1100 + 500));
  auto counters = rig.kube_counters();
  int64_t creates = delta(counters, counters_before, "create secrets");
  int64_t attempts = delta(counters, counters_before, "update secrets") + delta(counters, counters_before, "patch secrets");
  int64_t committed = rig.committed->secret_writes() - committed_before;
  MESSAGE("Secret writes committed: ", committed, " for ", deletes, " deletions + ", relabels,
          " relabels; requests: creates=", creates, " updates=", attempts, " (a 409 on a stale read commits nothing)");
  CHECK(creates == deletes);
  CHECK(committed == deletes + relabels);
  CHECK(attempts <= relabels + rounds);  // at most one optimistic-concurrency retry per round
  // Re-creating a Secret with the same data rolls nothing.
  CHECK(rig.workload("consumer") == consumer_before);
  CHECK(rig.syncer->running());
  CHECK(log_leaks(rig.syncer->log()) == 0);
}

TEST_CASE("409 and 500 on writes: retried until done, every change written once, one rollout") {
  Rig rig;
  bring_up(rig);
  auto consumer_before = rig.workload("consumer");
  auto secret1_before = rig.secret("managed-1");
  rig.kube_admin("POST", "/sim/faults", R"({"errors":[
    {"verb":"update","resource":"secrets","code":409,"count":1,"message":"Operation cannot be fulfilled on secrets \"managed-0\": the object has been modified; please apply your changes to the latest version and try again"},
    {"verb":"update","resource":"secrets","code":500,"count":2},
    {"verb":"patch","resource":"deployments","code":500,"count":1},
    {"verb":"patch","resource":"infisicalsecrets/status","code":500,"count":2}]})");
  auto counters_before = rig.kube_counters();
  int64_t committed_before = rig.committed->secret_writes();
  rig.h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "db-password-v2-e41b");
  auto t0 = Clock::now();
  bool synced = eventually([&] {
    return rig.secret_value("managed-0", "DB_PASSWORD") == "db-password-v2-e41b" &&
           rig.secret_value("managed-1", "DB_PASSWORD") == "db-password-v2-e41b";
  }, std::chrono::seconds(kResyncSeconds * 6));
  if (!synced) MESSAGE(rig.syncer->log());
  REQUIRE(synced);
  MESSAGE(fmt::format("synced through 3 failed Secret updates after {:.2f} s", seconds_since(t0)));
  // The rollout the change calls for happens, through the failed patch, exactly once.
  bool rolled = eventually([&] { return rig.workload("consumer").generation == consumer_before.generation + 1; },
                           std::chrono::seconds(kResyncSeconds * 4));
  if (!rolled) MESSAGE(rig.syncer->log());
  CHECK(rolled);
  CHECK(eventually([&] { return rig.ready("app-0") && rig.ready("app-1"); }, std::chrono::seconds(kResyncSeconds * 4)));
  // One more resync with nothing to do.
  std::this_thread::sleep_for(std::chrono::milliseconds(kResyncSeconds * 1100 + 500));
  auto counters = rig.kube_counters();
  int64_t updates = delta(counters, counters_before, "update secrets");
  int64_t patches = delta(counters, counters_before, "patch deployments");
  MESSAGE("update secrets=", updates, " (3 injected failures + 2 Secrets), patch deployments=", patches,
          " (1 injected failure + 1 rollout), create secrets=", delta(counters, counters_before, "create secrets"));
  CHECK(updates >= 3 + 2);  // every injected failure was met; a stale read's 409 may add an attempt
  CHECK(updates <= 3 + 2 + 1);
  CHECK(rig.committed->secret_writes() - committed_before == 2);
  CHECK(patches == 1 + 1);
  CHECK(delta(counters, counters_before, "create secrets") == 0);
  CHECK(rig.workload("consumer").generation == consumer_before.generation + 1);
  CHECK(rig.secret("managed-1").data != secret1_before.data);
  rig.kube_admin("DELETE", "/sim/faults");
  CHECK(log_leaks(rig.syncer->log()) == 0);
}

TEST_CASE("kube-sim restarting with the same data: a change made during the outage is applied after, once") {
  Rig rig;
  bring_up(rig);
  auto consumer_before = rig.workload("consumer");
  auto counters_before = rig.kube_counters();
  int64_t committed_before = rig.committed->secret_writes();
  const double outage_s = long_mode() ? 60 : kResyncSeconds * 1.5;
  auto stopping_at = Clock::now();
  rig.h.kube_sim->stop();
  auto down_at = Clock::now();
  MESSAGE(fmt::format("kube-sim stopped in {:.2f} s", seconds_since(stopping_at)));
  rig.h.inf_sim->set_secret("proj", "dev", "/", "DB_PASSWORD", "db-password-v2-e41b");
  // The API server stays down past a resync, so the syncer's writes fail; the syncer must live on.
  while (seconds_since(down_at) < outage_s) {
    REQUIRE(rig.syncer->running());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  rig.h.kube_sim->start();
  auto up_at = Clock::now();
  bool synced = eventually([&] {
    return rig.secret_value("managed-0", "DB_PASSWORD") == "db-password-v2-e41b" &&
           rig.secret_value("managed-1", "DB_PASSWORD") == "db-password-v2-e41b";
  }, std::chrono::seconds(kResyncSeconds * 8));
  if (!synced) MESSAGE(rig.syncer->log());
  REQUIRE(synced);
  MESSAGE(fmt::format("after {:.1f} s down, the change made meanwhile was applied {:.2f} s after kube-sim came back",
                      outage_s, seconds_since(up_at)));
  CHECK(eventually([&] { return rig.workload("consumer").generation == consumer_before.generation + 1; },
                   std::chrono::seconds(kResyncSeconds * 4)));
  // The syncer's watches work again: a deletion is repaired.
  rig.h.client->remove(kube::kSecrets, "default", "managed-1");
  CHECK(eventually([&] { return rig.secret_value("managed-1", "DB_PASSWORD") == "db-password-v2-e41b"; },
                   std::chrono::seconds(20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(kResyncSeconds * 1100 + 500));
  auto counters = rig.kube_counters();
  MESSAGE("after the restart: update secrets=", delta(counters, counters_before, "update secrets"),
          " create secrets=", delta(counters, counters_before, "create secrets"),
          " patch deployments=", delta(counters, counters_before, "patch deployments"));
  // Attempts: the syncer's watches resume as soon as kube-sim answers again (not at the end of the
  // backoff the outage grew, up to 30 s), but a resync can still race the relist, so an update from
  // the stale cache can meet a 409 or a 404 (then it re-reads); those commit nothing and stay few.
  CHECK(delta(counters, counters_before, "update secrets") >= 2);
  CHECK(delta(counters, counters_before, "update secrets") <= 2 + 4);
  CHECK(delta(counters, counters_before, "create secrets") == 1);
  CHECK(rig.committed->secret_writes() - committed_before == 3);
  CHECK(delta(counters, counters_before, "patch deployments") == 1);
  CHECK(rig.workload("consumer").generation == consumer_before.generation + 1);
  CHECK(log_leaks(rig.syncer->log()) == 0);
}
