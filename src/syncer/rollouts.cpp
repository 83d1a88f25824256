// Rolling and baselining the workloads that consume managed Secrets.
#include "syncer/rollouts.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/constants.h"
#include "kube/errors.h"
#include "kube/events.h"
#include "syncer/consumer_index.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

namespace {

using core::JsonValue;

constexpr const kube::Resource* kWorkloadKinds[] = {&kube::kDeployments, &kube::kStatefulSets, &kube::kDaemonSets};

std::string hash_over(const std::string& ns, const std::vector<core::ConsumedKey>& consumed,
                      const std::map<std::string, core::KeyDigests>& known) {
  return core::rollout_hash(ns, consumed, [&known](std::string_view name) -> const core::KeyDigests* {
    auto it = known.find(std::string(name));
    return it == known.end() ? nullptr : &it->second;
  });
}

// True when every Secret in `consumed` has digests in `known` (no consumed Secret is missing).
bool knows_all(const std::vector<core::ConsumedKey>& consumed, const std::map<std::string, core::KeyDigests>& known) {
  return std::all_of(consumed.begin(), consumed.end(),
                     [&known](const core::ConsumedKey& c) { return known.count(c.secret) != 0; });
}

std::string_view cause_name(core::RolloutCause cause) {
  switch (cause) {
    case core::RolloutCause::kStartup: return "startup";
    case core::RolloutCause::kDataChanged: return "data_changed";
    case core::RolloutCause::kDataUnchanged: return "data_unchanged";
  }
  return "unknown";
}

}  // namespace

Rollouts::Rollouts(kube::Api& kube, Metrics& metrics, EventWriter& events, WorkloadLookup workloads,
                   ConsumerLookup consumers, SecretLookup managed_secret, std::shared_ptr<spdlog::logger> log)
    : kube_(kube),
      metrics_(metrics),
      events_(events),
      workloads_(std::move(workloads)),
      consumers_(std::move(consumers)),
      managed_secret_(std::move(managed_secret)),
      log_(std::move(log)) {}

void Rollouts::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  pending_.erase(key);
}

void Rollouts::set_digest_keys(core::DigestKeys keys) {
  std::lock_guard lock(mu_);
  keys_ = std::move(keys);
}

core::DigestKeys Rollouts::digest_keys() {
  std::lock_guard lock(mu_);
  return keys_;
}

std::vector<Object> Rollouts::workloads_of(const kube::Resource& kind, const std::string& ns) {
  if (workloads_) return workloads_(kind, ns);
  auto listed = kube_.list_all(kind, ns).items;
  return {listed.begin(), listed.end()};
}

std::vector<Object> Rollouts::consumers_of(const kube::Resource& kind, const std::string& ns,
                                           const std::map<std::string, WrittenSecret>& written) {
  if (!consumers_) return workloads_of(kind, ns);  // each is checked for what it consumes anyway
  std::vector<std::string> secrets;
  secrets.reserve(written.size());
  for (const auto& [name, _] : written) secrets.push_back(name);
  return consumers_(kind, ns, secrets);
}

Rollouts::AfterSync Rollouts::after_sync(const std::string& key, const Object& resource,
                                         const std::vector<std::string>& managed, WrittenSecrets written,
                                         const FreshSecrets& fresh) {
  // Rollouts (and baselines) still owed from an earlier sync whose workload patch failed, for current
  // targets. Their consumers are judged by the data before that earlier write, which is what pods may
  // still run with.
  {
    std::lock_guard lock(mu_);
    if (auto it = pending_.find(key); it != pending_.end()) {
      for (const auto& [ns, secrets] : it->second)
        for (const auto& [name, owed] : secrets) {
          if (std::find(managed.begin(), managed.end(), key_of(ns, name)) == managed.end()) continue;
          auto [entry, inserted] = written[ns].try_emplace(name, owed);
          if (inserted) continue;  // not written this time
          entry->second.data_changed = entry->second.data_changed || owed.data_changed;
          if (owed.previous) entry->second.previous = owed.previous;
        }
    }
    if (written.empty()) pending_.erase(key);
    else pending_[key] = written;
  }
  AfterSync out;
  const std::map<std::string, Object> none;
  for (const auto& [ns, secrets] : written) {
    auto it = fresh.find(ns);
    out.rolled += roll_consumers(ns, secrets, it == fresh.end() ? none : it->second, resource).rolled;
    for (const auto& [_, w] : secrets) out.data_changed = out.data_changed || w.data_changed;
  }
  if (!written.empty()) forget(key);
  return out;
}

