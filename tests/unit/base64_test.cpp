// Unit tests for base64: RFC 4648 vectors, binary round trips, and strict refusal of malformed text.
#include <doctest/doctest.h>

#include <string>

#include "core/base64.h"

using namespace ifo::core;

TEST_CASE("base64_append adds the encoding after what the text already holds") {
  std::string out = R"({"patch":")";
  base64_append(out, "foob");
  CHECK(out == R"({"patch":"Zm9vYg==)");
  base64_append(out, "");
  CHECK(out == R"({"patch":"Zm9vYg==)");
}

TEST_CASE("base64_encode matches the RFC 4648 test vectors") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("base64_decode inverts the RFC 4648 vectors") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto r = base64_decode(base64_encode(s));
    REQUIRE(r.ok());
    CHECK(*r == s);
  }
}

TEST_CASE("binary values with NUL and high bytes round-trip") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t len = 0; len <= all.size(); len += 37) {
    auto part = all.substr(0, len);
    auto r = base64_decode(base64_encode(part));
    REQUIRE(r.ok());
    CHECK(*r == part);
  }
  CHECK(base64_encode(std::string("\0\xff", 2)) == "AP8=");
}

TEST_CASE("base64_decode refuses malformed text with a message naming the problem") {
  struct Case {
    const char* in;
    const char* fragment;
  };
  const Case cases[] = {
      {"Zg=", "not a multiple of 4"},
      {"Zm9", "not a multiple of 4"},
      {"Zm9v\n", "not a multiple of 4"},
      {"Zm 9", "byte 0x20 at offset 2"},
      {"Zm9v\nZm9", "0x0a"},
      {"Zm-v", "'-'"},         // base64url alphabet is not accepted here
      {"Zm_v", "'_'"},
      {"Z=9v", "padding '=' at offset 1"},
      {"A===", "padding '=' at offset 1"},
      {"====", "padding '=' at offset 0"},
      {"Zm9=Zm9v", "padding '=' at offset 3"},
      {"Zh==", "non-zero padding bits"},  // canonical is Zg==
      {"Zm9=", "non-zero padding bits"},  // canonical is Zm8=
  };
  for (const auto& c : cases) {
    std::string input = c.in;
    CAPTURE(input);
    auto r = base64_decode(c.in);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(c.fragment) != std::string::npos);
    CHECK(r.error().rfind("invalid base64", 0) == 0);
  }
}
