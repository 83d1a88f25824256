// Informer, leader election and events against an in-memory API server over HTTP: the informer sees
// adds/updates/deletes, relists after a 410 and survives closed watches; two electors never lead
// together and the second takes over after a release or an expiry; Events aggregate.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kube/events.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "leader_test_util.h"
#include "kube/meta.h"
#include "test_helpers.h"
#include "kube_fake_apiserver.h"

using namespace std::chrono_literals;
namespace kube = ifo::kube;

namespace {

using ifo::test::eventually;

kube::Config config_for(const kubetest::FakeApiServer& s) {
  kube::Config c;
  c.server = s.url();
  c.qps = 0;
  c.source = "test";
  return c;
}

std::string secret(const std::string& name, const std::string& value, const std::string& label = "mine") {
  return R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + name + R"(","labels":{"owner":")" + label +
         R"("}},"data":{"k":")" + value + R"("}})";
}

// Records handler calls as "add ns/x", "update ns/x", "delete ns/x".
struct Recorder {
  std::mutex mu;
  std::vector<std::string> calls;
  void push(std::string s) {
    std::lock_guard lock(mu);
    calls.push_back(std::move(s));
  }
  bool has(const std::string& s) {
    std::lock_guard lock(mu);
    return std::find(calls.begin(), calls.end(), s) != calls.end();
  }
  size_t count(const std::string& s) {
    std::lock_guard lock(mu);
    return static_cast<size_t>(std::count(calls.begin(), calls.end(), s));
  }
  kube::EventHandlers handlers() {
    return {[this](const kube::ConstObjectPtr& o) { push("add " + kube::meta_key(*o)); },
            [this](const kube::ConstObjectPtr&, const kube::ConstObjectPtr& n) { push("update " + kube::meta_key(*n)); },
            [this](const kube::ConstObjectPtr& o) { push("delete " + kube::meta_key(*o)); }};
  }
};

std::string data_of(const kube::ConstObjectPtr& o) {
  const auto* v = o ? ifo::core::at_path(*o, {"data", "k"}) : nullptr;
  return v ? v->GetString() : "";
}

kube::InformerOptions fast_options() {
  kube::InformerOptions o;
  o.page_size = 2;  // forces paging with a handful of objects
  o.backoff_initial = 10ms;
  o.backoff_max = 50ms;
  return o;
}

// Starts the informer with rec's handlers and waits for its initial list.
void start_synced(kube::Informer& inf, Recorder& rec) {
  inf.add_handlers(rec.handlers());
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
}

}  // namespace

TEST_CASE("informer: paged initial list, then adds, updates and deletes from the watch") {
  kubetest::FakeApiServer s;
  for (int i = 0; i < 5; ++i) s.put_object("secrets", "ns", secret("s" + std::to_string(i), "djA="));
  kube::Client c(config_for(s));
  Recorder rec;
  kube::Informer inf(c, kube::kSecrets, fast_options());
  start_synced(inf, rec);
  CHECK(inf.store().size() == 5);
  CHECK(rec.count("add ns/s0") == 1);
  CHECK(s.requests("GET") >= 3);  // 5 objects in pages of 2

  REQUIRE(eventually([&] { return s.open_watches() == 1; }));
  s.put_object("secrets", "ns", secret("new", "djE="));
  CHECK(eventually([&] { return rec.has("add ns/new"); }));
  s.put_object("secrets", "ns", secret("s1", "djI="));
  CHECK(eventually([&] { return rec.has("update ns/s1"); }));
  CHECK(data_of(inf.store().get("ns/s1")) == "djI=");
  s.delete_object("secrets", "ns", "s2");
  CHECK(eventually([&] { return rec.has("delete ns/s2"); }));
  CHECK(inf.store().get("ns/s2") == nullptr);
  CHECK(inf.store().size() == 5);
  CHECK(inf.lists() == 1);
  inf.stop();
}

TEST_CASE("informer: a closed watch resumes from the last resourceVersion without a relist") {
  kubetest::FakeApiServer s;
  s.put_object("secrets", "ns", secret("a", "djA="));
  kube::Client c(config_for(s));
  Recorder rec;
  kube::Informer inf(c, kube::kSecrets, fast_options());
  start_synced(inf, rec);
  REQUIRE(eventually([&] { return s.open_watches() == 1; }));
  s.close_watches();
  REQUIRE(eventually([&] { return inf.watches() >= 2 && s.open_watches() == 1; }));
  s.put_object("secrets", "ns", secret("b", "djA="));
  CHECK(eventually([&] { return rec.has("add ns/b"); }));
  CHECK(inf.lists() == 1);
  CHECK(rec.count("add ns/a") == 1);  // nothing replayed
}

