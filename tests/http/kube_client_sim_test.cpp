// The kube client library against kube-sim (HTTPS, bearer token, in-process): CRUD with 404/409,
// patches and the status subresource; an informer (paged list, closed watches and forced 410s, changes
// missed while disconnected delivered by the relist, namespace and label selector, bookmarks, an API
// server outage, a prompt stop); leader electors (one leads, release hands over at once, a crashed
// holder is replaced only after the lease duration, a Lease taken by another stops the leader);
// TokenRequest, SubjectAccessReview and Events (aggregation, timestamps, re-creation).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "leader_test_util.h"
#include "kube/meta.h"
#include "test_helpers.h"
#include "sim/kube/modules.h"
#include "kube_sim_client.h"
#include "sim/kube/server.h"

using namespace std::chrono_literals;
namespace kube = ifo::kube;
namespace core = ifo::core;

namespace {

using ifo::test::eventually;

struct Sim : ifo::test::KubeSimClient {
  Sim() : KubeSimClient(bookmarks_every(200ms), /*with_modules=*/true) {
    for (const char* ns : {"team", "ops"}) create_namespace(ns);
  }
};

core::JsonDoc doc(const std::string& json) {
  core::JsonDoc d;
  d.Parse(json.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

std::string cm(const std::string& name, const std::string& value, const std::string& app = "x") {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":{"app":")" + app +
         R"("}},"data":{"v":")" + value + R"("}})";
}

std::string value_of(const kube::ConstObjectPtr& o) {
  const auto* v = o ? core::at_path(*o, {"data", "v"}) : nullptr;
  return v != nullptr && v->IsString() ? v->GetString() : "";
}

// An informer's handler calls, as "add ns/name=v", "update ns/name=v" and "delete ns/name".
struct Seen {
  std::mutex mu;
  std::vector<std::string> calls;
  void push(std::string call) {
    std::lock_guard lock(mu);
    calls.push_back(std::move(call));
  }
  bool has(const std::string& call) { return count(call) > 0; }
  size_t count(const std::string& call) {
    std::lock_guard lock(mu);
    return static_cast<size_t>(std::count(calls.begin(), calls.end(), call));
  }
  size_t count_prefix(const std::string& prefix) {
    std::lock_guard lock(mu);
    return static_cast<size_t>(
        std::count_if(calls.begin(), calls.end(), [&](const std::string& c) { return c.starts_with(prefix); }));
  }
  kube::EventHandlers handlers() {
    return {[this](const kube::ConstObjectPtr& x) { push("add " + kube::meta_key(*x) + "=" + value_of(x)); },
            [this](const kube::ConstObjectPtr&, const kube::ConstObjectPtr& x) {
              push("update " + kube::meta_key(*x) + "=" + value_of(x));
            },
            [this](const kube::ConstObjectPtr& x) { push("delete " + kube::meta_key(*x)); }};
  }
};

// Informer options for namespace "team" with short real-time backoff.
kube::InformerOptions team_options() {
  kube::InformerOptions o;
  o.namespace_ = "team";
  o.backoff_initial = 10ms;
  o.backoff_max = 100ms;
  return o;
}

uint64_t rv_number(const std::string& rv) { return rv.empty() ? 0 : std::stoull(rv); }

std::string lease_string(kube::Client& c, const std::string& name, const std::string& field) {
  auto lease = c.get(kube::kLeases, "ops", name);
  const auto* v = core::at_path(*lease, {"spec", field});
  return v != nullptr && v->IsString() ? v->GetString() : "";
}

int64_t lease_transitions(kube::Client& c, const std::string& name) {
  auto lease = c.get(kube::kLeases, "ops", name);
  return core::at_path(*lease, {"spec", "leaseTransitions"})->GetInt64();
}

}  // namespace

