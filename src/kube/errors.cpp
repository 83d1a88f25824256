// ApiError construction and client-go's code-to-reason table.
#include "kube/errors.h"

#include <fmt/format.h>

namespace ifo::kube {

namespace {
std::string compose(int code, const std::string& reason, const std::string& message, const std::string& context) {
  std::string head = context.empty() ? std::string() : context + ": ";
  if (message.empty()) return fmt::format("{}{} ({})", head, reason, code);
  return fmt::format("{}{} ({} {})", head, message, code, reason);
}
}  // namespace

ApiError::ApiError(int code, std::string reason, std::string message, std::string context,
                   std::optional<std::chrono::seconds> retry_after)
    : Error(compose(code, reason, message, context)),
      code_(code),
      reason_(std::move(reason)),
      message_(std::move(message)),
      retry_after_(retry_after) {}

std::string ApiError::reason_for_code(int code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return code >= 500 ? "InternalError" : "Unknown";
  }
}

}  // namespace ifo::kube
