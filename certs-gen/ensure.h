// `certs-gen ensure`: keeps the webhook's TLS Secret and the caBundle of its webhook configurations
// right, idempotently, and safely when two copies run at once (create-if-absent, conflicts retried).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "certs-gen/plan.h"
#include "core/json.h"

namespace ifo::certsgen {

// The few REST verbs ensure needs, over collection paths such as /api/v1/namespaces/ns/secrets.
// Implemented with the kube client in main and by an in-memory fake in the unit tests.
class ClusterApi {
 public:
  enum class Write { kOk, kAlreadyExists, kConflict };
  virtual ~ClusterApi() = default;
  // nullptr when the object does not exist; throws on other errors.
  virtual std::shared_ptr<core::JsonDoc> get(const std::string& collection, const std::string& name) = 0;
  virtual Write create(const std::string& collection, const core::JsonValue& object) = 0;
  // PUT with metadata.resourceVersion set (optimistic concurrency).
  virtual Write update(const std::string& collection, const std::string& name, const core::JsonValue& object) = 0;
};

struct EnsureOptions {
  std::string secret_namespace;
  std::string secret_name;
  std::vector<std::string> validating_configs;
  std::vector<std::string> mutating_configs;
  Policy policy;
  int max_attempts = 8;
};

struct EnsureReport {
  Material material;             // what the Secret holds at the end
  std::vector<std::string> log;  // one line per decision or write, without key material
};

// Throws std::runtime_error with a message naming the object on failures it cannot resolve.
EnsureReport ensure(ClusterApi& api, const EnsureOptions& options, const std::function<TimePoint()>& now);

// Pure helpers (unit tested on their own).
Material material_from_secret(const core::JsonValue& secret);
// Sets data/type of a Secret object to the material (keys tls.crt, tls.key, ca.crt, ca.key).
void put_material(core::JsonDoc& secret, const Material& m);
// Sets clientConfig.caBundle of every webhook in a configuration; true when anything changed.
bool set_ca_bundles(core::JsonDoc& config, const std::string& bundle_pem);

inline constexpr const char* kSecretCaKey = "ca.crt";
inline constexpr const char* kSecretCaPrivateKey = "ca.key";
inline constexpr const char* kSecretCertKey = "tls.crt";
inline constexpr const char* kSecretKeyKey = "tls.key";

}  // namespace ifo::certsgen