std::map<std::string, core::KeyDigests> Rollouts::consumed_digests(const std::string& ns,
                                                                   const std::vector<core::ConsumedKey>& consumed,
                                                                   const std::map<std::string, Object>& fresh,
                                                                   bool read_missing, const core::DigestKeys& keys,
                                                                   std::map<std::string, core::KeyDigests>* previous_known) {
  std::map<std::string, core::KeyDigests> known;
  if (previous_known) previous_known->clear();
  for (const auto& c : consumed) {
    if (known.count(c.secret)) continue;
    Object s;
    if (auto it = fresh.find(c.secret); it != fresh.end()) s = it->second;
    else if (managed_secret_) s = managed_secret_(ns, c.secret);
    if (!s && read_missing) {
      try {
        s = kube_.get(kube::kSecrets, ns, c.secret);
      } catch (const kube::ApiError& e) {
        if (!e.is_not_found()) throw;
      }
      const JsonValue* by = s ? core::at_path(*s, {"metadata", "labels", core::kManagedByLabel}) : nullptr;
      if (!by || !by->IsString() || std::string_view(by->GetString()) != core::kManagedByValue) s = nullptr;
    }
    if (!s) continue;
    const JsonValue* ann = core::at_path(*s, {"metadata", "annotations"});
    auto text = ann ? core::get_string_view(*ann, core::kKeyDigestsAnnotation) : std::nullopt;
    if (!text) continue;
    auto digests = core::decode_key_digests(*text);
    if (!digests) continue;
    if (keys.previous && previous_known) {
      // The annotation holds whatever key wrote it last. Written under the previous key (the Secret has
      // not been synced since the rotation), it stands for the same data's current-key digests, which
      // the next sync writes without changing data: hashing those keeps one key per hash.
      const core::SecretData data = secret_data(*s);
      core::KeyDigests previous = core::key_digests(*keys.previous, ns, c.secret, data);
      if (*digests == previous) digests = core::key_digests(keys.current, ns, c.secret, data);
      previous_known->emplace(c.secret, std::move(previous));
    }
    known.emplace(c.secret, std::move(*digests));
  }
  return known;
}

bool Rollouts::apply_rollout(const kube::Resource& kind, const std::string& ns, const std::string& name,
                             core::RolloutAction action, core::RolloutCause cause, const std::string& hash,
                             const core::RolloutMarks& marks, RolloutCounts& counts) {
  if (action == core::RolloutAction::kNone) return true;
  const bool roll = action == core::RolloutAction::kRoll;
  try {
    kube_.patch(kind, ns, name, kube::PatchType::kMerge,
                roll ? core::roll_patch(hash, marks.baseline.has_value()) : core::baseline_patch(hash),
                write_options());
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) return false;  // deleted meanwhile
    throw;
  }
  if (roll) {
    ++counts.rolled;
    metrics_.inc(kMetricRollouts, {{"kind", std::string(kind.kind)}});
    log_->info("rollout triggered workload={}/{}/{} cause={}", kind.kind, ns, name, cause_name(cause));
  } else {
    ++counts.baselined;
    metrics_.inc(kMetricRolloutBaselines, {{"kind", std::string(kind.kind)}});
    log_->info("rollout baseline recorded workload={}/{}/{} cause={}", kind.kind, ns, name, cause_name(cause));
  }
  return true;
}

