// status.managedKeyDigests: the key digests of an InfisicalSecret's managed Secrets, as the syncer
// publishes them and the webhook reads them. The webhook computes rollout hashes from these (through a
// watch of InfisicalSecrets) so that it needs no right to read any Secret. Digests are keyed HMACs
// bound to their Secret (core/digest.h), never values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest.h"
#include "core/json.h"

namespace ifo::core {

// One managed object's digests. `kind` is kManagedKindSecret (ConfigMaps take no part in rollouts).
struct ManagedKeyDigests {
  std::string kind;
  std::string namespace_;
  std::string name;
  KeyDigests key_digests;
  // While the digest key is rotated: the same data's digests under the previous key (absent otherwise).
  // Published so that whoever reads the status can tell a rollout hash stamped before the rotation
  // from a stale one (docs/security.md#rotating-the-digest-key).
  std::optional<KeyDigests> previous_key_digests;
  bool operator==(const ManagedKeyDigests&) const = default;
};

// The status field's JSON: [{"kind":"Secret","namespace":"apps","name":"app","keyDigests":{"K":"<hex>"}}]
// (plus "previousKeyDigests" of the same shape during a key rotation),
// in the order given (the syncer gives the targets' declaration order, so an unchanged sync compares
// equal and writes nothing).
JsonValue managed_key_digests_json(const std::vector<ManagedKeyDigests>& entries, JsonAlloc& a);

// Reads the status field leniently, as the API server and whoever may write status own it: an entry
// that is not an object with non-empty string kind, namespace and name and a keyDigests object of
// 64-digit lowercase hex strings (previousKeyDigests too, when present) is skipped whole (a half-read
// entry would make a wrong hash).
std::vector<ManagedKeyDigests> read_managed_key_digests(const JsonValue& list);

}  // namespace ifo::core
