// One duration syntax for every flag of every binary: Go's time.ParseDuration ("90s", "1m30s", "1.5h").
#pragma once

#include <chrono>
#include <string_view>

#include "core/result.h"

namespace ifo::core {

// Extensions a flag keeps only because it accepted them before the syntax was unified.
struct DurationSyntax {
  bool plain_seconds = false;  // "30" means 30s (historic syncer flags)
  bool days = false;           // "7d" means 168h (historic certs-gen flags)
};

// A possibly signed sequence of decimal numbers, each with an optional fraction and a unit: ns, us
// (or µs, μs), ms, s, m, h. "0" needs no unit. Out of the int64 nanosecond range is an error, as in Go;
// digits of a fraction beyond nanosecond precision are dropped.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text, DurationSyntax syntax = {});

// parse_duration for a flag's value: the error names the flag and the value ("flag --x: ..."), and a
// negative duration is refused (no flag means anything by one).
Result<std::chrono::nanoseconds> parse_duration_flag(std::string_view flag, std::string_view value,
                                                     DurationSyntax syntax = {});

}  // namespace ifo::core
