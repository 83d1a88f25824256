// The status of an InfisicalSecret after one reconcile: the conditions (Ready with a CamelCase reason,
// and the upstream condition types), the managed Secrets and their key digests (for the webhook), the
// status merge patch (only when something changed), the Event
// worth recording and when to look at the resource again. Pure: the time is a parameter and the
// jitter is left to the caller.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/conditions.h"
#include "core/infisical_secret.h"
#include "core/managed_digests.h"

namespace ifo::core {

// Why a reconcile did not sync.
struct SyncFailure {
  SyncFailure() = default;
  SyncFailure(std::string_view reason_, std::string message_,
              std::optional<std::chrono::seconds> retry_after_ = std::nullopt)
      : reason(reason_), message(std::move(message_)), retry_after(retry_after_) {}

  std::string reason;  // a Ready reason (constants.h)
  std::string message;
  std::optional<std::chrono::seconds> retry_after;  // asked for by Infisical or the API server
  bool auth = false;     // the credentials did not work: LoadedInfisicalToken is False too
  bool refused = false;  // by the trust boundary: looked at again at the resync interval (a grant may appear)
};

// What one reconcile did, as far as the status tells it.
struct SyncReport {
  std::optional<SyncFailure> failure;  // nullopt: synced
  // Upstream's name of the auth strategy whose token was loaded (e.g. UNIVERSAL_MACHINE_IDENTITY);
  // empty when the reconcile stopped before Infisical answered.
  std::string token_strategy;
  // Set when a write changed data: the workloads rolled for it (AutoRedeployReady counts them).
  std::optional<int> rolled;
  int synced_keys = 0;
  // Synced: the key digests of every managed Secret as it is now (written or already up to date), in
  // the targets' declaration order; published as status.managedKeyDigests.
  std::vector<ManagedKeyDigests> key_digests;
  bool synced_now = false;                  // a managed Secret or ConfigMap was written
  std::chrono::milliseconds next_sync{0};   // synced: when to sync again
};

// When the resource is to be reconciled again.
struct Requeue {
  enum class Kind { kForget, kAfter, kBackoff };
  Kind kind = Kind::kForget;
  std::chrono::milliseconds after{0};  // kAfter: this long,
  std::chrono::seconds jittered{0};    // plus this interval give or take 10% (the caller's randomness)
};

struct StatusEvent {
  bool warning = false;  // Warning, else Normal
  std::string reason;
  std::string message;
};

struct StatusDecision {
  std::vector<Condition> conditions;  // status.conditions after this reconcile
  // The merge patch of the status subresource; nullopt when the status would not change.
  std::optional<std::string> patch;
  // A failure whose reason is new, a write to the managed objects of a resource synced before
  // (written_event), or a resource back in sync; never for a resource's first sync.
  std::optional<StatusEvent> event;
  Requeue requeue;
  std::string result;  // metric label: synced, unchanged, invalid, refused, conflict, error
};

StatusDecision decide_status(const InfisicalSecret& resource, const SyncReport& report, std::chrono::sys_seconds now);

// The Event of a sync that wrote to a resource synced before: how many keys went where.
StatusEvent written_event(const InfisicalSecretSpec& spec, size_t keys);

// "namespace/name" of each Secret target (status.managedSecrets), in declaration order.
std::vector<std::string> managed_secret_keys(const InfisicalSecretSpec& spec);
// "namespace/name" of each ConfigMap target, in declaration order.
std::vector<std::string> managed_config_map_keys(const InfisicalSecretSpec& spec);

}  // namespace ifo::core