RolloutCounts Rollouts::roll_consumers(const std::string& ns, const std::map<std::string, WrittenSecret>& written,
                                       const std::map<std::string, Object>& fresh, const Object& resource) {
  RolloutCounts counts;
  const core::DigestKeys keys = digest_keys();
  const bool rotating = keys.previous.has_value();
  for (const kube::Resource* kind : kWorkloadKinds) {
    for (const auto& w : consumers_of(*kind, ns, written)) {
      const JsonValue* pod_spec = opted_in_pod_spec(*w);
      if (!pod_spec) continue;
      std::vector<core::ConsumedKey> consumed = core::consumed_secret_keys(*pod_spec);
      // A workload that consumes none of the written Secrets is not looked at further (without a
      // consumer index this walks every opted-in workload of the namespace).
      bool relevant = false, data_changed = false;
      for (const auto& c : consumed) {
        auto it = written.find(c.secret);
        if (it == written.end()) continue;
        relevant = true;
        data_changed = data_changed || it->second.data_changed;
      }
      if (!relevant) continue;
      std::map<std::string, core::KeyDigests> previous_known;
      std::map<std::string, core::KeyDigests> known =
          consumed_digests(ns, consumed, fresh, false, keys, rotating ? &previous_known : nullptr);
      if (known.empty()) continue;
      const core::RolloutMarks marks = core::rollout_marks(*w);
      // A workload without a hash or a baseline may get a baseline, which must not miss a Secret that
      // another worker has just written and the watch cache does not show yet: ask the API server.
      if (!marks.effective() && !knows_all(consumed, known))
        known = consumed_digests(ns, consumed, fresh, true, keys, rotating ? &previous_known : nullptr);
      const std::string hash = hash_over(ns, consumed, known);
      const std::string previous_key_hash = rotating ? hash_over(ns, consumed, previous_known) : std::string();
      // Without a hash or a baseline, what its pods run with is told by the data the written Secrets
      // had before this write. A Secret that did not exist changed nothing for them (they could not
      // start without it), unless they refer to it as optional (they did).
      std::string previous_hash = hash;
      if (data_changed && !marks.effective()) {
        const std::vector<std::string> optional = core::optionally_consumed_secrets(*pod_spec);
        std::map<std::string, core::KeyDigests> before = known;
        for (const auto& [secret, write] : written) {
          if (!before.count(secret)) continue;
          if (write.previous) before[secret] = *write.previous;
          else if (std::binary_search(optional.begin(), optional.end(), secret)) before.erase(secret);
        }
        previous_hash = hash_over(ns, consumed, before);
      }
      const core::RolloutCause cause =
          data_changed ? core::RolloutCause::kDataChanged : core::RolloutCause::kDataUnchanged;
      const core::RolloutAction action =
          core::decide_rollout(marks, hash, cause, previous_hash, knows_all(consumed, known), previous_key_hash);
      std::string name = meta_string(*w, "name");
      const int rolled_before = counts.rolled;
      if (!apply_rollout(*kind, ns, name, action, cause, hash, marks, counts)) continue;
      if (resource && counts.rolled > rolled_before)
        events_.record(resource, kube::kEventTypeNormal, core::kReasonRolloutTriggered,
                       fmt::format("{} {}/{} consumes a changed key; its pods are rolled", kind->kind, ns, name));
    }
  }
  return counts;
}

RolloutCounts Rollouts::check_all_workloads(const std::vector<std::string>& namespaces) {
  std::vector<std::string> scopes = namespaces.empty() ? std::vector<std::string>{""} : namespaces;
  RolloutCounts counts;
  const core::DigestKeys keys = digest_keys();
  const bool rotating = keys.previous.has_value();
  for (const auto& scope_ns : scopes) {
    for (const kube::Resource* kind : kWorkloadKinds) {
      for (const auto& w : workloads_of(*kind, scope_ns)) {
        const JsonValue* pod_spec = opted_in_pod_spec(*w);
        if (!pod_spec) continue;
        std::string ns = meta_string(*w, "namespace");
        std::vector<core::ConsumedKey> consumed = core::consumed_secret_keys(*pod_spec);
        std::map<std::string, core::KeyDigests> previous_known;
        std::map<std::string, core::KeyDigests> known =
            consumed_digests(ns, consumed, {}, false, keys, rotating ? &previous_known : nullptr);
        if (known.empty()) continue;  // consumes no managed Secret (yet)
        const std::string hash = hash_over(ns, consumed, known);
        const std::string previous_key_hash = rotating ? hash_over(ns, consumed, previous_known) : std::string();
        const core::RolloutMarks marks = core::rollout_marks(*w);
        const core::RolloutCause cause = core::RolloutCause::kStartup;
        const core::RolloutAction action =
            core::decide_rollout(marks, hash, cause, hash, knows_all(consumed, known), previous_key_hash);
        if (action == core::RolloutAction::kNone && core::stamped_under_previous_key(marks, hash, previous_key_hash))
          ++counts.previous_key;
        apply_rollout(*kind, ns, meta_string(*w, "name"), action, cause, hash, marks, counts);
      }
    }
  }
  // What tells the admin when ending the rotation (removing the previous key) rolls nothing; the
  // controller logs the same count with the check's other results.
  metrics_.set(kMetricWorkloadsPreviousKey, {}, counts.previous_key);
  return counts;
}

}  // namespace ifo::syncer
