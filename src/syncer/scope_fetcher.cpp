// Fetching scopes within the request budget, with per-scope backoff.
#include "syncer/scope_fetcher.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

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

// Background mode: a caller not woken (it should be) comes back after its resync interval, as after a
// sync; woken, it is back at once, and its resync then is due no later than that.
std::chrono::milliseconds pending_wait(std::chrono::seconds resync) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(resync);
}

}  // namespace

// The threads that ask Infisical in background mode, in the order the requests were cleared to go.
class ScopeFetcher::RequestThreads {
 public:
  explicit RequestThreads(int count) {
    for (int i = 0; i < count; ++i) threads_.emplace_back([this] { run(); });
  }
  ~RequestThreads() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  RequestThreads(const RequestThreads&) = delete;
  RequestThreads& operator=(const RequestThreads&) = delete;

  void submit(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_) return;  // requests not yet sent are dropped with the process
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

ScopeFetcher::ScopeFetcher(SecretSource& source, core::Clock& clock, int requests_per_minute,
                           std::shared_ptr<spdlog::logger> log)
    : source_(source),
      clock_(clock),
      budget_(requests_per_minute, std::chrono::minutes(1)),
      log_(std::move(log)) {}

ScopeFetcher::~ScopeFetcher() = default;

void ScopeFetcher::ask_in_background(int threads, std::function<void(const std::string& waiter)> wake) {
  wake_ = std::move(wake);
  threads_ = std::make_unique<RequestThreads>(std::max(threads, 1));
}

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
  if (!scope_lock.owns_lock() || e->asking) return std::nullopt;  // a fetch is under way
  auto fresh_for = std::chrono::duration_cast<core::Clock::duration>(resync) * 8 / 10;
  if (!e->has_data || e->failure || clock_.now() - e->fetched_at >= fresh_for) return std::nullopt;
  return Fresh{e->version, e->fetched_at};
}

ScopeResult ScopeFetcher::fetch(const SourceRequest& request, const std::string& scope_key,
                                std::chrono::seconds resync, const std::string& waiter) {
  std::shared_ptr<ScopeEntry> e = entry(scope_key);
  std::lock_guard scope_lock(e->mu);
  if (e->asking) {
    // Background mode: the scope's request is queued or on its way; the caller is woken with the others.
    if (!waiter.empty()) e->waiters.push_back(waiter);
    return ScopePending{pending_wait(resync)};
  }
  // CRs reading the same scope share one fetch per interval: data younger than 80% of the interval
  // (the shortest jittered resync is 90%) is served from memory.
  auto fresh_for = std::chrono::duration_cast<core::Clock::duration>(resync) * 8 / 10;
  if (e->has_data && clock_.now() - e->fetched_at < fresh_for) return ScopeData{e->values, e->fetched_at, e->version};
  // A scope that just failed is not asked again before its retry time: the same error, no request.
  if (e->failure && clock_.now() < e->retry_at) return failed(*e, resync);
  Route r = route(request);
  const SlotResult slot = take_slot(*e, r);
  if (const auto* throttled = std::get_if<ScopeThrottled>(&slot)) return *throttled;
  const uint64_t ticket = std::get<Cleared>(slot).ticket;
  SourceRequest req = request;
  if (e->has_data && !e->etag.empty()) req.if_none_match = e->etag;
  if (!threads_) return record(*e, ask(std::move(req), r, ticket), resync);
  e->asking = true;
  if (!waiter.empty()) e->waiters.push_back(waiter);
  threads_->submit([this, e, req = std::move(req), resync, r, ticket] {
    answer_in_background(e, req, resync, r, ticket);
  });
  return ScopePending{pending_wait(resync)};
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

ScopeFetcher::Asked ScopeFetcher::ask(SourceRequest req, Route& route, uint64_t ticket) {
  Asked asked;
  try {
    asked.result = source_.fetch(req);
    observe(asked.result.rate_limit, ticket, route, req);
    if (asked.result.not_modified && !req.if_none_match) {
      // A 304 can only answer an If-None-Match; without one, ask plainly again.
      asked.result = source_.fetch(req);
      observe(asked.result.rate_limit, ticket, route, req);
    }
  } catch (const infisical::ApiError& error) {
    observe(error.rate_limit(), ticket, route, req);
    asked.failure = failure_of(error);
  } catch (...) {
    route.budget.observe(std::nullopt, ticket, clock_.now());  // answered or not, no longer on its way
    throw;
  }
  return asked;
}

ScopeResult ScopeFetcher::record(ScopeEntry& e, Asked asked, std::chrono::seconds resync) {
  if (asked.failure) {
    ++e.failures;
    auto backoff = std::min<core::Clock::duration>(
        std::chrono::milliseconds(500) * (int64_t{1} << std::min(e.failures - 1, 20)), resync);
    if (asked.failure->retry_after)
      backoff = std::max<core::Clock::duration>(backoff, *asked.failure->retry_after);
    e.retry_at = clock_.now() + backoff;
    e.failure = std::move(asked.failure);
    ScopeResult result = failed(e, resync);
    if (std::holds_alternative<ScopeThrottled>(result))
      log_->debug("infisical deferred a refresh (rate limited); the data fetched {}s ago is kept until the retry "
                  "in {}ms",
                  std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - e.fetched_at).count(),
                  std::get<ScopeThrottled>(result).wait.count());
    return result;
  }
  SourceResult& r = asked.result;
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

void ScopeFetcher::answer_in_background(const std::shared_ptr<ScopeEntry>& e, const SourceRequest& req,
                                        std::chrono::seconds resync, Route route, uint64_t ticket) {
  Asked asked;
  try {
    asked = ask(req, route, ticket);
  } catch (const std::exception& error) {
    // No worker to hand it to: the scope fails like any other fetch, backing off, its message in the
    // status of the resources that read it.
    asked.failure =
        core::SyncFailure(core::kReasonFetchFailed, std::string("asking Infisical failed: ") + error.what());
  }
  std::vector<std::string> waiters;
  {
    std::lock_guard scope_lock(e->mu);
    record(*e, std::move(asked), resync);
    e->asking = false;
    waiters.swap(e->waiters);
  }
  for (const auto& w : waiters) wake_(w);
}

}  // namespace ifo::syncer
