// The scope fetcher: one request per scope per interval (revalidated with its ETag), a failing scope
// backs off on its own and replays its failure without asking, the request budget defers rather than
// fails. A fake clock and a fake SecretSource: nothing sleeps, every request is counted.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "infisical/errors.h"
#include "syncer/logging.h"
#include "syncer/scope_fetcher.h"
#include "test_helpers.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace std::chrono_literals;

namespace {

// Infisical's limiter as the self-hosted server runs it (@fastify/rate-limit): one route, a fixed
// one-minute window from the first request after the last one expired, every request counted, the
// 41st refused with a 500 that carries the headers. `headers` off: a server that advertises nothing.
struct FixedWindowLimiter {
  int64_t limit = 40;
  bool headers = true;
  std::string endpoint = "GET /v3/secrets/raw";
  bool open = false;
  core::Clock::time_point start{};
  int64_t count = 0;
  int refused = 0;

  // The headers of the next answer; throws the refusal.
  std::optional<infisical::RateLimitAdvice> admit(core::Clock::time_point now) {
    if (!open || now - start >= 60s) {
      open = true;
      start = now;
      count = 0;
    }
    ++count;
    infisical::RateLimitAdvice a;
    a.endpoint = endpoint;
    a.limit = limit;
    a.remaining = std::max<int64_t>(0, limit - count);
    a.reset = std::chrono::ceil<std::chrono::seconds>(start + 60s - now);
    if (count <= limit) return headers ? std::optional(a) : std::nullopt;
    ++refused;
    a.retry_after = a.reset;
    if (!headers)
      throw infisical::ApiError(infisical::ErrorKind::kServerError,
                                "secrets fetch: Something went wrong (HTTP 500)", 500, "Something went wrong",
                                std::nullopt, true);
    throw infisical::ApiError(infisical::ErrorKind::kRateLimited, "secrets fetch: rate limited (HTTP 500)",
                              500, "Something went wrong", a.retry_after, true, a);
  }
};

// Answers with `values` under ETag "v<version>", 304 to that ETag, or throws `failure` when set; with a
// limiter, as that limiter says.
class FakeSource final : public SecretSource {
 public:
  SourceResult fetch(const SourceRequest& request) override {
    sent.push_back(request.if_none_match);
    if (clock) sent_at.push_back(clock->now());
    if (failure) throw *failure;
    std::optional<infisical::RateLimitAdvice> advice;
    if (limiter) advice = limiter->admit(clock->now());
    SourceResult r;
    r.rate_limit = advice;
    r.etag = "v" + std::to_string(version);
    r.not_modified = request.if_none_match == r.etag;
    if (!r.not_modified) r.values = values;
    return r;
  }

