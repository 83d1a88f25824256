// The rate limiter's headers as Infisical sends them, the refusal told apart from a plain 500, and the
// per-route budget that keeps requests under what the server advertises. Time is a parameter.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "core/clock.h"
#include "infisical/errors.h"
#include "infisical/rate_limit.h"

using namespace ifo;
using namespace ifo::infisical;
using namespace std::chrono_literals;

namespace {

net::Response response(long status, net::Headers headers, std::string body = "{}") {
  net::Response r;
  r.status = status;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

const auto kNow = std::chrono::system_clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z
const char* kInternal =
    R"({"statusCode":500,"message":"Something went wrong","error":"InternalServerError"})";

RateLimitAdvice advice(int64_t limit, int64_t remaining, std::chrono::seconds reset,
                       std::optional<std::chrono::seconds> retry_after = std::nullopt) {
  RateLimitAdvice a;
  a.endpoint = "GET /v3/secrets/raw";
  a.limit = limit;
  a.remaining = remaining;
  a.reset = reset;
  a.retry_after = retry_after;
  return a;
}

}  // namespace

TEST_CASE("rate limit headers: read from any answer; absent or unusable ones are no advice") {
  auto a = parse_rate_limit(
      response(200,
               {{"x-ratelimit-limit", "40"}, {"x-ratelimit-remaining", "39"}, {"x-ratelimit-reset", "60"}}),
      kNow);
  REQUIRE(a.has_value());
  CHECK(a->limit == 40);
  CHECK(a->remaining == 39);
  CHECK(a->reset == 60s);
  CHECK_FALSE(a->retry_after.has_value());

  CHECK_FALSE(parse_rate_limit(response(200, {}), kNow).has_value());
  CHECK_FALSE(parse_rate_limit(response(200, {{"x-ratelimit-limit", "0"}}), kNow).has_value());
  CHECK_FALSE(parse_rate_limit(response(200, {{"x-ratelimit-limit", "-3"}}), kNow).has_value());
  CHECK_FALSE(parse_rate_limit(response(200, {{"x-ratelimit-limit", "forty"}}), kNow).has_value());
  // A hostile server's absurd numbers are capped, never overflowed.
  auto absurd = parse_rate_limit(response(200, {{"x-ratelimit-limit", "99999999999999999999999"},
                                                {"x-ratelimit-reset", "99999999999999999999"}}),
                                 kNow);
  REQUIRE(absurd.has_value());
  CHECK(absurd->limit == 86400);
  CHECK(absurd->reset == 86400s);
  CHECK_FALSE(absurd->remaining.has_value());
}

TEST_CASE("a 500 carrying the limiter's refusal is a rate limit; a 500 without retry-after is not") {
  auto refused = error_from_response("secrets fetch",
                                     response(500,
                                              {{"x-ratelimit-limit", "40"},
                                               {"x-ratelimit-remaining", "0"},
                                               {"x-ratelimit-reset", "23"},
                                               {"retry-after", "23"}},
                                              kInternal),
                                     true, kNow);
  CHECK(refused.kind() == ErrorKind::kRateLimited);
  CHECK(refused.status() == 500);
  CHECK(refused.retry_after() == 23s);
  REQUIRE(refused.rate_limit().has_value());
  CHECK(refused.rate_limit()->remaining == 0);
  CHECK(refused.with_endpoint("GET /v3/secrets/raw").rate_limit()->endpoint == "GET /v3/secrets/raw");
  CHECK(refused.with_context("scope x").rate_limit()->limit == 40);

  // The request that took the last slot failed for another reason: a server error, with the headers.
  auto genuine = error_from_response(
      "secrets fetch",
      response(500,
               {{"x-ratelimit-limit", "40"}, {"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "23"}},
               kInternal),
      true, kNow);
  CHECK(genuine.kind() == ErrorKind::kServerError);
  REQUIRE(genuine.rate_limit().has_value());
  CHECK(genuine.rate_limit()->remaining == 0);

  // A 4xx of the handler carries them as well.
  auto unauthorized = error_from_response(
      "secrets fetch", response(401, {{"x-ratelimit-limit", "40"}, {"x-ratelimit-remaining", "12"}}), true,
      kNow);
  CHECK(unauthorized.kind() == ErrorKind::kUnauthorized);
  CHECK(unauthorized.rate_limit()->remaining == 12);
}

TEST_CASE("route budget: nothing advertised, nothing held back") {
  core::FakeClock clock;
  RouteBudget b;
  for (int i = 0; i < 100; ++i) {
    auto slot = b.reserve(clock.now());
    CHECK(slot.wait == core::Clock::duration::zero());
    CHECK(slot.ticket == static_cast<uint64_t>(i + 1));
  }
}

TEST_CASE(
    "route budget: a quarter of the window at once, the rest spread over it, then the window is spent") {
  core::FakeClock clock;
  RouteBudget b;
  auto first = b.reserve(clock.now());
  REQUIRE(first.ticket);
  b.observe(advice(40, 39, 60s), *first.ticket, clock.now());
  CHECK(b.limit() == 40);

  core::Clock::duration last{};
  int held = 0, at_once = 0;
  for (;;) {
    auto slot = b.reserve(clock.now());
    if (!slot.ticket) {
      // Spent: ask again when the window turns, nothing taken meanwhile.
      CHECK(slot.wait == 60s);
      break;
    }
    ++held;
    if (slot.wait == core::Clock::duration::zero()) {
      ++at_once;
    } else {
      CHECK(slot.wait > last);        // in order, evenly
      CHECK(slot.wait - last <= 2s);  // 30 over 60 s
    }
    CHECK(slot.wait < 60s);
    last = slot.wait;
  }
  CHECK(at_once == 10 - 1);  // with the first request, a quarter of 40
  CHECK(held == 39);
  CHECK(b.left(clock.now()) == 0);
  clock.step(60s);
  CHECK(b.left(clock.now()) == 40);  // a new window: the whole limit
  CHECK(b.reserve(clock.now()).wait == core::Clock::duration::zero());
}

TEST_CASE("route budget: requests sent after the observed one count against what it said was left") {
  core::FakeClock clock;
  RouteBudget b;
  auto t1 = b.reserve(clock.now());
  auto t2 = b.reserve(clock.now());
  auto t3 = b.reserve(clock.now());
  // The answer to the first arrives last-but-one: two requests left as of it, two sent since.
  b.observe(advice(3, 2, 50s), *t1.ticket, clock.now());
  CHECK(b.left(clock.now()) == 0);
  CHECK_FALSE(b.reserve(clock.now()).ticket.has_value());
  // The third answer is newer: it says what the server knows.
  b.observe(advice(3, 0, 50s), *t3.ticket, clock.now());
  CHECK(b.left(clock.now()) == 0);
  // The second's answer, older, arriving late, says nothing new (it would claim one left).
  b.observe(advice(3, 1, 50s), *t2.ticket, clock.now());
  CHECK(b.left(clock.now()) == 0);
  CHECK(b.reserve(clock.now()).wait == 50s);
}

TEST_CASE("route budget: a refusal holds every request until retry-after, then a fresh window") {
  core::FakeClock clock;
  RouteBudget b;
  auto t = b.reserve(clock.now());
  b.observe(advice(40, 0, 20s, 25s), *t.ticket, clock.now());
  auto slot = b.reserve(clock.now());
  CHECK_FALSE(slot.ticket.has_value());
  CHECK(slot.wait == 25s);  // the later of reset and retry-after
  clock.step(25s);
  auto after = b.reserve(clock.now());
  CHECK(after.ticket.has_value());
  CHECK(after.wait == core::Clock::duration::zero());
  CHECK(b.left(clock.now()) == 39);
}

TEST_CASE(
    "route budget: a retry-after while the limiter still has room pauses nothing (it is another fault's)") {
  core::FakeClock clock;
  RouteBudget b;
  auto t = b.reserve(clock.now());
  b.observe(advice(40, 30, 50s, 3s), *t.ticket, clock.now());  // a 503 with Retry-After: 3
  auto slot = b.reserve(clock.now());
  REQUIRE(slot.ticket.has_value());
  CHECK(slot.wait == core::Clock::duration::zero());
  CHECK(b.left(clock.now()) == 29);
}

TEST_CASE("window budget: the whole budget at once, then each request when the one `limit` back has left") {
  core::FakeClock clock;
  WindowBudget b(3, 60s);
  const auto t0 = clock.now();
  for (int i = 0; i < 3; ++i) CHECK(b.reserve(t0) == t0);
  CHECK(b.reserve(t0) == t0 + 60s);  // the first has left the window ending then
  CHECK(b.reserve(t0) == t0 + 60s);
  CHECK(b.reserve(t0) == t0 + 60s);
  CHECK(b.reserve(t0) == t0 + 120s);  // in the order asked: no one jumps the queue
  clock.step(200s);
  CHECK(b.reserve(clock.now()) == clock.now());  // a quiet window is whole again
}

TEST_CASE("window budget: a later earliest is kept, and slots never go back in time") {
  core::FakeClock clock;
  WindowBudget b(10, 60s);
  const auto t0 = clock.now();
  CHECK(b.reserve(t0 + 5s) == t0 + 5s);  // the route's own wait comes first
  CHECK(b.reserve(t0) == t0 + 5s);       // not before a slot already given
}

TEST_CASE("window budget: no minute ever holds more than the limit, however requests arrive") {
  core::FakeClock clock;
  WindowBudget b(40, 60s);
  std::vector<core::Clock::time_point> slots;
  // Uneven arrivals: bursts, quiet stretches and trickles over ten minutes.
  uint32_t seed = 12345;
  for (int step = 0; step < 6000; ++step) {
    seed = seed * 1103515245u + 12345u;
    const int asks = (seed >> 16) % 100 < 3 ? 25 : static_cast<int>((seed >> 8) % 2);
    for (int i = 0; i < asks; ++i) slots.push_back(b.reserve(clock.now()));
    clock.step(100ms);
  }
  CHECK(std::is_sorted(slots.begin(), slots.end()));
  size_t most = 0;
  for (size_t end = 0, begin = 0; end < slots.size(); ++end) {
    while (slots[begin] + 60s <= slots[end]) ++begin;
    most = std::max(most, end - begin + 1);
  }
  CHECK(most == 40);  // the limit, reached and never passed
}
