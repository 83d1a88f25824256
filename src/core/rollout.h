// When an opted-in workload rolls (DESIGN.md §3.5, §5). The rollout hash lives in the pod template,
// where changing it makes a new revision; the baseline lives in the workload's metadata, where it
// makes none. A workload first seen without a hash (it existed before the operator was installed, or
// its Secret was written by the upstream operator) gets a baseline, not a hash, so installing or
// adopting rolls nothing; a consumed key that changes later moves the template hash (one rollout),
// and the baseline, superseded, is removed in the same write.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/json.h"

namespace ifo::core {

// The two annotations as a workload carries them.
struct RolloutMarks {
  std::optional<std::string> template_hash;  // spec.template.metadata.annotations[rollout-hash]
  std::optional<std::string> baseline;       // metadata.annotations[rollout-baseline]
  // The hash the running pods are believed to have: the template's, else the baseline.
  const std::optional<std::string>& effective() const { return template_hash ? template_hash : baseline; }
  bool operator==(const RolloutMarks&) const = default;
};

// Of a Deployment, StatefulSet or DaemonSet; an annotation that is missing or not a string is absent.
RolloutMarks rollout_marks(const JsonValue& workload);

// --- the syncer

// Why the syncer looks at a workload that consumes a managed Secret.
enum class RolloutCause {
  kStartup,        // the start-up check: data may have changed while no syncer ran
  kDataChanged,    // a Secret it consumes was just written with other data
  kDataUnchanged,  // ... written with the same data (adoption, our annotations first written)
};
enum class RolloutAction { kNone, kRoll, kBaseline };

// `hash` is the workload's rollout hash now; `previous_hash` (read for kDataChanged only) the hash over
// the data the written Secrets had before the write: equal to `hash` when no key the workload consumes
// changed value, or when the Secret did not exist (no pod can have started with other values).
// `complete`: every Secret the workload consumes is a managed Secret the syncer sees now.
//  * A workload with a hash or a baseline rolls when it differs from `hash`; a write that changed no
//    data never rolls it (its pods cannot have become stale by it).
//  * One with neither rolls when a data change touched a key it consumes (its pods still run with the
//    old value), and otherwise gets a baseline if the view is complete. A baseline taken while a
//    consumed Secret is missing would be stale the moment that Secret appears (created or adopted by
//    the operator), and the next start-up would roll the workload for nothing; without one the
//    workload is still judged exactly, from the written Secret's previous data, at its next change.
//  * `previous_key_hash`, during a digest-key rotation, is the same hash over the same data under the
//    previous key (empty: no rotation). A mark equal to it is up to date: the pods run with this data,
//    stamped before the key changed, so the new key alone rolls nothing.
RolloutAction decide_rollout(const RolloutMarks& marks, std::string_view hash, RolloutCause cause,
                             std::string_view previous_hash, bool complete, std::string_view previous_key_hash = {});

// True when the effective mark is the hash under the previous digest key and not the current one: the
// workload is up to date but still stamped before the rotation (what the syncer counts, so an admin
// knows when ending the rotation rolls nothing).
bool stamped_under_previous_key(const RolloutMarks& marks, std::string_view hash, std::string_view previous_key_hash);

// Merge patches for the syncer. roll_patch sets the template hash and, with `drop_baseline`, removes
// the baseline (the template's hash supersedes it); baseline_patch touches metadata only.
std::string roll_patch(std::string_view hash, bool drop_baseline);
std::string baseline_patch(std::string_view hash);

// --- the webhook

// Where the admitted object's template hash comes from.
enum class TemplateHashSource {
  kNone,     // it gets none (and keeps none)
  kGiven,    // the object's own
  kOld,      // the stored object's (a re-apply dropped it)
  kCurrent,  // computed now from the digest cache
};
struct AdmissionMarks {
  TemplateHashSource hash = TemplateHashSource::kNone;
  bool copy_old_baseline = false;  // a re-apply dropped the baseline: the stored one is kept
  bool drop_baseline = false;      // the object gets a template hash, which supersedes its baseline
  bool operator==(const AdmissionMarks&) const = default;
};

// `old` is null on CREATE: a new workload's pods start with the current data, so it gets the current
// hash. On UPDATE: the current hash when the consumed (Secret, key) set changed (the template changed,
// so the pods roll anyway); the given hash when the object carries one (never undo the syncer); the
// stored one when a re-apply dropped it; otherwise no hash at all, because adding one would roll pods
// that nothing asked to roll (a scale, a re-apply of an old manifest): the baseline, given or stored,
// stands for it. Applying the result and admitting it again gives nothing more to do.
AdmissionMarks plan_admission(const RolloutMarks& given, const RolloutMarks* old, bool same_consumers);

}  // namespace ifo::core
