// core/duration.h: Go's time.ParseDuration syntax, the one duration syntax of every binary's flags.
#include "core/duration.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

using namespace ifo::core;
using std::chrono::nanoseconds;

namespace {

constexpr std::int64_t kUs = 1000, kMs = 1000 * kUs, kS = 1000 * kMs, kM = 60 * kS, kH = 60 * kM;

struct Good {
  const char* text;
  std::int64_t ns;
};

struct Bad {
  const char* text;
  const char* message_part;  // what the user is told
};

}  // namespace

TEST_CASE("durations Go's time.ParseDuration accepts parse to the same nanoseconds") {
  const Good table[] = {
      {"0", 0},
      {"+0", 0},
      {"-0", 0},
      {"90s", 90 * kS},
      {"1m30s", 90 * kS},
      {"1h", kH},
      {"500ms", 500 * kMs},
      {"1.5h", 90 * kM},
      {"-1.5h", -90 * kM},
      {"+5s", 5 * kS},
      {"2h45m", 2 * kH + 45 * kM},
      {"1h2m3s4ms5us6ns", kH + 2 * kM + 3 * kS + 4 * kMs + 5 * kUs + 6},
      {"3us", 3 * kUs},
      {"3\xC2\xB5s", 3 * kUs},  // µs, U+00B5
      {"3\xCE\xBCs", 3 * kUs},  // μs, U+03BC
      {".5s", 500 * kMs},
      {"5.s", 5 * kS},
      {"0.000000001s", 1},
      {"0.0000000019s", 1},  // beyond nanosecond precision: dropped
      {"1.000000000000000000001s", kS},
      {"3000ms", 3 * kS},
      {"10m1.5s", 10 * kM + 1500 * kMs},
      {"9223372036854775807ns", std::numeric_limits<std::int64_t>::max()},
      {"-9223372036854775808ns", std::numeric_limits<std::int64_t>::min()},
      {"2562047h", 2562047 * kH},
  };
  for (const auto& row : table) {
    CAPTURE(row.text);
    auto d = parse_duration(row.text);
    REQUIRE(d.ok());
    CHECK(d->count() == row.ns);
  }
}

TEST_CASE("durations Go refuses are errors that quote the text and say what is wrong") {
  const Bad table[] = {
      {"", "empty"},
      {"-", "empty"},
      {"10", "add a unit, e.g. 10s"},  // a bare number is not seconds
      {"1.5", "missing unit"},
      {"1m30", "missing unit after \"30\""},
      {"s", "expected a number"},
      {".s", "expected a number"},
      {"1d", "unknown unit \"d\""},  // Go has no days
      {"5w", "unknown unit \"w\""},
      {"1 s", "unknown unit \" s\""},
      {"1S", "unknown unit \"S\""},
      {"--1s", "expected a number"},
      {"9223372036854775808ns", "out of range"},
      {"2562048h", "out of range"},
      {"-9223372036854775809ns", "out of range"},
      {"99999999999999999999999h", "out of range"},
  };
  for (const auto& row : table) {
    CAPTURE(row.text);
    auto d = parse_duration(row.text);
    REQUIRE_FALSE(d.ok());
    CHECK(d.error().find(row.message_part) != std::string::npos);
    CHECK(d.error().find("invalid duration \"" + std::string(row.text) + "\"") == 0);
  }
}

TEST_CASE("compatibility extensions are only what a flag asks for") {
  // Plain seconds: the syncer's historic flags.
  CHECK(parse_duration("30", {.plain_seconds = true}).value() == std::chrono::seconds(30));
  CHECK(parse_duration("1m30s", {.plain_seconds = true}).value() == std::chrono::seconds(90));
  CHECK_FALSE(parse_duration("30", {.days = true}).ok());
  // Days: certs-gen's historic flags.
  CHECK(parse_duration("7d", {.days = true}).value() == std::chrono::hours(168));
  CHECK(parse_duration("1d12h", {.days = true}).value() == std::chrono::hours(36));
  CHECK_FALSE(parse_duration("7d", {.plain_seconds = true}).ok());
}

TEST_CASE("a flag's duration error names the flag and the value; negative durations are refused") {
  auto bad = parse_duration_flag("--renew-before", "10");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("flag --renew-before: ") == 0);
  CHECK(bad.error().find("\"10\"") != std::string::npos);
  auto negative = parse_duration_flag("--shutdown-grace", "-1s");
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.error() == "flag --shutdown-grace: duration \"-1s\" must not be negative");
  CHECK(parse_duration_flag("--x", "1m30s").value() == std::chrono::seconds(90));
}
