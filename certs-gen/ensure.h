// `certs-gen ensure`: keeps the webhook's TLS Secret and the caBundle of its webhook configurations
// right, idempotently, and safely when two copies run at once (create-if-absent, conflicts retried).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "certs-gen/plan.h"
#include "core/json.h"
#include "kube/api.h"

namespace ifo::certsgen {

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

// Reads and writes through `api` (the kube client in main, an in-memory fake in the unit tests); the
// writes name certs-gen as field manager. Throws std::runtime_error with a message naming the object on
// failures it cannot resolve; kube::ApiError / kube::TransportError when the API cannot be used.
EnsureReport ensure(kube::Api& api, const EnsureOptions& options, const std::function<TimePoint()>& now);

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
