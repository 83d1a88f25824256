// kube::Informer's store against kube-sim: a transform narrows what is kept and what handlers see
// (nullptr: as if the object did not exist; managedFields are gone before it runs), the deflate codec
// reads back exactly what it kept, lists by namespace come in name order, and a relist reports only
// the objects that changed.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kube/client.h"
#include "kube/deflate_codec.h"
#include "kube/informer.h"
#include "kube/meta.h"
#include "kube_sim_client.h"
#include "sim/kube/server.h"
#include "test_helpers.h"

using namespace std::chrono_literals;
namespace kube = ifo::kube;
namespace core = ifo::core;
using ifo::test::eventually;
using ifo::test::parse_doc;

namespace {

struct Sim : ifo::test::KubeSimClient {
  Sim() : KubeSimClient(bookmarks_every(200ms)) {}
  void create(const std::string& ns, const std::string& metadata_json, const std::string& data_json = "{}") {
    auto d = parse_doc(fmt::format(R"({{"apiVersion":"v1","kind":"ConfigMap","metadata":{},"data":{}}})",
                                   metadata_json, data_json));
    client->create(kube::kConfigMaps, ns, *d);
  }
  void patch(const std::string& ns, const std::string& name, const std::string& merge_patch) {
    client->patch(kube::kConfigMaps, ns, name, kube::PatchType::kMerge, merge_patch);
  }
};

// Handler calls as "add NAME", "update NAME", "delete NAME", with the object each one saw.
struct Calls {
  std::mutex mu;
  std::vector<std::string> calls;
  std::vector<kube::ConstObjectPtr> objects;
  void push(const std::string& what, const kube::ConstObjectPtr& o) {
    std::lock_guard lock(mu);
    calls.push_back(what + " " + kube::meta_name(*o));
    objects.push_back(o);
  }
  kube::EventHandlers handlers() {
    return {[this](const kube::ConstObjectPtr& o) { push("add", o); },
            [this](const kube::ConstObjectPtr&, const kube::ConstObjectPtr& o) { push("update", o); },
            [this](const kube::ConstObjectPtr& o) { push("delete", o); }};
  }
  // The object the call `what` saw (nullptr when there was no such call).
  kube::ConstObjectPtr saw(const std::string& what) {
    std::lock_guard lock(mu);
    for (size_t i = 0; i < calls.size(); ++i)
      if (calls[i] == what) return objects[i];
    return nullptr;
  }
  size_t count(const std::string& prefix) {
    std::lock_guard lock(mu);
    return static_cast<size_t>(
        std::count_if(calls.begin(), calls.end(), [&](const std::string& c) { return c.starts_with(prefix); }));
  }
};

std::vector<std::string> names(const std::vector<kube::ConstObjectPtr>& objects) {
  std::vector<std::string> out;
  for (const auto& o : objects) out.push_back(kube::meta_name(*o));
  return out;
}

bool has_member(const kube::ConstObjectPtr& o, std::initializer_list<std::string_view> path) {
  return o != nullptr && core::at_path(*o, path) != nullptr;
}

constexpr const char* kManagedFields =
    R"("managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}}])";

}  // namespace

