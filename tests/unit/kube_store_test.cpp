// The informer's store and its codecs without a server: the deflate codec reads back exactly what it
// kept (large objects, escapes, after its dictionary changed, from many threads at once); the store
// lists a namespace in name order and a replace names what was added, kept and deleted.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "kube/deflate_codec.h"
#include "kube/meta.h"
#include "kube/object_store.h"
#include "test_helpers.h"

namespace kube = ifo::kube;
namespace core = ifo::core;
using ifo::test::parse_doc;

namespace {

kube::ConstObjectPtr configmap(const std::string& ns, const std::string& name, const std::string& rv,
                               const std::string& value) {
  std::string text = fmt::format(
      R"({{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{}","namespace":"{}","resourceVersion":"{}"}},"data":{{"v":{}}}}})",
      name, ns, rv, value);
  return parse_doc(text);
}

std::string json_of(const kube::ConstObjectPtr& o) { return o ? core::to_json(*o) : "<null>"; }

std::vector<std::string> names(const std::vector<kube::ConstObjectPtr>& objects) {
  std::vector<std::string> out;
  for (const auto& o : objects) out.push_back(kube::meta_name(*o));
  return out;
}

}  // namespace

TEST_CASE("deflate codec: every object reads back exactly, before and after the dictionary changes") {
  kube::DeflateCodec codec;
  // The first object is larger than any dictionary (4 KiB): there is none yet when it is kept.
  std::vector<kube::ConstObjectPtr> objects = {
      configmap("ns", "huge", "1", "\"" + std::string(10000, 'h') + "\""),
      configmap("ns", "small", "2", R"("caf\u00e9 \"quoted\" \n tab\t")"),
      configmap("ns", "larger", "3", "\"" + std::string(900, 'l') + "\""),  // becomes the dictionary
      configmap("ns", "empty", "4", "{}"),
      parse_doc("{}"),
  };
  std::vector<kube::StoredPtr> kept;
  for (const auto& o : objects) kept.push_back(codec.encode(o));
  for (size_t i = 0; i < objects.size(); ++i) CHECK(json_of(kept[i]->object()) == json_of(objects[i]));
  // Each read is a fresh object of its own.
  CHECK(kept[1]->object() != kept[1]->object());
}

TEST_CASE("deflate codec: one kept object read from many threads at once") {
  kube::DeflateCodec codec;
  codec.encode(configmap("ns", "first", "1", R"("a")"));
  const auto obj = configmap("ns", "shared", "2", "\"" + std::string(3000, 's') + "\"");
  const kube::StoredPtr kept = codec.encode(obj);
  const std::string want = json_of(obj);
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> readers;
  for (size_t t = 0; t < wrong.size(); ++t)
    readers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        if (json_of(kept->object()) != want) ++wrong[t];
    });
  for (auto& r : readers) r.join();
  CHECK(wrong == std::vector<int>(4, 0));
}

TEST_CASE("parsed codec: the store hands out the object it was given") {
  kube::ParsedCodec codec;
  const auto obj = configmap("ns", "a", "1", R"("v")");
  CHECK(codec.encode(obj)->object() == obj);
}

TEST_CASE("store: get, list of one namespace in name order, upsert and erase return what was there") {
  kube::Store store(std::make_unique<kube::DeflateCodec>());
  auto put = [&](const std::string& ns, const std::string& name) {
    return store.upsert(ns + "/" + name, store.encode(configmap(ns, name, "1", R"("v")")));
  };
  for (const char* name : {"c", "a", "b"}) CHECK(put("team", name) == nullptr);
  put("team-b", "a");  // a namespace whose name starts with the other's
  put("ops", "z");
  CHECK(names(store.list("team")) == std::vector<std::string>{"a", "b", "c"});
  CHECK(names(store.list("team-b")) == std::vector<std::string>{"a"});
  CHECK(names(store.list()) == std::vector<std::string>{"z", "a", "a", "b", "c"});  // key order: "team-b/" < "team/"
  CHECK(store.size() == 5);
  CHECK(kube::meta_namespace(*store.get("ops/z")) == "ops");
  CHECK(store.get("ops/nothing") == nullptr);
  CHECK(put("team", "a") != nullptr);
  CHECK(kube::meta_name(*store.erase("team/a")->object()) == "a");
  CHECK(store.erase("team/a") == nullptr);
  CHECK(store.keys() == std::vector<std::string>{"ops/z", "team-b/a", "team/b", "team/c"});
}

TEST_CASE("store: the resourceVersion of a kept object is read without decoding it, and follows each write") {
  kube::Store store(std::make_unique<kube::DeflateCodec>());
  CHECK(store.resource_version("team/a").empty());
  store.upsert("team/a", store.encode(configmap("team", "a", "41", R"("v")")));
  CHECK(store.resource_version("team/a") == "41");
  store.upsert("team/a", store.encode(configmap("team", "a", "42", R"("w")")));
  CHECK(store.resource_version("team/a") == "42");
  std::map<std::string, kube::Store::Kept> relisted;
  relisted["team/a"] = store.encode(configmap("team", "a", "57", R"("x")"));
  store.replace(std::move(relisted));
  CHECK(store.resource_version("team/a") == "57");
  store.erase("team/a");
  CHECK(store.resource_version("team/a").empty());
}

TEST_CASE("store: replace swaps the content and names every key: added, in both, deleted") {
  kube::Store store;
  auto items = [&](std::vector<std::string> names) {
    std::map<std::string, kube::Store::Kept> out;
    for (const auto& name : names) out["ns/" + name] = store.encode(configmap("ns", name, "1", R"("v")"));
    return out;
  };
  CHECK(store.replace(items({"a", "b", "c"})).size() == 3);
  std::vector<std::string> seen;
  for (const auto& c : store.replace(items({"b", "d"}))) {
    if (!c.old_kept) seen.push_back("add " + kube::meta_name(*c.new_kept->object()));
    else if (!c.new_kept) seen.push_back("delete " + kube::meta_name(*c.old_kept->object()));
    else seen.push_back("both " + kube::meta_name(*c.new_kept->object()));
  }
  CHECK(seen == std::vector<std::string>{"both b", "add d", "delete a", "delete c"});
  CHECK(store.keys() == std::vector<std::string>{"ns/b", "ns/d"});
}
