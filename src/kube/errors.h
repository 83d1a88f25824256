// Typed errors of the Kubernetes client. Messages never carry request headers, bodies or tokens.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace ifo::kube {

// Base of everything the client throws, so callers may catch one type.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Configuration could not be loaded: the message names the file and the field.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// The API server answered with an error status. code/reason/message come from the metav1.Status body
// when there is one (reason is a StatusReason such as "NotFound", "Conflict", "AlreadyExists",
// "Invalid", "Forbidden", "Gone", "Expired"); otherwise the reason is derived from the HTTP code as
// client-go does.
class ApiError : public Error {
 public:
  ApiError(int code, std::string reason, std::string message, std::string context = {},
           std::optional<std::chrono::seconds> retry_after = std::nullopt);

  int code() const { return code_; }
  const std::string& reason() const { return reason_; }
  // The server's message (e.g. `secrets "x" not found`), without the client's context prefix.
  const std::string& message() const { return message_; }
  // From a Retry-After header or Status details.retryAfterSeconds (429, 503).
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }

  bool is_not_found() const { return reason_ == "NotFound" || (reason_.empty() && code_ == 404); }
  bool is_conflict() const { return reason_ == "Conflict" || (code_ == 409 && reason_ != "AlreadyExists"); }
  bool is_already_exists() const { return reason_ == "AlreadyExists"; }
  // A watch or list resourceVersion / continue token that is too old (HTTP 410, reason Gone or Expired).
  bool is_gone() const { return code_ == 410 || reason_ == "Gone" || reason_ == "Expired"; }
  bool is_forbidden() const { return reason_ == "Forbidden" || code_ == 403; }
  bool is_unauthorized() const { return reason_ == "Unauthorized" || code_ == 401; }
  bool is_invalid() const { return reason_ == "Invalid" || code_ == 422; }
  bool is_too_many_requests() const { return reason_ == "TooManyRequests" || code_ == 429; }
  bool is_server_error() const { return code_ >= 500; }

  // client-go's reason for a bare HTTP code (no Status body).
  static std::string reason_for_code(int code);

 private:
  int code_;
  std::string reason_;
  std::string message_;
  std::optional<std::chrono::seconds> retry_after_;
};

// No HTTP answer: connection refused, TLS failure, timeout, aborted. Wraps net::TransportError with
// the verb and resource path as context.
class TransportError : public Error {
 public:
  enum class Kind { kConnect, kTimeout, kTls, kAborted, kOther };
  TransportError(Kind kind, const std::string& what) : Error(what), kind_(kind) {}
  Kind kind() const { return kind_; }
  bool is_timeout() const { return kind_ == Kind::kTimeout; }
  bool is_aborted() const { return kind_ == Kind::kAborted; }

 private:
  Kind kind_;
};

// A response that is not what the API promises (unparseable JSON, missing fields).
class DecodeError : public Error {
 public:
  using Error::Error;
};

}  // namespace ifo::kube
