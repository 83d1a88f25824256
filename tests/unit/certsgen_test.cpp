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
#include "core/json.h"

using namespace ifo::certsgen;
using namespace std::chrono;
namespace core = ifo::core;

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
}

namespace {

// An in-memory API with resourceVersions; records every write and can inject conflicts.
class FakeApi : public ClusterApi {
 public:
  std::map<std::string, std::string> objects;  // collection/name -> JSON
  std::vector<std::string> actions;
  int conflicts_to_inject = 0;
  int already_exists_to_inject = 0;
  int rv = 1;

  std::shared_ptr<core::JsonDoc> get(const std::string& coll, const std::string& name) override {
    auto it = objects.find(coll + "/" + name);
    if (it == objects.end()) return nullptr;
    return core::parse_json(it->second).value();
  }
  Write create(const std::string& coll, const core::JsonValue& obj) override {
    std::string name = core::get_string(*core::at_path(obj, {"metadata"}), "name").value();
    if (already_exists_to_inject > 0) {
      --already_exists_to_inject;
      // Someone else won the race with their own material.
      Policy p = test_policy();
      auto m = create_material(p, kT0);
      core::JsonDoc doc;
      doc.CopyFrom(obj, doc.GetAllocator());
      put_material(doc, *m);
      store(coll, name, doc);
      actions.push_back("create-lost " + name);
      return Write::kAlreadyExists;
    }
    if (objects.count(coll + "/" + name)) return Write::kAlreadyExists;
    core::JsonDoc doc;
    doc.CopyFrom(obj, doc.GetAllocator());
    store(coll, name, doc);
    actions.push_back("create " + name);
    return Write::kOk;
  }
  Write update(const std::string& coll, const std::string& name, const core::JsonValue& obj) override {
    if (conflicts_to_inject > 0) {
      --conflicts_to_inject;
      ++rv;  // someone else wrote meanwhile
      auto cur = get(coll, name);
      store(coll, name, *cur);
      actions.push_back("conflict " + name);
      return Write::kConflict;
    }
    auto cur = get(coll, name);
    auto want = core::get_string(*core::at_path(obj, {"metadata"}), "resourceVersion");
    auto have = core::get_string(*core::at_path(*cur, {"metadata"}), "resourceVersion");
    if (want != have) return Write::kConflict;
    core::JsonDoc doc;
    doc.CopyFrom(obj, doc.GetAllocator());
    store(coll, name, doc);
    actions.push_back("update " + name);
    return Write::kOk;
  }
  void store(const std::string& coll, const std::string& name, core::JsonDoc& doc) {
    auto& md = core::ensure_object(doc, "metadata", doc.GetAllocator());
    core::set_string(md, "resourceVersion", std::to_string(++rv), doc.GetAllocator());
    objects[coll + "/" + name] = core::to_json(doc);
  }
  void add_config(const std::string& coll, const std::string& name, int hooks) {
    std::string json = R"({"metadata":{"name":")" + name + R"("},"webhooks":[)";
    for (int i = 0; i < hooks; ++i) json += std::string(i ? "," : "") + R"({"name":"h)" + std::to_string(i) + R"(.x","clientConfig":{}})";
    json += "]}";
    auto doc = core::parse_json(json).value();
    store(coll, name, *doc);
  }
  std::string ca_bundle_of(const std::string& coll, const std::string& name, int i) {
    auto doc = get(coll, name);
    return core::get_string((*doc)["webhooks"][static_cast<rapidjson::SizeType>(i)]["clientConfig"], "caBundle").value_or("");
  }
};

const std::string kSecrets = "/api/v1/namespaces/ops/secrets";
const std::string kVwc = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
const std::string kMwc = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

EnsureOptions ensure_options() {
  EnsureOptions o;
  o.secret_namespace = "ops";
  o.secret_name = "tls";
  o.validating_configs = {"vwc"};
  o.mutating_configs = {"mwc"};
  o.policy = test_policy();
  return o;
}

}  // namespace

