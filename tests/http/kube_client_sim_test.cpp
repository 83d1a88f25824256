// The kube client library against kube-sim (HTTPS, bearer token, in-process): CRUD with 404/409,
// patches and the status subresource, an informer through closed watches and forced 410s, two leader
// electors, TokenRequest, SubjectAccessReview and Events.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

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

std::string cm(const std::string& name, const std::string& value) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":{"app":"x"}},"data":{"v":")" +
         value + R"("}})";
}

std::string value_of(const kube::ConstObjectPtr& o) {
  const auto* v = o ? core::at_path(*o, {"data", "v"}) : nullptr;
  return v != nullptr && v->IsString() ? v->GetString() : "";
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

TEST_CASE("kube-sim: an informer sees adds, updates and deletes, and survives closed watches and forced 410s") {
  Sim s;
  auto& c = *s.client;
  for (int i = 0; i < 5; ++i) c.create(kube::kConfigMaps, "team", doc(cm("c" + std::to_string(i), "0")));
  std::mutex mu;
  std::vector<std::string> seen;
  auto push = [&](std::string e) {
    std::lock_guard lock(mu);
    seen.push_back(std::move(e));
  };
  auto has = [&](const std::string& e) {
    std::lock_guard lock(mu);
    return std::find(seen.begin(), seen.end(), e) != seen.end();
  };
  kube::InformerOptions o;
  o.namespace_ = "team";
  o.page_size = 2;
  o.backoff_initial = 10ms;
  o.backoff_max = 100ms;
  kube::Informer inf(c, kube::kConfigMaps, o);
  inf.add_handlers({[&](const kube::ConstObjectPtr& x) { push("add " + kube::meta_key(*x) + "=" + value_of(x)); },
                    [&](const kube::ConstObjectPtr&, const kube::ConstObjectPtr& x) {
                      push("update " + kube::meta_key(*x) + "=" + value_of(x));
                    },
                    [&](const kube::ConstObjectPtr& x) { push("delete " + kube::meta_key(*x)); }});
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  CHECK(inf.store().size() == 5);

  c.create(kube::kConfigMaps, "team", doc(cm("new", "1")));
  CHECK(eventually([&] { return has("add team/new=1"); }));
  c.patch(kube::kConfigMaps, "team", "c1", kube::PatchType::kMerge, R"({"data":{"v":"9"}})");
  CHECK(eventually([&] { return has("update team/c1=9"); }));
  c.remove(kube::kConfigMaps, "team", "c2");
  CHECK(eventually([&] { return has("delete team/c2"); }));

  // The server closes every watch: the informer resumes from its resourceVersion, no relist.
  const auto lists_before = inf.lists();
  s.admin("/sim/watches/close");
  c.patch(kube::kConfigMaps, "team", "c3", kube::PatchType::kMerge, R"({"data":{"v":"7"}})");
  CHECK(eventually([&] { return has("update team/c3=7"); }));
  CHECK(inf.lists() == lists_before);

  // The next watch is answered 410 and the current one closed: the informer relists and catches up.
  s.admin("/sim/watches/expire-next");
  s.admin("/sim/watches/close");
  c.patch(kube::kConfigMaps, "team", "c4", kube::PatchType::kMerge, R"({"data":{"v":"8"}})");
  CHECK(eventually([&] { return inf.lists() > lists_before; }));
  CHECK(eventually([&] { return value_of(inf.store().get("team/c4")) == "8"; }));
  c.create(kube::kConfigMaps, "team", doc(cm("after", "1")));
  CHECK(eventually([&] { return has("add team/after=1"); }));
  CHECK(inf.store().get("team/c2") == nullptr);
  inf.stop();
}

TEST_CASE("kube-sim: two leader electors, only one leads; the other takes over on release and on expiry") {
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
  std::this_thread::sleep_for(2500ms);  // more than a lease duration: renewals keep the follower out
  CHECK(count.max_leaders.load() == 1);
  auto& first = a_leads ? a : b;
  auto& second = a_leads ? b : a;
  std::atomic<bool>& second_flag = a_leads ? b_leads : a_leads;
  const auto t0 = std::chrono::steady_clock::now();
  first->stop();  // releases
  REQUIRE(eventually([&] { return second_flag.load(); }));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(count.max_leaders.load() == 1);
  auto lease = c.get(kube::kLeases, "ops", "syncer");
  CHECK(core::at_path(*lease, {"spec", "leaseTransitions"})->GetInt() == 1);
  second->stop();
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

TEST_CASE("kube-sim: events aggregate into one object with a count") {
  Sim s;
  auto& c = *s.client;
  auto owner = c.create(kube::kConfigMaps, "team", doc(cm("owner", "1")));
  kube::EventRecorderOptions eo;
  eo.component = "infisical-syncer";
  kube::EventRecorder rec(c, eo);
  for (int i = 0; i < 3; ++i) CHECK(rec.record(*owner, kube::kEventTypeWarning, "FetchFailed", "Infisical answered 503"));
  auto events = c.list(kube::kEvents, "team");
  REQUIRE(events.items.size() == 1);
  CHECK(core::get_int(*events.items[0], "count") == 3);
  CHECK(core::string_or(*events.items[0], "reason", "") == "FetchFailed");
  CHECK(core::at_path(*events.items[0], {"involvedObject", "name"})->GetString() == std::string("owner"));
}
