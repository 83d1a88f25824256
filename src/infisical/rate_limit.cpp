// The rate limiter's headers and the per-route budget built from them.
#include "infisical/rate_limit.h"

#include <algorithm>
#include <cctype>
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

RouteBudget::Slot RouteBudget::reserve(core::Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (limit_ <= 0) return Slot{{}, ++issued_};
  if (now >= window_end_) {
    // The server's window has ended: its next one starts with our next request and holds the whole
    // limit. How long it lasts is a guess until the first answer in it says.
    window_end_ = now + kWindow;
    basis_remaining_ = limit_;
    basis_ticket_ = issued_;
    next_ = now;
  }
  const int64_t left = left_locked(now);
  const core::Clock::time_point at = std::max(now, next_);
  if (left <= 0 || at >= window_end_) return Slot{window_end_ - now, std::nullopt};
  // The first quarter of a window goes at once, so a new resource or a restart syncs without delay;
  // the rest is spread evenly over what remains of the window, so that waiting scopes get slots in
  // order instead of all finding the window spent and waking together when it turns.
  const bool in_first_quarter = limit_ - left + 1 < limit_ / 4;  // counting this request
  next_ = in_first_quarter ? at : at + (window_end_ - at) / left;
  return Slot{at - now, ++issued_};
}

void RouteBudget::observe(const RateLimitAdvice& advice, uint64_t ticket, core::Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (advice.limit > 0) limit_ = advice.limit;
  if (!advice.remaining || !advice.reset) return;
  // An answer to a request older than the basis says nothing newer; after the window turned it may
  // even describe the previous window.
  if (ticket <= basis_ticket_) return;
  basis_ticket_ = ticket;
  basis_remaining_ = *advice.remaining;
  window_end_ = now + *advice.reset;
  // The limiter's refusal: nothing is left until the later of its two headers. A retry-after while
  // the limiter still has room is another fault's (an overloaded server): the scope that got it backs
  // off by it, the route's other scopes need not.
  if (advice.retry_after && basis_remaining_ == 0)
    window_end_ = std::max(window_end_, now + *advice.retry_after);
}

int64_t RouteBudget::limit() const {
  std::lock_guard lock(mu_);
  return limit_;
}

int64_t RouteBudget::left(core::Clock::time_point now) const {
  std::lock_guard lock(mu_);
  return left_locked(now);
}

int64_t RouteBudget::left_locked(core::Clock::time_point now) const {
  if (limit_ <= 0) return std::numeric_limits<int64_t>::max();
  if (now >= window_end_) return limit_;
  return std::max<int64_t>(0, basis_remaining_ - static_cast<int64_t>(issued_ - basis_ticket_));
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