TEST_CASE("informer: an ERROR 410 in the watch makes it relist; changes missed meanwhile are reconciled") {
  kubetest::FakeApiServer s;
  s.put_object("secrets", "ns", secret("keep", "djA="));
  s.put_object("secrets", "ns", secret("gone", "djA="));
  kube::Client c(config_for(s));
  Recorder rec;
  kube::Informer inf(c, kube::kSecrets, fast_options());
  start_synced(inf, rec);
  REQUIRE(eventually([&] { return s.open_watches() == 1; }));
  // While the informer is disconnected (the server compacts and expires the watch), objects change.
  s.close_watches();
  s.delete_object("secrets", "ns", "gone");
  s.put_object("secrets", "ns", secret("keep", "djk="));
  s.put_object("secrets", "ns", secret("fresh", "djA="));
  s.compact();
  CHECK(eventually([&] { return inf.lists() >= 2; }));
  CHECK(eventually([&] { return rec.has("delete ns/gone") && rec.has("update ns/keep") && rec.has("add ns/fresh"); }));
  CHECK(data_of(inf.store().get("ns/keep")) == "djk=");
  CHECK(inf.store().get("ns/gone") == nullptr);
  // And it keeps watching afterwards.
  REQUIRE(eventually([&] { return s.open_watches() == 1; }));
  s.put_object("secrets", "ns", secret("after", "djA="));
  CHECK(eventually([&] { return rec.has("add ns/after"); }));
}

TEST_CASE("informer: bookmarks advance the resourceVersion; label selector and namespace restrict what is seen") {
  kubetest::FakeApiServer s;
  s.put_object("secrets", "ns", secret("mine", "djA=", "mine"));
  s.put_object("secrets", "ns", secret("theirs", "djA=", "other"));
  s.put_object("secrets", "elsewhere", secret("mine2", "djA=", "mine"));
  kube::Client c(config_for(s));
  auto opts = fast_options();
  opts.namespace_ = "ns";
  opts.label_selector = "owner=mine";
  Recorder rec;
  kube::Informer inf(c, kube::kSecrets, opts);
  start_synced(inf, rec);
  CHECK(inf.store().keys() == std::vector<std::string>{"ns/mine"});
  REQUIRE(eventually([&] { return s.open_watches() == 1; }));
  s.put_object("secrets", "ns", secret("theirs2", "djA=", "other"));
  s.put_object("secrets", "elsewhere", secret("x", "djA=", "mine"));
  const std::string before = inf.resource_version();
  s.send_bookmarks();
  CHECK(eventually([&] { return inf.resource_version() != before; }));
  CHECK(inf.store().keys() == std::vector<std::string>{"ns/mine"});
}

TEST_CASE("informer: stop() returns promptly while a watch is open, and the server is unreachable -> backoff") {
  kubetest::FakeApiServer s;
  kube::Client c(config_for(s));
  kube::Informer inf(c, kube::kSecrets, fast_options());
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  REQUIRE(eventually([&] { return s.open_watches() == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  inf.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);

  kube::Config dead;
  dead.server = "http://127.0.0.1:1";  // nothing listens on port 1
  dead.qps = 0;
  kube::Client dc(dead);
  kube::Informer di(dc, kube::kSecrets, fast_options());
  di.start();
  CHECK(eventually([&] { return di.errors() >= 3; }));
  CHECK_FALSE(di.has_synced());
  di.stop();
}

TEST_CASE("leader election: one of two candidates leads; release hands over at once; expiry hands over later") {
  kubetest::FakeApiServer s;
  kube::Client c(config_for(s));
  ifo::test::LeaderCount count;
  auto make = [&](const std::string& id, std::atomic<bool>& leading) {
    kube::LeaderElectionConfig cfg;
    cfg.namespace_ = "ops";
    cfg.name = "syncer-lock";
    cfg.identity = id;
    cfg.lease_duration = 1500ms;
    cfg.renew_deadline = 1000ms;
    cfg.retry_period = 100ms;
    count.track(cfg, leading);
    return std::make_unique<kube::LeaderElector>(c, cfg);
  };
  std::atomic<bool> a_leads{false}, b_leads{false};
  auto a = make("a", a_leads);
  auto b = make("b", b_leads);
  a->start();
  REQUIRE(eventually([&] { return a_leads.load(); }));
  b->start();
  // b keeps trying for several lease renewals but must not lead while a renews.
  REQUIRE(eventually([&] { return b->observed_leader() == "a"; }));
  std::this_thread::sleep_for(2s);  // longer than the lease duration: a renewing keeps b out
  CHECK_FALSE(b_leads.load());
  auto lease = s.object("leases", "ops", "syncer-lock");
  REQUIRE(lease);
  CHECK(lease->find(R"("holderIdentity":"a")") != std::string::npos);
  CHECK(lease->find(R"("leaseDurationSeconds":1)") != std::string::npos);

  // a stops: it releases the lease and b takes over well before the lease would expire.
  const auto t0 = std::chrono::steady_clock::now();
  a->stop();
  CHECK_FALSE(a_leads.load());
  REQUIRE(eventually([&] { return b_leads.load(); }));
  CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
  lease = s.object("leases", "ops", "syncer-lock");
  CHECK(lease->find(R"("holderIdentity":"b")") != std::string::npos);
  CHECK(lease->find(R"("leaseTransitions":1)") != std::string::npos);
  CHECK(count.max_leaders.load() == 1);
}

TEST_CASE("leader election: a leader that stops renewing (crashed) is replaced after the lease duration") {
  kubetest::FakeApiServer s;
  // A lease held by a dead process, freshly renewed as far as anyone can tell.
  s.put_object("leases", "ops", R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},
    "spec":{"holderIdentity":"dead","leaseDurationSeconds":1,"renewTime":"2026-01-01T00:00:00.000000Z","leaseTransitions":4}})");
  kube::Client c(config_for(s));
  std::atomic<bool> leads{false};
  kube::LeaderElectionConfig cfg;
  cfg.namespace_ = "ops";
  cfg.name = "l";
  cfg.identity = "b";
  cfg.lease_duration = 1500ms;
  cfg.renew_deadline = 1000ms;
  cfg.retry_period = 100ms;
  cfg.on_started_leading = [&] { leads = true; };
  kube::LeaderElector e(c, cfg);
  const auto t0 = std::chrono::steady_clock::now();
  e.start();
  REQUIRE(eventually([&] { return leads.load(); }));
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= 1s);  // waited out the holder's leaseDurationSeconds, on its own clock
  auto lease = s.object("leases", "ops", "l");
  CHECK(lease->find(R"("leaseTransitions":5)") != std::string::npos);
  e.stop();
  lease = s.object("leases", "ops", "l");
  CHECK(lease->find(R"("holderIdentity":"")") != std::string::npos);
}

