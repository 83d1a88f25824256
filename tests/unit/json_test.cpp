// Unit tests for the RapidJSON helpers: hostile input is refused with a message, never a crash.
#include <doctest/doctest.h>

#include <string>

#include "core/json.h"

using namespace ifo::core;

TEST_CASE("parse_json reports where the text is broken") {
  auto r = parse_json(R"({"a": 1,})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("invalid JSON at offset") == 0);
}

TEST_CASE("parse_json refuses trailing garbage") {
  CHECK_FALSE(parse_json(R"({"a":1} x)").ok());
  CHECK(parse_json("  {\"a\":1}\n").ok());
}

TEST_CASE("parse_json refuses nesting deeper than the limit instead of exhausting the stack") {
  std::string deep(100000, '[');
  auto r = parse_json(deep);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("nested deeper") != std::string::npos);
  std::string ok_depth = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  CHECK(parse_json(ok_depth).ok());
}

TEST_CASE("brackets inside strings do not count as nesting") {
  std::string s = "{\"k\":\"" + std::string(1000, '[') + "\"}";
  CHECK(parse_json(s).ok());
}

TEST_CASE("path lookups tolerate wrong types") {
  auto doc = parse_json(R"({"metadata":{"name":"x","labels":"oops"},"n":3})");
  REQUIRE(doc.ok());
  const auto& d = **doc;
  CHECK(get_string(*at_path(d, {"metadata"}), "name") == "x");
  CHECK(at_path(d, {"metadata", "labels", "app"}) == nullptr);
  CHECK_FALSE(get_string(d, "n").has_value());
  CHECK(get_int(d, "n") == 3);
  CHECK(string_or(d, "missing", "dflt") == "dflt");
}

TEST_CASE("set_member replaces instead of duplicating") {
  auto doc = parse_json(R"({"a":"1"})");
  REQUIRE(doc.ok());
  auto& d = **doc;
  set_string(d, "a", "2", d.GetAllocator());
  set_string(d, "b", "3", d.GetAllocator());
  CHECK(to_json(d) == R"({"a":"2","b":"3"})");
  ensure_object(d, "c", d.GetAllocator());
  CHECK(to_json(d) == R"({"a":"2","b":"3","c":{}})");
}

TEST_CASE("parse_json_in_place: the same document as parse_json, the same refusals") {
  std::string text = R"({"a":"x\"y\\z\u00e9","b":[1,2.5,true,null],"c":{"d":"\n"}})";
  auto copied = parse_json(text);
  REQUIRE(copied.ok());
  std::string buffer = text;
  JsonDoc doc;
  REQUIRE(parse_json_in_place(doc, buffer.data()).ok());
  CHECK(to_json(doc) == to_json(**copied));
  CHECK(get_string(doc, "a") == std::string("x\"y\\z\xc3\xa9"));

  std::string deep(100000, '[');
  JsonDoc deep_doc;
  auto r = parse_json_in_place(deep_doc, deep.data());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("nested deeper") != std::string::npos);
  std::string broken = R"({"a": 1,})";
  JsonDoc broken_doc;
  CHECK(parse_json_in_place(broken_doc, broken.data()).error().find("invalid JSON at offset") == 0);
}

TEST_CASE("append_json_string writes what RapidJSON's writer writes") {
  const std::string samples[] = {"",
                                 "plain",
                                 "quote \" and backslash \\",
                                 std::string("nul \0 inside", 12),
                                 "\b\f\n\r\t\x01\x1f end",
                                 "caf\xc3\xa9 / \xf0\x9f\x94\x91",
                                 "</script>"};
  for (const auto& s : samples) {
    CAPTURE(s);
    JsonDoc d;
    d.SetString(s.data(), static_cast<rapidjson::SizeType>(s.size()), d.GetAllocator());
    std::string out = "prefix:";
    append_json_string(out, s);
    CHECK(out == "prefix:" + to_json(d));
    auto back = parse_json(out.substr(7));
    REQUIRE(back.ok());
    CHECK(std::string((*back)->GetString(), (*back)->GetStringLength()) == s);
  }
}
