// The webhook's digest feed (DigestFeed: a kube::Informer of managed Secrets feeding the DigestCache)
// against kube-sim: a forbidden list is retried with growing delays and then syncs; changes and
// deletions reach the cache; bookmarks keep it fresh; no Secret value is kept.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "kube/client.h"
#include "core/clock.h"
#include "kube_sim_client.h"
#include "sim/kube/server.h"
#include "test_helpers.h"
#include "webhook/digest_cache.h"
#include "webhook/kube_sources.h"

using namespace std::chrono_literals;
namespace core = ifo::core;
namespace kube = ifo::kube;
using ifo::test::eventually;
using ifo::webhook::DigestCache;
using ifo::webhook::DigestFeed;

namespace {

const std::string kDigestA(64, 'a');
const std::string kDigestB(64, 'b');
// base64 of the value kept in the Secrets' data: it must never reach the feed's store.
const std::string kValue = "c2VjcmV0LXZhbHVl";

struct Sim : ifo::test::KubeSimClient {
  Sim() : KubeSimClient(bookmarks_every(100ms)) {}

  // A Secret managed by the operator, with a digest for key A and a value.
  void put_secret(const std::string& name, const std::string& digest) {
    auto doc =
        ifo::test::parse_doc(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + name +
                             R"(","labels":{"app.kubernetes.io/managed-by":"infisical-secrets-operator"},
      "annotations":{"secrets.infisical.com/key-digests":"{\"A\":\")" +
                             digest + R"(\"}"}},"data":{"A":")" + kValue + R"("}})");
    try {
      client->create(kube::kSecrets, "default", *doc);
    } catch (const kube::ApiError& e) {
      REQUIRE(e.is_already_exists());
      client->patch(kube::kSecrets, "default", name, kube::PatchType::kMerge,
                    R"({"metadata":{"annotations":{"secrets.infisical.com/key-digests":"{\"A\":\")" + digest +
                        R"(\"}"}}})");
    }
  }

  // How many times kube-sim was asked to list Secrets since the counters were reset.
  uint64_t secret_lists() {
    auto counters = client->request("GET", "/sim/counters");
    return static_cast<uint64_t>(
        core::get_int(*core::member(*counters, "counters"), "list secrets").value_or(0));
  }
};

std::string digest_of(const DigestFeed& feed, const std::string& name) {
  auto d = feed.key_digests("default", name);
  return d && d->count("A") ? d->at("A") : std::string();
}

}  // namespace

TEST_CASE("digest feed: a 403 on listing Secrets is retried with growing delays, then the cache syncs") {
  Sim s;
  s.put_secret("app", kDigestA);
  s.client->request("POST", "/sim/faults",
                    R"({"errors":[{"verb":"list","resource":"secrets","code":403,"count":-1}]})");
  s.client->request("DELETE", "/sim/counters");

  // The informer waits on a fake clock: each retry happens only when the test moves time to it, so
  // the delays are read exactly and no request can slip in between.
  core::FakeClock clock;
  kube::InformerOptions tuning;
  tuning.clock = &clock;
  tuning.backoff_initial = 1s;
  tuning.backoff_max = 8s;
  tuning.jitter_seed = 42;
  DigestCache cache;
  DigestFeed feed(*s.client, cache, tuning);
  feed.start();

  std::vector<core::Clock::duration> delays;
  for (uint64_t attempt = 1; attempt <= 6; ++attempt) {
    // The attempt failed and the informer is waiting: kube-sim saw exactly one list per attempt.
    REQUIRE(
        eventually([&] { return feed.informer().retry_at().has_value() && s.secret_lists() == attempt; }));
    CHECK_FALSE(feed.synced());
    const auto retry_at = *feed.informer().retry_at();
    delays.push_back(retry_at - clock.now());
    clock.step(retry_at - clock.now());
    REQUIRE(eventually([&] {
      auto next = feed.informer().retry_at();
      return next.has_value() && *next > retry_at;
    }));
  }
  // initial * 2^n capped at max, plus up to 100% jitter: 1-2 s, 2-4 s, 4-8 s, then 8-16 s.
  for (size_t n = 0; n < delays.size(); ++n) {
    const auto base = std::min<core::Clock::duration>(1s * (int64_t{1} << n), 8s);
    CHECK(delays[n] >= base);
    CHECK(delays[n] < 2 * base);
  }
  // Over all that (fake) time, kube-sim saw one list per attempt: 7 after about a minute of refusals.
  CHECK(s.secret_lists() == 7);

  // RBAC fixed: the next attempt lists, and the cache syncs with the Secret's digests.
  s.client->request("DELETE", "/sim/faults");
  clock.step(*feed.informer().retry_at() - clock.now());
  REQUIRE(eventually([&] { return feed.synced(); }));
  CHECK(digest_of(feed, "app") == kDigestA);
  CHECK(s.secret_lists() == 8);
  feed.stop();
}

TEST_CASE(
    "digest feed: changes and deletions reach the cache, bookmarks keep it fresh, values are never kept") {
  Sim s;
  s.put_secret("app", kDigestA);
  // Not managed: not watched at all.
  s.client->create(kube::kSecrets, "default",
                   *ifo::test::parse_doc(
                       R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"other",
      "annotations":{"secrets.infisical.com/key-digests":"{\"A\":\")" +
                       kDigestA + R"(\"}"}}})"));
  DigestCache cache;
  DigestFeed feed(*s.client, cache);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(feed.age_seconds(t0) == -1);
  feed.start();
  REQUIRE(eventually([&] { return feed.synced(); }));
  CHECK(digest_of(feed, "app") == kDigestA);
  CHECK(digest_of(feed, "other").empty());

  s.put_secret("app", kDigestB);
  s.put_secret("second", kDigestA);
  CHECK(eventually(
      [&] { return digest_of(feed, "app") == kDigestB && digest_of(feed, "second") == kDigestA; }));
  s.client->remove(kube::kSecrets, "default", "second");
  CHECK(eventually([&] { return feed.key_digests("default", "second") == nullptr; }));

  // The store holds names and digests only.
  auto kept = feed.informer().store().list();
  REQUIRE(kept.size() == 1);
  CHECK(core::member(*kept[0], "data") == nullptr);
  CHECK(core::to_json(*kept[0]).find(kValue) == std::string::npos);

  // Freshness: an idle watch ages; a bookmark that moves the resourceVersion (anything written in the
  // cluster moves it) makes the cache fresh again, though no managed Secret changed.
  CHECK(feed.age_seconds(t0) == doctest::Approx(0.0));
  CHECK(feed.age_seconds(t0 + 30s) == doctest::Approx(30.0));
  const std::string rv = feed.informer().resource_version();
  s.client->create(
      kube::kConfigMaps, "default",
      *ifo::test::parse_doc(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"unrelated"}})"));
  REQUIRE(eventually([&] { return feed.informer().resource_version() != rv; }));
  CHECK(feed.age_seconds(t0 + 31s) == doctest::Approx(0.0));
  feed.stop();
}
