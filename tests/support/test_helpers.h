// Helpers shared by the unit and http test executables: polling for a condition with a deadline (never a
// fixed sleep), parsing a JSON test document that must be valid, and counting the busiest window of
// request times.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/json.h"

namespace ifo::test {

// Polls f every `poll` until it holds or `limit` passes (threads are involved, so the deadline is real
// time); returns f()'s last answer.
template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(10),
                std::chrono::milliseconds poll = std::chrono::milliseconds(2)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(poll);
  }
  return f();
}

// A test's JSON literal, parsed; the test fails (naming the text) when it is not valid JSON.
inline std::shared_ptr<core::JsonDoc> parse_doc(std::string_view text) {
  auto d = core::parse_json(text);
  REQUIRE_MESSAGE(d.ok(), std::string(text));
  return *d;
}

// The most of `times` (in order) that fall in any window of `window`: each window ending at one of them.
template <typename TimePoint, typename Duration>
size_t busiest_window(const std::vector<TimePoint>& times, Duration window) {
  size_t most = 0;
  for (size_t end = 0, begin = 0; end < times.size(); ++end) {
    while (times[begin] + window <= times[end]) ++begin;
    most = std::max(most, end - begin + 1);
  }
  return most;
}

}  // namespace ifo::test
