// kube-sim emulating an older kube-apiserver (Options::version, --emulate-version): /version says so,
// and a webhook configuration's matchConditions, unknown before 1.27, are treated as kube-apiserver's
// decoder treats an unknown field under each fieldValidation mode.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "core/json.h"
#include "net/http_client.h"
#include "sim/kube/server.h"

using namespace ifo;
using namespace ifo::kubesim;

namespace {

constexpr const char* kValidating = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";

struct Sim {
  explicit Sim(int minor) : sim(with_minor(minor)) {
    sim.start();
    client = std::make_unique<net::HttpClient>(net::TlsOptions{sim.ca_pem(), "", "", false});
  }
  static Options with_minor(int minor) {
    Options o;
    o.version.minor = minor;
    return o;
  }
  net::Response call(const std::string& method, const std::string& path, const std::string& body = "") {
    net::Request r;
    r.method = method;
    r.url = sim.url() + path;
    r.body = body;
    if (!body.empty()) r.headers.push_back({"Content-Type", "application/json"});
    r.headers.push_back({"Authorization", "Bearer " + sim.token()});
    return client->perform(r);
  }
  KubeSim sim;
  std::unique_ptr<net::HttpClient> client;
};

// A configuration with two webhooks, the second with matchConditions (as the chart renders them).
std::string configuration(const std::string& name) {
  return R"({"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingWebhookConfiguration",)"
         R"("metadata":{"name":")" +
         name +
         R"("},"webhooks":[)"
         R"({"name":"a.example.com","admissionReviewVersions":["v1"],"sideEffects":"None",)"
         R"("clientConfig":{"url":"https://a.example.com/"}},)"
         R"({"name":"b.example.com","admissionReviewVersions":["v1"],"sideEffects":"None",)"
         R"("clientConfig":{"url":"https://b.example.com/"},)"
         R"("matchConditions":[{"name":"opted-in","expression":"true"}]}]})";
}

bool stored_with_match_conditions(Sim& s, const std::string& name) {
  auto got = s.call("GET", std::string(kValidating) + "/" + name);
  REQUIRE(got.status == 200);
  auto doc = core::parse_json(got.body);
  REQUIRE(doc);
  const auto* hooks = core::member(**doc, "webhooks");
  REQUIRE((hooks && hooks->IsArray() && hooks->Size() == 2));
  return core::member((*hooks)[1], "matchConditions") != nullptr;
}

}  // namespace

TEST_CASE("/version reports the emulated version") {
  Sim s(25);
  auto r = s.call("GET", "/version");
  REQUIRE(r.status == 200);
  auto doc = core::parse_json(r.body);
  REQUIRE(doc);
  CHECK(core::string_or(**doc, "major", "") == "1");
  CHECK(core::string_or(**doc, "minor", "") == "25");
  CHECK(core::string_or(**doc, "gitVersion", "") == "v1.25.0-kube-sim");
  auto newest = core::parse_json(Sim(32).call("GET", "/version").body);
  REQUIRE(newest);
  CHECK(core::string_or(**newest, "gitVersion", "") == "v1.32.0-kube-sim");
}

TEST_CASE(
    "1.25, fieldValidation=Strict: matchConditions is refused with kube-apiserver's strict decoding error") {
  Sim s(25);
  auto r = s.call("POST",
                  std::string(kValidating) + "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
                  configuration("strict"));
  CHECK(r.status == 400);
  auto doc = core::parse_json(r.body);
  REQUIRE(doc);
  CHECK(core::string_or(**doc, "reason", "") == "BadRequest");
  CHECK(core::string_or(**doc, "message", "") ==
        "ValidatingWebhookConfiguration in version \"v1\" cannot be handled as a "
        "ValidatingWebhookConfiguration: "
        "strict decoding error: unknown field \"webhooks[1].matchConditions\"");
  CHECK(s.call("GET", std::string(kValidating) + "/strict").status == 404);
}

TEST_CASE("1.25, fieldValidation=Warn (and no fieldValidation, helm's case): dropped with a Warning header") {
  Sim s(25);
  for (const std::string query : {"?fieldValidation=Warn", ""}) {
    std::string name = query.empty() ? "default" : "warn";
    auto r = s.call("POST", std::string(kValidating) + query, configuration(name));
    REQUIRE(r.status == 201);
    CHECK(r.header("Warning").value_or("") == "299 - \"unknown field \\\"webhooks[1].matchConditions\\\"\"");
    CHECK_FALSE(stored_with_match_conditions(s, name));
  }
}

TEST_CASE("1.25, fieldValidation=Ignore: dropped silently") {
  Sim s(25);
  auto r = s.call("POST", std::string(kValidating) + "?fieldValidation=Ignore", configuration("ignore"));
  REQUIRE(r.status == 201);
  CHECK_FALSE(r.header("Warning"));
  CHECK_FALSE(stored_with_match_conditions(s, "ignore"));
}

TEST_CASE("1.27 knows the field but its alpha gate is off: dropped silently, even under Strict") {
  Sim s(27);
  auto r = s.call("POST", std::string(kValidating) + "?fieldValidation=Strict", configuration("alpha"));
  REQUIRE(r.status == 201);
  CHECK_FALSE(r.header("Warning"));
  CHECK_FALSE(stored_with_match_conditions(s, "alpha"));
}

TEST_CASE("1.28 and later keep matchConditions") {
  for (int minor : {28, 31, 32}) {
    Sim s(minor);
    auto r = s.call("POST", std::string(kValidating) + "?fieldValidation=Strict", configuration("kept"));
    REQUIRE(r.status == 201);
    CHECK_FALSE(r.header("Warning"));
    CHECK(stored_with_match_conditions(s, "kept"));
  }
}

TEST_CASE("--emulate-version accepts 1.25 to 1.32, with or without v and a patch number") {
  CHECK(EmulatedVersion::parse_minor("1.25") == 25);
  CHECK(EmulatedVersion::parse_minor("v1.31") == 31);
  CHECK(EmulatedVersion::parse_minor("1.28.3") == 28);
  CHECK(EmulatedVersion::parse_minor("1.24") == -1);
  CHECK(EmulatedVersion::parse_minor("1.33") == -1);
  CHECK(EmulatedVersion::parse_minor("2.25") == -1);
  CHECK(EmulatedVersion::parse_minor("1.28-eks") == -1);
  CHECK(EmulatedVersion::parse_minor("") == -1);
}
