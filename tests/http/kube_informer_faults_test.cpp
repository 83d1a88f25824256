// kube::Informer against kube-sim's faults: a watch answered with an ERROR event, a watch the server
// ends at once, a 403 on list. The informer runs on a fake clock that only the test moves: after each
// failure it must wait a growing backoff (initial * 2^n, capped, plus jitter), nothing is retried while
// the clock stands still, kube-sim receives exactly one request per failure (a spin would make
// thousands), and once the fault is cleared the informer recovers. Also: a handler that throws does
// not stop the rest of a list from being applied; after an outage (kube-sim stopped) the informer
// retries as soon as the server answers again, not at the end of the backoff the outage grew.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "kube/client.h"
#include "core/clock.h"
#include "kube/informer.h"
#include "kube/meta.h"
#include "kube_sim_client.h"
#include "sim/kube/server.h"
#include "test_helpers.h"

using namespace std::chrono_literals;
namespace kube = ifo::kube;
namespace core = ifo::core;
using ifo::test::eventually;

namespace {

constexpr core::Clock::duration kInitial = 10s;  // fake time: the test steps it
constexpr core::Clock::duration kMax = 80s;
constexpr int kRounds = 5;  // backoffs checked: at least 10, 20, 40, 80, 80 s

struct Sim : ifo::test::KubeSimClient {
  void create_configmap(const std::string& name) {
    auto d = ifo::test::parse_doc(fmt::format(R"({{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{}"}}}})", name));
    client->create(kube::kConfigMaps, "default", *d);
  }
};

kube::InformerOptions fake_clock_options(core::FakeClock& clock) {
  kube::InformerOptions o;
  o.namespace_ = "default";
  o.backoff_initial = kInitial;
  o.backoff_max = kMax;
  o.clock = &clock;
  return o;
}

// Waits until the informer is backing off and returns how long it is going to wait. The fake clock
// stands still meanwhile, so this is exactly the delay it chose.
core::Clock::duration pending_backoff(const core::FakeClock& clock, const kube::Informer& inf) {
  std::optional<core::Clock::time_point> at;
  REQUIRE(eventually([&] {
    at = inf.retry_at();
    return at.has_value();
  }));
  return *at - clock.now();
}

// With the fault in place, failure after failure: after failure n the informer waits at least
// min(initial * 2^n, max) and less than twice that (the jitter), and tries again only when the fake
// clock gets there. Returns the number of failed attempts.
uint64_t check_backoff_grows(core::FakeClock& clock, kube::Informer& inf) {
  for (int n = 0; n < kRounds; ++n) {
    const auto least = std::min<core::Clock::duration>(kInitial * (1 << n), kMax);
    const auto delay = pending_backoff(clock, inf);
    INFO("backoff after failure ", n + 1, ": ", std::chrono::duration_cast<std::chrono::milliseconds>(delay).count(),
         " ms");
    CHECK(inf.errors() == static_cast<uint64_t>(n + 1));
    CHECK(delay >= least);
    CHECK(delay < 2 * least);
    clock.step(delay);
    REQUIRE(eventually([&] { return inf.errors() == static_cast<uint64_t>(n + 2); }));
  }
  return inf.errors();
}

// Lets the informer's pending retry happen (after the fault is cleared: it works).
void let_retry(core::FakeClock& clock, const kube::Informer& inf) { clock.step(pending_backoff(clock, inf)); }

struct Seen {
  std::mutex mu;
  std::set<std::string> added;
  kube::EventHandlers handlers() {
    return {[this](const kube::ConstObjectPtr& o) {
              std::lock_guard lock(mu);
              added.insert(kube::meta_name(*o));
            },
            {},
            {}};
  }
  bool has(const std::string& name) {
    std::lock_guard lock(mu);
    return added.count(name) != 0;
  }
};

// kube-sim and an informer of its ConfigMaps on a fake clock, recording what it adds; not started.
struct FakeClockInformer {
  Sim s;
  core::FakeClock clock;
  Seen seen;
  kube::Informer inf{*s.client, kube::kConfigMaps, fake_clock_options(clock)};
  FakeClockInformer() { inf.add_handlers(seen.handlers()); }
};

}  // namespace

