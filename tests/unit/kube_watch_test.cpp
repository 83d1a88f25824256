// Unit tests for the watch stream decoder: any chunking, ERROR and BOOKMARK events, garbage, long lines.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "kube/watch.h"

using ifo::kube::WatchDecoder;
using ifo::kube::WatchEvent;

namespace {
const std::string kAdded =
    R"({"type":"ADDED","object":{"kind":"Secret","metadata":{"name":"a","namespace":"ns","resourceVersion":"11"}}})";
const std::string kModified =
    R"({"type":"MODIFIED","object":{"kind":"Secret","metadata":{"name":"a","namespace":"ns","resourceVersion":"12"},"data":{"k":"dg=="}}})";
const std::string kDeleted =
    R"({"type":"DELETED","object":{"kind":"Secret","metadata":{"name":"a","namespace":"ns","resourceVersion":"13"}}})";
const std::string kBookmark = R"({"type":"BOOKMARK","object":{"kind":"Secret","metadata":{"resourceVersion":"20"}}})";
const std::string kGone =
    R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 5 (20)","reason":"Expired","code":410}})j";
}  // namespace

TEST_CASE("every way of splitting a stream into chunks yields the same events") {
  const std::string stream = kAdded + "\n" + kModified + "\r\n" + kBookmark + "\n" + kDeleted + "\n";
  // Split at every pair of positions: three chunks, boundaries anywhere (inside names, inside "\r\n").
  for (size_t i = 0; i <= stream.size(); i += 7) {
    for (size_t j = i; j <= stream.size(); j += 5) {
      WatchDecoder d;
      std::vector<WatchEvent> out;
      REQUIRE(d.feed(std::string_view(stream).substr(0, i), out).ok());
      REQUIRE(d.feed(std::string_view(stream).substr(i, j - i), out).ok());
      REQUIRE(d.feed(std::string_view(stream).substr(j), out).ok());
      REQUIRE(out.size() == 4);
      CHECK(out[0].type == WatchEvent::Type::kAdded);
      CHECK(out[0].resource_version() == "11");
      CHECK(out[1].type == WatchEvent::Type::kModified);
      CHECK(out[1].resource_version() == "12");
      CHECK(out[2].type == WatchEvent::Type::kBookmark);
      CHECK(out[2].resource_version() == "20");
      CHECK(out[3].type == WatchEvent::Type::kDeleted);
      CHECK(d.buffered() == 0);
    }
  }
}

TEST_CASE("byte-at-a-time feeding decodes events as soon as their newline arrives") {
  const std::string stream = kAdded + "\n" + kModified + "\n";
  WatchDecoder d;
  std::vector<WatchEvent> out;
  for (size_t i = 0; i < kAdded.size(); ++i) REQUIRE(d.feed(stream.substr(i, 1), out).ok());
  CHECK(out.empty());
  REQUIRE(d.feed("\n", out).ok());
  CHECK(out.size() == 1);
  REQUIRE(d.feed(stream.substr(kAdded.size() + 1), out).ok());
  CHECK(out.size() == 2);
}

TEST_CASE("an ERROR event carries the Status code, reason and message (410 means relist)") {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  REQUIRE(d.feed(kGone + "\n", out).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == WatchEvent::Type::kError);
  CHECK(out[0].error_code == 410);
  CHECK(out[0].error_reason == "Expired");
  CHECK(out[0].error_message.find("too old") != std::string::npos);
  CHECK(out[0].is_gone_error());
  // A non-410 error is not "gone".
  WatchDecoder d2;
  std::vector<WatchEvent> out2;
  REQUIRE(d2.feed(R"({"type":"ERROR","object":{"kind":"Status","code":500,"reason":"InternalError"}})"
                  "\n",
                  out2)
              .ok());
  REQUIRE(out2.size() == 1);
  CHECK_FALSE(out2[0].is_gone_error());
}

TEST_CASE("blank lines (keep-alives) are skipped") {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  REQUIRE(d.feed("\n\r\n  \n" + kAdded + "\n\n", out).ok());
  CHECK(out.size() == 1);
}