TEST_CASE("kube-sim: create, get, update with a stale resourceVersion (409), patches, delete, 404") {
  Sim s;
  auto& c = *s.client;
  auto created = c.create(kube::kConfigMaps, "team", doc(cm("a", "1")));
  REQUIRE(created);
  const std::string rv1 = kube::meta_resource_version(*created);
  CHECK_FALSE(rv1.empty());
  try {
    c.create(kube::kConfigMaps, "team", doc(cm("a", "1")));
    FAIL("expected AlreadyExists");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_already_exists());
    CHECK(e.code() == 409);
  }

  auto got = c.get(kube::kConfigMaps, "team", "a");
  core::set_string(core::ensure_object(*got, "data", got->GetAllocator()), "v", "2", got->GetAllocator());
  auto updated = c.update(kube::kConfigMaps, "team", *got);
  CHECK(value_of(updated) == "2");
  // The same (now stale) object again: optimistic concurrency refuses it.
  try {
    c.update(kube::kConfigMaps, "team", *got);
    FAIL("expected Conflict");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_conflict());
    CHECK(e.message().find("the object has been modified") != std::string::npos);
  }

  auto merged = c.patch(kube::kConfigMaps, "team", "a", kube::PatchType::kMerge, R"({"data":{"w":"3"}})");
  CHECK(core::at_path(*merged, {"data", "w"}) != nullptr);
  CHECK(value_of(merged) == "2");
  auto jp = c.patch(kube::kConfigMaps, "team", "a", kube::PatchType::kJson,
                    R"([{"op":"replace","path":"/data/v","value":"4"}])");
  CHECK(value_of(jp) == "4");

  kube::ListOptions lo;
  lo.label_selector = "app=x";
  auto listed = c.list(kube::kConfigMaps, "team", lo);
  CHECK(listed.items.size() == 1);
  CHECK_FALSE(listed.resource_version.empty());

  kube::DeleteOptions del;
  del.propagation = kube::Propagation::kBackground;
  c.remove(kube::kConfigMaps, "team", "a", del);
  try {
    c.get(kube::kConfigMaps, "team", "a");
    FAIL("expected NotFound");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_not_found());
    CHECK(e.message() == "configmaps \"a\" not found");
  }
}

TEST_CASE("kube-sim: the status subresource changes only status") {
  Sim s;
  auto& c = *s.client;
  c.create(kube::kDeployments, "team", doc(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"c","image":"nginx"}]}}}})"));
  auto out = c.patch_status(kube::kDeployments, "team", "web", kube::PatchType::kMerge,
                            R"({"spec":{"replicas":5},"status":{"observedGeneration":42}})");
  REQUIRE(out);
  CHECK(core::at_path(*out, {"spec", "replicas"})->GetInt() == 1);
}

TEST_CASE("kube-sim: an informer lists in pages, sees adds, updates, deletes, survives closed watches and 410s") {
  Sim s;
  auto& c = *s.client;
  for (int i = 0; i < 5; ++i) c.create(kube::kConfigMaps, "team", doc(cm("c" + std::to_string(i), "0")));
  Seen seen;
  kube::InformerOptions o = team_options();
  o.page_size = 2;
  kube::Informer inf(c, kube::kConfigMaps, o);
  inf.add_handlers(seen.handlers());
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  CHECK(inf.store().size() == 5);
  CHECK(seen.count("add team/c0=0") == 1);
  CHECK(s.received("list configmaps") == 3);  // 5 objects in pages of 2

  c.create(kube::kConfigMaps, "team", doc(cm("new", "1")));
  CHECK(eventually([&] { return seen.has("add team/new=1"); }));
  c.patch(kube::kConfigMaps, "team", "c1", kube::PatchType::kMerge, R"({"data":{"v":"9"}})");
  CHECK(eventually([&] { return seen.has("update team/c1=9"); }));
  CHECK(value_of(inf.store().get("team/c1")) == "9");
  c.remove(kube::kConfigMaps, "team", "c2");
  CHECK(eventually([&] { return seen.has("delete team/c2"); }));
  CHECK(inf.store().get("team/c2") == nullptr);
  CHECK(inf.store().size() == 5);
  CHECK(inf.lists() == 1);

  // The server closes every watch: the informer resumes from its resourceVersion, no relist, nothing
  // replayed.
  const auto lists_before = inf.lists();
  s.admin("/sim/watches/close");
  c.patch(kube::kConfigMaps, "team", "c3", kube::PatchType::kMerge, R"({"data":{"v":"7"}})");
  CHECK(eventually([&] { return seen.has("update team/c3=7"); }));
  CHECK(inf.lists() == lists_before);
  CHECK(inf.watches() >= 2);
  CHECK(seen.count("add team/c0=0") == 1);
  CHECK(seen.count("add team/new=1") == 1);

  // The next watch is answered 410 and the current one closed: the informer relists and catches up.
  s.admin("/sim/watches/expire-next");
  s.admin("/sim/watches/close");
  c.patch(kube::kConfigMaps, "team", "c4", kube::PatchType::kMerge, R"({"data":{"v":"8"}})");
  CHECK(eventually([&] { return inf.lists() > lists_before; }));
  CHECK(eventually([&] { return value_of(inf.store().get("team/c4")) == "8"; }));
  c.create(kube::kConfigMaps, "team", doc(cm("after", "1")));
  CHECK(eventually([&] { return seen.has("add team/after=1"); }));
  CHECK(inf.store().get("team/c2") == nullptr);
  inf.stop();
}

