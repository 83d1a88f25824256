// Keyed digests of Secret data and the workload rollout hash (DESIGN.md §3.6). Nothing here lets a
// reader of a workload or of Secret metadata guess a secret value: per-key digests and the version are
// HMAC-SHA256 under an operator-held key; the rollout hash is computed over those digests only.
//
// Encodings (stable; changing any of them rolls every opted-in workload once):
//  * lp(x) = 8-byte big-endian length of x, then the bytes of x.
//  * key digest      = hex(HMAC-SHA256(digest_key, lp(namespace) || lp(Secret name) || lp(data key) || lp(value))).
//    The place is part of the message: the digests are published in InfisicalSecret status
//    (status.managedKeyDigests), which more people may read than the Secret, and a digest bound to one
//    Secret tells nothing about whether another Secret, anywhere in the cluster, holds the same value.
//  * version digest  = hex(HMAC-SHA256(digest_key, lp(k1) lp(v1) lp(k2) lp(v2) ...)), keys sorted by bytes.
//  * key-digests annotation = compact JSON object, members sorted by key, each value the lowercase hex
//    key digest: {"API_KEY":"9f…","DB_URL":"03…"}. An empty Secret is "{}".
//  * rollout hash    = hex(SHA-256(concatenation of the sorted, deduplicated triples)), one triple per
//    consumed (Secret, key): one kind byte (1 present key, 2 missing key, 3 missing Secret), then
//    lp("namespace/secret") lp(key) lp(digest); a missing key has an empty digest, a missing Secret an
//    empty key and digest. Triples are sorted by (secret, key, kind, digest).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/consumed_keys.h"
#include "core/result.h"

namespace ifo::core {

using SecretData = std::map<std::string, std::string>;  // data key -> raw (decoded) value bytes
using KeyDigests = std::map<std::string, std::string>;  // data key -> lowercase hex digest

// The HMAC keys in use. `current` keys everything written; during a rotation `previous` (the key that
// was current before) is still recognised: a rollout hash stamped under it, over the same data, counts
// as up to date, so replacing the key rolls no pod (docs/security.md#rotating-the-digest-key).
struct DigestKeys {
  std::string current;
  std::optional<std::string> previous;
  bool operator==(const DigestKeys&) const = default;
};

std::string sha256_hex(std::string_view bytes);
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// Per-key digest of one value of Secret `namespace_`/`secret_name` (the place and the key name are
// part of the message, so equal values under different keys or in different Secrets do not produce
// equal digests).
std::string key_digest(std::string_view digest_key, std::string_view namespace_, std::string_view secret_name,
                       std::string_view data_key, std::string_view value);
KeyDigests key_digests(std::string_view digest_key, std::string_view namespace_, std::string_view secret_name,
                       const SecretData& data);

// The secrets.infisical.com/key-digests annotation value, and its strict reader (an object of
// 64-hex-digit strings; anything else is an error, so a tampered annotation is noticed).
std::string encode_key_digests(const KeyDigests& digests);
Result<KeyDigests> decode_key_digests(std::string_view annotation);

// The secrets.infisical.com/version annotation value: one keyed digest over the whole data.
std::string secret_version_digest(std::string_view digest_key, const SecretData& data);

enum class TripleKind : uint8_t { kPresent = 1, kMissingKey = 2, kMissingSecret = 3 };

struct RolloutTriple {
  std::string secret;  // "namespace/name"
  std::string key;     // empty for kMissingSecret
  TripleKind kind = TripleKind::kPresent;
  std::string digest;  // empty unless kPresent
  bool operator==(const RolloutTriple&) const = default;
};

// Looks up the key digests of a Secret in the workload's namespace; nullptr when the Secret does not
// exist (or is not known to the caller's cache). What it returns must stay valid until the
// rollout_triples / rollout_hash call that asked has returned.
using DigestLookup = std::function<const KeyDigests*(std::string_view secret_name)>;

// Expands the consumed keys of a workload in `namespace_` into triples: a whole-Secret reference
// becomes one triple per key the Secret has now; a missing Secret or key gets its own triple.
std::vector<RolloutTriple> rollout_triples(std::string_view namespace_, const std::vector<ConsumedKey>& consumed,
                                           const DigestLookup& lookup);
// SHA-256 over the triples (order-independent: they are sorted and deduplicated first).
std::string rollout_hash(std::vector<RolloutTriple> triples);
std::string rollout_hash(std::string_view namespace_, const std::vector<ConsumedKey>& consumed,
                         const DigestLookup& lookup);

}  // namespace ifo::core
