// `certs-gen ensure`: keeps the webhook's serving Secret, the CA Secret and the caBundle of its webhook
// configurations right, idempotently, and safely when two copies run at once (create-if-absent,
// conflicts retried).
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
  // The webhook's serving Secret (kubernetes.io/tls: tls.crt, tls.key, ca.crt), mounted by its Pods.
  std::string secret_name;
  // The CA Secret (Opaque: ca.crt, ca.key), read by certs-gen alone: whoever holds the CA key can mint
  // a certificate every caBundle trusts, so it never sits where the webhook can read it.
  std::string ca_secret_name;
  std::vector<std::string> validating_configs;
  std::vector<std::string> mutating_configs;
  Policy policy;
  int max_attempts = 8;
};

struct EnsureReport {
  Material material;             // what the two Secrets hold at the end
  std::vector<std::string> log;  // one line per decision or write, without key material
};

// Reads and writes through `api` (the kube client in main, an in-memory fake in the unit tests); the
// writes name certs-gen as field manager. Order: the CA Secret first (created, rotated, or moved out of
// a serving Secret written before the split), then the caBundles, then the serving Secret, so the
// webhook never serves a certificate the API server does not trust yet. Throws std::runtime_error with
// a message naming the object on failures it cannot resolve; kube::ApiError / kube::TransportError
// when the API cannot be used.
EnsureReport ensure(kube::Api& api, const EnsureOptions& options, const std::function<TimePoint()>& now);

// Pure helpers (unit tested on their own).
// The PEM data of a Secret, any of the four keys (absent or non-base64 keys are empty).
Material material_from_secret(const core::JsonValue& secret);
// Sets type and data of the serving Secret: kubernetes.io/tls with tls.crt, tls.key and ca.crt; any
// other key (ca.key of a Secret written before the split) is dropped.
void put_serving(core::JsonDoc& secret, const Material& m);
// Sets type and data of the CA Secret: Opaque with ca.crt and ca.key.
void put_ca(core::JsonDoc& secret, const Material& m);
// Sets clientConfig.caBundle of every webhook in a configuration; true when anything changed.
bool set_ca_bundles(core::JsonDoc& config, const std::string& bundle_pem);

}  // namespace ifo::certsgen
