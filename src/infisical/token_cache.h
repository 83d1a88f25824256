// One access token per (host, method, identity), shared by every caller: renewed before expiry, logged in
// again near the max TTL or after a 401, one call in flight per key, and at most one login attempt per
// failure backoff (60 s) on repeated failures.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "infisical/errors.h"
#include "infisical/metrics.h"

namespace ifo::infisical {

// What every login method produces (the login/renew response), plus the project of a service token.
struct Token {
  std::string access_token;
  int64_t expires_in = 0;  // seconds; 0: never expires
  int64_t max_ttl = 0;     // accessTokenMaxTTL, seconds; 0: no maximum
  std::string project_id;  // service tokens only: the project the token belongs to
};

struct TokenCacheOptions {
  // After a failed login (or renewal), no new attempt for this identity before this much time passed (or
  // the server's Retry-After, when longer); callers get the cached error meanwhile.
  std::chrono::seconds failure_backoff{60};
};

class TokenCache {
 public:
  using LoginFn = std::function<Token()>;
  using RenewFn = std::function<Token(const std::string& access_token)>;

  TokenCache(const core::Clock& clock, Metrics& metrics, std::shared_ptr<spdlog::logger> logger,
             TokenCacheOptions options = {});

  // Returns a usable token for `key`, logging in or renewing when needed. `display` names the identity in
  // logs and errors (never a secret). `renew` may be empty (tokens that cannot be renewed).
  // Throws ApiError.
  Token get(const std::string& key, const std::string& display, const LoginFn& login, const RenewFn& renew);

  // The server refused this token (401): the next get() logs in again, unless a newer token is cached.
  void invalidate(const std::string& key, const std::string& access_token);

  // When the token for key will be renewed or replaced (for tests and diagnostics); nullopt: none cached.
  std::optional<core::Clock::time_point> refresh_at(const std::string& key) const;

 private:
  struct Entry {
    std::optional<Token> token;
    core::Clock::time_point issued_at{};  // expires_in counts from here (login or renewal)
    core::Clock::time_point login_at{};   // max TTL counts from here
    bool in_flight = false;
    std::optional<ApiError> last_error;
    core::Clock::time_point next_attempt{};
  };
  core::Clock::time_point expiry(const Entry& e) const;  // max() when the token never expires
  core::Clock::time_point refresh_time(const Entry& e) const;
  bool should_relogin(const Entry& e, core::Clock::time_point now) const;

  const core::Clock& clock_;
  Metrics& metrics_;
  std::shared_ptr<spdlog::logger> log_;
  TokenCacheOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> entries_;
};

}  // namespace ifo::infisical
