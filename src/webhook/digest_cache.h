// Watch-fed cache of the key digests InfisicalSecrets publish for their managed Secrets
// (status.managedKeyDigests; digests only, never values): what the mutate path reads instead of calling
// the API server. In the webhook, DigestFeed (kube_sources.h) feeds it from informers of
// InfisicalSecrets and InfisicalReferenceGrants and answers synced(); replace() serves tests and
// benchmarks that fill it at once.
//
// Whoever may write an InfisicalSecret's status may publish digests for any Secret; a claim on a Secret
// of another namespace counts only where that namespace grants it (the trust policy's one rule,
// core::reference_allowed), so a tenant cannot steer the rollout hashes of another tenant's workloads.
// The rule is applied when a Secret is looked up, against the grants held then: a grant made or
// revoked takes effect at the next admission, with no claim to re-index.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/digest.h"
#include "core/json.h"
#include "core/trust_policy.h"
#include "webhook/admission.h"

namespace ifo::webhook {

class DigestCache : public DigestSource {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `policy` decides whether claims across namespaces need a grant (its upstream-compatible mode: no).
  explicit DigestCache(core::TrustPolicy policy = {}) : policy_(std::move(policy)) {}

  // Whether grants decide anything (not in upstream-compatible mode): the feed then watches them.
  bool grants_matter() const { return !policy_.cross_namespace_without_grant; }
  // An InfisicalReferenceGrant (from a list or a watch event): replaces what a grant of that
  // namespace/name said before. One that does not parse grants nothing.
  void upsert_grant(const core::JsonValue& grant);
  // The grant is gone: the claims it admitted no longer count.
  void remove_grant(const std::string& ns, const std::string& name);

  // An InfisicalSecret (from a list or a watch event; only metadata.namespace/name and
  // status.managedKeyDigests are read): what it publishes replaces what it published before. An entry
  // of another kind than Secret, or one that does not read back strictly, is not kept.
  void upsert(const core::JsonValue& infisical_secret, TimePoint now);
  // The InfisicalSecret is gone: every entry it published goes with it.
  void remove(const std::string& ns, const std::string& name, TimePoint now);
  // Replaces the whole content (after a list / relist) and marks the cache synced.
  void replace(const std::vector<const core::JsonValue*>& infisical_secrets, TimePoint now);
  // The watch is alive (it moved on without changing an entry, e.g. a bookmark): refreshes the age.
  void touch(TimePoint now);

  bool synced() const override;
  // The digests of Secret ns/name, from the claims that count: one from the Secret's own namespace, or
  // one from another namespace that ns grants Secret `name` to. When several count (only one
  // InfisicalSecret can own the Secret, so the others are stale or wrong), the answer is deterministic:
  // the one in the Secret's own namespace first, then the least (namespace, name). The syncer binds a
  // Secret to one InfisicalSecret, and a cross-namespace writer needs a grant, so the same-namespace
  // claim is the likelier owner. nullptr when none counts.
  std::shared_ptr<const std::map<std::string, std::string>> key_digests(std::string_view ns,
                                                                        std::string_view name) const override;
  // How many Secrets have digests claimed (whether or not a claim counts).
  size_t size() const;
  // Seconds since the last list or watch activity; -1 before the first sync.
  double age_seconds(TimePoint now) const;

 private:
  using Digests = std::shared_ptr<const core::KeyDigests>;
  using NsName = std::pair<std::string, std::string>;
  // The precedence of one InfisicalSecret's claim on a Secret: (not in the Secret's namespace, its
  // namespace, its name); the least answers.
  using ClaimRank = std::tuple<bool, std::string, std::string>;
  // (namespace, name), looked up by views without copying them.
  struct NsNameLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::pair<std::string_view, std::string_view>(a.first, a.second) <
             std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
  };

  void remove_locked(const NsName& owner);
  void upsert_locked(const core::JsonValue& infisical_secret);
  // Whether a claim from namespace `from` on Secret ns/name counts under the grants held now.
  bool claim_counts_locked(std::string_view from, std::string_view ns, std::string_view name) const;

  const core::TrustPolicy policy_;

  // Every admission request reads; only the feed writes: readers share the lock.
  mutable std::shared_mutex mu_;
  // InfisicalSecret -> the Secrets it publishes digests for (what remove() must take back).
  std::map<NsName, std::vector<NsName>> by_owner_;
  // Secret -> every claim on it, best first.
  std::map<NsName, std::map<ClaimRank, Digests>, NsNameLess> by_secret_;
  // Namespace -> the valid InfisicalReferenceGrants in it.
  std::map<std::string, std::vector<core::ReferenceGrant>, std::less<>> grants_;
  std::atomic<bool> synced_{false};
  std::optional<TimePoint> last_activity_;
};

}  // namespace ifo::webhook
