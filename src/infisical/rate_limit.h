// What an Infisical server's rate limiter says on each answer, and a per-route budget that keeps a
// client under it.
//
// Infisical limits with @fastify/rate-limit: per route (method and URL pattern) and client address, a
// fixed window of one minute that starts with the first request after the previous one expired. Every
// answer of a limited route carries x-ratelimit-limit (requests per window), x-ratelimit-remaining and
// x-ratelimit-reset (whole seconds until the window ends, rounded up); the refused answer adds
// retry-after. Infisical Cloud refuses with 429; the self-hosted build of 2024-10 throws the limiter's
// error past its mapping and answers a generic 500 that still carries those headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "net/http_client.h"

namespace ifo::infisical {

struct RateLimitAdvice {
  std::string endpoint;                             // route template of the answer; empty when not known
  int64_t limit = 0;                                // x-ratelimit-limit: requests per window
  std::optional<int64_t> remaining;                 // x-ratelimit-remaining
  std::optional<std::chrono::seconds> reset;        // x-ratelimit-reset: until the window ends
  std::optional<std::chrono::seconds> retry_after;  // retry-after (a refused answer)
};

// The route template of a secrets fetch (one secret, or the folder's list): the limiter counts each
// route on its own, and the client's metrics name requests by it.
inline std::string secrets_endpoint(bool single_secret) {
  return single_secret ? "GET /v3/secrets/raw/{secretName}" : "GET /v3/secrets/raw";
}

// The limiter's headers of one answer, success or error; nullopt when the answer has no usable
// x-ratelimit-limit (an unlimited route, or a server without the limiter).
std::optional<RateLimitAdvice> parse_rate_limit(const net::Response& response,
                                                std::chrono::system_clock::time_point now);

// A refusal by the limiter, whatever the status: its headers say nothing is left and when to come back.
// A 500 without them is a server error like any other.
bool is_rate_limit_refusal(long status, const std::optional<RateLimitAdvice>& advice);

// The request budget of one route of one server, learned from the limiter's headers. A quarter of a
// window may go at once; the rest is paced evenly over what is left of the server's window, so that
// callers queue in order rather than all waking when the window turns. Thread safe; time is a parameter.
//
// Each request takes a ticket; the answer to it is observed with that ticket. Requests sent after the
// observed one are counted against what the server said was left, whether or not the server had
// counted them yet: the estimate errs towards sending less.
class RouteBudget {
 public:
  struct Slot {
    core::Clock::duration wait{};  // until the request may go
    // Held: the slot is the caller's, at now + wait (zero wait: go now). Not held: the window is spent;
    // ask again after wait.
    std::optional<uint64_t> ticket;
  };

  // Before the server has advertised a limit every request may go at once.
  Slot reserve(core::Clock::time_point now);
  // What the answer to the request holding `ticket` said (received at `now`).
  void observe(const RateLimitAdvice& advice, uint64_t ticket, core::Clock::time_point now);

  // The advertised limit (0: none yet) and the requests the estimate says are left in this window.
  int64_t limit() const;
  int64_t left(core::Clock::time_point now) const;

 private:
  int64_t left_locked(core::Clock::time_point now) const;

  mutable std::mutex mu_;
  int64_t limit_ = 0;
  core::Clock::time_point window_end_{};
  // What the server said was left as of the request with ticket basis_ticket_, or, after the window
  // turned, the whole limit as of the last ticket issued before it turned.
  int64_t basis_remaining_ = 0;
  uint64_t basis_ticket_ = 0;
  uint64_t issued_ = 0;             // tickets handed out so far
  core::Clock::time_point next_{};  // the earliest time of the next slot (even spacing)
};

// A client-side budget of `limit` requests in any window of `window` (one minute: what Infisical's
// limiter counts), over every route and host. While the last window has room a request goes at once;
// past that, each request is given the first time at which the window ending then holds no more than
// `limit`, in the order asked. The whole budget may go at once: a server counting per minute does not
// see how requests spread inside one, and a syncer starting with many scopes is ready sooner. (A token
// bucket of rate r and burst b lets b + r pass in some minute, and fewer at the start.) Thread safe;
// time is a parameter.
class WindowBudget {
 public:
  WindowBudget(int64_t limit, core::Clock::duration window);

  // Takes the first slot at or after `earliest` (and after every slot taken before) and returns it.
  core::Clock::time_point reserve(core::Clock::time_point earliest);

  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  const core::Clock::duration window_;
  std::mutex mu_;
  std::deque<core::Clock::time_point> slots_;  // taken, in order; none a whole window before the last
};

}  // namespace ifo::infisical
