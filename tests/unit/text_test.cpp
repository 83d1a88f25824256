// core/text.h: trimming and ASCII case-insensitive comparison used for HTTP headers and config values.
#include "core/text.h"

#include <doctest/doctest.h>

using namespace ifo::core;

TEST_CASE("trim removes the given characters from both ends only, as a view of the same text") {
  CHECK(trim("  token\r\n") == "token");
  CHECK(trim("\t a b \v\f") == "a b");  // inner spaces stay
  CHECK(trim("") == "");
  CHECK(trim(" \t\r\n") == "");
  CHECK(trim("x") == "x");
  // HTTP's optional whitespace is spaces and tabs only: a line end is not trimmed then.
  CHECK(trim(" application/json\r", " \t") == "application/json\r");
  const std::string text = "  value  ";
  const std::string_view t = trim(text);
  CHECK(t.data() == text.data() + 2);
}

TEST_CASE("ASCII case-insensitive comparison and lowering ignore the locale and non-ASCII bytes") {
  CHECK(iequals_ascii("Content-Length", "content-length"));
  CHECK(iequals_ascii("APPLICATION/JSON", "application/json"));
  CHECK_FALSE(iequals_ascii("content-length", "content-lengt"));
  CHECK_FALSE(iequals_ascii("close", "closed"));
  CHECK_FALSE(iequals_ascii("\xC3\x89", "\xC3\xA9"));  // É and é differ: only A-Z fold
  CHECK(to_lower_ascii("X-Request-ID: AbC") == "x-request-id: abc");
  CHECK(to_lower_ascii("\xC3\x89") == "\xC3\x89");
}
