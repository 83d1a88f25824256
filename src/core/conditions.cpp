// Conditions maths and RFC 3339 time handling.
#include "core/conditions.h"

#include <cctype>

#include <fmt/format.h>

#include "core/civil_date.h"

namespace ifo::core {

namespace {

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at text[pos..]; false if any is not a digit.
bool digits(std::string_view text, size_t pos, size_t n, int& out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    v = v * 10 + (text[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

bool upsert_condition(std::vector<Condition>& conditions, Condition c, std::chrono::sys_seconds now) {
  for (auto& existing : conditions) {
    if (existing.type != c.type) continue;
    c.last_transition_time = existing.status == c.status ? existing.last_transition_time : format_rfc3339(now);
    if (existing == c) return false;
    existing = std::move(c);
    return true;
  }
  c.last_transition_time = format_rfc3339(now);
  conditions.push_back(std::move(c));
  return true;
}

const Condition* find_condition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

bool condition_is_true(const std::vector<Condition>& conditions, std::string_view type) {
  const Condition* c = find_condition(conditions, type);
  return c != nullptr && c->status == kStatusTrue;
}

std::string format_rfc3339(std::chrono::sys_seconds t) {
  const int64_t secs = t.time_since_epoch().count();
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  const CivilDate c = civil_from_days(days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.y, c.m, c.d, rem / 3600, (rem / 60) % 60, rem % 60);
}

Result<std::chrono::sys_seconds> parse_rfc3339(std::string_view text) {
  using R = Result<std::chrono::sys_seconds>;
  auto bad = [&](std::string_view why) {
    return R::fail(fmt::format("invalid RFC 3339 time (want YYYY-MM-DDTHH:MM:SSZ): {}", why));
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(text, 0, 4, y) || text.size() < 20 || text[4] != '-' || !digits(text, 5, 2, mo) || text[7] != '-' ||
      !digits(text, 8, 2, d) || (text[10] != 'T' && text[10] != 't') || !digits(text, 11, 2, h) ||
      text[13] != ':' || !digits(text, 14, 2, mi) || text[16] != ':' || !digits(text, 17, 2, s)) {
    return bad("malformed date or time");
  }
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, static_cast<unsigned>(mo)) ||
      h > 23 || mi > 59 || s > 60) {
    return bad("field out of range");
  }
  size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos == start) return bad("empty fraction");
  }
  int64_t offset = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !digits(text, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad("malformed offset");
    }
    offset = (oh * 3600 + om * 60) * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad("missing time zone");
  }
  if (pos != text.size()) return bad("trailing characters");
  const int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const int64_t secs = days * 86400 + h * 3600 + mi * 60 + (s == 60 ? 59 : s) - offset;
  return std::chrono::sys_seconds(std::chrono::seconds(secs));
}

std::vector<Condition> conditions_from_json(const JsonValue& array) {
  std::vector<Condition> out;
  if (!array.IsArray()) return out;
  for (const auto& item : array.GetArray()) {
    auto type = get_string(item, "type");
    if (!type) continue;
    Condition c;
    c.type = *type;
    c.status = string_or(item, "status", "");
    c.reason = string_or(item, "reason", "");
    c.message = string_or(item, "message", "");
    c.last_transition_time = string_or(item, "lastTransitionTime", "");
    c.observed_generation = get_int(item, "observedGeneration").value_or(0);
    out.push_back(std::move(c));
  }
  return out;
}

JsonValue condition_to_json(const Condition& c, JsonAlloc& a) {
  JsonValue v(rapidjson::kObjectType);
  v.AddMember("type", json_string(c.type, a), a);
  v.AddMember("status", json_string(c.status, a), a);
  v.AddMember("reason", json_string(c.reason, a), a);
  v.AddMember("message", json_string(c.message, a), a);
  v.AddMember("lastTransitionTime", json_string(c.last_transition_time, a), a);
  v.AddMember("observedGeneration", JsonValue(static_cast<int64_t>(c.observed_generation)), a);
  return v;
}

JsonValue conditions_to_json(const std::vector<Condition>& conditions, JsonAlloc& a) {
  JsonValue arr(rapidjson::kArrayType);
  for (const auto& c : conditions) arr.PushBack(condition_to_json(c, a), a);
  return arr;
}

}  // namespace ifo::core
