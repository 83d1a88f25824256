// What to do with existing certificate material: reuse, renew the serving certificate, or rotate the CA.
// Pure decisions with the current time as a parameter, so every branch is unit tested without a clock.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "certs-gen/crypto.h"

namespace ifo::certsgen {

// The PEM material certs-gen keeps: the CA half (ca.crt, ca.key) in the CA Secret only certs-gen
// reads, the serving half (tls.crt, tls.key, and ca.crt again) in the webhook's serving Secret.
struct Material {
  std::string ca_bundle;  // ca.crt: the signing CA first, then older CAs still inside their overlap
  std::string ca_key;     // ca.key: the signing CA's key
  std::string cert;       // tls.crt
  std::string key;        // tls.key
};

struct Policy {
  std::string ca_common_name = "infisical-webhook-ca";
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::seconds ca_validity = std::chrono::hours(24 * 365 * 5);
  std::chrono::seconds ca_renew_before = std::chrono::hours(24 * 365);
  std::chrono::seconds serving_validity = std::chrono::hours(24 * 365);
  std::chrono::seconds serving_renew_before = std::chrono::hours(24 * 30);
  // NotBefore is set this far in the past so that nodes whose clocks lag still accept a new certificate.
  std::chrono::seconds clock_skew = std::chrono::minutes(5);
};

// Checks relations between durations (renew-before shorter than validity, ...); "" when fine.
std::string check_policy(const Policy& policy);

enum class CaAction { kKeep, kCreate, kRotate };
enum class ServingAction { kKeep, kIssue };

struct CaDecision {
  CaAction action;
  std::string reason;
};
struct ServingDecision {
  ServingAction action;
  std::string reason;
};

CaDecision decide_ca(const Material& m, const Policy& policy, TimePoint now);
// Assumes the CA is usable (decide_ca said kKeep or the CA was just rotated/created).
ServingDecision decide_serving(const Material& m, const Policy& policy, TimePoint now);

// Fresh CA and serving certificate.
core::Result<Material> create_material(const Policy& policy, TimePoint now);
// A fresh CA alone (cert and key empty): ensure issues the serving certificate once every caBundle
// trusts the new CA.
core::Result<Material> create_ca(const Policy& policy, TimePoint now);
// A new signing CA; the old CAs that are still valid stay in the bundle (overlap), the serving
// certificate is left as it is so that it keeps verifying until every caBundle holds the new CA.
core::Result<Material> rotate_ca(const Material& m, const Policy& policy, TimePoint now);
// A new serving certificate from the signing CA; the bundle loses CAs that have expired.
core::Result<Material> reissue_serving(const Material& m, const Policy& policy, TimePoint now);

// The certificates of `bundle` still valid at `now`, in order (the signing CA is always kept).
std::string prune_bundle(const std::string& bundle, const std::string& signing_ca_pem, TimePoint now);
// m.ca_bundle without the CAs expired at `now` (signing CA first); unchanged when no CA of it matches
// m.ca_key (decide_ca then replaces the CA anyway).
std::string live_bundle(const Material& m, TimePoint now);

}  // namespace ifo::certsgen
