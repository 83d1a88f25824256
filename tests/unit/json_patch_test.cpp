// JSON Pointer escaping, patch building, RFC 6902 application (the RFC's Appendix A examples and the
// error cases) and RFC 7386 merge patch (the RFC's Appendix A table).
#include <doctest/doctest.h>

#include "core/json_patch.h"
#include "test_helpers.h"

using namespace ifo::core;

namespace {

using ifo::test::parse_doc;

// Applies and compares with the expected document (order-independent object comparison).
void expect_patch(std::string_view target, std::string_view patch, std::string_view want) {
  CAPTURE(std::string(patch));
  auto r = apply_json_patch(*parse_doc(target), patch);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error()));
  auto w = parse_doc(want);
  CHECK_MESSAGE(**r == *w, to_json(**r));
}

std::string expect_error(std::string_view target, std::string_view patch) {
  CAPTURE(std::string(patch));
  auto t = parse_doc(target);
  std::string before = to_json(*t);
  auto r = apply_json_patch(*t, patch);
  REQUIRE_FALSE(r.ok());
  CHECK(to_json(*t) == before);  // the target is never modified
  return r.error();
}

}  // namespace

TEST_CASE("JSON pointers escape ~ and / (RFC 6901)") {
  CHECK(json_pointer_escape("secrets.infisical.com/rollout-hash") == "secrets.infisical.com~1rollout-hash");
  CHECK(json_pointer_escape("a~b/c") == "a~0b~1c");
  CHECK(json_pointer_escape("~1") == "~01");
  CHECK(json_pointer({"spec", "template", "metadata", "annotations", "secrets.infisical.com/rollout-hash"}) ==
        "/spec/template/metadata/annotations/secrets.infisical.com~1rollout-hash");
  CHECK(json_pointer({}) == "");
  CHECK(json_pointer(std::vector<std::string>{"", "a"}) == "//a");
  auto p = parse_json_pointer("/a~1b/~01/c~0/");
  REQUIRE(p.ok());
  CHECK(*p == std::vector<std::string>{"a/b", "~1", "c~", ""});
  CHECK(parse_json_pointer("")->empty());
  CHECK_FALSE(parse_json_pointer("a/b").ok());
  CHECK_FALSE(parse_json_pointer("/a~2").ok());
  CHECK_FALSE(parse_json_pointer("/a~").ok());
}

TEST_CASE("RFC 6901 section 5 examples resolve") {
  const char* d = R"({"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\j":5,"k\"l":6," ":7,"m~n":8})";
  const std::pair<const char*, const char*> rows[] = {{"/foo/0", "\"bar\""}, {"/", "0"},      {"/a~1b", "1"},
                                                      {"/c%d", "2"},         {"/e^f", "3"},   {"/g|h", "4"},
                                                      {"/i\\j", "5"},        {"/k\"l", "6"},  {"/ ", "7"},
                                                      {"/m~0n", "8"}};
  for (const auto& [ptr, val] : rows) {
    JsonPatchBuilder b;
    b.test(ptr, *parse_doc(val));
    std::string pointer = ptr;  // clang 14 cannot capture a structured binding in CAPTURE's lambda
    CAPTURE(pointer);
    CHECK(apply_json_patch(*parse_doc(d), b.operations()).ok());
  }
}

TEST_CASE("RFC 6902 Appendix A examples") {
  expect_patch(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])", R"({"baz":"qux","foo":"bar"})");
  expect_patch(R"({"foo":["bar","baz"]})", R"([{"op":"add","path":"/foo/1","value":"qux"}])", R"({"foo":["bar","qux","baz"]})");
  expect_patch(R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])", R"({"foo":"bar"})");
  expect_patch(R"({"foo":["bar","qux","baz"]})", R"([{"op":"remove","path":"/foo/1"}])", R"({"foo":["bar","baz"]})");
  expect_patch(R"({"baz":"qux","foo":"bar"})", R"([{"op":"replace","path":"/baz","value":"boo"}])", R"({"baz":"boo","foo":"bar"})");
  expect_patch(R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
               R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
               R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})");
  expect_patch(R"({"foo":["all","grass","cows","eat"]})", R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
               R"({"foo":["all","cows","eat","grass"]})");
  expect_patch(R"({"baz":"qux","foo":["a",2,"c"]})",
               R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
               R"({"baz":"qux","foo":["a",2,"c"]})");
  expect_patch(R"({"foo":"bar"})", R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
               R"({"foo":"bar","child":{"grandchild":{}}})");
  expect_patch(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])", R"({"foo":"bar","baz":"qux"})");
  expect_patch(R"({"foo":["bar"]})", R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])", R"({"foo":["bar",["abc","def"]]})");
  expect_patch(R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])", R"({"/":9,"~1":10})");
  // Objects compare without regard to member order; numbers by value.
  expect_patch(R"({"a":{"x":1,"y":[1,2]}})", R"([{"op":"test","path":"/a","value":{"y":[1,2],"x":1.0}}])", R"({"a":{"x":1,"y":[1,2]}})");
  // copy, replace of the root, add of the root
  expect_patch(R"({"a":{"b":1}})", R"([{"op":"copy","from":"/a","path":"/c"}])", R"({"a":{"b":1},"c":{"b":1}})");
  expect_patch(R"({"a":1})", R"([{"op":"replace","path":"","value":[1]}])", "[1]");
  expect_patch(R"({"a":1})", R"([{"op":"add","path":"","value":{"b":2}}])", R"({"b":2})");
  // add replaces an existing member; null values are values
  expect_patch(R"({"a":1})", R"([{"op":"add","path":"/a","value":null}])", R"({"a":null})");
  // move to itself is a no-op
  expect_patch(R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])", R"({"a":1})");
}

