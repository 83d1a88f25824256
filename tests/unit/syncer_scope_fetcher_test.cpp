// The scope fetcher: one request per scope per interval (revalidated with its ETag), a failing scope
// backs off on its own and replays its failure without asking, the request budget defers rather than
// fails. A fake clock and a fake SecretSource: nothing sleeps, every request is counted.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "infisical/errors.h"
#include "core/clock.h"
#include "syncer/logging.h"
#include "syncer/scope_fetcher.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace std::chrono_literals;

namespace {

// Answers with `values` under ETag "v<version>", 304 to that ETag, or throws `failure` when set.
class FakeSource final : public SecretSource {
 public:
  SourceResult fetch(const SourceRequest& request) override {
    sent.push_back(request.if_none_match);
    if (failure) throw *failure;
    SourceResult r;
    r.etag = "v" + std::to_string(version);
    r.not_modified = request.if_none_match == r.etag;
    if (!r.not_modified) r.values = values;
    return r;
  }

  std::map<std::string, std::string> values{{"DB_PASSWORD", "one"}};
  int version = 1;
  std::optional<infisical::ApiError> failure;
  std::vector<std::optional<std::string>> sent;  // If-None-Match of each request
};

struct Fixture {
  explicit Fixture(int requests_per_minute = 6000)
      : fetcher(source, clock, requests_per_minute, make_logger("scope-fetcher-test", LogFormat::kText, "off")) {}

  ScopeResult fetch(const std::string& scope = "scope-a", std::chrono::seconds resync = 10s) {
    return fetcher.fetch(SourceRequest{}, scope, resync);
  }

  core::FakeClock clock;
  FakeSource source;
  ScopeFetcher fetcher;
};

ScopeData data(const ScopeResult& r) {
  REQUIRE(std::holds_alternative<ScopeData>(r));
  return std::get<ScopeData>(r);
}

ScopeFailed failed(const ScopeResult& r) {
  REQUIRE(std::holds_alternative<ScopeFailed>(r));
  return std::get<ScopeFailed>(r);
}

std::chrono::milliseconds throttled(const ScopeResult& r) {
  REQUIRE(std::holds_alternative<ScopeThrottled>(r));
  return std::get<ScopeThrottled>(r).wait;
}

}  // namespace

TEST_CASE("a scope is asked once per 80% of the interval, then revalidated with its ETag") {
  Fixture f;
  CHECK(data(f.fetch()).values.at("DB_PASSWORD") == "one");
  CHECK(data(f.fetch("scope-a")).values.at("DB_PASSWORD") == "one");  // a second resource of the scope
  f.clock.step(7900ms);
  CHECK(data(f.fetch()).fetched_at == f.clock.now() - 7900ms);
  CHECK(f.source.sent.size() == 1);

  // 80% of 10 s: asked again with the ETag; the 304 keeps the values and confirms them as of now.
  f.clock.step(100ms);
  f.source.values = {{"DB_PASSWORD", "never sent on a 304"}};
  const ScopeData revalidated = data(f.fetch());
  CHECK(revalidated.values.at("DB_PASSWORD") == "one");
  CHECK(revalidated.fetched_at == f.clock.now());
  REQUIRE(f.source.sent.size() == 2);
  CHECK(f.source.sent[0] == std::nullopt);
  CHECK(f.source.sent[1] == "v1");

  // Changed upstream: the new values replace the old ones.
  f.source.version = 2;
  f.clock.step(8s);
  CHECK(data(f.fetch()).values.at("DB_PASSWORD") == "never sent on a 304");
  CHECK(f.source.sent.size() == 3);
}

TEST_CASE("scopes are kept apart, and forgetting them asks again") {
  Fixture f;
  data(f.fetch("scope-a"));
  data(f.fetch("scope-b"));
  CHECK(f.source.sent.size() == 2);
  f.fetcher.forget();
  data(f.fetch("scope-a"));
  REQUIRE(f.source.sent.size() == 3);
  CHECK(f.source.sent[2] == std::nullopt);  // no data kept, so no ETag
}

