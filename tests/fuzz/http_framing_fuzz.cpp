// libFuzzer target: arbitrary bytes as what a client sends the webhook's HTTPS port, through the
// request-head framing (webhook::frame_request_head, src/webhook/http_framing.cpp). Besides crashes
// and sanitizer reports (the input lies in a heap block of exactly its size, so a read past it is one):
//  - deterministic: framing the same bytes twice gives the same result;
//  - the result does not depend on how the bytes arrive: framing growing prefixes (resuming the
//    search where the last one stopped, as the server does per read) ends exactly as the whole;
//  - an incomplete head is within the head limit and holds no blank line;
//  - a parsed head ends at the first blank line, within the head limit; its spans lie inside it; its
//    path starts with '/'; its content length equals the Content-Length header's value (0 without
//    one) and is within the body limit;
//  - a refused head gets a 4xx or 5xx status and a non-empty message of at most 512 bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "core/text.h"
#include "fuzz_common.h"
#include "webhook/http_framing.h"

namespace {

using ifo::webhook::HeadFrame;

// Small limits, so that mutations reach the 431 and 413 refusals.
constexpr ifo::webhook::FramingLimits kLimits{1024, 4096};

bool same(const HeadFrame& a, const HeadFrame& b) {
  auto span_eq = [](ifo::webhook::Span x, ifo::webhook::Span y) { return x.off == y.off && x.len == y.len; };
  return a.state == b.state && a.status == b.status && a.why == b.why && a.body_start == b.body_start &&
         span_eq(a.head.method, b.head.method) && span_eq(a.head.path, b.head.path) &&
         span_eq(a.head.content_type, b.head.content_type) && a.head.close == b.head.close &&
         a.head.expect_continue == b.head.expect_continue && a.head.content_length == b.head.content_length;
}

// A reference reading of the Content-Length header in a well-formed head (digits only, at most one
// value, as the parser has then checked): the last header line of that name, 0 when none.
uint64_t reference_content_length(std::string_view head) {
  uint64_t length = 0;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const size_t start = pos + 2;
    pos = head.find("\r\n", start);
    const std::string_view line = head.substr(start, pos == std::string_view::npos ? head.npos : pos - start);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !ifo::core::iequals_ascii(line.substr(0, colon), "content-length"))
      continue;
    length = 0;
    for (char ch : line.substr(colon + 1))
      if (ch >= '0' && ch <= '9') length = length * 10 + static_cast<uint64_t>(ch - '0');
  }
  return length;
}

void check_frame(std::string_view input, const HeadFrame& f) {
  using ifo::fuzz::check;
  using State = HeadFrame::State;
  if (f.state == State::kIncomplete) {
    check(input.size() <= kLimits.max_head_bytes, "an over-long head is left incomplete",
          input.substr(0, 256));
    check(input.find("\r\n\r\n") == std::string_view::npos, "a complete head is reported incomplete");
    return;
  }
  if (f.state == State::kRefused) {
    check(f.status >= 400 && f.status <= 599, "a refused head has no 4xx/5xx status", f.why);
    check(!f.why.empty() && f.why.size() <= 512, "a refusal message is empty or over 512 bytes", f.why);
    return;
  }
  check(f.body_start >= 4 && f.body_start <= input.size() && f.body_start <= kLimits.max_head_bytes,
        "the body starts outside the buffer or the head limit");
  check(f.body_start == input.find("\r\n\r\n") + 4, "the head does not end at the first blank line");
  const std::string_view head = input.substr(0, f.body_start - 4);
  for (auto span : {f.head.method, f.head.path, f.head.content_type})
    check(span.off + span.len <= head.size(), "a span of the head lies outside it");
  check(f.head.method.len > 0, "a parsed head has no method");
  check(f.head.path.len > 0 && input[f.head.path.off] == '/', "a parsed path does not start with '/'");
  check(f.head.content_length <= kLimits.max_body_bytes, "a body over the limit is accepted");
  check(f.head.content_length == reference_content_length(head),
        "content length differs from the header's value", head.substr(0, 512));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ifo::fuzz::check;
  using ifo::webhook::frame_request_head;
  // An exact-size copy: the replay build passes a std::string, whose terminating NUL would hide a
  // one-byte over-read from the sanitizer.
  auto bytes = std::make_unique<char[]>(std::max<size_t>(size, 1));
  if (size > 0) std::memcpy(bytes.get(), data, size);
  const std::string_view input(bytes.get(), size);

  const HeadFrame whole = frame_request_head(input, 0, kLimits);
  check_frame(input, whole);
  check(same(whole, frame_request_head(input, 0, kLimits)), "framing is not deterministic");

  // The same bytes in reads of 1 to 8 bytes (sizes taken from the input), resuming each search.
  size_t seen = 0;
  size_t scanned = 0;
  for (size_t i = 0; seen < size; ++i) {
    seen = std::min(size, seen + 1 + static_cast<size_t>(static_cast<unsigned char>(input[i % size]) % 8));
    const HeadFrame part = frame_request_head(input.substr(0, seen), scanned, kLimits);
    if (part.state == HeadFrame::State::kIncomplete) {
      scanned = seen;
      continue;
    }
    check(same(part, whole), "framing depends on how the bytes arrive", input.substr(0, 512));
    return 0;
  }
  check(whole.state == HeadFrame::State::kIncomplete, "framing depends on how the bytes arrive",
        input.substr(0, 512));
  return 0;
}
