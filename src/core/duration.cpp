// Go-compatible duration parsing, exact in integer nanoseconds.
#include "core/duration.h"

#include <fmt/format.h>

#include <cstdint>
#include <limits>

namespace ifo::core {

namespace {

__extension__ typedef unsigned __int128 Wide;  // room for int64 ns times a unit without intermediate overflow
constexpr Wide kMaxMagnitude = Wide{1} << 63;  // |INT64_MIN|; the positive limit is one less

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Nanoseconds per unit, 0 for an unknown unit.
std::int64_t unit_ns(std::string_view unit, bool days) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1000;  // U+00B5, U+03BC
  if (unit == "ms") return 1000000;
  if (unit == "s") return 1000000000;
  if (unit == "m") return 60LL * 1000000000;
  if (unit == "h") return 3600LL * 1000000000;
  if (days && unit == "d") return 86400LL * 1000000000;
  return 0;
}

std::string_view unit_list(bool days) {
  return days ? "ns, us, ms, s, m, h or d" : "ns, us, ms, s, m or h";
}

}  // namespace

Result<std::chrono::nanoseconds> parse_duration(std::string_view text, DurationSyntax syntax) {
  using R = Result<std::chrono::nanoseconds>;
  const std::string_view original = text;
  auto invalid = [&](std::string_view why) {
    return R::fail(fmt::format("invalid duration {:?}: {}", original, why));
  };
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return invalid("empty");
  Wide total = 0;
  auto add = [&](Wide v) {
    total += v;
    return total <= kMaxMagnitude;
  };
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && is_digit(c);
  if (all_digits) {
    if (!syntax.plain_seconds)
      return invalid(fmt::format("add a unit, e.g. {}s ({})", text, unit_list(syntax.days)));
    Wide n = 0;
    for (char c : text)
      if ((n = n * 10 + static_cast<unsigned>(c - '0')) > kMaxMagnitude) return invalid("out of range");
    if (!add(n * 1000000000)) return invalid("out of range");
    text = std::string_view();
  }
  while (!text.empty()) {
    Wide whole = 0;
    bool digits = false;
    size_t i = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      digits = true;
      whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
      if (whole > kMaxMagnitude) return invalid("out of range");
    }
    Wide fraction = 0, scale = 1;
    if (i < text.size() && text[i] == '.') {
      for (++i; i < text.size() && is_digit(text[i]); ++i) {
        digits = true;
        if (scale < Wide{1000000000000000000ULL}) {  // beyond 18 digits nothing reaches a nanosecond
          fraction = fraction * 10 + static_cast<unsigned>(text[i] - '0');
          scale *= 10;
        }
      }
    }
    if (!digits) return invalid(fmt::format("expected a number at {:?}", text));
    size_t u = i;
    while (u < text.size() && !is_digit(text[u]) && text[u] != '.') ++u;
    std::string_view unit = text.substr(i, u - i);
    if (unit.empty())
      return invalid(fmt::format("missing unit after {:?} ({})", text.substr(0, i), unit_list(syntax.days)));
    const std::int64_t per = unit_ns(unit, syntax.days);
    if (per == 0) return invalid(fmt::format("unknown unit {:?} ({})", unit, unit_list(syntax.days)));
    if (whole > kMaxMagnitude / static_cast<Wide>(per)) return invalid("out of range");
    if (!add(whole * static_cast<Wide>(per) + fraction * static_cast<Wide>(per) / scale))
      return invalid("out of range");
    text.remove_prefix(u);
  }
  if (!negative && total == kMaxMagnitude) return invalid("out of range");
  const auto magnitude = static_cast<std::int64_t>(total == kMaxMagnitude ? total - 1 : total);
  if (negative)
    return std::chrono::nanoseconds(total == kMaxMagnitude ? std::numeric_limits<std::int64_t>::min()
                                                           : -magnitude);
  return std::chrono::nanoseconds(magnitude);
}

Result<std::chrono::nanoseconds> parse_duration_flag(std::string_view flag, std::string_view value,
                                                     DurationSyntax syntax) {
  using R = Result<std::chrono::nanoseconds>;
  auto d = parse_duration(value, syntax);
  if (!d) return R::fail(fmt::format("flag {}: {}", flag, d.error()));
  if (d->count() < 0) return R::fail(fmt::format("flag {}: duration {:?} must not be negative", flag, value));
  return d;
}

}  // namespace ifo::core
