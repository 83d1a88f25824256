// The rate limiter's headers and the per-route budget built from them.
#include "infisical/rate_limit.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <limits>

#include "infisical/errors.h"

namespace ifo::infisical {

namespace {

// The limiter's window: one minute on every Infisical route. Only used until the server has said how
// long the current window lasts.
constexpr std::chrono::seconds kWindow{60};
// A server may say anything: a count or a wait beyond this is treated as this (as Retry-After is).
constexpr int64_t kMaxValue = 86400;

std::optional<int64_t> non_negative(const std::optional<std::string>& header) {
  if (!header) return std::nullopt;
  std::string_view v = *header;
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  int64_t n = 0;
  for (char c : v) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = std::min(n * 10 + (c - '0'), kMaxValue);  // capped at every digit: never overflows
  }
  return n;
}

}  // namespace

std::optional<RateLimitAdvice> parse_rate_limit(const net::Response& response,
                                                std::chrono::system_clock::time_point now) {
  auto limit = non_negative(response.header("x-ratelimit-limit"));
  if (!limit || *limit <= 0) return std::nullopt;
  RateLimitAdvice a;
  a.limit = *limit;
  a.remaining = non_negative(response.header("x-ratelimit-remaining"));
  if (auto reset = non_negative(response.header("x-ratelimit-reset"))) a.reset = std::chrono::seconds(*reset);
  if (auto h = response.header("retry-after")) a.retry_after = parse_retry_after(*h, now);
  return a;
}

bool is_rate_limit_refusal(long status, const std::optional<RateLimitAdvice>& advice) {
  if (status == 429) return true;
  // The older self-hosted server's refusal is a 500; a genuine 500 on the request that happened to
  // take the last slot has remaining 0 too, but no retry-after.
  return status >= 500 && advice && advice->retry_after && advice->remaining == 0;
}

void RouteBudget::roll_locked(core::Clock::time_point now) {
  if (limit_ <= 0 || now < window_end_) return;
  // A slot or a request a whole window old will not go or be answered any more (its caller was
  // dropped): it no longer counts.
  std::erase_if(reservations_, [&](const auto& r) { return r.second + kWindow <= now; });
  std::erase_if(in_flight_, [&](const auto& r) { return r.second + kWindow <= now; });
  // The server's window has ended: its next one starts with our next request and holds the whole
  // limit, less what is still on its way (it may land in either). How long it lasts is a guess until
  // the first answer in it says.
  window_end_ = now + kWindow;
  basis_remaining_ = limit_ - static_cast<int64_t>(in_flight_.size());
  basis_ticket_ = sent_;
  next_ = now;
}

int64_t RouteBudget::left_locked(core::Clock::time_point now, uint64_t before) const {
  if (limit_ <= 0) return std::numeric_limits<int64_t>::max();
  const auto reserved =
      static_cast<int64_t>(std::distance(reservations_.begin(), reservations_.lower_bound(before)));
  if (now >= window_end_) return limit_ - static_cast<int64_t>(in_flight_.size()) - reserved;
  return basis_remaining_ - static_cast<int64_t>(sent_ - basis_ticket_) - reserved;
}

RouteBudget::Slot RouteBudget::reserve(core::Clock::time_point now) {
  std::lock_guard lock(mu_);
  // Nothing to pace by yet: the slot is now, and nothing need remember it (a server that never
  // advertises a limit would otherwise collect the reservations of callers that never came back).
  if (limit_ <= 0) return Slot{{}, ++reserved_};
  roll_locked(now);
  const int64_t left = left_locked(now, std::numeric_limits<uint64_t>::max());
  const core::Clock::time_point at = std::max(now, next_);
  if (left <= 0 || at >= window_end_) return Slot{window_end_ - now, std::nullopt};
  // The first quarter of a window goes at once, so a new resource or a restart syncs without delay;
  // the rest is spread evenly over what remains of the window, so that waiting scopes get slots in
  // order instead of all finding the window spent and waking together when it turns.
  const bool in_first_quarter = limit_ - left + 1 < limit_ / 4;  // counting this request
  next_ = in_first_quarter ? at : at + (window_end_ - at) / left;
  reservations_[++reserved_] = at;
  return Slot{at - now, reserved_};
}

RouteBudget::Go RouteBudget::go(uint64_t reservation, core::Clock::time_point now) {
  std::lock_guard lock(mu_);
  roll_locked(now);
  // Reservations are handed out in the order of their slots: the ones before this one come first.
  const int64_t left = left_locked(now, reservation);
  reservations_.erase(reservation);
  // Answers since the reservation may say the server counted more than was thought (another client
  // behind the same address, a refusal, requests that reached it out of order): nothing more goes
  // in this window.
  if (left <= 0) return Go{std::nullopt, window_end_ - now};
  in_flight_[++sent_] = now;
  return Go{sent_, {}};
}

void RouteBudget::observe(const std::optional<RateLimitAdvice>& advice, uint64_t ticket,
                          core::Clock::time_point now) {
  std::lock_guard lock(mu_);
  // Requests sent before this one and not answered yet may have reached the server after it.
  const auto unanswered_before =
      static_cast<int64_t>(std::distance(in_flight_.begin(), in_flight_.lower_bound(ticket)));
  in_flight_.erase(ticket);
  if (!advice) return;
  if (advice->limit > 0) limit_ = advice->limit;
  if (!advice->remaining || !advice->reset) return;
  // An answer to a request older than the basis says nothing newer; after the window turned it may
  // even describe the previous window.
  if (ticket <= basis_ticket_) return;
  basis_ticket_ = ticket;
  basis_remaining_ = *advice->remaining - unanswered_before;
  window_end_ = now + *advice->reset;
  // The limiter's refusal: nothing is left until the later of its two headers. A retry-after while
  // the limiter still has room is another fault's (an overloaded server): the scope that got it backs
  // off by it, the route's other scopes need not.
  if (advice->retry_after && *advice->remaining == 0)
    window_end_ = std::max(window_end_, now + *advice->retry_after);
}

int64_t RouteBudget::limit() const {
  std::lock_guard lock(mu_);
  return limit_;
}

int64_t RouteBudget::left(core::Clock::time_point now) const {
  std::lock_guard lock(mu_);
  return std::max<int64_t>(0, left_locked(now, std::numeric_limits<uint64_t>::max()));
}

WindowBudget::WindowBudget(int64_t limit, core::Clock::duration window)
    : limit_(std::max<int64_t>(1, limit)), window_(window) {}

core::Clock::time_point WindowBudget::reserve(core::Clock::time_point earliest) {
  std::lock_guard lock(mu_);
  // Slots are handed out in order, so the slot `limit` places back decides: a window ending at `at`
  // holds the slots after at - window, and that one must have left it.
  core::Clock::time_point at = earliest;
  if (!slots_.empty()) at = std::max(at, slots_.back());
  if (static_cast<int64_t>(slots_.size()) >= limit_)
    at = std::max(at, slots_[slots_.size() - static_cast<size_t>(limit_)] + window_);
  slots_.push_back(at);
  // A slot a whole window before this one is in no window a later slot ends.
  while (slots_.front() + window_ <= at) slots_.pop_front();
  return at;
}

}  // namespace ifo::infisical