TEST_CASE("kube-sim: what changed while an informer could not watch (410, failing lists) comes from its relist") {
  Sim s;
  auto& c = *s.client;
  for (const char* name : {"keep", "gone"}) c.create(kube::kConfigMaps, "team", doc(cm(name, "0")));
  Seen seen;
  kube::Informer inf(c, kube::kConfigMaps, team_options());
  inf.add_handlers(seen.handlers());
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));

  // Keeps the informer from seeing anything: its watch ends, the next one is answered 410, and every
  // list fails until the fault is cleared. Objects change meanwhile.
  const uint64_t lists_received = s.received("list configmaps");
  s.inject(R"({"verb":"list","resource":"configmaps","code":500})");
  s.admin("/sim/watches/expire-next");
  s.admin("/sim/watches/close");
  REQUIRE(eventually([&] { return s.received("list configmaps") > lists_received; }));  // a relist failed
  c.remove(kube::kConfigMaps, "team", "gone");
  c.patch(kube::kConfigMaps, "team", "keep", kube::PatchType::kMerge, R"({"data":{"v":"9"}})");
  c.create(kube::kConfigMaps, "team", doc(cm("fresh", "1")));
  CHECK(inf.lists() == 1);
  s.clear_faults();

  // The relist compares with the store: the deletion, the update and the add it missed are delivered.
  CHECK(eventually([&] {
    return seen.has("delete team/gone") && seen.has("update team/keep=9") && seen.has("add team/fresh=1");
  }));
  CHECK(inf.lists() == 2);
  CHECK(inf.store().get("team/gone") == nullptr);
  CHECK(value_of(inf.store().get("team/keep")) == "9");
  CHECK(seen.count_prefix("update") == 1);
  // And it watches again afterwards.
  c.create(kube::kConfigMaps, "team", doc(cm("after", "1")));
  CHECK(eventually([&] { return seen.has("add team/after=1"); }));
}

TEST_CASE("kube-sim: an informer's namespace and label selector limit what it sees; bookmarks advance its version") {
  Sim s;
  auto& c = *s.client;
  c.create(kube::kConfigMaps, "team", doc(cm("mine", "1")));
  c.create(kube::kConfigMaps, "team", doc(cm("theirs", "1", "y")));
  c.create(kube::kConfigMaps, "ops", doc(cm("elsewhere", "1")));
  Seen seen;
  kube::InformerOptions o = team_options();
  o.label_selector = "app=x";
  kube::Informer inf(c, kube::kConfigMaps, o);
  inf.add_handlers(seen.handlers());
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  CHECK(inf.store().keys() == std::vector<std::string>{"team/mine"});

  // Watched changes are limited the same way: events come in order, so once mine2 arrived the two
  // before it would have too.
  c.create(kube::kConfigMaps, "team", doc(cm("theirs2", "1", "y")));
  c.create(kube::kConfigMaps, "ops", doc(cm("elsewhere2", "1")));
  c.create(kube::kConfigMaps, "team", doc(cm("mine2", "1")));
  REQUIRE(eventually([&] { return seen.has("add team/mine2=1"); }));
  CHECK(inf.store().keys() == std::vector<std::string>{"team/mine", "team/mine2"});
  CHECK(seen.count_prefix("add") == 2);

  // A write the informer does not see moves the server's resourceVersion past the informer's: only a
  // bookmark (every 200 ms here) can bring the informer there, without a relist.
  auto later = c.create(kube::kConfigMaps, "ops", doc(cm("later", "1")));
  const uint64_t later_rv = rv_number(kube::meta_resource_version(*later));
  CHECK(eventually([&] { return rv_number(inf.resource_version()) >= later_rv; }));
  CHECK(inf.lists() == 1);
  CHECK(inf.store().keys() == std::vector<std::string>{"team/mine", "team/mine2"});
}

