// Typed errors of the Infisical client: what went wrong (kind), the HTTP status and the server's message.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "infisical/rate_limit.h"
#include "net/http_client.h"

namespace ifo::infisical {

enum class ErrorKind {
  kUnauthorized,      // 401: wrong or expired credentials/token
  kForbidden,         // 403: the identity may not do this, or a malformed token
  kNotFound,          // 404: unknown project, identity or client id
  kRateLimited,       // 429, or a 5xx carrying the limiter's refusal headers (retry_after from Retry-After)
  kServerError,       // 5xx; on a secrets route possibly a rate limit (older servers answer 500)
  kBadRequest,        // 400/422 and other 4xx
  kTimeout,           // connect or total timeout
  kTls,               // TLS handshake or certificate verification failed
  kNetwork,           // connection refused, reset, DNS
  kInvalidResponse,   // a 2xx whose body we cannot use
  kCredentialSource,  // the local credential source failed (key file, cloud metadata, callback)
  kInvalidConfig,     // the caller's configuration is unusable (e.g. a malformed service token)
  kHostNotAllowed,    // the host resolved into a refused address range, or redirected to another host
};

std::string_view to_string(ErrorKind kind);

// Never carries tokens, secret values or client secrets: messages are built from routes, statuses and
// the server's (redacted) message only.
class ApiError : public std::runtime_error {
 public:
  ApiError(ErrorKind kind, std::string message, int status = 0, std::string server_message = {},
           std::optional<std::chrono::seconds> retry_after = std::nullopt, bool possible_rate_limit = false,
           std::optional<RateLimitAdvice> rate_limit = std::nullopt);

  ErrorKind kind() const { return kind_; }
  int status() const { return status_; }
  const std::string& server_message() const { return server_message_; }
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }
  // A 500 from a secrets route: older servers answer rate limiting this way.
  bool possible_rate_limit() const { return possible_rate_limit_; }
  // The server's rate-limit headers on this answer, if it sent them.
  const std::optional<RateLimitAdvice>& rate_limit() const { return rate_limit_; }
  // Credentials are wrong: retrying soon with the same credentials will not help.
  bool is_credentials_error() const {
    return kind_ == ErrorKind::kUnauthorized || kind_ == ErrorKind::kForbidden || kind_ == ErrorKind::kNotFound ||
           kind_ == ErrorKind::kInvalidConfig;
  }

  // The same error with extra context in front of the message.
  ApiError with_context(std::string_view context) const;
  // The same error with the rate-limit headers attributed to the route template that answered.
  ApiError with_endpoint(std::string_view endpoint) const;

 private:
  ErrorKind kind_;
  int status_;
  std::string server_message_;
  std::optional<std::chrono::seconds> retry_after_;
  bool possible_rate_limit_;
  std::optional<RateLimitAdvice> rate_limit_;
};

// Reads the server's "message" out of an Infisical error body ({"statusCode","message","error"}); a zod
// issue array is summarised. Truncated, and every `sensitive` string replaced by "[redacted]".
std::string server_message_of(std::string_view body, const std::vector<std::string>& sensitive = {});

// Retry-After: delay-seconds or an HTTP-date (relative to now).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

// Maps a non-2xx response; a 3xx (never followed) names where it pointed. `what` says what was
// attempted ("universal-auth login for client id X"). A 5xx carrying the rate limiter's refusal
// headers is kRateLimited: the self-hosted server answers its limit that way.
ApiError error_from_response(std::string_view what, const net::Response& response, bool secrets_route,
                             std::chrono::system_clock::time_point now,
                             const std::vector<std::string>& sensitive = {});
// net::AddressRefusedError becomes kHostNotAllowed.
ApiError error_from_transport(std::string_view what, const net::TransportError& error);

// Replaces every occurrence of each non-empty sensitive string by "[redacted]".
std::string redact(std::string text, const std::vector<std::string>& sensitive);

}  // namespace ifo::infisical
