// When a workload rolls: the syncer's decision (roll, baseline, nothing) and the webhook's plan, as
// tables; the merge patches the syncer sends, applied as the API server applies them.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "core/json_patch.h"
#include "core/rollout.h"
#include "test_helpers.h"

using namespace ifo::core;
using ifo::test::parse_doc;

namespace {

const std::string kHash = "h-now";
const std::string kOld = "h-before";

RolloutMarks marks(std::optional<std::string> template_hash, std::optional<std::string> baseline) {
  return {std::move(template_hash), std::move(baseline)};
}

}  // namespace

TEST_CASE("decide_rollout: installing, adopting and restarting roll nothing; a changed consumed key rolls once") {
  using C = RolloutCause;
  using A = RolloutAction;
  struct Row {
    const char* what;
    RolloutMarks marks;
    RolloutCause cause;
    std::string previous;  // the hash over the data before the write (kDataChanged)
    bool complete;         // every consumed Secret is a managed Secret the syncer sees
    RolloutAction want;
  };
  const Row rows[] = {
      // First seen (installed into a cluster whose workloads exist; adoption; a Secret first created).
      {"start-up, neither", marks({}, {}), C::kStartup, kHash, true, A::kBaseline},
      {"unchanged write (adoption), neither", marks({}, {}), C::kDataUnchanged, kHash, true, A::kBaseline},
      {"created Secret (previous == now), neither", marks({}, {}), C::kDataChanged, kHash, true, A::kBaseline},
      {"changed data, no consumed key changed, neither", marks({}, {}), C::kDataChanged, kHash, true, A::kBaseline},
      {"changed consumed key, neither", marks({}, {}), C::kDataChanged, kOld, true, A::kRoll},
      // A consumed Secret is missing (not created yet, or not managed): no baseline, which would turn
      // stale when it appears; a changed consumed key still rolls.
      {"start-up, neither, a Secret missing", marks({}, {}), C::kStartup, kHash, false, A::kNone},
      {"unchanged write, neither, a Secret missing", marks({}, {}), C::kDataUnchanged, kHash, false, A::kNone},
      {"created Secret, neither, another missing", marks({}, {}), C::kDataChanged, kHash, false, A::kNone},
      {"changed consumed key, neither, a Secret missing", marks({}, {}), C::kDataChanged, kOld, false, A::kRoll},
      // Up to date: nothing, whatever the cause.
      {"start-up, template hash right", marks(kHash, {}), C::kStartup, kHash, true, A::kNone},
      {"start-up, baseline right", marks({}, kHash), C::kStartup, kHash, true, A::kNone},
      {"changed data, template hash right", marks(kHash, {}), C::kDataChanged, kOld, true, A::kNone},
      {"changed data, baseline right", marks({}, kHash), C::kDataChanged, kOld, true, A::kNone},
      // Stale: a change missed while down (start-up), or just written.
      {"start-up, template hash stale", marks(kOld, {}), C::kStartup, kHash, true, A::kRoll},
      {"start-up, baseline stale", marks({}, kOld), C::kStartup, kHash, true, A::kRoll},
      {"start-up, baseline stale, a Secret missing", marks({}, kOld), C::kStartup, kHash, false, A::kRoll},
      {"changed data, template hash stale", marks(kOld, {}), C::kDataChanged, kHash, true, A::kRoll},
      {"changed data, baseline stale", marks({}, kOld), C::kDataChanged, kOld, true, A::kRoll},
      // A write that changed no data never rolls (its pods cannot have become stale by it).
      {"unchanged write, template hash differs", marks(kOld, {}), C::kDataUnchanged, kHash, true, A::kNone},
      {"unchanged write, baseline differs", marks({}, kOld), C::kDataUnchanged, kHash, true, A::kNone},
      // The template's hash wins over a baseline left next to it.
      {"template right, baseline stale", marks(kHash, kOld), C::kStartup, kHash, true, A::kNone},
      {"template stale, baseline right", marks(kOld, kHash), C::kStartup, kHash, true, A::kRoll},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    CHECK(decide_rollout(row.marks, kHash, row.cause, row.previous, row.complete) == row.want);
  }
}

