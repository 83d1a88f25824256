// The syncer's leader election as the controller runs it (syncer::LeaderElector over
// kube::LeaderElector, against kube-sim): a standby is ready and does no work; it leads once the Lease
// is released; a graceful stop releases the Lease; a Lease taken by someone else stops the work at
// once, without waiting for the renew deadline.
#include <atomic>
#include <future>

#include "kube/meta.h"
#include "syncer/config.h"
#include "syncer/controller.h"
#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kLeaseName = "infisical-syncer.secrets.infisical.com";
constexpr const char* kOperatorNamespace = "infisical-operator-system";

// A replica with a 15 s lease, a 10 s renew deadline and a 100 ms retry period.
Config replica(const std::string& identity) {
  auto c = parse_config(
      {"--leader-elect", "--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s",
       "--leader-elect-retry-period=100ms", "--identity=" + identity, "--workers=1",
       "--metrics-bind-address=0", "--health-probe-bind-address=0"},
      {});
  REQUIRE(c.ok());
  return *c;
}

std::string holder(SyncerHarness& h) {
  auto lease = h.get(kube::kLeases, kLeaseName, kOperatorNamespace);
  const auto* v = lease ? core::at_path(*lease, {"spec", "holderIdentity"}) : nullptr;
  return v && v->IsString() ? v->GetString() : std::string();
}

// Writes the Lease as another replica would: `identity` holds it ("" releases it), freshly renewed for
// 30 s. Retries a conflict with the syncer's own renewals.
void write_lease(SyncerHarness& h, const std::string& identity) {
  REQUIRE(eventually([&] {
    auto lease = h.get(kube::kLeases, kLeaseName, kOperatorNamespace);
    core::JsonDoc doc(rapidjson::kObjectType);
    auto& a = doc.GetAllocator();
    if (lease) {
      doc.CopyFrom(*lease, a);
    } else {
      doc.CopyFrom(
          *json(std::string(R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":")") +
                kLeaseName + R"("}})"),
          a);
    }
    auto& spec = core::ensure_object(doc, "spec", a);
    core::set_string(spec, "holderIdentity", identity, a);
    core::set_member(spec, "leaseDurationSeconds", core::JsonValue(30), a);
    core::set_string(spec, "renewTime", kube::format_micro_time(std::chrono::system_clock::now()), a);
    try {
      if (lease)
        h.client->update(kube::kLeases, kOperatorNamespace, doc);
      else
        h.client->create(kube::kLeases, kOperatorNamespace, doc);
      return true;
    } catch (const kube::ApiError& e) {
      if (e.is_conflict()) return false;
      throw;
    }
  }));
}

uint64_t lease_reads(SyncerHarness& h) {
  auto counters = h.client->request("GET", "/sim/counters");
  return static_cast<uint64_t>(core::get_int(*core::member(*counters, "counters"), "get leases").value_or(0));
}

}  // namespace

TEST_CASE(
    "syncer leader: a standby is ready and idle, leads once the Lease is released, releases it on stop") {
  SyncerHarness h;
  write_lease(h, "replica-a");
  Controller standby(replica("replica-b"), *h.client, *h.client, *h.source, h.metrics, core::real_clock(),
                     h.log);
  std::atomic<bool> stop{false};
  auto rc = std::async(std::launch::async, [&] { return standby.run(stop); });

  // Several attempts later, replica-a still holds the Lease: replica-b stands by, ready but idle (the
  // leader makes the digest key; a standby writes nothing).
  const uint64_t reads = lease_reads(h);
  REQUIRE(eventually([&] { return lease_reads(h) >= reads + 3; }));
  CHECK(holder(h) == "replica-a");
  CHECK_FALSE(standby.leading());
  CHECK(standby.ready());
  CHECK(h.get(kube::kSecrets, std::string(core::kDigestKeySecretName), kOperatorNamespace) == nullptr);

  // replica-a releases: replica-b takes over well before the 30 s lease would have expired.
  write_lease(h, "");
  REQUIRE(eventually([&] { return standby.leading() && standby.ready(); }, 10s));
  CHECK(holder(h) == "replica-b");
  CHECK(h.get(kube::kSecrets, std::string(core::kDigestKeySecretName), kOperatorNamespace) != nullptr);

  // SIGTERM: the work finishes and the Lease is released for the next replica.
  stop = true;
  CHECK(rc.get() == 0);
  CHECK(holder(h).empty());
}

TEST_CASE("syncer leader: a Lease taken by another replica stops the work at once (exit code 1)") {
  SyncerHarness h;
  Controller leader(replica("replica-a"), *h.client, *h.client, *h.source, h.metrics, core::real_clock(),
                    h.log);
  std::atomic<bool> stop{false};
  auto rc = std::async(std::launch::async, [&] { return leader.run(stop); });
  REQUIRE(eventually([&] { return leader.leading() && leader.ready(); }, 20s));
  CHECK(holder(h) == "replica-a");

  // Another replica took the Lease (e.g. ours looked expired to it): the next renewal sees it and the
  // leader stops, well before its 10 s renew deadline.
  write_lease(h, "intruder");
  REQUIRE(rc.wait_for(6s) == std::future_status::ready);
  CHECK(rc.get() == 1);
  CHECK_FALSE(leader.leading());
  CHECK(holder(h) == "intruder");  // a lost Lease is not "released" over its new holder
}
