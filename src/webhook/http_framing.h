// HTTP/1.1 request framing for the event server: finding and parsing a request head (request line,
// headers, Content-Length, Transfer-Encoding, Expect, Connection, version) in a byte buffer. Pure
// functions over bytes, no sockets, so they are unit tested and fuzzed (tests/fuzz/http_framing_fuzz.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ifo::webhook {

// A piece of a connection's input buffer as offsets, so it survives the buffer growing.
struct Span {
  size_t off = 0;
  size_t len = 0;
  std::string_view in(std::string_view s) const { return s.substr(off, len); }
};

// What the server needs from a well-formed request head.
struct RequestHead {
  Span method;
  Span path;  // the target without its query string
  Span content_type;
  bool close = false;            // HTTP/1.0 or `Connection: close`: one request, then the connection ends
  bool expect_continue = false;  // `Expect: 100-continue`
  uint64_t content_length = 0;
};

struct FramingLimits {
  size_t max_head_bytes = 64 * 1024;
  size_t max_body_bytes = 3 * 1024 * 1024;
};

// The outcome of looking for a request head at the start of a buffer.
struct HeadFrame {
  enum class State { kIncomplete, kComplete, kRefused };
  State state = State::kIncomplete;
  RequestHead head;       // kComplete (and head.path for kRefused when the request line was read)
  size_t body_start = 0;  // kComplete: offset of the body, just after the blank line
  int status = 0;         // kRefused: 400, 411, 413, 417, 431 or 505
  std::string why;        // kRefused: a message for the client, quoting at most a bounded prefix of the input
};

// Parses the request line and headers in `text` (the head without its closing blank line). Returns
// 0 when well formed, else the status to refuse with and why in `why`.
int parse_request_head(std::string_view text, RequestHead& head, std::string& why);

// Looks for a complete head at the start of `buffer` and parses it. `scanned` is how many bytes of
// the buffer an earlier call with a shorter buffer already searched (0 when unknown): the search for
// the blank line resumes there, so a head arriving in many reads costs linear time. The result does
// not depend on `scanned`. A head over the limit is refused with 431, a declared body over the limit
// with 413 (before any of it is read).
HeadFrame frame_request_head(std::string_view buffer, size_t scanned, const FramingLimits& limits);

// Appends a response's status line and headers (Content-Type, Content-Length, and `Connection: close`
// when `close`) up to the blank line; the body follows.
void append_response_head(std::string& out, int status, std::string_view content_type, size_t content_length,
                          bool close);

// Reason phrase of an HTTP status code ("Unknown" for codes it does not know).
std::string_view reason_phrase(int status);

}  // namespace ifo::webhook
