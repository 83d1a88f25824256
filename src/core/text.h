// ASCII text helpers shared by the HTTP server, the config readers and the clients: HTTP header
// names and media types compare case-insensitively in ASCII only, whatever the process locale.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace ifo::core {

// What std::isspace accepts in the C locale.
inline constexpr std::string_view kAsciiWhitespace = " \t\n\v\f\r";

// `s` without leading and trailing characters from `chars` (a view of the same text: no copy).
constexpr std::string_view trim(std::string_view s, std::string_view chars = kAsciiWhitespace) {
  const size_t first = s.find_first_not_of(chars);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(chars) - first + 1);
}

constexpr char ascii_lower(char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch; }

constexpr bool iequals_ascii(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

inline std::string to_lower_ascii(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

}  // namespace ifo::core
