// Rollout decisions for the syncer and the webhook, and the syncer's merge patches.
#include "core/rollout.h"

#include "core/constants.h"

namespace ifo::core {

namespace {

std::optional<std::string> annotation(const JsonValue& object, std::initializer_list<std::string_view> path,
                                      std::string_view key) {
  const JsonValue* ann = at_path(object, path);
  return ann ? get_string(*ann, key) : std::nullopt;
}

}  // namespace

RolloutMarks rollout_marks(const JsonValue& workload) {
  return {annotation(workload, {"spec", "template", "metadata", "annotations"}, kRolloutHashAnnotation),
          annotation(workload, {"metadata", "annotations"}, kRolloutBaselineAnnotation)};
}

RolloutAction decide_rollout(const RolloutMarks& marks, std::string_view hash, RolloutCause cause,
                             std::string_view previous_hash, bool complete, std::string_view previous_key_hash) {
  if (const auto& effective = marks.effective()) {
    if (cause == RolloutCause::kDataUnchanged || *effective == hash) return RolloutAction::kNone;
    if (!previous_key_hash.empty() && *effective == previous_key_hash) return RolloutAction::kNone;
    return RolloutAction::kRoll;
  }
  if (cause == RolloutCause::kDataChanged && previous_hash != hash) return RolloutAction::kRoll;
  return complete ? RolloutAction::kBaseline : RolloutAction::kNone;
}

bool stamped_under_previous_key(const RolloutMarks& marks, std::string_view hash, std::string_view previous_key_hash) {
  const auto& effective = marks.effective();
  return effective && !previous_key_hash.empty() && *effective == previous_key_hash && *effective != hash;
}

std::string roll_patch(std::string_view hash, bool drop_baseline) {
  std::string out = "{";
  if (drop_baseline) {
    out += R"("metadata":{"annotations":{)";
    append_json_string(out, kRolloutBaselineAnnotation);
    out += ":null}},";
  }
  out += R"("spec":{"template":{"metadata":{"annotations":{)";
  append_json_string(out, kRolloutHashAnnotation);
  out += ':';
  append_json_string(out, hash);
  out += "}}}}}";
  return out;
}

std::string baseline_patch(std::string_view hash) {
  std::string out = R"({"metadata":{"annotations":{)";
  append_json_string(out, kRolloutBaselineAnnotation);
  out += ':';
  append_json_string(out, hash);
  out += "}}}";
  return out;
}

AdmissionMarks plan_admission(const RolloutMarks& given, const RolloutMarks* old, bool same_consumers) {
  AdmissionMarks out;
  if (old == nullptr || !same_consumers) out.hash = TemplateHashSource::kCurrent;
  else if (given.template_hash) out.hash = TemplateHashSource::kGiven;
  else if (old->template_hash) out.hash = TemplateHashSource::kOld;
  if (out.hash == TemplateHashSource::kCurrent || out.hash == TemplateHashSource::kOld)
    out.drop_baseline = given.baseline.has_value();
  if (out.hash == TemplateHashSource::kNone) out.copy_old_baseline = !given.baseline && old->baseline;
  return out;
}

}  // namespace ifo::core
