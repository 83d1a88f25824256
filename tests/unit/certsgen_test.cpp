// certs-gen: certificate contents, the reuse/renew/rotate decisions over time, flag parsing, and the
// ensure sequence against an in-memory API (which writes happen, in which order).
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "certs-gen/ensure.h"
#include "certs-gen/files.h"
#include "certs-gen/options.h"
#include "certs-gen/plan.h"
#include "core/base64.h"
#include "core/json.h"
#include "kube/resource.h"
#include "memory_api.h"
#include "recording_api.h"

using namespace ifo::certsgen;
using namespace std::chrono;
namespace core = ifo::core;
namespace kube = ifo::kube;

namespace {

const TimePoint kT0 = TimePoint(seconds(1'800'000'000));  // 2027-01-15

Policy test_policy() {
  Policy p;
  p.dns_names = service_dns_names("infisical-webhook", "ops");
  p.dns_names.push_back("localhost");
  p.ip_addresses = {"127.0.0.1"};
  p.ca_validity = hours(24 * 100);
  p.ca_renew_before = hours(24 * 30);
  p.serving_validity = hours(24 * 20);
  p.serving_renew_before = hours(24 * 5);
  p.clock_skew = minutes(5);
  return p;
}

int count_certs(const std::string& bundle) {
  auto c = parse_certificates(bundle);
  return c ? static_cast<int>(c->size()) : 0;
}

}  // namespace

TEST_CASE("the serving certificate carries the Service names, extra names and IPs, signed by the CA") {
  auto p = test_policy();
  auto m = create_material(p, kT0);
  REQUIRE(m.ok());
  auto leaf = parse_certificates(m->cert);
  REQUIRE(leaf.ok());
  std::vector<std::string> want = {"infisical-webhook", "infisical-webhook.ops", "infisical-webhook.ops.svc",
                                   "infisical-webhook.ops.svc.cluster.local", "localhost"};
  CHECK(leaf->front().dns_names == want);
  CHECK(leaf->front().ip_addresses == std::vector<std::string>{"127.0.0.1"});
  CHECK_FALSE(leaf->front().is_ca);
  CHECK(leaf->front().not_before == kT0 - minutes(5));
  CHECK(leaf->front().not_after == kT0 + hours(24 * 20));
  CHECK(key_matches(m->cert, m->key));
  CHECK_FALSE(key_matches(m->cert, m->ca_key));
  CHECK(issued_by(m->cert, m->ca_bundle));
  auto ca = parse_certificates(m->ca_bundle);
  REQUIRE(ca.ok());
  CHECK(ca->front().is_ca);
  CHECK(ca->front().not_before == kT0 - minutes(5));
  // Another CA does not verify it.
  auto other = create_material(p, kT0);
  REQUIRE(other.ok());
  CHECK_FALSE(issued_by(m->cert, other->ca_bundle));
}

TEST_CASE("fresh material is reused until the serving certificate enters its renew-before window") {
  auto p = test_policy();
  auto m = create_material(p, kT0);
  REQUIRE(m.ok());
  CHECK(decide_ca(*m, p, kT0).action == CaAction::kKeep);
  CHECK(decide_serving(*m, p, kT0).action == ServingAction::kKeep);
  CHECK(decide_serving(*m, p, kT0 + hours(24 * 14)).action == ServingAction::kKeep);
  auto late = decide_serving(*m, p, kT0 + hours(24 * 15) + seconds(1));
  CHECK(late.action == ServingAction::kIssue);
  CHECK(late.reason.find("renew-before") != std::string::npos);
  auto renewed = reissue_serving(*m, p, kT0 + hours(24 * 16));
  REQUIRE(renewed.ok());
  CHECK(renewed->ca_bundle == m->ca_bundle);
  CHECK(decide_serving(*renewed, p, kT0 + hours(24 * 16)).action == ServingAction::kKeep);
}

TEST_CASE("changed names, a foreign key or a foreign issuer make the serving certificate be reissued") {
  auto p = test_policy();
  auto m = create_material(p, kT0);
  REQUIRE(m.ok());
  auto p2 = p;
  p2.dns_names.push_back("extra.example");
  CHECK(decide_serving(*m, p2, kT0).action == ServingAction::kIssue);
  auto p3 = p;
  p3.ip_addresses = {"::1"};
  CHECK(decide_serving(*m, p3, kT0).action == ServingAction::kIssue);
  auto other = create_material(p, kT0);
  REQUIRE(other.ok());
  Material mixed = *m;
  mixed.key = other->key;
  CHECK(decide_serving(mixed, p, kT0).reason.find("does not match") != std::string::npos);
  Material foreign = *m;
  foreign.cert = other->cert;
  foreign.key = other->key;
  CHECK(decide_serving(foreign, p, kT0).reason.find("not issued by") != std::string::npos);
}

TEST_CASE("an unreadable, missing or expired CA is replaced; one near expiry is rotated") {
  auto p = test_policy();
  CHECK(decide_ca(Material{}, p, kT0).action == CaAction::kCreate);
  CHECK(decide_ca(Material{"garbage", "garbage", "", ""}, p, kT0).action == CaAction::kCreate);
  auto m = create_material(p, kT0);
  REQUIRE(m.ok());
  auto other = create_material(p, kT0);
  CHECK(decide_ca(Material{m->ca_bundle, other->ca_key, "", ""}, p, kT0).action == CaAction::kCreate);
  CHECK(decide_ca(*m, p, kT0 + hours(24 * 69)).action == CaAction::kKeep);
  CHECK(decide_ca(*m, p, kT0 + hours(24 * 71)).action == CaAction::kRotate);
  CHECK(decide_ca(*m, p, kT0 + hours(24 * 101)).action == CaAction::kCreate);
}

TEST_CASE("CA rotation keeps the old CA in the bundle during the overlap, then drops it after it expires") {
  auto p = test_policy();
  auto m = create_material(p, kT0);
  REQUIRE(m.ok());
  const TimePoint t1 = kT0 + hours(24 * 71);
  // A serving certificate renewed just before rotation must not outlive its CA.
  auto before = reissue_serving(*m, p, kT0 + hours(24 * 69));
  REQUIRE(before.ok());
  auto rotated = rotate_ca(*before, p, t1);
  REQUIRE(rotated.ok());
  CHECK(count_certs(rotated->ca_bundle) == 2);
  // The serving certificate is untouched and still verifies against the bundle (old CA inside).
  CHECK(rotated->cert == before->cert);
  CHECK(issued_by(rotated->cert, m->ca_bundle));
  CHECK(decide_ca(*rotated, p, t1).action == CaAction::kKeep);
  // Once the bundles trust the new CA, the serving certificate moves to it.
  auto s = decide_serving(*rotated, p, t1);
  CHECK(s.action == ServingAction::kIssue);
  auto moved = reissue_serving(*rotated, p, t1);
  REQUIRE(moved.ok());
  CHECK(count_certs(moved->ca_bundle) == 2);
  CHECK_FALSE(issued_by(moved->cert, m->ca_bundle));
  CHECK(decide_serving(*moved, p, t1).action == ServingAction::kKeep);
  // After the old CA expired, the next reissue drops it from the bundle.
  const TimePoint t2 = kT0 + hours(24 * 101);
  auto later = reissue_serving(*moved, p, t2);
  REQUIRE(later.ok());
  CHECK(count_certs(later->ca_bundle) == 1);
  CHECK(issued_by(later->cert, later->ca_bundle));
}

TEST_CASE("durations and flags: bad input is one line naming the flag") {
  CHECK(parse_duration("720h").value() == hours(720));
  CHECK(parse_duration("1h30m").value() == minutes(90));
  CHECK(parse_duration("7d").value() == hours(168));
  CHECK_FALSE(parse_duration("10").ok());
  CHECK_FALSE(parse_duration("h").ok());
  CHECK_FALSE(parse_duration("5w").ok());
  CHECK_FALSE(parse_duration("99999999999999999999h").ok());
  // Go's syntax, with days kept for compatibility.
  CHECK(parse_duration("1m30s").value() == std::chrono::seconds(90));
  CHECK(parse_duration("1.5h").value() == minutes(90));
  CHECK(parse_duration("1d12h").value() == hours(36));
  CHECK(parse_duration("10").error().find("add a unit") != std::string::npos);
  CHECK_FALSE(parse_duration("-1h").ok());
  CHECK_FALSE(parse_duration("876001h").ok());  // over 100 years
  auto skew = parse_options({"files", "--out-dir", "d", "--clock-skew=1m30s"});
  REQUIRE(skew.ok());
  CHECK(skew->policy.clock_skew == std::chrono::seconds(90));
  auto bad = parse_options({"files", "--out-dir", "d", "--renew-before", "720"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("flag --renew-before: invalid duration \"720\": add a unit") != std::string::npos);
  CHECK(parse_options({"ensure", "--validity=1y"}).error().find("flag --validity: invalid duration \"1y\"") !=
        std::string::npos);
  CHECK(parse_options({"ensure", "--bogus=1"}).error() == "ensure: unknown flag --bogus (see --help)");
  CHECK(usage().find("1h30m") != std::string::npos);

  auto ok = parse_options({"files", "--out-dir", "/tmp/x", "--service=svc", "--namespace", "ns", "--ip", "127.0.0.1",
                           "--dns-name", "localhost", "--validity", "48h", "--renew-before", "12h"});
  REQUIRE(ok.ok());
  CHECK(ok->policy.dns_names ==
        std::vector<std::string>{"svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local", "localhost"});
  CHECK(ok->policy.serving_validity == hours(48));

  auto unknown = parse_options({"files", "--out-dir", "d", "--bogus", "1"});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().find("--bogus") != std::string::npos);
  CHECK(parse_options({"files"}).error().find("--out-dir") != std::string::npos);
  CHECK(parse_options({"files", "--out-dir"}).error().find("needs a value") != std::string::npos);
  CHECK(parse_options({"files", "--out-dir", "d", "--ip", "300.1.1.1"}).error().find("300.1.1.1") != std::string::npos);
  CHECK(parse_options({"files", "--out-dir", "d", "--validity", "1h", "--renew-before", "2h"}).error().find("renew-before") !=
        std::string::npos);
  CHECK(parse_options({"files", "--out-dir", "d", "--kubeconfig", "k"}).error().find("--kubeconfig") != std::string::npos);
  CHECK_FALSE(parse_options({"frobnicate"}).ok());
  auto ens = parse_options({"ensure", "--validating-config", "v", "--mutating-config", "m", "--namespace", "ops"});
  REQUIRE(ens.ok());
  CHECK(ens->secret_namespace == "ops");
  CHECK(ens->secret_name == "infisical-webhook-tls");
  CHECK(ens->ca_secret_name == "infisical-webhook-ca");
  CHECK(parse_options({"ensure", "--ca-secret-name", "x-ca"}).value().ca_secret_name == "x-ca");
  // One Secret for both halves would hand the CA key to whoever may read the serving pair.
  CHECK(parse_options({"ensure", "--secret-name", "s", "--ca-secret-name", "s"}).error().find("--ca-secret-name") !=
        std::string::npos);
  CHECK(parse_options({"files", "--out-dir", "d", "--ca-secret-name", "x"}).error().find("--ca-secret-name") !=
        std::string::npos);
}

namespace {

// The cluster certs-gen writes to: an in-memory API whose calls are recorded, with races injected
// through on_call (another writer wins a create, or updates an object between a read and a write).
struct Cluster {
  Cluster() {
    store.on_call = [this](const ifo::test::MemoryApi::Call& c) {
      if (c.verb == "create" && lose_next_create) {
        lose_next_create = false;
        // Someone else creates the Secret first, with their own material.
        auto theirs = core::parse_json(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" +
                                       std::string(c.name) + R"(","resourceVersion":"100"}})")
                          .value();
        if (c.name == "tls-ca") put_ca(*theirs, *create_material(test_policy(), kT0));
        else put_serving(*theirs, *create_material(test_policy(), kT0));
        store.put(c.resource, c.namespace_, *theirs);
      }
      if (c.verb == "update" && conflict_next_update) {
        conflict_next_update = false;
        // Someone else writes the object between our read and our write.
        auto cur = store.stored(c.resource, c.namespace_, c.name);
        auto copy = std::make_shared<core::JsonDoc>();
        copy->CopyFrom(*cur, copy->GetAllocator());
        core::set_string(core::ensure_object(*copy, "metadata", copy->GetAllocator()), "resourceVersion",
                         "written-by-someone-else", copy->GetAllocator());
        store.put(c.resource, c.namespace_, *copy);
      }
    };
  }
  void add_config(const kube::Resource& r, const std::string& name, int hooks) {
    std::string json = R"({"metadata":{"name":")" + name + R"(","resourceVersion":"1"},"webhooks":[)";
    for (int i = 0; i < hooks; ++i) json += std::string(i ? "," : "") + R"({"name":"h)" + std::to_string(i) + R"(.x","clientConfig":{}})";
    json += "]}";
    store.put(r, "", json);
  }
  std::string ca_bundle_of(const kube::Resource& r, const std::string& name, int i) {
    auto doc = store.stored(r, "", name);
    return core::get_string((*doc)["webhooks"][static_cast<rapidjson::SizeType>(i)]["clientConfig"], "caBundle").value_or("");
  }
  std::shared_ptr<const core::JsonDoc> secret() { return store.stored(kube::kSecrets, "ops", "tls"); }
  std::shared_ptr<const core::JsonDoc> ca_secret() { return store.stored(kube::kSecrets, "ops", "tls-ca"); }
  // The data keys a stored Secret holds, sorted.
  std::vector<std::string> keys_of(const std::shared_ptr<const core::JsonDoc>& doc) {
    std::vector<std::string> out;
    if (const auto* data = doc ? core::member(*doc, "data") : nullptr)
      for (const auto& m : data->GetObject()) out.emplace_back(m.name.GetString());
    std::sort(out.begin(), out.end());
    return out;
  }

  ifo::test::MemoryApi store;
  ifo::test::RecordingApi api{store};
  bool lose_next_create = false;
  bool conflict_next_update = false;
};

const kube::Resource& kVwc = kube::kValidatingWebhookConfigurations;
const kube::Resource& kMwc = kube::kMutatingWebhookConfigurations;
const std::string kCreateSecret = "create secrets ops/tls";
const std::string kUpdateSecret = "update secrets ops/tls";
const std::string kCreateCa = "create secrets ops/tls-ca";
const std::string kUpdateCa = "update secrets ops/tls-ca";
const std::string kUpdateVwc = "update validatingwebhookconfigurations vwc";
const std::string kUpdateMwc = "update mutatingwebhookconfigurations mwc";

EnsureOptions ensure_options() {
  EnsureOptions o;
  o.secret_namespace = "ops";
  o.secret_name = "tls";
  o.ca_secret_name = "tls-ca";
  o.validating_configs = {"vwc"};
  o.mutating_configs = {"mwc"};
  o.policy = test_policy();
  return o;
}

}  // namespace

