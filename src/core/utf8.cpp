// Replacing ill-formed UTF-8 as Go's JSON decoder does.
#include "core/utf8.h"

#include <cstddef>

namespace ifo::core {

namespace {

// The well-formed UTF-8 sequences (RFC 3629 table 3-7: no overlong forms, no surrogates, nothing
// above U+10FFFF) by their lead byte: its range, the sequence length and the range of the second byte.
struct Utf8Lead {
  unsigned char first, last;
  size_t len;
  unsigned char lo, hi;
};
constexpr Utf8Lead kUtf8Leads[] = {{0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF},
                                   {0xE1, 0xEC, 3, 0x80, 0xBF}, {0xED, 0xED, 3, 0x80, 0x9F},
                                   {0xEE, 0xEF, 3, 0x80, 0xBF}, {0xF0, 0xF0, 4, 0x90, 0xBF},
                                   {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F}};

// The length of the well-formed UTF-8 sequence at s[i], or 0 when there is none.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  if (byte(i) < 0x80) return 1;
  for (const Utf8Lead& lead : kUtf8Leads) {
    if (byte(i) < lead.first || byte(i) > lead.last) continue;
    if (i + lead.len > s.size() || byte(i + 1) < lead.lo || byte(i + 1) > lead.hi) return 0;
    for (size_t k = 2; k < lead.len; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return lead.len;
  }
  return 0;
}

}  // namespace

std::string go_decoded_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (size_t len = utf8_sequence(s, i)) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

}  // namespace ifo::core
