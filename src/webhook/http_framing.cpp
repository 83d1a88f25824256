// HTTP/1.1 request-head framing (see http_framing.h).
#include "webhook/http_framing.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include "core/text.h"

namespace ifo::webhook {
namespace {

using core::iequals_ascii;

// HTTP's optional whitespace around header values and list items (RFC 9110 OWS).
std::string_view trim_ows(std::string_view s) {
  return core::trim(s, " \t");
}

// RFC 9110 tchar.
bool is_token_char(char ch) {
  static constexpr auto kToken = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = t[static_cast<size_t>(c - 'a' + 'A')] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  return kToken[static_cast<unsigned char>(ch)];
}

// True when the comma-separated list `value` holds `token` (case-insensitive, OWS around items).
bool list_contains(std::string_view value, std::string_view token) {
  size_t from = 0;
  while (from <= value.size()) {
    size_t comma = value.find(',', from);
    if (comma == std::string_view::npos) comma = value.size();
    if (iequals_ascii(trim_ows(value.substr(from, comma - from)), token)) return true;
    from = comma + 1;
  }
  return false;
}

}  // namespace

int parse_request_head(std::string_view text, RequestHead& h, std::string& why) {
  size_t line_end = text.find("\r\n");
  std::string_view line = text.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    why = "malformed request line";
    return 400;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), is_token_char)) {
    why = "malformed request method";
    return 400;
  }
  if (target.empty() || target.front() != '/') {
    why = "the request target must be a path";
    return 400;
  }
  if (version == "HTTP/1.0") {
    h.close = true;
  } else if (version != "HTTP/1.1") {
    why = fmt::format("HTTP version {:?} is not supported (HTTP/1.1 only)", version.substr(0, 16));
    return version.substr(0, 5) == "HTTP/" ? 505 : 400;
  }
  h.method = {0, sp1};
  h.path = {sp1 + 1, std::min(target.size(), target.find('?'))};

  std::optional<uint64_t> length;
  bool transfer_encoding = false;
  size_t pos = line_end == std::string_view::npos ? text.size() : line_end + 2;
  while (pos < text.size()) {
    size_t end = text.find("\r\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view header = text.substr(pos, end - pos);
    const size_t colon = header.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      why = "malformed header line";
      return 400;
    }
    std::string_view name = header.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) {
      why = fmt::format("malformed header name {:?}", name.substr(0, 64));
      return 400;
    }
    std::string_view value = trim_ows(header.substr(colon + 1));
    if (iequals_ascii(name, "content-length")) {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        why = "Content-Length is not a number";
        return 400;
      }
      uint64_t n = 0;
      std::from_chars(value.data(), value.data() + value.size(), n);  // at most 18 digits: it fits
      if (length && *length != n) {
        why = "conflicting Content-Length headers";
        return 400;
      }
      length = n;
    } else if (iequals_ascii(name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (iequals_ascii(name, "connection")) {
      if (list_contains(value, "close")) h.close = true;
    } else if (iequals_ascii(name, "expect")) {
      if (!iequals_ascii(value, "100-continue")) {
        why = fmt::format("Expect {:?} is not supported", value.substr(0, 64));
        return 417;
      }
      h.expect_continue = true;
    } else if (iequals_ascii(name, "content-type") && h.content_type.len == 0 && !value.empty()) {
      // An empty value is no content type: its view may not point into `text` (trim returns {}), and
      // an offset computed from it would make the span throw when the server reads it.
      h.content_type = {static_cast<size_t>(value.data() - text.data()), value.size()};
    }
    pos = end + 2;
  }
  if (transfer_encoding) {
    why = length ? "both Transfer-Encoding and Content-Length are set"
                 : "request bodies must be sent with Content-Length (Transfer-Encoding is not accepted)";
    return length ? 400 : 411;
  }
  h.content_length = length.value_or(0);
  return 0;
}

HeadFrame frame_request_head(std::string_view buffer, size_t scanned, const FramingLimits& limits) {
  HeadFrame f;
  // The blank line may straddle the part already searched: back up by its length less one.
  const size_t from = std::min(scanned, buffer.size()) > 3 ? std::min(scanned, buffer.size()) - 3 : 0;
  const size_t end = buffer.find("\r\n\r\n", from);
  if (end == std::string_view::npos || end + 4 > limits.max_head_bytes) {
    if (buffer.size() <= limits.max_head_bytes) return f;
    f.state = HeadFrame::State::kRefused;
    f.status = 431;
    f.why = fmt::format("request head larger than {} bytes", limits.max_head_bytes);
    return f;
  }
  if (const int status = parse_request_head(buffer.substr(0, end), f.head, f.why); status != 0) {
    f.state = HeadFrame::State::kRefused;
    f.status = status;
    return f;
  }
  if (f.head.content_length > limits.max_body_bytes) {
    f.state = HeadFrame::State::kRefused;
    f.status = 413;
    f.why = fmt::format("request body of {} bytes is larger than the limit of {} bytes",
                        f.head.content_length, limits.max_body_bytes);
    return f;
  }
  f.state = HeadFrame::State::kComplete;
  f.body_start = end + 4;
  return f;
}

void append_response_head(std::string& out, int status, std::string_view content_type, size_t content_length,
                          bool close) {
  char number[24];
  auto append_number = [&out, &number](size_t n) {
    auto end = std::to_chars(number, number + sizeof number, n).ptr;
    out.append(number, static_cast<size_t>(end - number));
  };
  out.append("HTTP/1.1 ");
  append_number(static_cast<size_t>(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\nContent-Type: ");
  out.append(content_type);
  out.append("\r\nContent-Length: ");
  append_number(content_length);
  out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace ifo::webhook