TEST_CASE("kube-sim: an informer backs off unsynced while the API server is down, syncs when it is back, stops promptly") {
  Sim s;
  auto& c = *s.client;
  c.create(kube::kConfigMaps, "team", doc(cm("a", "1")));
  const uint64_t watches_before = s.open_watches();
  s.sim->stop();
  Seen seen;
  kube::Informer inf(c, kube::kConfigMaps, team_options());
  inf.add_handlers(seen.handlers());
  inf.start();
  CHECK(eventually([&] { return inf.errors() >= 3; }));
  CHECK_FALSE(inf.has_synced());
  CHECK(inf.lists() == 0);

  s.sim->start();  // the same port and data
  REQUIRE(inf.wait_for_sync(10s));
  CHECK(seen.has("add team/a=1"));
  REQUIRE(eventually([&] { return s.open_watches() == watches_before + 1; }));
  // stop() while the watch is open (nothing is written, so it is blocked reading) returns promptly.
  const auto t0 = std::chrono::steady_clock::now();
  inf.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("kube-sim: two leader electors, only one leads; the other takes over at once when it releases") {
  Sim s;
  auto& c = *s.client;
  ifo::test::LeaderCount count;
  auto make = [&](const std::string& id, std::atomic<bool>& flag) {
    kube::LeaderElectionConfig cfg;
    cfg.namespace_ = "ops";
    cfg.name = "syncer";
    cfg.identity = id;
    cfg.lease_duration = 2s;
    cfg.renew_deadline = 1500ms;
    cfg.retry_period = 200ms;
    count.track(cfg, flag);
    return std::make_unique<kube::LeaderElector>(c, cfg);
  };
  std::atomic<bool> a_leads{false}, b_leads{false};
  auto a = make("a", a_leads);
  auto b = make("b", b_leads);
  a->start();
  b->start();
  REQUIRE(eventually([&] { return a_leads || b_leads; }));
  auto& first = a_leads ? a : b;
  auto& second = a_leads ? b : a;
  const std::string first_id = a_leads ? "a" : "b";
  std::atomic<bool>& second_flag = a_leads ? b_leads : a_leads;
  CHECK(eventually([&] { return second->observed_leader() == first_id; }));
  CHECK(lease_string(c, "syncer", "holderIdentity") == first_id);
  // Twelve renewals, 200 ms apart, outlast the 2 s lease: renewing keeps the follower out meanwhile.
  const uint64_t renewals = s.received("update leases");
  REQUIRE(eventually([&] { return s.received("update leases") >= renewals + 12; }, 20s));
  CHECK(count.max_leaders.load() == 1);
  CHECK_FALSE(second_flag.load());

  const auto t0 = std::chrono::steady_clock::now();
  first->stop();  // releases
  REQUIRE(eventually([&] { return second_flag.load(); }));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // well before the lease would have expired
  CHECK(count.max_leaders.load() == 1);
  CHECK(lease_string(c, "syncer", "holderIdentity") != first_id);
  CHECK(lease_transitions(c, "syncer") == 1);
  second->stop();
}

TEST_CASE("kube-sim: a crashed holder is replaced only after the lease duration, counted on the candidate's clock") {
  Sim s;
  auto& c = *s.client;
  // A Lease held by a dead process. Its renewTime is years old by the wall clock, which must not
  // matter: the candidate counts the lease duration from when it first saw this record, on its own
  // monotonic clock (machines' clocks differ).
  c.create(kube::kLeases, "ops", doc(R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},
    "spec":{"holderIdentity":"dead","leaseDurationSeconds":1,"renewTime":"2020-01-01T00:00:00.000000Z","leaseTransitions":4}})"));
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
  CHECK(std::chrono::steady_clock::now() - t0 >= 1s);  // waited out the holder's leaseDurationSeconds
  CHECK(s.received("get leases") >= 3);                // looking again every retry period meanwhile
  CHECK(lease_string(c, "l", "holderIdentity") == "b");
  CHECK(lease_transitions(c, "l") == 5);
  e.stop();  // releases
  CHECK(lease_string(c, "l", "holderIdentity").empty());
}

