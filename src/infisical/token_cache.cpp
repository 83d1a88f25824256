// The shared token cache: single flight per key, renewal before expiry, bounded login retries.
#include "infisical/token_cache.h"

#include <fmt/format.h>

#include <algorithm>

namespace ifo::infisical {

using std::chrono::seconds;
using Clock = core::Clock;

TokenCache::TokenCache(const core::Clock& clock, Metrics& metrics, std::shared_ptr<spdlog::logger> logger,
                       TokenCacheOptions options)
    : clock_(clock), metrics_(metrics), log_(std::move(logger)), options_(options) {}

Clock::time_point TokenCache::expiry(const Entry& e) const {
  auto end = Clock::time_point::max();
  if (e.token->expires_in > 0) end = e.issued_at + seconds(e.token->expires_in);
  if (e.token->max_ttl > 0) end = std::min(end, e.login_at + seconds(e.token->max_ttl));
  return end;
}

// Renew when a fifth of the lifetime is left (at most 5 minutes, at least 1 second before expiry).
Clock::time_point TokenCache::refresh_time(const Entry& e) const {
  auto end = expiry(e);
  if (end == Clock::time_point::max()) return end;
  auto margin = std::clamp(seconds(e.token->expires_in / 5), seconds(1), seconds(300));
  return end - margin;
}

// Renewing cannot outlive the max TTL: when less than one TTL of it is left, log in afresh.
bool TokenCache::should_relogin(const Entry& e, Clock::time_point now) const {
  if (now >= expiry(e)) return true;
  if (e.token->max_ttl <= 0) return false;
  auto max_end = e.login_at + seconds(e.token->max_ttl);
  return max_end - now < seconds(e.token->expires_in);
}

std::optional<Clock::time_point> TokenCache::refresh_at(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.token) return std::nullopt;
  return refresh_time(it->second);
}

Token TokenCache::get(const std::string& key, const std::string& display, const LoginFn& login,
                      const RenewFn& renew) {
  std::unique_lock lock(mu_);
  Entry& e = entries_[key];
  bool counted = false;
  auto count = [&](std::atomic<uint64_t>& c) {
    if (!counted) ++c;
    counted = true;
  };
  for (;;) {
    auto now = clock_.now();
    if (e.token && now < refresh_time(e)) {
      count(metrics_.token_cache_hits);
      return *e.token;
    }
    if (e.in_flight) {
      count(metrics_.token_cache_misses);
      cv_.wait(lock);
      continue;
    }
    if (e.last_error && now < e.next_attempt) {
      if (e.token && now < expiry(e)) {  // renewal failed recently, but the token still works
        count(metrics_.token_cache_hits);
        return *e.token;
      }
      ++metrics_.cached_login_errors;
      auto wait = std::chrono::duration_cast<seconds>(e.next_attempt - now).count();
      throw e.last_error->with_context(fmt::format("(last attempt failed; next attempt in {}s)", wait));
    }
    count(metrics_.token_cache_misses);
    e.in_flight = true;
    const bool try_renew = e.token && renew && !should_relogin(e, now);
    const std::string old_token = e.token ? e.token->access_token : std::string();
    lock.unlock();

    std::optional<Token> result;
    std::optional<ApiError> error;
    bool renewed = false;
    auto attempt = [&](const auto& fn) {
      try {
        result = fn();
        error.reset();
      } catch (const ApiError& err) {
        error = err;
      } catch (const std::exception& ex) {
        error = ApiError(ErrorKind::kCredentialSource, fmt::format("login for {} failed: {}", display, ex.what()));
      }
    };
    if (try_renew) {
      ++metrics_.renewals;
      attempt([&] { return renew(old_token); });
      if (result) {
        renewed = true;
      } else {
        ++metrics_.renewal_failures;
        if (log_) log_->warn("token renewal failed identity={} error=\"{}\"; logging in again", display, error->what());
      }
    }
    if (!result) {
      ++metrics_.logins;
      attempt(login);
      if (!result) ++metrics_.login_failures;
    }

    lock.lock();
    e.in_flight = false;
    auto done = clock_.now();
    if (result) {
      if (!renewed) e.login_at = done;
      e.issued_at = done;
      e.token = std::move(*result);
      e.last_error.reset();
      if (log_)
        log_->info("{} identity={} expires_in={}s max_ttl={}s", renewed ? "token renewed" : "logged in", display,
                   e.token->expires_in, e.token->max_ttl);
      cv_.notify_all();
      return *e.token;
    }
    auto backoff = options_.failure_backoff;
    if (error->retry_after() && *error->retry_after() > backoff) backoff = *error->retry_after();
    e.last_error = *error;
    e.next_attempt = done + backoff;
    if (log_) log_->warn("login failed identity={} error=\"{}\" next_attempt_in={}s", display, error->what(), backoff.count());
    cv_.notify_all();
    if (e.token && done < expiry(e)) return *e.token;
    throw *error;
  }
}

void TokenCache::invalidate(const std::string& key, const std::string& access_token) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.token || it->second.token->access_token != access_token) return;
  it->second.token.reset();
  if (log_) log_->info("token refused by the server; the next request logs in again");
}

}  // namespace ifo::infisical