TEST_CASE("ensure creates the Secret and patches every caBundle once; a second run writes nothing") {
  FakeApi api;
  api.add_config(kVwc, "vwc", 1);
  api.add_config(kMwc, "mwc", 2);
  auto clock = [] { return kT0; };
  auto r1 = ensure(api, ensure_options(), clock);
  CHECK(api.actions == std::vector<std::string>{"create tls", "update vwc", "update mwc"});
  auto secret = api.get(kSecrets, "tls");
  REQUIRE(secret);
  CHECK(core::get_string(*secret, "type") == "kubernetes.io/tls");
  Material stored = material_from_secret(*secret);
  CHECK(stored.cert == r1.material.cert);
  CHECK(issued_by(stored.cert, stored.ca_bundle));
  CHECK_FALSE(api.ca_bundle_of(kMwc, "mwc", 1).empty());
  CHECK(api.ca_bundle_of(kMwc, "mwc", 1) == api.ca_bundle_of(kVwc, "vwc", 0));
  api.actions.clear();
  auto r2 = ensure(api, ensure_options(), clock);
  CHECK(api.actions.empty());
  CHECK(r2.material.cert == r1.material.cert);
  // Nothing in the log carries key material.
  for (const auto& line : r1.log) CHECK(line.find("PRIVATE KEY") == std::string::npos);
}

TEST_CASE("ensure losing the create race adopts the winner's material; conflicts are retried") {
  FakeApi api;
  api.add_config(kVwc, "vwc", 1);
  api.add_config(kMwc, "mwc", 1);
  api.already_exists_to_inject = 1;
  api.conflicts_to_inject = 1;
  auto r = ensure(api, ensure_options(), [] { return kT0; });
  CHECK(api.actions == std::vector<std::string>{"create-lost tls", "conflict vwc", "update vwc", "update mwc"});
  Material stored = material_from_secret(*api.get(kSecrets, "tls"));
  CHECK(r.material.cert == stored.cert);
}

TEST_CASE("ensure renews inside the window and rotates the CA in the safe order") {
  FakeApi api;
  api.add_config(kVwc, "vwc", 1);
  api.add_config(kMwc, "mwc", 1);
  auto first = ensure(api, ensure_options(), [] { return kT0; });
  api.actions.clear();
  // Serving renewal: only the Secret changes, the bundle stays.
  auto renewed = ensure(api, ensure_options(), [] { return kT0 + hours(24 * 16); });
  CHECK(api.actions == std::vector<std::string>{"update tls"});
  CHECK(renewed.material.cert != first.material.cert);
  CHECK(renewed.material.ca_bundle == first.material.ca_bundle);
  const std::string bundle_before = api.ca_bundle_of(kVwc, "vwc", 0);
  api.actions.clear();
  // CA rotation: Secret gets the new CA in its bundle first, then the caBundles, then the serving cert.
  auto rotated = ensure(api, ensure_options(), [] { return kT0 + hours(24 * 71); });
  CHECK(api.actions == std::vector<std::string>{"update tls", "update vwc", "update mwc", "update tls"});
  CHECK(count_certs(rotated.material.ca_bundle) == 2);
  CHECK(api.ca_bundle_of(kVwc, "vwc", 0) != bundle_before);
  CHECK(api.ca_bundle_of(kVwc, "vwc", 0) == api.ca_bundle_of(kMwc, "mwc", 0));
  auto ca_now = parse_certificates(rotated.material.ca_bundle).value();
  CHECK(issued_by(rotated.material.cert, ca_now.front().pem));
  CHECK_FALSE(issued_by(rotated.material.cert, first.material.ca_bundle));
}

TEST_CASE("ensure names a missing webhook configuration") {
  FakeApi api;
  api.add_config(kVwc, "vwc", 1);
  CHECK_THROWS_WITH_AS(ensure(api, ensure_options(), [] { return kT0; }),
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
