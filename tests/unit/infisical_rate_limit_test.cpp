// The rate limiter's headers as Infisical sends them, the refusal told apart from a plain 500, and the
// per-route budget that keeps requests under what the server advertises. Time is a parameter.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <queue>
#include <random>
#include <vector>

#include "core/clock.h"
#include "infisical/errors.h"
#include "infisical/rate_limit.h"
#include "test_helpers.h"

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

// Reserves a slot and sends at once: the ticket of the request.
uint64_t send_now(RouteBudget& b, core::Clock::time_point now) {
  auto slot = b.reserve(now);
  REQUIRE(slot.reservation);
  REQUIRE(slot.wait == core::Clock::duration::zero());
  auto go = b.go(*slot.reservation, now);
  REQUIRE(go.ticket);
  return *go.ticket;
}

TEST_CASE("route budget: nothing advertised, nothing held back") {
  core::FakeClock clock;
  RouteBudget b;
  for (int i = 0; i < 100; ++i) CHECK(send_now(b, clock.now()) == static_cast<uint64_t>(i + 1));
}

TEST_CASE(
    "route budget: a quarter of the window at once, the rest spread over it, then the window is spent") {
  core::FakeClock clock;
  RouteBudget b;
  b.observe(advice(40, 39, 60s), send_now(b, clock.now()), clock.now());
  CHECK(b.limit() == 40);

  std::vector<std::pair<core::Clock::duration, uint64_t>> slots;
  int at_once = 0;
  for (;;) {
    auto slot = b.reserve(clock.now());
    if (!slot.reservation) {
      // Spent: ask again when the window turns, nothing taken meanwhile.
      CHECK(slot.wait == 60s);
      break;
    }
    if (slot.wait == core::Clock::duration::zero()) {
      ++at_once;
    } else {
      CHECK(slot.wait > slots.back().first);        // in order, evenly
      CHECK(slot.wait - slots.back().first <= 2s);  // 30 over 60 s
    }
    CHECK(slot.wait < 60s);
    slots.emplace_back(slot.wait, *slot.reservation);
  }
  CHECK(at_once == 10 - 1);  // with the first request, a quarter of 40
  CHECK(slots.size() == 39);
  CHECK(b.left(clock.now()) == 0);
  // Each slot goes when it comes: the server said nothing since, so every one of them may.
  const auto start = clock.now();
  for (const auto& [wait, reservation] : slots) {
    clock.step(start + wait - clock.now());
    auto go = b.go(reservation, clock.now());
    REQUIRE(go.ticket);
    b.observe(std::nullopt, *go.ticket, clock.now());
  }
  clock.step(start + 60s - clock.now());
  CHECK(b.left(clock.now()) == 40);  // a new window: the whole limit
  CHECK(b.reserve(clock.now()).wait == core::Clock::duration::zero());
}

TEST_CASE("route budget: requests sent after the observed one count against what it said was left") {
  core::FakeClock clock;
  RouteBudget b;
  const uint64_t t1 = send_now(b, clock.now());
  const uint64_t t2 = send_now(b, clock.now());
  const uint64_t t3 = send_now(b, clock.now());
  // The answer to the first arrives first: two requests left as of it, two sent since.
  b.observe(advice(3, 2, 50s), t1, clock.now());
  CHECK(b.left(clock.now()) == 0);
  CHECK_FALSE(b.reserve(clock.now()).reservation.has_value());
  // The third answer is newer: it says what the server knows.
  b.observe(advice(3, 0, 50s), t3, clock.now());
  CHECK(b.left(clock.now()) == 0);
  // The second's answer, older, arriving late, says nothing new (it would claim one left).
  b.observe(advice(3, 1, 50s), t2, clock.now());
  CHECK(b.left(clock.now()) == 0);
  CHECK(b.reserve(clock.now()).wait == 50s);
}

TEST_CASE("route budget: a request sent before the observed one and not answered yet counts against it") {
  core::FakeClock clock;
  RouteBudget b;
  b.observe(advice(40, 39, 60s), send_now(b, clock.now()), clock.now());
  const uint64_t a = send_now(b, clock.now());
  const uint64_t later = send_now(b, clock.now());
  // The later request reached the server first: as of it 38 are left, but the server may not have
  // counted the earlier one yet.
  b.observe(advice(40, 38, 59s), later, clock.now());
  CHECK(b.left(clock.now()) == 37);
  // The earlier one's answer is older than the basis: it changes nothing (it was counted above).
  b.observe(advice(40, 37, 59s), a, clock.now());
  CHECK(b.left(clock.now()) == 37);
}

