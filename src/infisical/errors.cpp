// Typed errors of the Infisical client and the mapping of HTTP answers and transport failures onto them.
#include "infisical/errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "core/json.h"

namespace ifo::infisical {

namespace {

constexpr size_t kMaxServerMessage = 300;

// The length of s's first n bytes, shortened so that no UTF-8 sequence is split (a message cut inside
// a character is not UTF-8 any more, and ends up in Status conditions and logs).
size_t utf8_cut(std::string_view s, size_t n) {
  if (n >= s.size()) return s.size();
  auto continuation = [&](size_t i) { return (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; };
  size_t cut = n;
  while (cut > 0 && n - cut < 3 && continuation(cut)) --cut;
  return continuation(cut) ? n : cut;  // no lead byte within a character's length: not UTF-8 anyway
}

std::string truncate(std::string s) {
  if (s.size() > kMaxServerMessage) {
    s.resize(utf8_cut(s, kMaxServerMessage));
    s += "…";
  }
  return s;
}

// Control characters out: a hostile server must not be able to forge log lines.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) out.push_back(c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c));
  return out;
}

// A 3xx: never followed, since the server must not be able to send the request, and the credentials in
// it, elsewhere. Pointing at another host is the trust boundary's business (kHostNotAllowed); on the same
// host the answer is simply unusable (often a hostAPI missing its /api path, or http that wants https).
ApiError redirect_error(std::string_view what, const net::Response& response, int status) {
  auto location = response.header("location");
  auto from = response.url.empty() ? std::nullopt : net::url_origin(response.url);
  auto to = location ? net::url_origin(*location, response.url) : std::nullopt;
  if (!to)
    return ApiError(ErrorKind::kInvalidResponse,
                    fmt::format("{}: HTTP {} redirect without a usable Location; redirects are not followed",
                                what, status),
                    status);
  // Without the request's URL (a test transport), an absolute Location counts as another host.
  const bool other_host = !from || from->host != to->host;
  return ApiError(other_host ? ErrorKind::kHostNotAllowed : ErrorKind::kInvalidResponse,
                  fmt::format("{}: HTTP {}: the redirect to {} was not followed (the operator never follows "
                              "redirects; hostAPI must name the server that answers)",
                              what, status, printable(to->display())),
                  status);
}

}  // namespace

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUnauthorized: return "Unauthorized";
    case ErrorKind::kForbidden: return "Forbidden";
    case ErrorKind::kNotFound: return "NotFound";
    case ErrorKind::kRateLimited: return "RateLimited";
    case ErrorKind::kServerError: return "ServerError";
    case ErrorKind::kBadRequest: return "BadRequest";
    case ErrorKind::kTimeout: return "Timeout";
    case ErrorKind::kTls: return "Tls";
    case ErrorKind::kNetwork: return "Network";
    case ErrorKind::kInvalidResponse: return "InvalidResponse";
    case ErrorKind::kCredentialSource: return "CredentialSource";
    case ErrorKind::kInvalidConfig: return "InvalidConfig";
    case ErrorKind::kHostNotAllowed: return "HostNotAllowed";
  }
  return "Unknown";
}

ApiError::ApiError(ErrorKind kind, std::string message, int status, std::string server_message,
                   std::optional<std::chrono::seconds> retry_after, bool possible_rate_limit,
                   std::optional<RateLimitAdvice> rate_limit)
    : std::runtime_error(std::move(message)),
      kind_(kind),
      status_(status),
      server_message_(std::move(server_message)),
      retry_after_(retry_after),
      possible_rate_limit_(possible_rate_limit),
      rate_limit_(std::move(rate_limit)) {}

ApiError ApiError::with_context(std::string_view context) const {
  return ApiError(kind_, fmt::format("{}: {}", context, what()), status_, server_message_, retry_after_,
                  possible_rate_limit_, rate_limit_);
}

ApiError ApiError::with_endpoint(std::string_view endpoint) const {
  ApiError e = *this;
  if (e.rate_limit_) e.rate_limit_->endpoint = std::string(endpoint);
  return e;
}

std::string redact(std::string text, const std::vector<std::string>& sensitive) {
  for (const auto& s : sensitive) {
    if (s.size() < 4) continue;  // too short to be a credential; replacing it would garble the text
    for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos))
      text.replace(pos, s.size(), "[redacted]");
  }
  return text;
}

