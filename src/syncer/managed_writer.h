// Writing one managed object, a Secret or a ConfigMap (upstream v0.11 managedKubeSecretReferences and
// managedKubeConfigMapReferences), by one rule: created when missing; otherwise bound to its
// InfisicalSecret as core::claim_managed_secret decides (a conflict is never written) and updated only
// when data, labels or annotations differ, keeping what others put on it. The two kinds differ only in
// what ManagedKind says.
#pragma once

#include <spdlog/logger.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/digest.h"
#include "core/infisical_secret.h"
#include "kube/api.h"
#include "kube/resource.h"
#include "syncer/managed_index.h"
#include "syncer/managed_metadata.h"
#include "syncer/metrics.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

// What differs between managed Secrets and managed ConfigMaps.
struct ManagedKind {
  enum class Encoding {
    kBase64,  // .data holds base64 of any bytes (Secret)
    kString,  // .data holds strings, stored as the API server decodes them (ConfigMap; core/utf8.h)
  };
  kube::Resource resource;
  Encoding encoding;
  // Read from the watch cache (when there is one) and written versions remembered in the ManagedIndex,
  // so the watch event of our own write brings nothing back. Others are read with a GET every time.
  bool watched;
  // Carries secrets.infisical.com/key-digests, which rollouts read (workloads consume Secrets only).
  bool key_digests;
  // A field that may not share a key with .data (ConfigMap binaryData): our keys are removed from it.
  std::string_view exclusive_field;
  const char* write_metric;
  std::string_view noun;  // in logs
};

inline constexpr ManagedKind kManagedSecret{
    kube::kSecrets, ManagedKind::Encoding::kBase64, true, true, {}, kMetricSecretWrites, "secret"};
inline constexpr ManagedKind kManagedConfigMap{
    kube::kConfigMaps, ManagedKind::Encoding::kString, false, false, "binaryData", kMetricConfigMapWrites,
    "configmap"};

// One target, whichever its kind.
struct ManagedTarget {
  std::string ns;
  std::string name;
  std::optional<core::SecretTemplate> template_;
  bool owner = false;  // creationPolicy Owner
  std::string type;    // a Secret's type; "" for a ConfigMap
};
ManagedTarget managed_target(const core::ManagedSecretTarget& target);
ManagedTarget managed_target(const core::ManagedConfigMapTarget& target);

struct ManagedWrite {
  bool written = false;       // created or updated
  bool data_changed = false;  // created, or updated with other data
  Object object;              // the object as it is now (nullptr on a conflict)
  // key_digests kinds: the digests of the data it had before (nullopt: it was created).
  std::optional<core::KeyDigests> previous;
  // key_digests kinds, unless a conflict: the digests of the data it holds now (written or already
  // there), which the status publishes for the webhook (status.managedKeyDigests).
  std::optional<core::KeyDigests> digests;
  // Bound to another live InfisicalSecret, or foreign and not adopted: why it was not written.
  std::optional<std::string> conflict;
};

class ManagedWriter {
 public:
  using Lookup = std::function<Object(const std::string& ns, const std::string& name)>;
  // Whether InfisicalSecret (namespace, name) exists with this UID (the owner an object is bound to).
  using OwnerAlive = std::function<bool(const std::string&, const std::string&, const std::string&)>;

  // `watch_cache` reads the watched kind (Secrets with our label; unset: every read is a GET).
  ManagedWriter(kube::Api& kube, Metrics& metrics, ManagedIndex& index, Lookup watch_cache, OwnerAlive owner_alive,
                std::shared_ptr<spdlog::logger> log);

  // Makes `target` hold `values` for `resource`, with the version annotation (and key digests) keyed
  // by `digest_key`. Throws kube::ApiError / kube::TransportError on a failed read or write.
  ManagedWrite write(const ManagedKind& kind, const core::InfisicalSecret& resource, const ManagedTarget& target,
                     const std::map<std::string, std::string>& values, std::string_view digest_key);

 private:
  // What write() does once values are in stored form. `fresh_read`: the cached read proved stale
  // (a create met AlreadyExists, an update NotFound), so this time read the API server.
  ManagedWrite write_stored(const ManagedKind& kind, const core::InfisicalSecret& resource,
                            const ManagedTarget& target, const std::map<std::string, std::string>& values,
                            std::string_view digest_key, bool fresh_read);
  Object read_existing(const ManagedKind& kind, const ManagedTarget& target, bool fresh_read);
  // The two halves of write_stored, with `desired` the labels and annotations the object should carry.
  ManagedWrite create(const ManagedKind& kind, const core::InfisicalSecret& resource, const ManagedTarget& target,
                      const std::map<std::string, std::string>& values, std::string_view digest_key,
                      const ManagedMetadata& desired, bool fresh_read);
  ManagedWrite update(const ManagedKind& kind, const core::InfisicalSecret& resource, const ManagedTarget& target,
                      const std::map<std::string, std::string>& values, std::string_view digest_key,
                      const ManagedMetadata& desired, const Object& existing, bool fresh_read);

  kube::Api& kube_;
  Metrics& metrics_;
  ManagedIndex& index_;
  Lookup watch_cache_;
  OwnerAlive owner_alive_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace ifo::syncer
