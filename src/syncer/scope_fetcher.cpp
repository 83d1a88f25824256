// Fetching scopes within the request budget, with per-scope backoff.
#include "syncer/scope_fetcher.h"

#include <algorithm>

#include "core/constants.h"
#include "infisical/errors.h"

namespace ifo::syncer {

namespace {

// The Ready reason of an Infisical error.
core::SyncFailure failure_of(const infisical::ApiError& e) {
  core::SyncFailure f;
  f.message = e.what();
  f.retry_after = e.retry_after();
  switch (e.kind()) {
    case infisical::ErrorKind::kRateLimited: f.reason = core::kReasonRateLimited; break;
    // Refused at connect time (a refused address range) or a redirect to another host: nothing was sent.
    case infisical::ErrorKind::kHostNotAllowed: f.reason = core::kReasonHostNotAllowed; break;
    case infisical::ErrorKind::kUnauthorized:
    case infisical::ErrorKind::kForbidden:
    case infisical::ErrorKind::kCredentialSource:
    case infisical::ErrorKind::kInvalidConfig:
      f.reason = core::kReasonAuthFailed;
      f.auth = true;
      break;
    default: f.reason = core::kReasonFetchFailed; break;
  }
  return f;
}

std::chrono::milliseconds wait_ms(core::Clock::duration wait) {
  // One millisecond more, so that a caller coming back exactly then finds its slot due.
  return std::chrono::duration_cast<std::chrono::milliseconds>(wait) + std::chrono::milliseconds(1);
}

}  // namespace

ScopeFetcher::ScopeFetcher(SecretSource& source, core::Clock& clock, int requests_per_minute,
                           std::shared_ptr<spdlog::logger> log)
    : source_(source),
      clock_(clock),
      budget_(requests_per_minute, std::chrono::minutes(1)),
      log_(std::move(log)) {}

void ScopeFetcher::forget() {
  std::lock_guard lock(mu_);
  scopes_.clear();
}

std::shared_ptr<ScopeFetcher::ScopeEntry> ScopeFetcher::entry(const std::string& scope_key) {
  std::lock_guard lock(mu_);
  auto& e = scopes_[scope_key];
  if (!e) e = std::make_shared<ScopeEntry>();
  return e;
}

ScopeFetcher::Route ScopeFetcher::route(const SourceRequest& request) {
  // Every scope of a host shares its routes: the server counts requests per route and client address,
  // whatever project or folder they name.
  std::string endpoint = infisical::secrets_endpoint(!request.secret_name.empty());
  std::lock_guard lock(mu_);
  return Route{endpoint, routes_[request.host + " " + endpoint]};  // map nodes never move
}

std::optional<ScopeFetcher::Fresh> ScopeFetcher::fresh(const std::string& scope_key, std::chrono::seconds resync) {
  std::shared_ptr<ScopeEntry> e;
  {
    std::lock_guard lock(mu_);
    auto it = scopes_.find(scope_key);
    if (it == scopes_.end()) return std::nullopt;
    e = it->second;
  }
  std::unique_lock scope_lock(e->mu, std::try_to_lock);
  if (!scope_lock.owns_lock()) return std::nullopt;  // a fetch is under way
  auto fresh_for = std::chrono::duration_cast<core::Clock::duration>(resync) * 8 / 10;
  if (!e->has_data || e->failure || clock_.now() - e->fetched_at >= fresh_for) return std::nullopt;
  return Fresh{e->version, e->fetched_at};
}

ScopeResult ScopeFetcher::fetch(const SourceRequest& request, const std::string& scope_key,
                                std::chrono::seconds resync) {
  std::shared_ptr<ScopeEntry> e = entry(scope_key);
  std::lock_guard scope_lock(e->mu);
  // CRs reading the same scope share one fetch per interval: data younger than 80% of the interval
  // (the shortest jittered resync is 90%) is served from memory.
  auto fresh_for = std::chrono::duration_cast<core::Clock::duration>(resync) * 8 / 10;
  if (e->has_data && clock_.now() - e->fetched_at < fresh_for) return ScopeData{e->values, e->fetched_at, e->version};
  // A scope that just failed is not asked again before its retry time: the same error, no request.
  if (e->failure && clock_.now() < e->retry_at) return failed(*e, resync);
  Route r = route(request);
  const SlotResult slot = take_slot(*e, r);
  if (const auto* throttled = std::get_if<ScopeThrottled>(&slot)) return *throttled;
  return ask_infisical(*e, request, resync, r, std::get<Cleared>(slot).ticket);
}

ScopeFetcher::SlotResult ScopeFetcher::take_slot(ScopeEntry& e, Route& route) {
  // The budgets spread work instead of failing it: a scope that finds a budget spent reserves the
  // next free slot, and every resource that needs the scope comes back exactly then, without
  // touching its status. The slot belongs to the scope, not to the resource that asked first: ten
  // resources waiting for one scope cost one slot, and the first of them back uses it for all.
  const auto now = clock_.now();
  if (e.reserved_slot && now < *e.reserved_slot) return ScopeThrottled{wait_ms(*e.reserved_slot - now)};
  if (e.reserved_slot) {
    e.reserved_slot.reset();
    if (e.slot_counted) return go(e, route, now);  // both budgets' slots have come
  } else {
    // The server's budget for the route paces; a window it says is spent holds no slot to reserve,
    // so the scope asks again when the window turns (in line with every other scope waiting for it).
    infisical::RouteBudget::Slot slot = route.budget.reserve(now);
    if (!slot.reservation) return ScopeThrottled{wait_ms(slot.wait)};
    e.reservation = slot.reservation;
    if (slot.wait > core::Clock::duration::zero()) {
      e.reserved_slot = now + slot.wait;
      e.slot_counted = false;
      return ScopeThrottled{wait_ms(slot.wait)};
    }
  }
  // The route's slot is now. The configured budget bounds the total over every route and host, and
  // counts a request when it may go: a slot taken for a later time would hold back, in order, every
  // request after it, another route's included.
  const auto at = budget_.reserve(now);
  if (at <= now) return go(e, route, now);
  e.reserved_slot = at;
  e.slot_counted = true;
  return ScopeThrottled{wait_ms(at - now)};
}

ScopeFetcher::SlotResult ScopeFetcher::go(ScopeEntry& e, Route& route, core::Clock::time_point now) {
  // The route's slot was reserved ahead: answers since may say the server's window is spent (a
  // refusal, another client behind the same address); then the scope waits for the window to turn.
  const infisical::RouteBudget::Go go = route.budget.go(e.reservation.value_or(0), now);
  e.reservation.reset();
  if (!go.ticket) return ScopeThrottled{wait_ms(go.wait)};
  return Cleared{*go.ticket};
}

void ScopeFetcher::observe(const std::optional<infisical::RateLimitAdvice>& advice, uint64_t ticket,
                           Route& route, const SourceRequest& request) {
  // Headers about another route (a login or project lookup on the way) do not describe this budget;
  // the answer is observed all the same, so that the request no longer counts as in flight.
  if (!advice || advice->endpoint != route.endpoint)
    return route.budget.observe(std::nullopt, ticket, clock_.now());
  const int64_t before = route.budget.limit();
  route.budget.observe(advice, ticket, clock_.now());
  if (before != advice->limit)
    log_->info("infisical rate limit advertised host={} route=\"{}\" limit={} per window; pacing under it",
               request.host, route.endpoint, advice->limit);
}

ScopeResult ScopeFetcher::failed(const ScopeEntry& e, std::chrono::seconds resync) const {
  // The server's limiter refused a refresh of data this scope already holds: what the resources hold
  // is still Infisical's last answer, so the refusal is a deferral like the budget's own (status and
  // Events untouched, back at the server's retry-after), not a failure that would patch and warn on
  // every resource of the scope. Only while the data is younger than two intervals: past that, the
  // resources show RateLimited.
  const auto stale_after = std::chrono::duration_cast<core::Clock::duration>(resync) * 2;
  if (e.failure->reason == core::kReasonRateLimited && e.has_data && clock_.now() - e.fetched_at < stale_after)
    return ScopeThrottled{wait_ms(std::max(e.retry_at - clock_.now(), core::Clock::duration::zero()))};
  return ScopeFailed{*e.failure, e.retry_at};
}

ScopeResult ScopeFetcher::ask_infisical(ScopeEntry& e, const SourceRequest& request,
                                        std::chrono::seconds resync, Route& route, uint64_t ticket) {
  SourceRequest req = request;
  if (e.has_data && !e.etag.empty()) req.if_none_match = e.etag;
  SourceResult r;
  try {
    r = source_.fetch(req);
    observe(r.rate_limit, ticket, route, request);
    if (r.not_modified && !e.has_data) {
      // A 304 without data in memory cannot happen when no If-None-Match was sent; refetch plainly.
      req.if_none_match.reset();
      r = source_.fetch(req);
      observe(r.rate_limit, ticket, route, request);
    }
  } catch (const infisical::ApiError& error) {
    observe(error.rate_limit(), ticket, route, request);
    ++e.failures;
    auto backoff = std::min<core::Clock::duration>(
        std::chrono::milliseconds(500) * (int64_t{1} << std::min(e.failures - 1, 20)), resync);
    if (error.retry_after()) backoff = std::max<core::Clock::duration>(backoff, *error.retry_after());
    e.retry_at = clock_.now() + backoff;
    e.failure = failure_of(error);
    ScopeResult result = failed(e, resync);
    if (std::holds_alternative<ScopeThrottled>(result))
      log_->debug("infisical deferred a refresh (rate limited); the data fetched {}s ago is kept until the retry "
                  "in {}ms",
                  std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - e.fetched_at).count(),
                  std::get<ScopeThrottled>(result).wait.count());
    return result;
  } catch (...) {
    route.budget.observe(std::nullopt, ticket, clock_.now());  // answered or not, no longer on its way
    throw;
  }
  e.failure.reset();
  e.failures = 0;
  for (const auto& w : r.warnings) log_->warn("infisical scope warning: {}", w);
  // A 304 keeps the values in memory; they are confirmed as of now either way.
  if (!r.not_modified || !e.has_data) {
    if (!e.has_data || r.values != e.values) {
      std::lock_guard lock(mu_);
      e.version = ++last_version_;
    }
    e.values = std::move(r.values);
    e.etag = r.etag;
    e.has_data = true;
  }
  e.fetched_at = clock_.now();
  return ScopeData{e.values, e.fetched_at, e.version};
}

}  // namespace ifo::syncer