  std::map<std::string, std::string> values{{"DB_PASSWORD", "one"}};
  int version = 1;
  std::optional<infisical::ApiError> failure;
  std::vector<std::optional<std::string>> sent;  // If-None-Match of each request
  std::vector<core::Clock::time_point> sent_at;   // when each was sent
  std::optional<FixedWindowLimiter> limiter;
  const core::Clock* clock = nullptr;
};

struct Fixture {
  explicit Fixture(int requests_per_minute = 6000)
      : fetcher(source, clock, requests_per_minute,
                make_logger("scope-fetcher-test", LogFormat::kText, "off")) {
    source.clock = &clock;
  }

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

TEST_CASE("a rate-limited refresh of data the scope holds is deferred, not a failure, for up to two intervals") {
  Fixture f;
  data(f.fetch("scope-a", 60s));
  f.clock.step(48s);  // 80% of the interval: a refresh is due
  f.source.failure = infisical::ApiError(infisical::ErrorKind::kRateLimited, "rate limited", 500, "", 30s);
  CHECK(throttled(f.fetch("scope-a", 60s)) == 30001ms);  // back at the server's retry-after
  CHECK(f.source.sent.size() == 2);
  f.clock.step(10s);
  CHECK(throttled(f.fetch("scope-a", 60s)) == 20001ms);  // every resource of the scope: no request
  CHECK(f.source.sent.size() == 2);
  f.clock.step(20s);
  CHECK(throttled(f.fetch("scope-a", 60s)) == 30001ms);  // refused again, data 78 s old
  CHECK(f.source.sent.size() == 3);
  // Two intervals without an answer: the data is stale and the resources say so.
  f.clock.step(42s);
  const ScopeFailed stale = failed(f.fetch("scope-a", 60s));
  CHECK(stale.failure.reason == "RateLimited");
  CHECK(f.source.sent.size() == 4);
  // Other failures of a refresh still fail at once.
  Fixture g;
  data(g.fetch("scope-a", 60s));
  g.clock.step(48s);
  g.source.failure = infisical::ApiError(infisical::ErrorKind::kUnauthorized, "login: 401", 401);
  CHECK(failed(g.fetch("scope-a", 60s)).failure.reason == "AuthFailed");
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
  Fixture f(1);  // one request in any minute
  data(f.fetch("scope-a"));
  CHECK(throttled(f.fetch("scope-b")) == 60001ms);   // the next slot is the scope's
  CHECK(throttled(f.fetch("scope-c")) == 120001ms);  // and the one after is the next scope's
  f.clock.step(40s);
  CHECK(throttled(f.fetch("scope-b")) == 20001ms);  // another resource of scope-b: the same slot, no new one
  CHECK(f.source.sent.size() == 1);

  f.clock.step(20s);
  data(f.fetch("scope-b"));  // its slot has come: used without taking another
  CHECK(f.source.sent.size() == 2);
  CHECK(throttled(f.fetch("scope-c")) == 60001ms);
  data(f.fetch("scope-b"));  // fresh data costs no slot
  CHECK(f.source.sent.size() == 2);
}

namespace {

// Resources that each need their own scope every `resync`, driven for `duration` of fake time in
// steps of 100 ms the way the reconciler drives them: data means come back at the next resync,
// throttled after the wait, a failure at its retry time.
struct Run {
  int data = 0;
  int throttled = 0;
  int failed = 0;
};
Run drive(Fixture& f, int scopes, std::chrono::seconds resync, std::chrono::seconds duration) {
  Run run;
  std::vector<core::Clock::time_point> due(static_cast<size_t>(scopes), f.clock.now());
  const auto end = f.clock.now() + duration;
  while (f.clock.now() < end) {
    for (int i = 0; i < scopes; ++i) {
      auto& when = due[static_cast<size_t>(i)];
      if (f.clock.now() < when) continue;
      ScopeResult r = f.fetch("scope-" + std::to_string(i), resync);
      if (std::holds_alternative<ScopeData>(r)) {
        ++run.data;
        when = f.clock.now() + resync;
      } else if (auto* t = std::get_if<ScopeThrottled>(&r)) {
        ++run.throttled;
        when = f.clock.now() + t->wait;
      } else {
        ++run.failed;
        when = std::get<ScopeFailed>(r).retry_at;
      }
    }
    f.clock.step(100ms);
  }
  return run;
}

}  // namespace

TEST_CASE("the route's advertised limit paces six scopes at 5 s: no refusal, the window used") {
  // The case: six scopes at resyncInterval 5 ask about 80 times a minute of a route that
  // allows 40. Without the server's headers (the old behaviour: the configured 240/min is the
  // pacing) the limiter refuses; with them, never, and the whole window is still used.
  SUBCASE("without headers the configured budget alone draws refusals") {
    Fixture f(240);
    f.source.limiter = FixedWindowLimiter{};
    f.source.limiter->headers = false;
    drive(f, 6, 5s, 300s);
    CHECK(f.source.limiter->refused > 10);
  }
  SUBCASE("with them, none") {
    Fixture f(240);
    f.source.limiter = FixedWindowLimiter{};
    const Run run = drive(f, 6, 5s, 300s);
    CHECK(f.source.limiter->refused == 0);
    CHECK(run.failed == 0);
    CHECK(run.throttled > 0);
    // Five windows of 40: at least 90% of what the server allows is asked for.
    CHECK(f.source.sent.size() >= 180);
    CHECK(f.source.sent.size() <= 200);
  }
}

TEST_CASE("the configured budget bounds every minute, and a start with many scopes spends it at once") {
  // 20 scopes asked every 5 s want 240 requests a minute; the budget allows 60.
  Fixture f(60);
  f.source.limiter = FixedWindowLimiter{};
  f.source.limiter->limit = 600;  // the server allows more: the configured budget is the bound
  drive(f, 20, 5s, 180s);
  CHECK(f.source.limiter->refused == 0);
  CHECK(test::busiest_window(f.source.sent_at, 60s) == 60);
  // Three minutes hold three budgets, no request of them wasted.
  CHECK(f.source.sent.size() == 180);
  // The first 20 scopes were all fetched at once: nothing holds a syncer's start back but the budget.
  REQUIRE(f.source.sent_at.size() >= 20);
  CHECK(f.source.sent_at[19] == f.source.sent_at[0]);
}

TEST_CASE("a window spent by someone else: one refusal, then every scope of the route waits for the turn") {
  Fixture f;
  f.source.limiter = FixedWindowLimiter{};
  // Another client behind the same address (or this syncer before its restart) spent the window
  // 20 s ago.
  f.source.limiter->admit(f.clock.now());
  f.source.limiter->count = 40;
  f.clock.step(20s);

  const ScopeFailed first = failed(f.fetch("scope-a"));
  CHECK(first.failure.reason == "RateLimited");
  CHECK(first.retry_at == f.clock.now() + 40s);
  CHECK(f.source.limiter->refused == 1);
  // Another scope of the route does not ask: it is told to come back when the window turns.
  CHECK(throttled(f.fetch("scope-b")) == 40001ms);
  CHECK(f.source.sent.size() == 1);

  f.clock.step(40s);
  data(f.fetch("scope-b"));
  CHECK(f.source.limiter->refused == 1);
  CHECK(f.source.limiter->count == 1);  // a new window
}

TEST_CASE("headers about another route do not pace this one") {
  Fixture f;
  infisical::RateLimitAdvice login;
  login.endpoint = "POST /v1/auth/universal-auth/login";
  login.limit = 1;
  login.remaining = 0;
  login.reset = 60s;
  login.retry_after = 60s;
  f.source.failure = infisical::ApiError(infisical::ErrorKind::kRateLimited, "login: rate limited", 500, "",
                                         60s, false, login);
  failed(f.fetch("scope-a"));
  f.source.failure.reset();
  data(f.fetch("scope-b"));  // the secrets route was never refused: it goes at once
  CHECK(f.source.sent.size() == 2);
}

TEST_CASE("a request its route paces for later holds back no other route's request") {
  // The configured budget counts a request when it goes. Counted when its route's slot was reserved,
  // a slot 30 s ahead would queue every later request behind it, whatever its route: the window
  // budget hands out slots in order.
  Fixture f(240);
  f.source.limiter = FixedWindowLimiter{};
  f.source.limiter->limit = 8;  // the secrets-list route: 2 at once, the rest spread over the window
  int list_throttled = 0;
  for (int i = 0; i < 4; ++i)
    if (std::holds_alternative<ScopeThrottled>(f.fetch("list-" + std::to_string(i)))) ++list_throttled;
  REQUIRE(list_throttled > 0);
  const size_t sent = f.source.sent.size();
  // A single secret: another route, on which the server advertised nothing.
  SourceRequest single;
  single.secret_name = "DB_PASSWORD";
  data(f.fetcher.fetch(single, "single-a", 10s));
  CHECK(f.source.sent.size() == sent + 1);
}