TEST_CASE("ensure creates the CA Secret, patches every caBundle once, then the serving Secret; a second run writes nothing") {
  Cluster k;
  k.add_config(kVwc, "vwc", 1);
  k.add_config(kMwc, "mwc", 2);
  auto clock = [] { return kT0; };
  auto r1 = ensure(k.api, ensure_options(), clock);
  CHECK(k.api.writes() == std::vector<std::string>{kCreateCa, kUpdateVwc, kUpdateMwc, kCreateSecret});
  auto secret = k.secret();
  REQUIRE(secret);
  CHECK(core::get_string(*secret, "type") == "kubernetes.io/tls");
  // The webhook's Secret holds what it serves (and the public bundle), never the CA key.
  CHECK(k.keys_of(secret) == std::vector<std::string>{"ca.crt", "tls.crt", "tls.key"});
  CHECK(k.keys_of(k.ca_secret()) == std::vector<std::string>{"ca.crt", "ca.key"});
  CHECK(core::get_string(*k.ca_secret(), "type") == "Opaque");
  Material stored = material_from_secret(*secret);
  Material ca = material_from_secret(*k.ca_secret());
  CHECK(stored.cert == r1.material.cert);
  CHECK(stored.ca_bundle == ca.ca_bundle);
  CHECK(ca.ca_key == r1.material.ca_key);
  CHECK(issued_by(stored.cert, stored.ca_bundle));
  CHECK(k.ca_bundle_of(kVwc, "vwc", 0) == core::base64_encode(ca.ca_bundle));
  CHECK_FALSE(k.ca_bundle_of(kMwc, "mwc", 1).empty());
  CHECK(k.ca_bundle_of(kMwc, "mwc", 1) == k.ca_bundle_of(kVwc, "vwc", 0));
  k.api.clear();
  auto r2 = ensure(k.api, ensure_options(), clock);
  CHECK(k.api.writes().empty());
  CHECK(r2.material.cert == r1.material.cert);
  // Nothing in the log carries key material.
  for (const auto& line : r1.log) CHECK(line.find("PRIVATE KEY") == std::string::npos);
}

