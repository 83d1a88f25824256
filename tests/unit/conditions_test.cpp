// Conditions maths: lastTransitionTime moves only when the status flips; RFC 3339 round trips.
#include <doctest/doctest.h>

#include "core/conditions.h"
#include "core/constants.h"

using namespace ifo::core;
using std::chrono::seconds;
using std::chrono::sys_seconds;

namespace {
Condition ready(std::string_view status, std::string_view reason, std::string_view message, int64_t gen) {
  return Condition{std::string(kConditionReady), std::string(status), std::string(reason), std::string(message), "", gen};
}
}  // namespace

TEST_CASE("RFC 3339 formatting matches independently computed times") {
  CHECK(format_rfc3339(sys_seconds(seconds(0))) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(sys_seconds(seconds(1700000000))) == "2023-11-14T22:13:20Z");
  CHECK(format_rfc3339(sys_seconds(seconds(951782400))) == "2000-02-29T00:00:00Z");
  CHECK(format_rfc3339(sys_seconds(seconds(4102444799))) == "2099-12-31T23:59:59Z");
  CHECK(format_rfc3339(sys_seconds(seconds(-1))) == "1969-12-31T23:59:59Z");
}

TEST_CASE("RFC 3339 parsing accepts offsets and fractions, refuses malformed text") {
  CHECK(parse_rfc3339("2023-11-14T22:13:20Z")->time_since_epoch().count() == 1700000000);
  CHECK(parse_rfc3339("2026-11-30T23:11:23.123+01:30")->time_since_epoch().count() == 1796074883);
  CHECK(parse_rfc3339("2000-02-29T00:00:00Z").ok());
  for (const char* bad : {"", "2023-11-14", "2023-11-14T22:13:20", "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2023-11-14T24:00:00Z", "2023-11-14T22:13:20Zjunk", "2023-11-14T22:13:20.Z",
                          "2023-11-14T22:13:20+0100", "20231114T221320Z"}) {
    CAPTURE(std::string(bad));
    auto r = parse_rfc3339(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("invalid RFC 3339 time") == 0);
  }
}

TEST_CASE("upsert keeps lastTransitionTime unless the status flips") {
  std::vector<Condition> cs;
  const sys_seconds t1(seconds(1700000000)), t2(seconds(1700000100)), t3(seconds(1700000200));
  CHECK(upsert_condition(cs, ready("False", "Progressing", "starting", 1), t1));
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].last_transition_time == "2023-11-14T22:13:20Z");

  // Same status, new reason/message/generation: updated, time kept.
  CHECK(upsert_condition(cs, ready("False", "FetchFailed", "503 from Infisical", 2), t2));
  CHECK(cs[0].reason == "FetchFailed");
  CHECK(cs[0].observed_generation == 2);
  CHECK(cs[0].last_transition_time == "2023-11-14T22:13:20Z");

  // Identical: no change reported, so the caller can skip the status write.
  CHECK_FALSE(upsert_condition(cs, ready("False", "FetchFailed", "503 from Infisical", 2), t3));

  // Status flips: time moves.
  CHECK(upsert_condition(cs, ready("True", "Synced", "3 keys", 2), t3));
  CHECK(cs[0].last_transition_time == "2023-11-14T22:16:40Z");
  CHECK(condition_is_true(cs, kConditionReady));

  // A second type is appended, the first untouched.
  CHECK(upsert_condition(cs, Condition{std::string(kConditionReadyToSync), "True", "OK", "m", "", 2}, t1));
  REQUIRE(cs.size() == 2);
  CHECK(find_condition(cs, kConditionReadyToSync)->last_transition_time == "2023-11-14T22:13:20Z");
  CHECK(find_condition(cs, "Missing") == nullptr);
  CHECK_FALSE(condition_is_true(cs, "Missing"));
}

TEST_CASE("conditions round-trip through JSON; malformed items are skipped") {
  std::vector<Condition> cs = {ready("True", "Synced", "ok", 4)};
  cs[0].last_transition_time = "2023-11-14T22:13:20Z";
  JsonDoc d;
  JsonValue arr = conditions_to_json(cs, d.GetAllocator());
  CHECK(to_json(arr) ==
        R"([{"type":"Ready","status":"True","reason":"Synced","message":"ok","lastTransitionTime":"2023-11-14T22:13:20Z","observedGeneration":4}])");
  CHECK(conditions_from_json(arr) == cs);
  auto doc = parse_json(R"([1, {"status":"True"}, {"type":"Ready","status":7}])");
  REQUIRE(doc.ok());
  auto back = conditions_from_json(**doc);
  REQUIRE(back.size() == 1);
  CHECK(back[0].status.empty());
  CHECK(conditions_from_json(JsonValue("x")).empty());
}