TEST_CASE("leader election: losing the lease to someone else stops leading after the renew deadline") {
  kubetest::FakeApiServer s;
  kube::Client c(config_for(s));
  std::atomic<bool> leads{false}, stopped{false};
  kube::LeaderElectionConfig cfg;
  cfg.namespace_ = "ops";
  cfg.name = "l";
  cfg.identity = "a";
  cfg.lease_duration = 1500ms;
  cfg.renew_deadline = 500ms;
  cfg.retry_period = 100ms;
  cfg.on_started_leading = [&] { leads = true; };
  cfg.on_stopped_leading = [&] { stopped = true; };
  kube::LeaderElector e(c, cfg);
  e.start();
  REQUIRE(eventually([&] { return leads.load(); }));
  // Someone else grabs the lease (e.g. after a network partition): a's renewals now find "intruder" holding it.
  s.put_object("leases", "ops", R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},
    "spec":{"holderIdentity":"intruder","leaseDurationSeconds":60}})");
  CHECK(eventually([&] { return stopped.load(); }, 5s));
  CHECK_FALSE(e.is_leader());
}

TEST_CASE("events: created with involvedObject and source; repeats patch the count instead of creating") {
  kubetest::FakeApiServer s;
  kube::Client c(config_for(s));
  kube::EventRecorderOptions o;
  o.component = "infisical-syncer";
  kube::EventRecorder rec(c, o);
  ifo::core::JsonDoc obj;
  obj.Parse(R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret",
    "metadata":{"name":"app","namespace":"team","uid":"u-1","resourceVersion":"9"}})");
  CHECK(rec.record(obj, kube::kEventTypeNormal, "Synced", "synced 3 keys into Secret team/app-secrets"));
  CHECK(rec.record(obj, kube::kEventTypeNormal, "Synced", "synced 3 keys into Secret team/app-secrets"));
  CHECK(rec.record(obj, kube::kEventTypeNormal, "Synced", "synced 3 keys into Secret team/app-secrets"));
  CHECK(rec.record(obj, kube::kEventTypeWarning, "FetchFailed", "Infisical answered 500"));
  CHECK(s.count("events") == 2);
  CHECK(rec.created() == 2);
  CHECK(rec.aggregated() == 2);
  CHECK(s.requests("PATCH") == 2);
  // Inspect the aggregated event.
  kube::ListOptions lo;
  auto events = c.list(kube::kEvents, "team", lo);
  REQUIRE(events.items.size() == 2);
  bool saw_synced = false;
  for (const auto& ev : events.items) {
    if (ifo::core::string_or(*ev, "reason", "") != "Synced") continue;
    saw_synced = true;
    CHECK(ifo::core::get_int(*ev, "count") == 3);
    CHECK(ifo::core::string_or(*ev, "type", "") == "Normal");
    CHECK(ifo::core::at_path(*ev, {"involvedObject", "kind"})->GetString() == std::string("InfisicalSecret"));
    CHECK(ifo::core::at_path(*ev, {"involvedObject", "uid"})->GetString() == std::string("u-1"));
    CHECK(ifo::core::at_path(*ev, {"source", "component"})->GetString() == std::string("infisical-syncer"));
    CHECK(kube::parse_time(ifo::core::string_or(*ev, "firstTimestamp", "")).has_value());
    CHECK(kube::parse_time(ifo::core::string_or(*ev, "lastTimestamp", "")).has_value());
  }
  CHECK(saw_synced);
  // An Event deleted meanwhile (TTL) is created again rather than failing.
  for (const auto& ev : events.items) s.delete_object("events", "team", kube::meta_name(*ev));
  CHECK(rec.record(obj, kube::kEventTypeNormal, "Synced", "synced 3 keys into Secret team/app-secrets"));
  CHECK(s.count("events") == 1);
}
