// What the trust policy needs to decide about one InfisicalSecret, read through the API: the
// InfisicalReferenceGrants of the namespaces it refers into and a Kubernetes-auth ServiceAccount's
// annotations, each kept for a few seconds. Shared by the reconciler and `infisical-syncer preflight`.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/infisical_secret.h"
#include "core/trust_policy.h"
#include "kube/api.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

// How long grants and ServiceAccount annotations are reused. Shorter than the shortest jittered
// resync (90% of 5 s), so a refused resource requeued at its resync interval always reads them anew:
// a grant or annotation added meanwhile takes effect within one resync.
inline constexpr std::chrono::milliseconds kTrustInputsTtl{3000};

// The hostAPI of the infisical-config ConfigMap ("" when the ConfigMap or the key is absent).
std::string global_host_api_of(const Object& config_map);

// What gather() read for one resource, for refresh().
struct TrustReads {
  std::vector<std::string> grant_namespaces;
  std::string service_account;  // "ns/name"; empty: none read
};

class TrustInputsReader {
 public:
  TrustInputsReader(kube::Api& kube, core::Clock& clock, std::chrono::milliseconds ttl = kTrustInputsTtl);

  // Reads what check_trust needs for `resource`. Grants are listed only in namespaces other than the
  // resource's own that it refers into (invalid grants are skipped: they grant nothing); the
  // ServiceAccount of Kubernetes auth is read only when the policy asks for its opt-in and the
  // reference to it is itself admitted (an ungranted ServiceAccount in another namespace is never
  // read). Throws kube::ApiError / kube::TransportError on failures other than not-found.
  // `reads`, when given, is filled with what was read.
  core::TrustInputs gather(const core::InfisicalSecret& resource, const core::TrustPolicy& policy,
                           std::string global_host_api, TrustReads* reads = nullptr);

  // Reads again what `reads` names when it is older than the TTL, as gather() would: what an
  // unchanged resync does instead of gathering. A grant list or an annotation that changed moves
  // generation().
  void refresh(const TrustReads& reads);
  // Moves whenever something read again differs from what was kept (and on forget()).
  uint64_t generation() const;

  // Drops everything kept (as after a restart).
  void forget();

 private:
  // Shared, never copied by a resync: an unchanged resync of each of 10,000 resources used to copy the
  // whole grant list of the namespace it refers into (40% of an idle syncer's CPU with 100 grants there).
  using GrantList = std::shared_ptr<const std::vector<core::ReferenceGrant>>;
  GrantList grants_in(const std::string& ns);
  std::optional<std::map<std::string, std::string>> service_account_annotations(const std::string& ns,
                                                                                const std::string& name);

  template <typename T>
  struct Cached {
    T value;
    core::Clock::time_point read_at{};
  };

  kube::Api& kube_;
  core::Clock& clock_;
  std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  uint64_t generation_ = 0;
  std::map<std::string, Cached<GrantList>> grants_;  // namespace -> grants
  std::map<std::string, Cached<std::optional<std::map<std::string, std::string>>>>
      service_accounts_;  // "ns/name"
};

// "path: message; path: message" for a condition or an event: names and fields, never values.
std::string describe_refusals(const std::vector<core::TrustRefusal>& refusals);

}  // namespace ifo::syncer
