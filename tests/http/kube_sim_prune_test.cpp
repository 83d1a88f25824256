// kube-sim serves custom resources decoded under the CRD's current schema, as kube-apiserver does when
// it reads them from etcd: a stored field the new schema lacks disappears from GET, LIST and WATCH
// while the stored object keeps it, until the object is next written.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "net/http_client.h"
#include "sim/kube/schema.h"
#include "sim/kube/server.h"

using namespace ifo;
using namespace ifo::kubesim;

namespace {

struct Sim {
  Sim() : sim(Options{}) {
    sim.start();
    client = std::make_unique<net::HttpClient>(net::TlsOptions{sim.ca_pem(), "", "", false});
  }
  net::Response call(const std::string& method, const std::string& path, const std::string& body = "",
                     const std::string& ctype = "application/json") {
    net::Request r;
    r.method = method;
    r.url = sim.url() + path;
    r.body = body;
    if (!body.empty()) r.headers.push_back({"Content-Type", ctype});
    r.headers.push_back({"Authorization", "Bearer " + sim.token()});
    return client->perform(r);
  }
  // Reads watch events until `want` arrived (or 5 s passed).
  std::vector<std::shared_ptr<core::JsonDoc>> watch(const std::string& path, size_t want) {
    net::Request r;
    r.url = sim.url() + path;
    r.headers.push_back({"Authorization", "Bearer " + sim.token()});
    r.total_timeout = std::chrono::seconds(5);
    std::string buf;
    std::vector<std::shared_ptr<core::JsonDoc>> events;
    try {
      client->stream(r, [&](std::string_view chunk) {
        buf.append(chunk);
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          auto doc = core::parse_json(buf.substr(0, nl));
          buf.erase(0, nl + 1);
          if (doc) events.push_back(*doc);
        }
        return events.size() < want;
      });
    } catch (const net::TransportError&) {
      // timeout: return what arrived
    }
    return events;
  }
  KubeSim sim;
  std::unique_ptr<net::HttpClient> client;
};

std::shared_ptr<core::JsonDoc> json(const net::Response& r) {
  auto d = core::parse_json(r.body);
  REQUIRE_MESSAGE(d.ok(), r.body);
  return *d;
}

std::string str_at(const core::JsonValue& v, std::initializer_list<std::string_view> path) {
  auto* p = core::at_path(v, path);
  return p && p->IsString() ? p->GetString() : "";
}

bool has(const core::JsonValue& v, std::initializer_list<std::string_view> path) {
  return core::at_path(v, path) != nullptr;
}

constexpr const char* kCrds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
constexpr const char* kGadgets = "/apis/example.com/v1/namespaces/default/gadgets";

// The Gadget CRD. `wide` has spec.b; the narrow one has not, and defaults spec.c instead. Both keep
// spec.free (x-kubernetes-preserve-unknown-fields) and spec.labels (an additionalProperties map).
std::string gadget_crd(bool wide, const std::string& resource_version = "") {
  std::string spec_props = R"("a":{"type":"string"},
      "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"known":{"type":"string"}}},
      "labels":{"type":"object","additionalProperties":{"type":"string"}})";
  spec_props += wide ? R"(,"b":{"type":"string"})" : R"(,"c":{"type":"string","default":"from-default"})";
  std::string md = R"("name":"gadgets.example.com")";
  if (!resource_version.empty()) md += R"(,"resourceVersion":")" + resource_version + R"(")";
  return R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{)" + md +
         R"(},"spec":{"group":"example.com","scope":"Namespaced",
      "names":{"kind":"Gadget","plural":"gadgets","singular":"gadget","listKind":"GadgetList"},
      "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
        "schema":{"openAPIV3Schema":{"type":"object","properties":{
          "spec":{"type":"object","properties":{)" +
         spec_props + R"(}},
          "status":{"type":"object","properties":{"phase":{"type":"string"}}}}}}}]}})";
}

// Replaces the CRD (an update, as `kubectl apply`/`helm upgrade` do).
void replace_crd(Sim& s, bool wide) {
  auto cur = s.call("GET", std::string(kCrds) + "/gadgets.example.com");
  REQUIRE(cur.status == 200);
  auto r = s.call("PUT", std::string(kCrds) + "/gadgets.example.com",
                  gadget_crd(wide, str_at(*json(cur), {"metadata", "resourceVersion"})));
  REQUIRE_MESSAGE(r.status == 200, r.body);
}

const char* kGadget = R"({"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"g1"},
  "spec":{"a":"A","b":"B","free":{"known":"k","anything":{"deep":1}},"labels":{"x":"1","y":"2"}}})";