std::string server_message_of(std::string_view body, const std::vector<std::string>& sensitive) {
  auto doc = core::parse_json(body);
  std::string msg;
  if (doc.ok() && (*doc)->IsObject()) {
    const auto* m = core::member(**doc, "message");
    if (m != nullptr && m->IsString()) {
      msg = m->GetString();
    } else if (m != nullptr && m->IsArray()) {
      // zod validation issues: [{"path":["clientSecret"],"message":"Required"}, ...]
      std::string joined;
      for (const auto& issue : m->GetArray()) {
        if (!issue.IsObject()) continue;
        std::string path;
        if (const auto* p = core::member(issue, "path"); p != nullptr && p->IsArray())
          for (const auto& seg : p->GetArray())
            if (seg.IsString()) path += (path.empty() ? "" : ".") + std::string(seg.GetString());
        if (!joined.empty()) joined += "; ";
        joined += fmt::format("{}: {}", path, core::string_or(issue, "message", "invalid"));
      }
      msg = joined.empty() ? "validation failed" : "validation failed: " + joined;
    }
    if (msg.empty()) msg = core::string_or(**doc, "error", "");
  }
  if (msg.empty() && !doc.ok()) {
    // Not JSON (a proxy's HTML page, plain text): keep a short printable prefix.
    msg = std::string(body.substr(0, utf8_cut(body, 120)));
  }
  return truncate(printable(redact(std::move(msg), sensitive)));
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  bool digits = true;
  for (char c : value) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (digits) {
    if (value.size() > 9) return std::chrono::seconds(86400);  // absurd: cap at a day
    return std::chrono::seconds(std::stol(std::string(value)));
  }
  // HTTP-date, IMF-fixdate form: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  // In seconds, not in the clock's nanoseconds: a hostile server's year 9999 must not overflow.
  const long long delta = static_cast<long long>(timegm(&tm)) - static_cast<long long>(std::chrono::system_clock::to_time_t(now));
  return std::chrono::seconds(std::clamp(delta, 0LL, 86400LL));  // absurd: cap at a day, as above
}

ApiError error_from_response(std::string_view what, const net::Response& response, bool secrets_route,
                             std::chrono::system_clock::time_point now, const std::vector<std::string>& sensitive) {
  const int status = static_cast<int>(response.status);
  if (status >= 300 && status < 400) return redirect_error(what, response, status);
  std::string server = server_message_of(response.body, sensitive);
  std::string detail = server.empty() ? fmt::format("HTTP {}", status) : fmt::format("{} (HTTP {})", server, status);
  std::optional<std::chrono::seconds> retry_after;
  if (auto h = response.header("retry-after")) retry_after = parse_retry_after(*h, now);
  std::optional<RateLimitAdvice> rate_limit = parse_rate_limit(response, now);

  ErrorKind kind;
  bool possible_rate_limit = false;
  if (status == 401) {
    kind = ErrorKind::kUnauthorized;
  } else if (status == 403) {
    kind = ErrorKind::kForbidden;
  } else if (status == 404) {
    kind = ErrorKind::kNotFound;
  } else if (status == 429) {
    kind = ErrorKind::kRateLimited;
    if (!retry_after) retry_after = std::chrono::seconds(60);  // the servers count over a 60 s window
  } else if (is_rate_limit_refusal(status, rate_limit)) {
    // The self-hosted server's refusal: a generic 500, but with the limiter's headers on it.
    kind = ErrorKind::kRateLimited;
    possible_rate_limit = secrets_route;
    detail += "; rate limited (the limiter's headers say none of its requests are left)";
  } else if (status >= 500) {
    kind = ErrorKind::kServerError;
    possible_rate_limit = secrets_route;
    if (possible_rate_limit) detail += "; on this route older Infisical servers answer 500 when rate limited";
  } else {
    kind = ErrorKind::kBadRequest;
  }
  if (retry_after) detail += fmt::format("; retry after {}s", retry_after->count());
  return ApiError(kind, fmt::format("{}: {}", what, detail), status, std::move(server), retry_after,
                  possible_rate_limit, std::move(rate_limit));
}

ApiError error_from_transport(std::string_view what, const net::TransportError& error) {
  if (dynamic_cast<const net::AddressRefusedError*>(&error) != nullptr)
    return ApiError(ErrorKind::kHostNotAllowed, fmt::format("{}: {}", what, error.what()));
  if (dynamic_cast<const net::ResponseTooLargeError*>(&error) != nullptr)
    return ApiError(ErrorKind::kInvalidResponse, fmt::format("{}: {}", what, error.what()));
  ErrorKind kind = ErrorKind::kNetwork;
  switch (error.kind()) {
    case net::TransportError::Kind::kTimeout: kind = ErrorKind::kTimeout; break;
    case net::TransportError::Kind::kTls: kind = ErrorKind::kTls; break;
    default: kind = ErrorKind::kNetwork; break;
  }
  return ApiError(kind, fmt::format("{}: {}", what, error.what()));
}

}  // namespace ifo::infisical
