// Ill-formed UTF-8 replaced as Go's JSON decoder replaces it (what a ConfigMap stores).
#include <doctest/doctest.h>

#include <string>

#include "core/utf8.h"

using ifo::core::go_decoded_utf8;

TEST_CASE("well-formed UTF-8 is kept as it is") {
  for (const std::string s :
       {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x94\x91 key", "\xF4\x8F\xBF\xBF"}) {
    CAPTURE(s);
    CHECK(go_decoded_utf8(s) == s);
  }
}

TEST_CASE("each byte that starts no well-formed sequence becomes U+FFFD") {
  const std::string r = "\xEF\xBF\xBD";
  CHECK(go_decoded_utf8("a\xFF") == "a" + r);
  CHECK(go_decoded_utf8("\xC0\xAF") == r + r);                 // overlong '/'
  CHECK(go_decoded_utf8("\xED\xA0\x80") == r + r + r);         // a surrogate
  CHECK(go_decoded_utf8("\xF4\x90\x80\x80") == r + r + r + r);  // above U+10FFFF
  CHECK(go_decoded_utf8("\xE2\x82") == r + r);                 // truncated
  CHECK(go_decoded_utf8("\xE2\x82x") == r + r + "x");
}