TEST_CASE("decide_rollout during a digest-key rotation: a mark under the previous key is up to date, a changed "
          "consumed key still rolls") {
  using C = RolloutCause;
  using A = RolloutAction;
  // kHash: the hash now, under the current key; kPrevKey: the same data under the previous key.
  const std::string kPrevKey = "h-now-under-previous-key";
  const std::string kStale = "h-stale";
  struct Row {
    const char* what;
    RolloutMarks marks;
    RolloutCause cause;
    std::string previous;  // the hash over the data before the write (kDataChanged)
    std::string previous_key_hash;
    RolloutAction want;
    bool counted;  // stamped_under_previous_key
  };
  const Row rows[] = {
      {"start-up, template hash under the previous key", marks(kPrevKey, {}), C::kStartup, kHash, kPrevKey, A::kNone, true},
      {"start-up, baseline under the previous key", marks({}, kPrevKey), C::kStartup, kHash, kPrevKey, A::kNone, true},
      {"start-up, template hash under the current key", marks(kHash, {}), C::kStartup, kHash, kPrevKey, A::kNone, false},
      {"start-up, stale under either key", marks(kStale, {}), C::kStartup, kHash, kPrevKey, A::kRoll, false},
      // A key it does not consume changed: its hash under the previous key is still its stamp.
      {"changed data, template hash under the previous key", marks(kPrevKey, {}), C::kDataChanged, kOld, kPrevKey,
       A::kNone, true},
      // A consumed key changed: the previous key over the new data no longer gives its stamp.
      {"changed consumed key, stamped under the previous key", marks(kStale, {}), C::kDataChanged, kOld, kPrevKey,
       A::kRoll, false},
      {"unchanged write (re-keyed annotations), previous-key stamp", marks(kPrevKey, {}), C::kDataUnchanged, kHash,
       kPrevKey, A::kNone, true},
      // No rotation: the previous key's hash is empty, and an empty mark is no match for it.
      {"no rotation, stale", marks(kPrevKey, {}), C::kStartup, kHash, "", A::kRoll, false},
      {"no rotation, empty template hash", marks("", {}), C::kStartup, kHash, "", A::kRoll, false},
      // Neither mark: as without a rotation (a baseline under the current key).
      {"start-up, neither", marks({}, {}), C::kStartup, kHash, kPrevKey, A::kBaseline, false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    CHECK(decide_rollout(row.marks, kHash, row.cause, row.previous, true, row.previous_key_hash) == row.want);
    CHECK(stamped_under_previous_key(row.marks, kHash, row.previous_key_hash) == row.counted);
  }
}

TEST_CASE("the syncer's patches: a baseline touches metadata only; a roll sets the hash and drops the baseline") {
  auto workload = parse_doc(R"({"metadata":{"name":"web","annotations":{"secrets.infisical.com/auto-reload":"true",
      "other":"kept"}},"spec":{"replicas":2,"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[]}}}})");
  CHECK(rollout_marks(*workload) == RolloutMarks{});

  auto baselined = apply_merge_patch(*workload, *parse_doc(baseline_patch("abc")));
  CHECK(rollout_marks(*baselined) == marks({}, "abc"));
  // Nothing outside metadata.annotations moved: the spec (so the generation) is as it was.
  CHECK(*member(*baselined, "spec") == *member(*workload, "spec"));
  CHECK(get_string(*at_path(*baselined, {"metadata", "annotations"}), "other") == "kept");

  auto rolled = apply_merge_patch(*baselined, *parse_doc(roll_patch("def", true)));
  CHECK(rollout_marks(*rolled) == marks("def", {}));
  CHECK(get_string(*at_path(*rolled, {"metadata", "annotations"}), "secrets.infisical.com/auto-reload") == "true");
  CHECK(get_string(*at_path(*rolled, {"spec", "template", "metadata", "labels"}), "app") == "web");

  auto again = apply_merge_patch(*rolled, *parse_doc(roll_patch("ghi", false)));
  CHECK(rollout_marks(*again) == marks("ghi", {}));
  CHECK(roll_patch("x", false).find("rollout-baseline") == std::string::npos);
  // Values are JSON-escaped (hashes are hex, but the patch must stay valid JSON whatever it carries).
  CHECK(rollout_marks(*apply_merge_patch(*workload, *parse_doc(baseline_patch("a\"b")))) == marks({}, "a\"b"));
}

TEST_CASE("rollout_marks reads the template hash and the metadata baseline; other types count as absent") {
  auto both = parse_doc(R"({"metadata":{"annotations":{"secrets.infisical.com/rollout-baseline":"b"}},
      "spec":{"template":{"metadata":{"annotations":{"secrets.infisical.com/rollout-hash":"t"}}}}})");
  CHECK(rollout_marks(*both) == marks("t", "b"));
  CHECK(rollout_marks(*both).effective() == std::optional<std::string>("t"));
  auto misplaced = parse_doc(R"({"metadata":{"annotations":{"secrets.infisical.com/rollout-hash":"t"}},
      "spec":{"template":{"metadata":{"annotations":{"secrets.infisical.com/rollout-baseline":"b"}}}}})");
  CHECK(rollout_marks(*misplaced) == RolloutMarks{});
  auto numbers = parse_doc(R"({"metadata":{"annotations":{"secrets.infisical.com/rollout-baseline":1}}})");
  CHECK(rollout_marks(*numbers) == RolloutMarks{});
  CHECK(marks({}, "b").effective() == std::optional<std::string>("b"));
  CHECK_FALSE(RolloutMarks{}.effective());
}

TEST_CASE("plan_admission: CREATE and new consumers get the current hash; an UPDATE never adds a hash by itself") {
  using S = TemplateHashSource;
  struct Row {
    const char* what;
    RolloutMarks given;
    std::optional<RolloutMarks> old;  // nullopt: CREATE
    bool same_consumers;
    AdmissionMarks want;
  };
  const Row rows[] = {
      {"CREATE", marks({}, {}), std::nullopt, false, {S::kCurrent, false, false}},
      {"CREATE with a copied baseline", marks({}, "b"), std::nullopt, false, {S::kCurrent, false, true}},
      {"UPDATE, consumers changed", marks("t", {}), marks("t", {}), false, {S::kCurrent, false, false}},
      {"UPDATE, consumers changed, baseline", marks({}, "b"), marks({}, "b"), false, {S::kCurrent, false, true}},
      {"UPDATE, hash given (the syncer's)", marks("new", {}), marks("t", {}), true, {S::kGiven, false, false}},
      {"UPDATE, re-apply dropped the hash", marks({}, {}), marks("t", {}), true, {S::kOld, false, false}},
      // The cases of the issue: a workload that existed before the install, scaled or re-applied.
      {"UPDATE, no hash, baseline kept", marks({}, "b"), marks({}, "b"), true, {S::kNone, false, false}},
      {"UPDATE, no hash, re-apply dropped the baseline", marks({}, {}), marks({}, "b"), true, {S::kNone, true, false}},
      {"UPDATE, no hash, the syncer writes a baseline", marks({}, "b2"), marks({}, {}), true, {S::kNone, false, false}},
      {"UPDATE, no hash and no baseline", marks({}, {}), marks({}, {}), true, {S::kNone, false, false}},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    CHECK(plan_admission(row.given, row.old ? &*row.old : nullptr, row.same_consumers) == row.want);
  }
}
