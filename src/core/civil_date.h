// Days since 1970-01-01 to a proleptic Gregorian date and back (Howard Hinnant's public-domain
// algorithms), shared by the RFC 3339 formatting in core and kube, so neither needs gmtime's statics.
#pragma once

#include <cstdint>

namespace ifo::core {

struct CivilDate {
  int64_t y;
  unsigned m;  // 1..12
  unsigned d;  // 1..31
};

constexpr CivilDate civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {m <= 2 ? y + 1 : y, m, d};
}

constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

static_assert(days_from_civil(1970, 1, 1) == 0 && civil_from_days(0).y == 1970);
static_assert(days_from_civil(2000, 3, 1) == 11017 && civil_from_days(11017).m == 3);

}  // namespace ifo::core
