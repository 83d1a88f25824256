// Status conditions, the status patch, Events and requeues after a reconcile.
#include "core/sync_status.h"

#include <fmt/format.h>

#include <utility>

#include "core/constants.h"
#include "core/json.h"

namespace ifo::core {

namespace {

// "Secret a/b, c/d", "ConfigMap a/e" or "Secret a/b and ConfigMap a/e": where a sync wrote.
std::string describe_targets(const InfisicalSecretSpec& spec) {
  const std::vector<std::string> secrets = managed_secret_keys(spec);
  const std::vector<std::string> config_maps = managed_config_map_keys(spec);
  std::string out;
  if (!secrets.empty() || config_maps.empty()) out = fmt::format("Secret {}", fmt::join(secrets, ", "));
  if (!config_maps.empty())
    out += fmt::format("{}ConfigMap {}", out.empty() ? "" : " and ", fmt::join(config_maps, ", "));
  return out;
}

// When a resource that failed is looked at again, and the metric label of its reconcile.
std::pair<Requeue, std::string> after_failure(const SyncFailure& failure, std::chrono::seconds resync) {
  using Kind = Requeue::Kind;
  if (failure.reason == kReasonInvalidSpec) return {{Kind::kForget}, "invalid"};
  // Not a generation change but a grant, an annotation or the admin's policy admits it: look again at
  // the resync interval.
  if (failure.refused) return {{Kind::kAfter, {}, resync}, "refused"};
  if (failure.reason == kReasonSecretConflict) return {{Kind::kAfter, {}, resync}, "conflict"};
  // Only a change of the secrets it reads (or of the spec, which requeues at once) can mend it.
  if (failure.reason == kReasonTemplateFailed || failure.reason == kReasonDataNotStorable)
    return {{Kind::kAfter, {}, resync}, "error"};
  if (failure.retry_after) return {{Kind::kAfter, *failure.retry_after, std::chrono::seconds(1)}, "error"};
  return {{Kind::kBackoff}, "error"};
}

// `managed` and `key_digests` are written only when given (nullptr: the stored ones stay, as merge
// patch leaves an absent member alone).
std::string status_patch(const std::vector<Condition>& conditions, int64_t generation, const std::string& last_sync,
                         int64_t synced_keys, const std::vector<std::string>* managed,
                         const std::vector<ManagedKeyDigests>* key_digests) {
  JsonDoc patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  auto& status = ensure_object(patch, "status", a);
  set_member(status, "conditions", conditions_to_json(conditions, a), a);
  set_member(status, "observedGeneration", JsonValue(static_cast<int64_t>(generation)), a);
  if (!last_sync.empty()) set_string(status, "lastSyncTime", last_sync, a);
  set_member(status, "syncedKeys", JsonValue(static_cast<int64_t>(synced_keys)), a);
  if (managed) {
    JsonValue list(rapidjson::kArrayType);
    for (const auto& m : *managed) list.PushBack(json_string(m, a), a);
    set_member(status, "managedSecrets", std::move(list), a);
  }
  if (key_digests) set_member(status, kStatusManagedKeyDigests, managed_key_digests_json(*key_digests, a), a);
  return to_json(patch);
}

}  // namespace

StatusDecision decide_status(const InfisicalSecret& resource, const SyncReport& report, std::chrono::sys_seconds now) {
  StatusDecision out;
  out.conditions = resource.status.conditions;
  const int64_t gen = resource.metadata.generation;
  const std::chrono::seconds resync(resource.spec.resync_interval_seconds());
  auto upsert = [&](std::string_view type, std::string_view status, std::string_view reason, std::string message) {
    upsert_condition(out.conditions,
                     {std::string(type), std::string(status), std::string(reason), std::move(message), "", gen}, now);
  };
  const Condition* prev_ready = find_condition(resource.status.conditions, kConditionReady);
  const std::string prev_reason = prev_ready ? prev_ready->reason : "";

  if (!report.token_strategy.empty())
    upsert(kConditionLoadedToken, kStatusTrue, kReasonOk,
           fmt::format("Infisical controller has loaded the Infisical token in provided Kubernetes secret, using {} "
                       "authentication strategy",
                       report.token_strategy));
  if (report.rolled)
    upsert(kConditionAutoRedeploy, kStatusTrue, kReasonOk,
           fmt::format("Infisical has found {} deployments which are ready to be auto redeployed when secrets change",
                       *report.rolled));
  if (resource.spec.wants_instant_updates()) {
    upsert(kConditionInstantUpdates, kStatusFalse, kReasonPolling,
           fmt::format("instant updates were requested, but this operator does not subscribe to Infisical's event "
                       "stream; it polls Infisical every {}s instead (spec.syncConfig.resyncInterval)",
                       resource.spec.resync_interval_seconds()));
  } else {
    std::erase_if(out.conditions, [](const Condition& c) { return c.type == kConditionInstantUpdates; });
  }

  int64_t keys = resource.status.synced_keys;
  std::string last_sync = resource.status.last_sync_time;
  if (const std::optional<SyncFailure>& failure = report.failure) {
    upsert(kConditionReady, kStatusFalse, failure->reason, failure->message);
    if (failure->reason != kReasonInvalidSpec) {
      if (failure->auth)
        upsert(kConditionLoadedToken, kStatusFalse, kReasonError,
               "Failed to load Infisical Token from the provided Kubernetes secret because: " + failure->message);
      upsert(kConditionReadyToSync, kStatusFalse, kReasonError,
             "Failed to sync secrets. This can be caused by invalid access token or an invalid API host that is "
             "set. Error: " + failure->message);
      upsert(kConditionAutoRedeploy, kStatusFalse, kReasonStopped,
             "Auto redeployment has been stopped because the operator failed to sync secrets. Error: " +
                 failure->message);
    }
    if (failure->reason != prev_reason) out.event = StatusEvent{true, failure->reason, failure->message};
    std::tie(out.requeue, out.result) = after_failure(*failure, resync);
  } else {
    upsert(kConditionReady, kStatusTrue, kReasonSynced,
           fmt::format("{} keys synced into {}", report.synced_keys, describe_targets(resource.spec)));
    upsert(kConditionReadyToSync, kStatusTrue, kReasonOk,
           fmt::format("Infisical controller has started syncing your secrets. Last reconcile synced {} secrets",
                       report.synced_keys));
    if (!condition_is_true(out.conditions, kConditionAutoRedeploy))
      upsert(kConditionAutoRedeploy, kStatusTrue, kReasonOk,
             "Infisical has found 0 deployments which are ready to be auto redeployed when secrets change");
    keys = report.synced_keys;
    // lastSyncTime moves when a managed object was written or the resource became ready, so that an
    // unchanged resync writes nothing.
    if (report.synced_now || last_sync.empty() || prev_reason != kReasonSynced) last_sync = format_rfc3339(now);
    // Events are for what a person needs to see. A resource's first sync records none (its Ready
    // condition says so, with its lastTransitionTime; at 10,000 resources an Event each was a third of
    // the install's writes). A later write changed a managed object (a new value, an edited Secret put
    // back) and says where; a resource that failed says it is back.
    if (prev_ready && report.synced_now)
      out.event = written_event(resource.spec, static_cast<size_t>(report.synced_keys));
    else if (prev_ready && prev_reason != kReasonSynced)
      out.event = StatusEvent{false, std::string(kReasonSynced), "secrets are in sync again"};
    out.requeue = {Requeue::Kind::kAfter, report.next_sync, {}};
    out.result = report.synced_now ? "synced" : "unchanged";
  }

  // One status write, only when something changed; managedSecrets and managedKeyDigests are written by
  // a sync only (a failure leaves the managed Secrets as they are, so their published digests stay
  // true). managedKeyDigests goes into the patch only when it changed: it is the largest member, and
  // rewriting it with every condition change would cost the API server for nothing.
  const std::vector<std::string> managed = managed_secret_keys(resource.spec);
  const bool managed_changed = !report.failure && managed != resource.status.managed_secrets;
  const bool digests_changed = !report.failure && report.key_digests != resource.status.managed_key_digests;
  if (out.conditions != resource.status.conditions || gen != resource.status.observed_generation ||
      keys != resource.status.synced_keys || last_sync != resource.status.last_sync_time || managed_changed ||
      digests_changed)
    out.patch = status_patch(out.conditions, gen, last_sync, keys, report.failure ? nullptr : &managed,
                             digests_changed ? &report.key_digests : nullptr);
  return out;
}

StatusEvent written_event(const InfisicalSecretSpec& spec, size_t keys) {
  return {false, std::string(kReasonSynced), fmt::format("synced {} keys into {}", keys, describe_targets(spec))};
}

std::vector<std::string> managed_secret_keys(const InfisicalSecretSpec& spec) {
  std::vector<std::string> out;
  for (const auto& t : spec.targets()) out.push_back(t.secret_namespace + "/" + t.secret_name);
  return out;
}

std::vector<std::string> managed_config_map_keys(const InfisicalSecretSpec& spec) {
  std::vector<std::string> out;
  for (const auto& t : spec.config_map_targets()) out.push_back(t.config_map_namespace + "/" + t.config_map_name);
  return out;
}

}  // namespace ifo::core