TEST_CASE("a failing scope backs off from 500 ms, doubling up to the interval, replaying its failure") {
  Fixture f;
  f.source.failure = infisical::ApiError(infisical::ErrorKind::kServerError, "GET /api/v3/secrets: 503", 503);
  const std::chrono::milliseconds expected[] = {500ms, 1s, 2s, 4s, 8s, 10s, 10s};
  for (auto backoff : expected) {
    CAPTURE(backoff.count());
    const size_t before = f.source.sent.size();
    const ScopeFailed first = failed(f.fetch());
    CHECK(f.source.sent.size() == before + 1);
    CHECK(first.retry_at == f.clock.now() + backoff);
    CHECK(first.failure.reason == "FetchFailed");
    CHECK(first.failure.message == "GET /api/v3/secrets: 503");
    // Every resource reading the scope until then gets the same failure without a request.
    f.clock.step(backoff - 1ms);
    const ScopeFailed replayed = failed(f.fetch());
    CHECK(replayed.retry_at == first.retry_at);
    CHECK(replayed.failure.message == first.failure.message);
    CHECK(f.source.sent.size() == before + 1);
    f.clock.step(1ms);
  }
  // One success resets the backoff.
  f.source.failure.reset();
  data(f.fetch());
  f.source.failure = infisical::ApiError(infisical::ErrorKind::kNetwork, "connection refused");
  f.clock.step(10s);
  CHECK(failed(f.fetch()).retry_at == f.clock.now() + 500ms);
}

TEST_CASE("Retry-After wins over a shorter backoff") {
  Fixture f;
  f.source.failure = infisical::ApiError(infisical::ErrorKind::kRateLimited, "rate limited", 429, "", 30s);
  const ScopeFailed r = failed(f.fetch());
  CHECK(r.retry_at == f.clock.now() + 30s);
  CHECK(r.failure.reason == "RateLimited");
  CHECK(r.failure.retry_after == 30s);
  CHECK_FALSE(r.failure.auth);
}

TEST_CASE("Infisical errors map to Ready reasons") {
  struct Case {
    infisical::ErrorKind kind;
    std::string reason;
    bool auth;
  };
  for (const Case& c : {Case{infisical::ErrorKind::kUnauthorized, "AuthFailed", true},
                        Case{infisical::ErrorKind::kForbidden, "AuthFailed", true},
                        Case{infisical::ErrorKind::kCredentialSource, "AuthFailed", true},
                        Case{infisical::ErrorKind::kInvalidConfig, "AuthFailed", true},
                        Case{infisical::ErrorKind::kHostNotAllowed, "HostNotAllowed", false},
                        Case{infisical::ErrorKind::kRateLimited, "RateLimited", false},
                        Case{infisical::ErrorKind::kNotFound, "FetchFailed", false},
                        Case{infisical::ErrorKind::kTls, "FetchFailed", false}}) {
    CAPTURE(c.reason);
    Fixture f;
    f.source.failure = infisical::ApiError(c.kind, "failed");
    const ScopeFailed r = failed(f.fetch());
    CHECK(r.failure.reason == c.reason);
    CHECK(r.failure.auth == c.auth);
    CHECK_FALSE(r.failure.refused);
  }
}

TEST_CASE("a spent budget defers a scope to its own slot, which every resource of the scope shares") {
  Fixture f(6);  // 0.1 requests per second, a burst of 1
  data(f.fetch("scope-a"));
  CHECK(throttled(f.fetch("scope-b")) == 10001ms);  // the next slot is the scope's
  CHECK(throttled(f.fetch("scope-c")) == 20001ms);  // and the one after is the next scope's
  f.clock.step(4s);
  CHECK(throttled(f.fetch("scope-b")) == 6001ms);  // another resource of scope-b: the same slot, no new one
  CHECK(f.source.sent.size() == 1);

  f.clock.step(6s);
  data(f.fetch("scope-b"));  // its slot has come: used without taking another
  CHECK(f.source.sent.size() == 2);
  CHECK(throttled(f.fetch("scope-c")) == 10001ms);
  data(f.fetch("scope-b"));  // fresh data costs no slot
  CHECK(f.source.sent.size() == 2);
}
