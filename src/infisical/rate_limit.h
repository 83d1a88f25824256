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
#include <map>
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
// A request first reserves a slot (reserve), then, when the slot has come, asks to go (go): only then
// is it counted as sent and given the ticket its answer is observed with (observe). A slot reserved
// ahead is checked again when it comes, against every answer since: a window the server says is spent
// sends nothing more, however many slots were handed out before it said so. What the server said was
// left counts against it every request sent after the one it answered, every slot still reserved, and
// every request sent before it whose answer had not come yet (the server may have counted it after):
// the estimate errs towards sending less.
class RouteBudget {
 public:
  struct Slot {
    core::Clock::duration wait{};  // until the slot comes
    // Held: the slot is the caller's, at now + wait (zero wait: now); pass it to go() then. Not held:
    // the window is spent; ask again after wait.
    std::optional<uint64_t> reservation;
  };
  struct Go {
    // Sent: the request goes now; observe its answer with this ticket. Not sent: the answers since the
    // slot was reserved say the window is spent; the reservation is dropped, ask again after wait.
    std::optional<uint64_t> ticket;
    core::Clock::duration wait{};
  };

  // Before the server has advertised a limit every request may go at once.
  Slot reserve(core::Clock::time_point now);
  // The slot `reservation` has come (or, unknown or expired, a request asks to go unreserved).
  Go go(uint64_t reservation, core::Clock::time_point now);
  // The answer to the request holding `ticket` (received at `now`), with its limiter headers if it had
  // them: every answer must be observed, so that a request is no longer counted as in flight.
  void observe(const std::optional<RateLimitAdvice>& advice, uint64_t ticket, core::Clock::time_point now);

  // The advertised limit (0: none yet) and the requests the estimate says are left in this window for
  // new reservations (reserved slots already count against it).
  int64_t limit() const;
  int64_t left(core::Clock::time_point now) const;

 private:
  // A new window when the estimated one has ended (its first request starts the server's next one).
  void roll_locked(core::Clock::time_point now);
  // Left as of the basis answer, less everything sent since, less the reservations before `before`.
  int64_t left_locked(core::Clock::time_point now, uint64_t before) const;

  mutable std::mutex mu_;
  int64_t limit_ = 0;
  core::Clock::time_point window_end_{};
  // What the server said was left as of the request with ticket basis_ticket_, less the requests sent
  // before it that were still unanswered then; after the window turned, the whole limit as of the last
  // ticket sent before it turned, less the requests then in flight.
  int64_t basis_remaining_ = 0;
  uint64_t basis_ticket_ = 0;
  uint64_t sent_ = 0;                                         // tickets handed out (requests sent)
  uint64_t reserved_ = 0;                                     // reservations handed out
  std::map<uint64_t, core::Clock::time_point> reservations_;  // held, by reservation: the slot's time
  std::map<uint64_t, core::Clock::time_point> in_flight_;     // sent, not yet answered: when sent
  core::Clock::time_point next_{};                            // the earliest time of the next slot
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
