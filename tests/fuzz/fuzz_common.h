// Helpers shared by the fuzz targets: invariant checks that abort with a message (libFuzzer then
// saves the input), a walk over a JSON document's strings, and a UTF-8 check.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

#include "core/json.h"

namespace ifo::fuzz {

// A stand-in for a secret value. Seeds carry it in fields that may hold sensitive text (data values,
// identity ids, hostAPI, annotations); the fuzzer moves and mutates it. Nothing the code under test
// writes contains it unless it echoes user input.
inline constexpr std::string_view kSecretMarker = "s3cr3t";

[[noreturn]] inline void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "INVARIANT VIOLATED: %s\n  %.*s\n", what, static_cast<int>(std::min<size_t>(detail.size(), 2000)),
               detail.data());
  std::abort();
}

inline void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) fail(what, detail);
}

// Calls fn(key_of_parent_member, value) for every string value; fn_key(key) for every member name.
inline void walk_strings(const core::JsonValue& v, std::string_view parent_key,
                         const std::function<void(std::string_view key, std::string_view value)>& on_value,
                         const std::function<void(std::string_view key)>& on_key) {
  if (v.IsString()) {
    on_value(parent_key, std::string_view(v.GetString(), v.GetStringLength()));
  } else if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      std::string_view k(m.name.GetString(), m.name.GetStringLength());
      on_key(k);
      walk_strings(m.value, k, on_value, on_key);
    }
  } else if (v.IsArray()) {
    for (const auto& item : v.GetArray()) walk_strings(item, parent_key, on_value, on_key);
  }
}

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

}  // namespace ifo::fuzz