TEST_CASE("RFC 6902 errors name the operation and leave the target untouched") {
  CHECK(expect_error(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz/bat","value":"qux"}])") ==
        "operation 0 (add /baz/bat): parent path not found");
  CHECK(expect_error(R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])") ==
        "operation 0 (test /baz): test failed: value differs");
  CHECK(expect_error(R"({"a":1})", R"([{"op":"add","path":"/b","value":2},{"op":"replace","path":"/c","value":3}])") ==
        "operation 1 (replace /c): path not found");
  CHECK(expect_error(R"({"a":1})", R"([{"op":"remove","path":"/b"}])").find("path not found") != std::string::npos);
  CHECK(expect_error(R"({"a":[1]})", R"([{"op":"add","path":"/a/2","value":3}])").find("out of range") != std::string::npos);
  CHECK(expect_error(R"({"a":[1]})", R"([{"op":"add","path":"/a/01","value":3}])").find("out of range") != std::string::npos);
  CHECK(expect_error(R"({"a":[1]})", R"([{"op":"remove","path":"/a/-"}])").find("path not found") != std::string::npos);
  CHECK(expect_error(R"({"a":[1]})", R"([{"op":"replace","path":"/a/x","value":3}])").find("path not found") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"op":"add","path":"/a/b","value":3}])").find("neither an object nor an array") != std::string::npos);
  CHECK(expect_error(R"({"a":{"b":1}})", R"([{"op":"move","from":"/a","path":"/a/b/c"}])").find("own children") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"op":"copy","from":"/x","path":"/y"}])").find("from: path not found") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"op":"move","path":"/y"}])").find("\"from\"") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"op":"add","path":"/b"}])").find("missing \"value\"") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"op":"frobnicate","path":"/a"}])").find("unknown op \"frobnicate\"") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"path":"/a"}])").find("\"op\"") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"op":"remove"}])").find("\"path\"") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"op":"remove","path":"a"}])").find("must start with '/'") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([{"op":"remove","path":""}])").find("whole document") != std::string::npos);
  CHECK(expect_error(R"({"a":1})", R"([3])") == "operation 0: operation is not an object");
  CHECK(expect_error(R"({"a":1})", R"({"op":"add"})") == "JSON patch must be an array of operations");
  CHECK(expect_error(R"({"a":1})", R"([)").find("invalid JSON") == 0);
}

TEST_CASE("the builder emits the ops the webhook needs, escaping annotation keys") {
  auto deploy = parse_doc(R"({"spec":{"template":{"metadata":{"labels":{"app":"web"}}}}})");
  JsonPatchBuilder b;
  b.set_member(*deploy, {"spec", "template", "metadata", "annotations"}, "secrets.infisical.com/rollout-hash", "abc");
  CHECK(b.to_json() ==
        R"([{"op":"add","path":"/spec/template/metadata/annotations","value":{}},)"
        R"({"op":"add","path":"/spec/template/metadata/annotations/secrets.infisical.com~1rollout-hash","value":"abc"}])");
  auto patched = apply_json_patch(*deploy, b.operations());
  REQUIRE(patched.ok());
  CHECK(*get_string(*at_path(**patched, {"spec", "template", "metadata", "annotations"}), "secrets.infisical.com/rollout-hash") == "abc");

  // A fixed point: applied to its own output, it emits nothing.
  JsonPatchBuilder again;
  again.set_member(**patched, {"spec", "template", "metadata", "annotations"}, "secrets.infisical.com/rollout-hash", "abc");
  CHECK(again.empty());
  // A different value is a single add (which replaces).
  JsonPatchBuilder change;
  change.set_member(**patched, {"spec", "template", "metadata", "annotations"}, "secrets.infisical.com/rollout-hash", "def");
  CHECK(change.size() == 1);
  // Missing parents all the way up.
  JsonPatchBuilder deep;
  deep.set_member(*parse_doc("{}"), {"spec", "template"}, "k", "v");
  CHECK(deep.to_json() == R"([{"op":"add","path":"/spec","value":{}},{"op":"add","path":"/spec/template","value":{}},)"
                          R"({"op":"add","path":"/spec/template/k","value":"v"}])");
  CHECK(apply_json_patch(*parse_doc("{}"), deep.operations()).ok());

  JsonPatchBuilder all;
  all.add("/a", "1").replace("/a", "2").test("/a", "2").remove("/a");
  JsonValue n(5);
  all.add("/n", n).replace("/n", JsonValue(6)).test("/n", JsonValue(6));
  auto r = apply_json_patch(*parse_doc("{}"), all.operations());
  REQUIRE(r.ok());
  CHECK(to_json(**r) == R"({"n":6})");
}

TEST_CASE("RFC 7386 Appendix A merge patch table") {
  const std::tuple<const char*, const char*, const char*> rows[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", "null", "null"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const auto& [target, patch, want] : rows) {
    std::string patch_text = patch;  // clang 14 cannot capture a structured binding in CAPTURE's lambda
    CAPTURE(patch_text);
    auto r = apply_merge_patch(*parse_doc(target), *parse_doc(patch));
    CHECK(*r == *parse_doc(want));
  }
}