TEST_CASE("ensure losing the create race adopts the winner's material; conflicts are retried") {
  Cluster k;
  k.add_config(kVwc, "vwc", 1);
  k.add_config(kMwc, "mwc", 1);
  k.lose_next_create = true;
  k.conflict_next_update = true;
  auto r = ensure(k.api, ensure_options(), [] { return kT0; });
  // The create answered AlreadyExists and the first caBundle update Conflict: each was retried once.
  CHECK(k.api.writes() == std::vector<std::string>{kCreateCa, kUpdateVwc, kUpdateVwc, kUpdateMwc, kCreateSecret});
  auto has = [&](std::string_view text) {
    return std::any_of(r.log.begin(), r.log.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  CHECK(has("Secret ops/tls-ca: new CA (no CA stored): written by someone else meanwhile, retrying"));
  CHECK(has("ValidatingWebhookConfiguration vwc: conflict, retrying"));
  Material stored = material_from_secret(*k.secret());
  CHECK(r.material.cert == stored.cert);
  // Their CA, kept: the serving certificate is issued by it.
  CHECK(core::string_or(*core::member(*k.ca_secret(), "metadata"), "resourceVersion", "") == "100");
  CHECK(issued_by(stored.cert, material_from_secret(*k.ca_secret()).ca_bundle));
}

TEST_CASE("ensure renews inside the window and rotates the CA in the safe order") {
  Cluster k;
  k.add_config(kVwc, "vwc", 1);
  k.add_config(kMwc, "mwc", 1);
  auto first = ensure(k.api, ensure_options(), [] { return kT0; });
  k.api.clear();
  // Serving renewal: only the serving Secret changes, the bundle stays.
  auto renewed = ensure(k.api, ensure_options(), [] { return kT0 + hours(24 * 16); });
  CHECK(k.api.writes() == std::vector<std::string>{kUpdateSecret});
  CHECK(renewed.material.cert != first.material.cert);
  CHECK(renewed.material.ca_bundle == first.material.ca_bundle);
  const std::string bundle_before = k.ca_bundle_of(kVwc, "vwc", 0);
  k.api.clear();
  // CA rotation: the CA Secret gets the new CA in its bundle first, then the caBundles, then the
  // serving Secret its certificate from the new CA.
  auto rotated = ensure(k.api, ensure_options(), [] { return kT0 + hours(24 * 71); });
  CHECK(k.api.writes() == std::vector<std::string>{kUpdateCa, kUpdateVwc, kUpdateMwc, kUpdateSecret});
  CHECK(count_certs(rotated.material.ca_bundle) == 2);
  CHECK(k.ca_bundle_of(kVwc, "vwc", 0) != bundle_before);
  CHECK(k.ca_bundle_of(kVwc, "vwc", 0) == k.ca_bundle_of(kMwc, "mwc", 0));
  auto ca_now = parse_certificates(rotated.material.ca_bundle).value();
  CHECK(issued_by(rotated.material.cert, ca_now.front().pem));
  CHECK_FALSE(issued_by(rotated.material.cert, first.material.ca_bundle));
  CHECK(material_from_secret(*k.secret()).ca_bundle == rotated.material.ca_bundle);
  k.api.clear();
  // Once the old CA expired it leaves the CA Secret, then the caBundles and the serving Secret's ca.crt.
  auto pruned = ensure(k.api, ensure_options(), [] { return kT0 + hours(24 * 101); });
  CHECK(k.api.writes() == std::vector<std::string>{kUpdateCa, kUpdateVwc, kUpdateMwc, kUpdateSecret});
  CHECK(count_certs(pruned.material.ca_bundle) == 1);
  CHECK(material_from_secret(*k.secret()).ca_bundle == pruned.material.ca_bundle);
  CHECK(k.ca_bundle_of(kVwc, "vwc", 0) == core::base64_encode(pruned.material.ca_bundle));
}

TEST_CASE("an install from before the split: the CA moves to its own Secret, no new CA or certificate") {
  Cluster k;
  k.add_config(kVwc, "vwc", 1);
  k.add_config(kMwc, "mwc", 1);
  // What certs-gen wrote before: one kubernetes.io/tls Secret with all four keys, caBundles set.
  auto old = create_material(test_policy(), kT0).value();
  auto legacy = core::parse_json(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"tls","namespace":"ops"}})").value();
  put_serving(*legacy, old);
  auto& a = legacy->GetAllocator();
  core::set_string((*legacy)["data"], "ca.key", core::base64_encode(old.ca_key), a);
  k.store.put(kube::kSecrets, "ops", *legacy);
  for (auto* r : {&kVwc, &kMwc}) {
    auto doc = k.store.stored(*r, "", r == &kVwc ? "vwc" : "mwc");
    auto copy = std::make_shared<core::JsonDoc>();
    copy->CopyFrom(*doc, copy->GetAllocator());
    set_ca_bundles(*copy, old.ca_bundle);
    k.store.put(*r, "", *copy);
  }
  const std::string bundle_before = k.ca_bundle_of(kVwc, "vwc", 0);
  auto r = ensure(k.api, ensure_options(), [] { return kT0 + hours(24); });
  // The CA Secret is written before ca.key leaves the serving Secret: a crash in between loses nothing.
  CHECK(k.api.writes() == std::vector<std::string>{kCreateCa, kUpdateSecret});
  Material ca = material_from_secret(*k.ca_secret());
  CHECK(ca.ca_key == old.ca_key);
  CHECK(ca.ca_bundle == old.ca_bundle);
  CHECK(k.keys_of(k.secret()) == std::vector<std::string>{"ca.crt", "tls.crt", "tls.key"});
  CHECK(material_from_secret(*k.secret()).cert == old.cert);
  CHECK(r.material.cert == old.cert);
  CHECK(k.ca_bundle_of(kVwc, "vwc", 0) == bundle_before);
  k.api.clear();
  ensure(k.api, ensure_options(), [] { return kT0 + hours(24); });
  CHECK(k.api.writes().empty());
}

