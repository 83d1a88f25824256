// The webhook's digest cache on JSON inputs: fed from the key digests InfisicalSecrets publish in
// status.managedKeyDigests, an update replacing what a resource published, a deleted resource taking
// its entries with it, two resources claiming one Secret answering deterministically, and a claim on
// a Secret of another namespace counting only while that namespace grants it.
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

// An InfisicalReferenceGrant ns/name letting InfisicalSecrets of `from` refer to Secret `secret` (any
// Secret when empty).
std::shared_ptr<core::JsonDoc> grant(const std::string& ns, const std::string& name, const std::string& from,
                                     const std::string& secret = "") {
  const std::string to = secret.empty() ? R"({"kind":"Secret"})" : R"({"kind":"Secret","name":")" + secret + R"("})";
  return core::parse_json(R"({"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalReferenceGrant",)"
                          R"("metadata":{"namespace":")" + ns + R"(","name":")" + name + R"("},)"
                          R"("spec":{"from":[{"namespace":")" + from + R"("}],"to":[)" + to + "]}}")
      .value();
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
  auto ci_grant = grant("web", "from-ci", "ci");
  auto now = std::chrono::steady_clock::now();
  std::vector<const core::JsonValue*> order = {same_ns.get(), ci_a.get(), ci_b.get(), ci_grant.get()};
  std::sort(order.begin(), order.end());
  do {
    DigestCache cache;
    for (const auto* r : order) {
      if (r == ci_grant.get()) cache.upsert_grant(*r);
      else cache.upsert(*r, now);
    }
    CHECK(digest_a(cache, "web", "s") == "1");  // the claim from the Secret's own namespace
    cache.remove("web", "z", now);
    CHECK(digest_a(cache, "web", "s") == "2");  // then the least namespace/name
    cache.remove("ci", "a", now);
    CHECK(digest_a(cache, "web", "s") == "3");
    cache.remove("ci", "b", now);
    CHECK(cache.key_digests("web", "s") == nullptr);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST_CASE("digest cache: a claim on another namespace's Secret counts only while that namespace grants it") {
  // Tenant team-a publishes digests for team-b's Secret app-secrets (it may write its own status).
  auto now = std::chrono::steady_clock::now();
  auto foreign = publishing("team-a", "app", entry("team-b", "app-secrets", 'f'));
  auto own = publishing("team-b", "app", entry("team-b", "app-secrets", 'e'));

  SUBCASE("no grant: the claim does not count; the Secret's own namespace is unaffected") {
    DigestCache cache;
    cache.replace({foreign.get()}, now);
    CHECK(cache.key_digests("team-b", "app-secrets") == nullptr);
    cache.upsert(*own, now);
    CHECK(digest_a(cache, "team-b", "app-secrets") == "e");
    cache.remove("team-b", "app", now);
    CHECK(cache.key_digests("team-b", "app-secrets") == nullptr);
  }
  SUBCASE("a grant made after the claim admits it; revoked, the claim stops counting") {
    DigestCache cache;
    cache.replace({foreign.get()}, now);
    cache.upsert_grant(*grant("team-b", "from-a", "team-a"));
    CHECK(digest_a(cache, "team-b", "app-secrets") == "f");
    cache.remove_grant("team-b", "from-a");
    CHECK(cache.key_digests("team-b", "app-secrets") == nullptr);
  }
  SUBCASE("a grant updated to name another Secret, or to another namespace, no longer admits it") {
    DigestCache cache;
    cache.upsert_grant(*grant("team-b", "from-a", "team-a", "app-secrets"));
    cache.upsert(*foreign, now);
    CHECK(digest_a(cache, "team-b", "app-secrets") == "f");
    cache.upsert_grant(*grant("team-b", "from-a", "team-a", "other-secret"));
    CHECK(cache.key_digests("team-b", "app-secrets") == nullptr);
    cache.upsert_grant(*grant("team-b", "from-a", "team-c"));
    CHECK(cache.key_digests("team-b", "app-secrets") == nullptr);
    // An update that no longer parses grants nothing either (it replaces the valid one).
    cache.upsert_grant(*grant("team-b", "from-a", "team-a"));
    CHECK(digest_a(cache, "team-b", "app-secrets") == "f");
    cache.upsert_grant(*core::parse_json(
                            R"({"metadata":{"namespace":"team-b","name":"from-a"},"spec":{"from":[],"to":[{"kind":"Secret"}]}})")
                            .value());
    CHECK(cache.key_digests("team-b", "app-secrets") == nullptr);
  }
  SUBCASE("grants in the wrong place admit nothing: the claimant's own namespace, a ConfigMap grant") {
    DigestCache cache;
    cache.upsert(*foreign, now);
    cache.upsert_grant(*grant("team-a", "self-grant", "team-a"));
    CHECK(cache.key_digests("team-b", "app-secrets") == nullptr);
    cache.upsert_grant(*core::parse_json(
                            R"({"metadata":{"namespace":"team-b","name":"cm"},"spec":{"from":[{"namespace":"team-a"}],)"
                            R"("to":[{"kind":"ConfigMap"}]}})")
                            .value());
    CHECK(cache.key_digests("team-b", "app-secrets") == nullptr);
  }
  SUBCASE("a name-scoped grant admits the named Secret only") {
    DigestCache cache;
    cache.upsert(*publishing("team-a", "app", entry("team-b", "app-secrets", 'f') + "," + entry("team-b", "db", 'd')),
                 now);
    cache.upsert_grant(*grant("team-b", "from-a", "team-a", "app-secrets"));
    CHECK(digest_a(cache, "team-b", "app-secrets") == "f");
    CHECK(cache.key_digests("team-b", "db") == nullptr);
  }
  SUBCASE("an ungranted foreign claim never hides a granted one behind it") {
    // team-a sorts before team-c: the ungranted team-a claim must be passed over, not answer nullptr.
    DigestCache cache;
    cache.upsert(*foreign, now);
    cache.upsert(*publishing("team-c", "app", entry("team-b", "app-secrets", 'c')), now);
    cache.upsert_grant(*grant("team-b", "from-c", "team-c"));
    CHECK(digest_a(cache, "team-b", "app-secrets") == "c");
  }
  SUBCASE("upstream-compatible mode: claims across namespaces need no grant") {
    ifo::core::TrustPolicy upstream;
    upstream.cross_namespace_without_grant = true;
    DigestCache cache(upstream);
    CHECK_FALSE(cache.grants_matter());
    cache.upsert(*foreign, now);
    CHECK(digest_a(cache, "team-b", "app-secrets") == "f");
  }
}