// Checks a served Gadget g1 as the narrow schema shows it.
void check_narrow(const core::JsonValue& g) {
  CHECK(str_at(g, {"spec", "a"}) == "A");
  CHECK_FALSE(has(g, {"spec", "b"}));
  CHECK(str_at(g, {"spec", "c"}) == "from-default");  // defaulted on read
  CHECK(str_at(g, {"spec", "free", "known"}) == "k");
  CHECK(has(g, {"spec", "free", "anything", "deep"}));  // preserve-unknown subtree survives
  CHECK(str_at(g, {"spec", "labels", "y"}) == "2");     // map keys survive
  CHECK(str_at(g, {"apiVersion"}) == "example.com/v1");
  CHECK(str_at(g, {"kind"}) == "Gadget");
}

}  // namespace

TEST_CASE("a stored custom resource is served pruned under a narrower CRD schema; the stored object keeps the field") {
  Sim s;
  REQUIRE(s.call("POST", kCrds, gadget_crd(true)).status == 201);
  auto created = s.call("POST", kGadgets, kGadget);
  REQUIRE_MESSAGE(created.status == 201, created.body);
  std::string rv = str_at(*json(created), {"metadata", "resourceVersion"});
  CHECK(str_at(*json(created), {"spec", "b"}) == "B");

  replace_crd(s, false);

  auto got = s.call("GET", std::string(kGadgets) + "/g1");
  REQUIRE(got.status == 200);
  check_narrow(*json(got));
  CHECK(str_at(*json(got), {"metadata", "resourceVersion"}) == rv);  // a read writes nothing

  auto list = s.call("GET", kGadgets);
  REQUIRE(list.status == 200);
  auto ld = json(list);
  REQUIRE((*ld)["items"].Size() == 1);
  check_narrow((*ld)["items"][0]);

  // Watches started now: the current state, and a replay of the history from before the create.
  auto ev = s.watch(std::string(kGadgets) + "?watch=true&resourceVersion=0", 1);
  REQUIRE(ev.size() == 1);
  CHECK(str_at(*ev[0], {"type"}) == "ADDED");
  check_narrow((*ev[0])["object"]);
  ev = s.watch(std::string(kGadgets) + "?watch=true&resourceVersion=" + std::to_string(std::stoull(rv) - 1), 1);
  REQUIRE(ev.size() == 1);
  check_narrow((*ev[0])["object"]);

  // etcd still holds spec.b, and spec.c was never written.
  ObjectPtr stored = s.sim.store().get_stored("example.com", "gadgets", "default", "g1");
  REQUIRE(stored);
  CHECK(str_at(stored->value(), {"spec", "b"}) == "B");
  CHECK_FALSE(has(stored->value(), {"spec", "c"}));

  // The wide schema again: spec.b is back, the narrow schema's default is gone.
  replace_crd(s, true);
  got = s.call("GET", std::string(kGadgets) + "/g1");
  CHECK(str_at(*json(got), {"spec", "b"}) == "B");
  CHECK_FALSE(has(*json(got), {"spec", "c"}));
  ev = s.watch(std::string(kGadgets) + "?watch=true", 1);
  REQUIRE(ev.size() == 1);
  CHECK(str_at((*ev[0])["object"], {"spec", "b"}) == "B");
}

TEST_CASE("a write under the narrower CRD schema stores the pruned object: the field is gone for good") {
  Sim s;
  REQUIRE(s.call("POST", kCrds, gadget_crd(true)).status == 201);
  REQUIRE(s.call("POST", kGadgets, kGadget).status == 201);
  std::string g2 = kGadget;
  g2.replace(g2.find("\"g1\""), 4, "\"g2\"");
  REQUIRE(s.call("POST", kGadgets, g2).status == 201);
  replace_crd(s, false);

  // A spec patch on g1 that does not touch spec.b.
  auto r = s.call("PATCH", std::string(kGadgets) + "/g1", R"({"spec":{"a":"A2"}})", "application/merge-patch+json");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK_FALSE(has(*json(r), {"spec", "b"}));
  CHECK(str_at(*json(r), {"spec", "c"}) == "from-default");

  // A status write on g2 (what a controller does): the spec it carries is the decoded one, and that is
  // what gets stored; the spec did not change as the server sees it, so generation stays.
  auto before = json(s.call("GET", std::string(kGadgets) + "/g2"));
  r = s.call("PATCH", std::string(kGadgets) + "/g2/status", R"({"status":{"phase":"Ready"}})",
             "application/merge-patch+json");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(str_at(*json(r), {"status", "phase"}) == "Ready");
  CHECK((*json(r))["metadata"]["generation"] == (*before)["metadata"]["generation"]);

  for (std::string name : {"g1", "g2"}) {
    CAPTURE(name);
    ObjectPtr stored = s.sim.store().get_stored("example.com", "gadgets", "default", name);
    REQUIRE(stored);
    CHECK_FALSE(has(stored->value(), {"spec", "b"}));
    CHECK(str_at(stored->value(), {"spec", "c"}) == "from-default");  // the default is now stored
  }
  replace_crd(s, true);
  for (std::string name : {"g1", "g2"}) {
    CAPTURE(name);
    auto got = json(s.call("GET", std::string(kGadgets) + "/" + name));
    CHECK_FALSE(has(*got, {"spec", "b"}));
    CHECK_FALSE(has(*got, {"spec", "c"}));  // not in the wide schema: pruned on read in turn
    CHECK(has(*got, {"spec", "free", "anything", "deep"}));
  }
}