TEST_CASE("a serving Secret with ca.key next to a valid CA Secret loses it; the CA Secret wins") {
  Cluster k;
  k.add_config(kVwc, "vwc", 1);
  k.add_config(kMwc, "mwc", 1);
  auto first = ensure(k.api, ensure_options(), [] { return kT0; });
  // A crash between the two writes of the move, or an old certs-gen run meanwhile: ca.key is back.
  auto doc = k.store.stored(kube::kSecrets, "ops", "tls");
  auto copy = std::make_shared<core::JsonDoc>();
  copy->CopyFrom(*doc, copy->GetAllocator());
  core::set_string((*copy)["data"], "ca.key", core::base64_encode(first.material.ca_key), copy->GetAllocator());
  k.store.put(kube::kSecrets, "ops", *copy);
  k.api.clear();
  ensure(k.api, ensure_options(), [] { return kT0; });
  CHECK(k.api.writes() == std::vector<std::string>{kUpdateSecret});
  CHECK(k.keys_of(k.secret()) == std::vector<std::string>{"ca.crt", "tls.crt", "tls.key"});
  CHECK(material_from_secret(*k.secret()).cert == first.material.cert);
}

TEST_CASE("ensure names a missing webhook configuration") {
  Cluster k;
  k.add_config(kVwc, "vwc", 1);
  CHECK_THROWS_WITH_AS(ensure(k.api, ensure_options(), [] { return kT0; }),
                       doctest::Contains("MutatingWebhookConfiguration mwc: not found"), std::runtime_error);
}

TEST_CASE("files: created, reused, renewed; an unreadable path is named") {
  auto dir = std::filesystem::temp_directory_path() / ("certsgen-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto p = test_policy();
  auto r1 = refresh_files(dir.string(), p, kT0);
  REQUIRE(r1.ok());
  CHECK(r1->find("new CA") == 0);
  auto m1 = read_material(dir.string()).value();
  struct stat st {};
  REQUIRE(::stat((dir / "tls.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto r2 = refresh_files(dir.string(), p, kT0 + hours(1));
  REQUIRE(r2.ok());
  CHECK(r2->find("reused") == 0);
  CHECK(read_material(dir.string()).value().cert == m1.cert);
  auto r3 = refresh_files(dir.string(), p, kT0 + hours(24 * 16));
  REQUIRE(r3.ok());
  CHECK(r3->find("new serving certificate") == 0);
  CHECK(read_material(dir.string()).value().ca_bundle == m1.ca_bundle);
  std::filesystem::remove_all(dir / "tls.crt");
  std::filesystem::create_directory(dir / "tls.crt");
  auto bad = refresh_files(dir.string(), p, kT0);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("tls.crt") != std::string::npos);
  std::filesystem::remove_all(dir);
}
