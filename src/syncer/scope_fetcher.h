// The secrets of each Infisical scope, fetched at most once per interval however many InfisicalSecrets
// read it, within a global request budget, with a failing scope backing off on its own.
//
// A scope (BuiltRequest::scope_key) is kept in memory with its ETag: data younger than 80% of the
// resync interval is served without a request, an older one is asked for with If-None-Match (a 304
// keeps the values). A failure is replayed without a request until the scope's retry time (500 ms
// doubling, capped at the resync interval; Retry-After wins).
//
// Two budgets pace the requests. Each route of each Infisical host (the secrets list, the single
// secret) has the budget its server advertises in the rate limiter's headers on every answer
// (infisical::RouteBudget): a self-hosted server allows 40 a minute per route and client address, and
// answers more with errors that burn the same window. The configured --infisical-requests-per-minute
// bounds the requests in any minute over all of them (infisical::WindowBudget). When either is spent,
// the scope reserves the next slot and every caller is told to come back then, its status untouched.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "core/clock.h"
#include "core/sync_status.h"
#include "infisical/rate_limit.h"
#include "syncer/secret_source.h"

namespace ifo::syncer {

// The scope's secrets, from memory or just fetched.
struct ScopeData {
  std::map<std::string, std::string> values;
  core::Clock::time_point fetched_at{};  // when Infisical last confirmed them
  uint64_t version = 0;                  // changes only when the values do (a 304 keeps it)
};
// The budget has no slot now (nothing was sent), or Infisical's limiter refused a refresh of data the
// scope still holds (ScopeFetcher::failed): come back after `wait`, the status as it is.
struct ScopeThrottled {
  std::chrono::milliseconds wait{0};
};
// Infisical could not be asked or refused (RateLimited, HostNotAllowed, AuthFailed or FetchFailed);
// the scope is not asked again before `retry_at`.
struct ScopeFailed {
  core::SyncFailure failure;
  core::Clock::time_point retry_at{};
};
using ScopeResult = std::variant<ScopeData, ScopeThrottled, ScopeFailed>;

class ScopeFetcher {
 public:
  // A budget of `requests_per_minute` in any minute (infisical::WindowBudget).
  ScopeFetcher(SecretSource& source, core::Clock& clock, int requests_per_minute,
               std::shared_ptr<spdlog::logger> log);

  // The secrets of `scope_key` (asked for with `request`), for a resource synced every `resync`.
  // Thread safe; one fetch per scope at a time.
  ScopeResult fetch(const SourceRequest& request, const std::string& scope_key, std::chrono::seconds resync);

  // What an unchanged resync checks instead of fetching: the version and time of the scope's data
  // when fetch() would serve it from memory now; nullopt when fetch() would ask Infisical, replay a
  // failure, or is asking right now (the caller then fetches).
  struct Fresh {
    uint64_t version = 0;
    core::Clock::time_point fetched_at{};
  };
  std::optional<Fresh> fresh(const std::string& scope_key, std::chrono::seconds resync);

  // Drops every scope's data, failure and reserved slot (as after a restart); what the servers
  // advertised is kept.
  void forget();

 private:
  struct ScopeEntry {
    std::mutex mu;  // one fetch per scope at a time
    // The last failure: until retry_at every resource reading the scope gets it again without asking
    // Infisical, so a failing scope costs one request per backoff step however many resources read it.
    std::optional<core::SyncFailure> failure;
    int failures = 0;
    core::Clock::time_point retry_at{};
    bool has_data = false;
    std::map<std::string, std::string> values;
    uint64_t version = 0;
    std::string etag;
    core::Clock::time_point fetched_at{};
    std::optional<core::Clock::time_point> reserved_slot;  // a budget slot this scope holds
    bool slot_counted = false;  // reserved_slot is the configured budget's (else only the route's)
    std::optional<uint64_t> reservation;  // its route's slot for the next request (RouteBudget)
  };
  // One route of one host, as its server's limiter counts requests.
  struct Route {
    std::string endpoint;
    infisical::RouteBudget& budget;
  };
  std::shared_ptr<ScopeEntry> entry(const std::string& scope_key);
  Route route(const SourceRequest& request);
  // The request may go now; its route counts it under `ticket` until answered (RouteBudget::go).
  struct Cleared {
    uint64_t ticket = 0;
  };
  using SlotResult = std::variant<Cleared, ScopeThrottled>;
  // A budget slot for `entry` now, or how long until its slot comes.
  SlotResult take_slot(ScopeEntry& entry, Route& route);
  // Both slots have come: the request goes now, unless the route's server said meanwhile that its
  // window is spent.
  SlotResult go(ScopeEntry& entry, Route& route, core::Clock::time_point now);
  // The answer for a scope whose last request failed (entry.failure set): the failure, or a deferral
  // when the server rate-limited a refresh of data the scope still holds.
  ScopeResult failed(const ScopeEntry& entry, std::chrono::seconds resync) const;
  ScopeResult ask_infisical(ScopeEntry& entry, const SourceRequest& request, std::chrono::seconds resync,
                            Route& route, uint64_t ticket);
  // What the answer's rate-limit headers say about the route, if they are about it.
  void observe(const std::optional<infisical::RateLimitAdvice>& advice, uint64_t ticket, Route& route,
               const SourceRequest& request);

  SecretSource& source_;
  core::Clock& clock_;
  infisical::WindowBudget budget_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ScopeEntry>> scopes_;
  uint64_t last_version_ = 0;  // under mu_: versions are unique over every scope and forget()
  // By host and route template. Never forgotten: the server's window goes on whatever we forget.
  std::map<std::string, infisical::RouteBudget> routes_;
};

}  // namespace ifo::syncer