TEST_CASE_FIXTURE(FakeClockInformer, "informer faults: a watch answered with an ERROR event (500) is retried with growing backoff, not at once") {
  s.inject(R"({"verb":"watch","resource":"configmaps","code":500,"watch":"errorEvent"})");
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  const uint64_t failures = check_backoff_grows(clock, inf);
  CHECK(failures == kRounds + 1);
  // One list, and exactly one watch per failure: nothing retried while the fake clock stood still.
  CHECK(s.received("list configmaps") == 1);
  CHECK(s.received("watch configmaps") == failures);

  s.clear_faults();
  let_retry(clock, inf);
  s.create_configmap("after");
  CHECK(eventually([&] { return seen.has("after"); }));
  CHECK(inf.lists() == 1);  // an error event is not a 410: the watch resumed without a relist
}

TEST_CASE_FIXTURE(FakeClockInformer, "informer faults: a watch the server ends at once without an event is retried with growing backoff") {
  s.inject(R"({"verb":"watch","resource":"configmaps","watch":"close"})");
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  const uint64_t failures = check_backoff_grows(clock, inf);
  CHECK(s.received("list configmaps") == 1);
  CHECK(s.received("watch configmaps") == failures);

  s.clear_faults();
  let_retry(clock, inf);
  s.create_configmap("after");
  CHECK(eventually([&] { return seen.has("after"); }));
}

TEST_CASE_FIXTURE(FakeClockInformer, "informer faults: a 403 on list (RBAC) is retried with growing backoff; the informer syncs once allowed") {
  s.create_configmap("before");
  s.inject(R"({"verb":"list","resource":"configmaps","code":403,"message":"configmaps is forbidden: User \"system:serviceaccount:ops:syncer\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""})");
  inf.start();
  const uint64_t failures = check_backoff_grows(clock, inf);
  CHECK_FALSE(inf.has_synced());
  CHECK(s.received("list configmaps") == failures);
  CHECK(s.received("watch configmaps") == 0);

  s.clear_faults();
  let_retry(clock, inf);
  REQUIRE(inf.wait_for_sync(10s));
  CHECK(seen.has("before"));
  s.create_configmap("after");
  CHECK(eventually([&] { return seen.has("after"); }));
}

TEST_CASE("informer: a handler that throws is logged; the other handlers and the rest of the list still run") {
  Sim s;
  for (const char* name : {"a", "b", "c", "d"}) s.create_configmap(name);
  kube::InformerOptions o;
  o.namespace_ = "default";
  o.page_size = 2;
  kube::Informer inf(*s.client, kube::kConfigMaps, o);
  Seen first, second;
  kube::EventHandlers throwing = first.handlers();
  throwing.on_add = [record = first.handlers().on_add](const kube::ConstObjectPtr& obj) {
    record(obj);
    if (kube::meta_name(*obj) == "b") throw std::runtime_error("handler failed");
  };
  inf.add_handlers(throwing);
  inf.add_handlers(second.handlers());
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  CHECK(inf.store().size() == 4);
  for (const char* name : {"a", "b", "c", "d"}) {
    CHECK(first.has(name));
    CHECK(second.has(name));
  }
  CHECK(inf.errors() == 0);  // a handler's failure is not the informer's
}

TEST_CASE_FIXTURE(FakeClockInformer, "informer after an outage: retried as soon as the server answers again, not at the end of its backoff") {
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  REQUIRE(eventually([&] { return s.open_watches() == 1; }));

  // The outage: the watch is cut, and every retry meets a closed port; the backoff grows.
  s.sim->stop();
  for (int n = 0; n < 3; ++n) {
    const auto delay = pending_backoff(clock, inf);
    CHECK(delay >= std::min<core::Clock::duration>(kInitial * (1 << n), kMax));
    clock.step(delay);
    REQUIRE(eventually([&] { return inf.errors() == static_cast<uint64_t>(n + 2); }));
  }
  const uint64_t reconnects_before = s.client->reconnects();
  const auto waiting = pending_backoff(clock, inf);
  CHECK(waiting >= 4 * kInitial);

  // The server is back, and some other request over the same client gets an answer: the informer
  // retries at once, with the clock standing still, and catches up with what changed meanwhile.
  s.sim->start();
  s.create_configmap("after-outage");
  CHECK(s.client->reconnects() == reconnects_before + 1);
  CHECK(eventually([&] { return seen.has("after-outage"); }));
  CHECK(inf.retry_at() == std::nullopt);
  CHECK(eventually([&] { return s.open_watches() == 1; }));
}