TEST_CASE("garbage is an error that names the event number, and the decoder stays failed") {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  REQUIRE(d.feed(kAdded + "\n", out).ok());
  auto r = d.feed("<html>502 Bad Gateway</html>\n", out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("watch event 2") != std::string::npos);
  CHECK(r.error().find("not JSON") != std::string::npos);
  CHECK_FALSE(d.feed(kModified + "\n", out).ok());
  CHECK(out.size() == 1);
}

TEST_CASE("well-formed JSON that is not an event is refused") {
  for (const std::string& line : {std::string(R"([1,2])"), std::string(R"({"object":{}})"),
                                 std::string(R"({"type":"ADDED"})"), std::string(R"({"type":"ADDED","object":"x"})"),
                                 std::string(R"({"type":"EXPLODED","object":{}})"), std::string(R"({"type":7,"object":{}})")}) {
    CAPTURE(line);
    WatchDecoder d;
    std::vector<WatchEvent> out;
    CHECK_FALSE(d.feed(line + "\n", out).ok());
    CHECK(out.empty());
  }
}

TEST_CASE("a line longer than the bound is refused without buffering it all") {
  WatchDecoder d(1024);
  std::vector<WatchEvent> out;
  std::string big(600, 'x');
  REQUIRE(d.feed(big, out).ok());
  auto r = d.feed(big, out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("longer than 1024 bytes") != std::string::npos);
  CHECK(d.buffered() == 0);
  // Within the bound, a long event decodes.
  WatchDecoder ok(1024);
  std::string ev = R"({"type":"ADDED","object":{"metadata":{"name":")" + std::string(900, 'n') + R"("}}})";
  REQUIRE(ev.size() < 1024);
  CHECK(ok.feed(ev + "\n", out).ok());
  CHECK(out.size() == 1);
}

TEST_CASE("finish decodes a complete final event without a newline and rejects a truncated one") {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  REQUIRE(d.feed(kAdded, out).ok());
  CHECK(out.empty());
  REQUIRE(d.finish(out).ok());
  CHECK(out.size() == 1);

  WatchDecoder cut;
  std::vector<WatchEvent> out2;
  REQUIRE(cut.feed(kAdded.substr(0, 30), out2).ok());
  CHECK_FALSE(cut.finish(out2).ok());
}

TEST_CASE("the error message never echoes the line (it may hold secret data)") {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  auto r = d.feed(R"({"type":"ADDED","object":{"data":{"password":"aHVudGVyMg=="}}, oops})" "\n", out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("aHVudGVyMg") == std::string::npos);
}

TEST_CASE("an event decodes to the same object whatever the member order and spacing of its line") {
  // The API server's own shape ({"type":...,"object":...}) is read by a shorter path than any other;
  // both must agree, and a line that only starts like the API server's falls back, never misreads.
  const std::string object = R"({"kind":"Secret","metadata":{"name":"a","resourceVersion":"12"},"data":{"k":"dg=="}})";
  const std::vector<std::string> lines = {
      R"({"type":"MODIFIED","object":)" + object + "}",
      R"({"type":"MODIFIED","object":)" + object + "}  ",
      R"({"object":)" + object + R"(,"type":"MODIFIED"})",
      R"({ "type" : "MODIFIED", "object" : )" + object + " }",
      R"({"type":"MODIFIED","object":)" + object + R"(,"extra":{"kind":"Other"}})",
  };
  for (const auto& line : lines) {
    INFO(line);
    WatchDecoder d;
    std::vector<WatchEvent> out;
    REQUIRE(d.feed(line + "\n", out));
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == WatchEvent::Type::kModified);
    CHECK(out[0].resource_version() == "12");
    REQUIRE(out[0].object->HasMember("data"));
    CHECK(std::string((*out[0].object)["kind"].GetString()) == "Secret");
    CHECK(!out[0].object->HasMember("extra"));
  }
  // Only the shape is shared: an unknown type or an object that is not a map is still refused.
  for (const std::string& bad : {std::string(R"({"type":"CHANGED","object":{"kind":"Secret"}})"),
                                 std::string(R"({"type":"ADDED","object":[1]})")}) {
    INFO(bad);
    WatchDecoder d;
    std::vector<WatchEvent> out;
    CHECK_FALSE(d.feed(bad + "\n", out));
  }
}
