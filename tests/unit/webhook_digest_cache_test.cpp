// The webhook's digest cache on JSON inputs: fed from the key digests InfisicalSecrets publish in
// status.managedKeyDigests, an update replacing what a resource published, a deleted resource taking
// its entries with it, and two resources claiming one Secret answering deterministically.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "webhook/digest_cache.h"

using ifo::webhook::DigestCache;
namespace core = ifo::core;

namespace {

// An InfisicalSecret ns/name publishing `entries` (the JSON of its status.managedKeyDigests items).
std::shared_ptr<core::JsonDoc> publishing(const std::string& ns, const std::string& name,
                                          const std::string& entries) {
  return core::parse_json(R"({"metadata":{"namespace":")" + ns + R"(","name":")" + name +
                          R"("},"status":{"managedKeyDigests":[)" + entries + "]}}")
      .value();
}

std::string entry(const std::string& ns, const std::string& name, char digit,
                  const std::string& kind = "Secret") {
  return R"({"kind":")" + kind + R"(","namespace":")" + ns + R"(","name":")" + name +
         R"(","keyDigests":{"A":")" + std::string(64, digit) + R"("}})";
}

std::string digest_a(const DigestCache& cache, const std::string& ns, const std::string& name) {
  auto d = cache.key_digests(ns, name);
  return d && d->count("A") ? d->at("A").substr(0, 1) : std::string();
}

}  // namespace

TEST_CASE(
    "digest cache: fed from InfisicalSecrets' published digests, syncs on replace, forgets the deleted") {
  DigestCache cache;
  auto now = std::chrono::steady_clock::now();
  CHECK_FALSE(cache.synced());
  CHECK(cache.age_seconds(now) == -1);
  auto app = publishing("apps", "app", entry("apps", "m", 'a') + "," + entry("apps", "n", 'b'));
  // Nothing published (not synced yet, or an upstream resource), a ConfigMap entry, a malformed one.
  auto plain = core::parse_json(R"({"metadata":{"namespace":"apps","name":"plain"},"status":{}})").value();
  auto config_map = publishing("apps", "cm", entry("apps", "cm", 'c', "ConfigMap"));
  auto bad = publishing("apps", "bad",
                        R"({"kind":"Secret","namespace":"apps","name":"bad","keyDigests":{"A":"x"}})");
  cache.replace({app.get(), plain.get(), config_map.get(), bad.get()}, now);
  CHECK(cache.synced());
  CHECK(cache.size() == 2);
  REQUIRE(cache.key_digests("apps", "m") != nullptr);
  CHECK(*cache.key_digests("apps", "m") == std::map<std::string, std::string>{{"A", std::string(64, 'a')}});
  CHECK(digest_a(cache, "apps", "n") == "b");
  CHECK(cache.key_digests("apps", "cm") == nullptr);
  CHECK(cache.key_digests("apps", "bad") == nullptr);
  CHECK(cache.key_digests("other", "m") == nullptr);

  // An update replaces what the resource published: n is no longer its target.
  cache.upsert(*publishing("apps", "app", entry("apps", "m", 'd')), now + std::chrono::seconds(1));
  CHECK(digest_a(cache, "apps", "m") == "d");
  CHECK(cache.key_digests("apps", "n") == nullptr);

  // Deleting the InfisicalSecret takes its entries with it.
  cache.remove("apps", "app", now + std::chrono::seconds(3));
  CHECK(cache.key_digests("apps", "m") == nullptr);
  CHECK(cache.size() == 0);
  CHECK(cache.age_seconds(now + std::chrono::seconds(5)) == doctest::Approx(2.0));
}

TEST_CASE("digest cache: two InfisicalSecrets claiming one Secret answer the same whatever the order") {
  // Claims on Secret web/s from web/z (same namespace), ci/a and ci/b (other namespace, by grant).
  auto same_ns = publishing("web", "z", entry("web", "s", '1'));
  auto ci_a = publishing("ci", "a", entry("web", "s", '2'));
  auto ci_b = publishing("ci", "b", entry("web", "s", '3'));
  auto now = std::chrono::steady_clock::now();
  std::vector<const core::JsonValue*> order = {same_ns.get(), ci_a.get(), ci_b.get()};
  std::sort(order.begin(), order.end());
  do {
    DigestCache cache;
    for (const auto* r : order) cache.upsert(*r, now);
    CHECK(digest_a(cache, "web", "s") == "1");  // the claim from the Secret's own namespace
    cache.remove("web", "z", now);
    CHECK(digest_a(cache, "web", "s") == "2");  // then the least namespace/name
    cache.remove("ci", "a", now);
    CHECK(digest_a(cache, "web", "s") == "3");
    cache.remove("ci", "b", now);
    CHECK(cache.key_digests("web", "s") == nullptr);
  } while (std::next_permutation(order.begin(), order.end()));
}
