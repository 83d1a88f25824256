// The secrets of each Infisical scope, fetched at most once per interval however many InfisicalSecrets
// read it, within a global request budget, with a failing scope backing off on its own.
//
// A scope (BuiltRequest::scope_key) is kept in memory with its ETag: data younger than 80% of the
// resync interval is served without a request, an older one is asked for with If-None-Match (a 304
// keeps the values). A failure is replayed without a request until the scope's retry time (500 ms
// doubling, capped at the resync interval; Retry-After wins). When the budget
// (--infisical-requests-per-minute) is spent, the scope reserves the next slot and every caller is told
// to come back then.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "core/sync_status.h"
#include "core/clock.h"
#include "kube/rate_limiter.h"
#include "syncer/secret_source.h"

namespace ifo::syncer {

// The scope's secrets, from memory or just fetched.
struct ScopeData {
  std::map<std::string, std::string> values;
  core::Clock::time_point fetched_at{};  // when Infisical last confirmed them
};
// The budget has no slot now: nothing was sent; come back after `wait`.
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
  // A budget of `requests_per_minute`, in bursts of up to a tenth of it (at least one).
  ScopeFetcher(SecretSource& source, core::Clock& clock, int requests_per_minute,
               std::shared_ptr<spdlog::logger> log);

  // The secrets of `scope_key` (asked for with `request`), for a resource synced every `resync`.
  // Thread safe; one fetch per scope at a time.
  ScopeResult fetch(const SourceRequest& request, const std::string& scope_key, std::chrono::seconds resync);

  // Drops every scope's data, failure and reserved slot (as after a restart).
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
    std::string etag;
    core::Clock::time_point fetched_at{};
    std::optional<core::Clock::time_point> reserved_slot;  // a budget slot this scope holds
  };
  std::shared_ptr<ScopeEntry> entry(const std::string& scope_key);
  // A budget slot for `entry` now, or how long until its slot comes.
  std::optional<ScopeThrottled> take_slot(ScopeEntry& entry);
  ScopeResult ask_infisical(ScopeEntry& entry, const SourceRequest& request, std::chrono::seconds resync);

  SecretSource& source_;
  core::Clock& clock_;
  kube::TokenBucket budget_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ScopeEntry>> scopes_;
};

}  // namespace ifo::syncer
