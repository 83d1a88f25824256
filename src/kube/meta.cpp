// Object metadata accessors and RFC 3339 time formatting.
#include "kube/meta.h"

#include <fmt/format.h>

#include <cctype>

#include "core/civil_date.h"
#include "kube/resource.h"

namespace ifo::kube {

namespace {
std::string metadata_string(const core::JsonValue& obj, std::string_view field) {
  const auto* md = core::member(obj, "metadata");
  if (md == nullptr) return {};
  return core::string_or(*md, field, "");
}

std::string format(std::chrono::system_clock::time_point t, bool micro) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
  const int64_t frac = us - secs * 1000000;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t sod = secs - days * 86400;
  core::CivilDate c = core::civil_from_days(days);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", c.y, c.m, c.d, sod / 3600, (sod / 60) % 60, sod % 60);
  if (micro) out += fmt::format(".{:06}", frac);
  out += 'Z';
  return out;
}
}  // namespace

std::string meta_name(const core::JsonValue& obj) { return metadata_string(obj, "name"); }
std::string meta_namespace(const core::JsonValue& obj) { return metadata_string(obj, "namespace"); }
std::string meta_resource_version(const core::JsonValue& obj) { return metadata_string(obj, "resourceVersion"); }
std::string meta_uid(const core::JsonValue& obj) { return metadata_string(obj, "uid"); }
std::string meta_key(const core::JsonValue& obj) { return object_key(meta_namespace(obj), meta_name(obj)); }

std::string format_time(std::chrono::system_clock::time_point t) { return format(t, false); }
std::string format_micro_time(std::chrono::system_clock::time_point t) { return format(t, true); }

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view s) {
  auto digits = [&](size_t pos, size_t n) -> std::optional<int> {
    if (pos + n > s.size()) return std::nullopt;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2), se = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !se || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t scale = 100000;
    size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (scale > 0) micros += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':') return std::nullopt;
    offset = (*oh * 3600 + *om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t secs = core::days_from_civil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * 86400 + *h * 3600 +
                 *mi * 60 + *se - offset;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::microseconds(secs * 1000000 + micros)));
}

}  // namespace ifo::kube