TEST_CASE("route budget: slots reserved ahead do not go once the server says its window is spent") {
  // Someone else behind the same address spends part of the window after this syncer reserved its
  // slots: the server's answers say so, and the slots beyond what it has left are not used.
  core::FakeClock clock;
  RouteBudget b;
  b.observe(advice(40, 39, 60s), send_now(b, clock.now()), clock.now());
  std::vector<std::pair<core::Clock::duration, uint64_t>> slots;
  for (auto slot = b.reserve(clock.now()); slot.reservation; slot = b.reserve(clock.now()))
    slots.emplace_back(slot.wait, *slot.reservation);
  REQUIRE(slots.size() == 39);
  const auto start = clock.now();
  int64_t server_count = 1 + 10;  // ours and the other client's ten
  int sent = 0, held_back = 0;
  for (const auto& [wait, reservation] : slots) {
    clock.step(start + wait - clock.now());
    auto go = b.go(reservation, clock.now());
    if (!go.ticket) {
      ++held_back;
      // Until the window turns (the server's reset header is in whole seconds, rounded up).
      CHECK(go.wait >= start + 60s - clock.now());
      CHECK(go.wait <= start + 61s - clock.now());
      continue;
    }
    ++sent;
    ++server_count;
    REQUIRE(server_count <= 40);  // never refused
    b.observe(
        advice(40, 40 - server_count, std::chrono::ceil<std::chrono::seconds>(start + 60s - clock.now())),
        *go.ticket, clock.now());
  }
  CHECK(sent == 29);  // every request the server still had room for
  CHECK(held_back == 10);
}

TEST_CASE("route budget: concurrent requests arriving out of order never outrun a fixed-window limiter") {
  // Ten minutes of fake time: 100 scopes wanting a fetch every 60 s of a route that allows 40 a
  // minute, at most 8 requests in flight, each reaching the server 0-80 ms after it goes (a login or
  // a project lookup on the way) and answered 5-40 ms later, so that requests reach the server in
  // another order than they went and answers come back in another order still.
  struct Server {
    core::Clock::time_point start{};
    bool open = false;
    int64_t count = 0;
  } server;
  struct Event {
    Event(core::Clock::time_point at, int kind, int scope, uint64_t ticket = 0,
          std::optional<RateLimitAdvice> answer = std::nullopt, bool refused = false)
        : at(at), kind(kind), scope(scope), ticket(ticket), answer(std::move(answer)), refused(refused) {}
    core::Clock::time_point at;
    int kind;  // 0: the scope is due, 1: its request arrives, 2: its answer arrives
    int scope;
    uint64_t ticket;
    std::optional<RateLimitAdvice> answer;
    bool refused;
    bool operator>(const Event& o) const { return at > o.at; }
  };
  constexpr int kScopes = 100, kWorkers = 8, kLimit = 40;
  std::mt19937 random(19);
  auto ms = [&](int lo, int hi) {
    return std::chrono::milliseconds(std::uniform_int_distribution<int>(lo, hi)(random));
  };
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  const core::Clock::time_point t0{};
  for (int s = 0; s < kScopes; ++s) events.push(Event{t0 + ms(0, 500), 0, s});
  std::vector<std::optional<std::pair<uint64_t, core::Clock::time_point>>> reserved(kScopes);
  RouteBudget b;
  int in_flight = 0, refused = 0, answered = 0;
  const auto end = t0 + 600s;
  while (!events.empty() && events.top().at < end) {
    Event e = events.top();
    events.pop();
    const auto now = e.at;
    if (e.kind == 0) {
      auto& r = reserved[static_cast<size_t>(e.scope)];
      if (r && now < r->second) {
        events.push(Event{r->second, 0, e.scope});
        continue;
      }
      if (!r) {
        auto slot = b.reserve(now);
        if (!slot.reservation) {
          events.push(Event{now + slot.wait, 0, e.scope});
          continue;
        }
        r = std::pair{*slot.reservation, now + slot.wait};
        if (slot.wait > core::Clock::duration::zero()) {
          events.push(Event{r->second, 0, e.scope});
          continue;
        }
      }
      if (in_flight == kWorkers) {  // every worker busy: this one waits for the next
        events.push(Event{now + 5ms, 0, e.scope});
        continue;
      }
      auto go = b.go(r->first, now);
      r.reset();
      if (!go.ticket) {
        events.push(Event{now + go.wait, 0, e.scope});
        continue;
      }
      ++in_flight;
      events.push(Event{now + ms(0, 80), 1, e.scope, *go.ticket});
    } else if (e.kind == 1) {
      if (!server.open || now - server.start >= 60s) server = {now, true, 0};
      ++server.count;
      RateLimitAdvice a = advice(kLimit, std::max<int64_t>(0, kLimit - server.count),
                                 std::chrono::ceil<std::chrono::seconds>(server.start + 60s - now));
      const bool refusal = server.count > kLimit;
      if (refusal) a.retry_after = a.reset;
      events.push(Event{now + ms(5, 40), 2, e.scope, e.ticket, a, refusal});
    } else {
      --in_flight;
      b.observe(e.answer, e.ticket, now);
      if (e.refused) {
        ++refused;
        events.push(Event{now + *e.answer->retry_after, 0, e.scope});
      } else {
        ++answered;
        events.push(Event{now + 60s, 0, e.scope});
      }
    }
  }
  CHECK(refused == 0);
  // Ten windows of 40: most of what the server allows is used.
  CHECK(answered >= 10 * kLimit * 85 / 100);
  CHECK(answered <= 10 * kLimit + kLimit);
  MESSAGE("answered " << answered << " of the " << 10 * kLimit << " ten windows allow");
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
  CHECK(test::busiest_window(slots, 60s) == 40);  // the limit, reached and never passed
}
