// Status conditions (metav1.Condition) and their maths: upsert keeps lastTransitionTime unless the
// status flips; RFC 3339 time formatting. Time is always a parameter (core has no clock).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace ifo::core {

inline constexpr std::string_view kStatusTrue = "True";
inline constexpr std::string_view kStatusFalse = "False";
inline constexpr std::string_view kStatusUnknown = "Unknown";

struct Condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  std::string last_transition_time;  // RFC 3339, e.g. "2026-11-30T23:11:23Z"
  int64_t observed_generation = 0;
  bool operator==(const Condition&) const = default;
};

// Inserts or updates the condition of `c.type`. lastTransitionTime becomes `now` when the condition
// is new or its status changed, and is kept otherwise (whatever c.last_transition_time says).
// Returns true when anything in `conditions` changed, so callers can skip a no-op status write.
bool upsert_condition(std::vector<Condition>& conditions, Condition c, std::chrono::sys_seconds now);

const Condition* find_condition(const std::vector<Condition>& conditions, std::string_view type);
// True when the condition exists and its status is "True".
bool condition_is_true(const std::vector<Condition>& conditions, std::string_view type);

// "YYYY-MM-DDTHH:MM:SSZ" (UTC, whole seconds), as Kubernetes writes metav1.Time.
std::string format_rfc3339(std::chrono::sys_seconds t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)"; fractions are dropped.
Result<std::chrono::sys_seconds> parse_rfc3339(std::string_view text);

// JSON conversion of status.conditions. Reading is lenient: items that are not objects, or lack a
// string type, are skipped; missing fields read as empty/0.
std::vector<Condition> conditions_from_json(const JsonValue& array);
JsonValue conditions_to_json(const std::vector<Condition>& conditions, JsonAlloc& a);
JsonValue condition_to_json(const Condition& c, JsonAlloc& a);

}  // namespace ifo::core