TEST_CASE("custom resource metadata keeps only ObjectMeta's fields, on write as on read") {
  Sim s;
  REQUIRE(s.call("POST", kCrds, gadget_crd(true)).status == 201);
  const std::string body = R"({"apiVersion":"example.com/v1","kind":"Gadget",
    "metadata":{"name":"m1","labels":{"l":"v"},"clusterName":"old","ownerReferences":[
      {"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"u1","extra":true}]},"spec":{"a":"A"}})";
  auto r = s.call("POST", std::string(kGadgets) + "?fieldValidation=Strict", body);
  CHECK(r.status == 400);
  CHECK(str_at(*json(r), {"message"}) ==
        R"(Gadget in version "v1" cannot be handled as a Gadget: strict decoding error: unknown field "metadata.clusterName", unknown field "metadata.ownerReferences[0].extra")");
  r = s.call("POST", kGadgets, body);
  REQUIRE(r.status == 201);
  CHECK(r.header("warning").value_or("").find(R"(unknown field \"metadata.clusterName\")") != std::string::npos);
  auto d = json(r);
  CHECK_FALSE(has(*d, {"metadata", "clusterName"}));
  CHECK(str_at(*d, {"metadata", "labels", "l"}) == "v");
  REQUIRE((*d)["metadata"]["ownerReferences"].Size() == 1);
  CHECK(str_at((*d)["metadata"]["ownerReferences"][0], {"uid"}) == "u1");
  CHECK_FALSE(has((*d)["metadata"]["ownerReferences"][0], {"extra"}));
}

TEST_CASE("decoding on read costs one decode per stored object per schema, however many readers") {
  Sim s;
  REQUIRE(s.call("POST", kCrds, gadget_crd(true)).status == 201);
  for (const char* name : {"d1", "d2", "d3"}) {
    std::string b = kGadget;
    b.replace(b.find("\"g1\""), 4, std::string("\"") + name + "\"");
    REQUIRE(s.call("POST", kGadgets, b).status == 201);
  }
  // A decoder that counts its calls and drops spec.b, in place of the CRD's.
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto counting = [calls](core::JsonDoc& obj) {
    ++*calls;
    if (auto* spec = core::member(obj, "spec")) core::remove_member(*spec, "b");
  };
  s.sim.store().set_decoder("example.com", "gadgets", counting);
  for (int i = 0; i < 3; ++i) {
    auto l = json(s.call("GET", kGadgets));
    REQUIRE((*l)["items"].Size() == 3);
    for (auto& item : (*l)["items"].GetArray()) CHECK_FALSE(has(item, {"spec", "b"}));
  }
  CHECK(s.call("GET", std::string(kGadgets) + "/d1").body.find("\"b\"") == std::string::npos);
  for (int i = 0; i < 3; ++i) CHECK(s.watch(std::string(kGadgets) + "?watch=true", 3).size() == 3);
  CHECK(calls->load() == 3);
  // A write stores the decoded form; the object it returns is decoded once, and readers share that.
  REQUIRE(s.call("PATCH", std::string(kGadgets) + "/d1", R"({"spec":{"a":"A2"}})", "application/merge-patch+json")
              .status == 200);
  int after_write = calls->load();
  CHECK(after_write == 4);  // the new object, once; the old one was a memo hit
  json(s.call("GET", kGadgets));
  CHECK(calls->load() == after_write);
  // A new decoder: each object once more.
  s.sim.store().set_decoder("example.com", "gadgets", counting);
  json(s.call("GET", kGadgets));
  json(s.call("GET", kGadgets));
  CHECK(calls->load() == after_write + 3);
}