TEST_CASE("kube-sim: a leader that finds the Lease taken by another holder stops leading at once and leaves it") {
  Sim s;
  auto& c = *s.client;
  std::atomic<bool> leads{false}, stopped{false};
  kube::LeaderElectionConfig cfg;
  cfg.namespace_ = "ops";
  cfg.name = "l";
  cfg.identity = "a";
  cfg.lease_duration = 15s;
  cfg.renew_deadline = 10s;
  cfg.retry_period = 100ms;
  cfg.on_started_leading = [&] { leads = true; };
  cfg.on_stopped_leading = [&] { stopped = true; };
  kube::LeaderElector e(c, cfg);
  e.start();
  REQUIRE(eventually([&] { return leads.load(); }));
  // Someone else takes the Lease (e.g. after a partition, ours looked expired to it): the next renewal
  // finds "intruder" holding it, and the leader stops well before its 10 s renew deadline.
  c.patch(kube::kLeases, "ops", "l", kube::PatchType::kMerge,
          R"({"spec":{"holderIdentity":"intruder","leaseDurationSeconds":60}})");
  CHECK(eventually([&] { return stopped.load(); }, 5s));
  CHECK_FALSE(e.is_leader());
  e.stop();
  CHECK(lease_string(c, "l", "holderIdentity") == "intruder");  // not "released" over its new holder
}

TEST_CASE("kube-sim: TokenRequest mints a token for a service account; SubjectAccessReview answers") {
  Sim s;
  auto& c = *s.client;
  c.create(kube::kServiceAccounts, "team", doc(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"reader"}})"));
  kube::TokenRequestOptions tro;
  tro.audiences = {"infisical"};
  tro.expiration_seconds = 600;
  auto tok = c.create_token("team", "reader", tro);
  CHECK(std::count(tok.token.begin(), tok.token.end(), '.') == 2);  // a JWT
  REQUIRE(tok.expiration);
  try {
    c.create_token("team", "nobody", tro);
    FAIL("expected NotFound");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_not_found());
  }
  kube::AccessReviewSubject who;
  who.user = "alice";
  kube::ResourceAttributes what;
  what.namespace_ = "team";
  what.verb = "get";
  what.resource = "secrets";
  auto r = c.create_subject_access_review(who, what);
  CHECK(r.allowed);  // kube-sim's default rule table allows everything
}

TEST_CASE("kube-sim: events name object and source; repeats patch one Event's count; a deleted one is re-created") {
  Sim s;
  auto& c = *s.client;
  auto owner = c.create(kube::kConfigMaps, "team", doc(cm("owner", "1")));
  core::FakeClock clock;
  kube::EventRecorderOptions eo;
  eo.component = "infisical-syncer";
  eo.clock = &clock;
  kube::EventRecorder rec(c, eo);
  const auto first = clock.wall_now();
  for (int i = 0; i < 3; ++i) {
    CHECK(rec.record(*owner, kube::kEventTypeWarning, "FetchFailed", "Infisical answered 503"));
    clock.step(1min);
  }
  CHECK(rec.record(*owner, kube::kEventTypeNormal, "Synced", "synced 3 keys"));
  CHECK(rec.created() == 2);
  CHECK(rec.aggregated() == 2);
  CHECK(s.received("create events") == 2);
  CHECK(s.received("patch events") == 2);

  auto events = c.list(kube::kEvents, "team");
  REQUIRE(events.items.size() == 2);
  kube::ConstObjectPtr failed;
  for (const auto& ev : events.items)
    if (core::string_or(*ev, "reason", "") == "FetchFailed") failed = ev;
  REQUIRE(failed != nullptr);
  CHECK(core::get_int(*failed, "count") == 3);
  CHECK(core::string_or(*failed, "type", "") == "Warning");
  CHECK(core::string_or(*failed, "message", "") == "Infisical answered 503");
  CHECK(core::at_path(*failed, {"involvedObject", "kind"})->GetString() == std::string("ConfigMap"));
  CHECK(core::at_path(*failed, {"involvedObject", "name"})->GetString() == std::string("owner"));
  CHECK(core::at_path(*failed, {"involvedObject", "uid"})->GetString() == kube::meta_uid(*owner));
  CHECK(core::at_path(*failed, {"source", "component"})->GetString() == std::string("infisical-syncer"));
  // First and last occurrence, on the recorder's clock.
  CHECK(core::string_or(*failed, "firstTimestamp", "") == kube::format_time(first));
  CHECK(core::string_or(*failed, "lastTimestamp", "") == kube::format_time(first + 2min));

  // Events expire (TTL): a repeat of one that is gone is created again rather than failing.
  for (const auto& ev : events.items) c.remove(kube::kEvents, "team", kube::meta_name(*ev));
  CHECK(rec.record(*owner, kube::kEventTypeWarning, "FetchFailed", "Infisical answered 503"));
  events = c.list(kube::kEvents, "team");
  REQUIRE(events.items.size() == 1);
  CHECK(core::get_int(*events.items[0], "count") == 1);
}