TEST_CASE("informer: a transform narrows what is kept and seen; nullptr keeps nothing; managedFields go first") {
  Sim s;
  s.create("default", fmt::format(R"({{"name":"kept","labels":{{"keep":"yes"}},{}}})", kManagedFields),
           R"({"big":"xxxxxxxx"})");
  s.create("default", R"({"name":"skipped"})", R"({"big":"yyyyyyyy"})");
  REQUIRE(has_member(s.client->get(kube::kConfigMaps, "default", "kept"), {"metadata", "managedFields"}));

  std::atomic<int> saw_managed_fields{0};
  kube::InformerOptions o;
  o.namespace_ = "default";
  kube::Informer inf(*s.client, kube::kConfigMaps, o);
  // Keeps labelled ConfigMaps only, without their data: edited in place.
  inf.set_transform([&](kube::ObjectPtr obj) -> kube::ConstObjectPtr {
    if (core::at_path(*obj, {"metadata", "managedFields"}) != nullptr) ++saw_managed_fields;
    const core::JsonValue* keep = core::at_path(*obj, {"metadata", "labels", "keep"});
    if (keep == nullptr || !keep->IsString() || std::string_view(keep->GetString()) != "yes") return nullptr;
    core::remove_member(*obj, "data");
    return obj;
  });
  Calls calls;
  inf.add_handlers(calls.handlers());
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  CHECK(inf.store().keys() == std::vector<std::string>{"default/kept"});
  CHECK_FALSE(has_member(inf.store().get("default/kept"), {"data"}));
  CHECK_FALSE(has_member(inf.store().get("default/kept"), {"metadata", "managedFields"}));
  CHECK(calls.count("add") == 1);
  CHECK_FALSE(has_member(calls.saw("add kept"), {"data"}));

  // An object the transform starts keeping is an add; one it stops keeping is a deletion of what the
  // store held; deleting an object it never kept is nothing.
  s.patch("default", "skipped", R"({"metadata":{"labels":{"keep":"yes"}}})");
  CHECK(eventually([&] { return calls.saw("add skipped") != nullptr; }));
  CHECK_FALSE(has_member(calls.saw("add skipped"), {"data"}));
  s.patch("default", "kept", R"({"metadata":{"labels":{"keep":null}}})");
  CHECK(eventually([&] { return calls.saw("delete kept") != nullptr; }));
  CHECK(has_member(calls.saw("delete kept"), {"metadata", "labels", "keep"}));  // the last state kept
  CHECK(inf.store().get("default/kept") == nullptr);
  s.client->remove(kube::kConfigMaps, "default", "kept");
  s.client->remove(kube::kConfigMaps, "default", "skipped");
  CHECK(eventually([&] { return calls.saw("delete skipped") != nullptr; }));
  CHECK(inf.store().size() == 0);
  CHECK(calls.count("delete kept") == 1);
  CHECK(saw_managed_fields == 0);
}

TEST_CASE("informer: the deflate codec reads back what it kept; lists by namespace in name order; relists report changes only") {
  Sim s;
  for (const char* ns : {"team", "ops"})
    s.client->create(kube::kNamespaces, "",
                     *parse_doc(fmt::format(R"({{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{}"}}}})", ns)));
  for (const char* name : {"c", "a", "b"}) s.create("team", fmt::format(R"({{"name":"{}"}})", name), R"({"v":"1"})");
  s.create("ops", R"({"name":"z"})", R"({"v":"1"})");
  // Larger than the codec's 4 KiB dictionary, and with text that needs escaping.
  s.create("ops", R"({"name":"big"})", fmt::format(R"({{"v":"{}","u":"caf\u00e9 \"quoted\"\n"}})", std::string(6000, 'x')));

  kube::InformerOptions o;
  o.backoff_initial = 10ms;  // the relist below follows a 410 at once, which backs off
  o.backoff_max = 100ms;
  kube::Informer inf(*s.client, kube::kConfigMaps, o);
  inf.set_codec(std::make_unique<kube::DeflateCodec>());
  Calls calls;
  inf.add_handlers(calls.handlers());
  inf.start();
  REQUIRE(inf.wait_for_sync(10s));
  CHECK(names(inf.store().list("team")) == std::vector<std::string>{"a", "b", "c"});
  CHECK(names(inf.store().list("ops")) == std::vector<std::string>{"big", "z"});
  for (const auto& [ns, name] : {std::pair("team", "a"), std::pair("ops", "big")}) {
    auto kept = inf.store().get(fmt::format("{}/{}", ns, name));
    REQUIRE(kept != nullptr);
    CHECK(core::to_json(*kept) == core::to_json(*s.client->get(kube::kConfigMaps, ns, name)));
  }

  // A watched update is read back from its new deflated form.
  s.patch("team", "b", R"({"data":{"v":"2"}})");
  CHECK(eventually([&] { return calls.count("update b") == 1; }));
  CHECK(core::at_path(*inf.store().get("team/b"), {"data", "v"})->GetString() == std::string("2"));

  // While the informer is disconnected and its version expires, one object changes: the relist
  // reports that update only, not the unchanged objects.
  const size_t updates_before = calls.count("update");
  const auto lists_before = inf.lists();
  REQUIRE(eventually([&] { return !inf.resource_version().empty(); }));
  s.admin("/sim/watches/expire-next");
  s.admin("/sim/watches/close");
  s.patch("team", "c", R"({"data":{"v":"3"}})");
  CHECK(eventually([&] { return inf.lists() > lists_before; }));
  CHECK(eventually([&] { return calls.count("update c") == 1; }));
  CHECK(calls.count("update") == updates_before + 1);
  CHECK(core::at_path(*inf.store().get("team/c"), {"data", "v"})->GetString() == std::string("3"));
}
