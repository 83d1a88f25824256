// The webhook's informers of InfisicalSecrets and InfisicalReferenceGrants, which feed the digest
// cache from the key digests they publish (the webhook reads no Secret) and the grants that decide
// which of them count. Its other uses of the API server: SubjectAccessReviews in sar_authorizer.h,
// the trust policy's lookups in trust_lookup.h.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "kube/api.h"
#include "kube/informer.h"
#include "webhook/admission.h"
#include "webhook/digest_cache.h"

namespace ifo::webhook {

// The managed-Secret digests for the admission handler: a kube::Informer of InfisicalSecrets (all
// namespaces) whose handlers feed a DigestCache from status.managedKeyDigests, which the syncer
// publishes (added or updated: what the resource publishes replaces what it published; deleted: its
// entries go), and, unless the cache's policy is upstream-compatible, a kube::Informer of
// InfisicalReferenceGrants (all namespaces) feeding it the grants, so a claim on a Secret of another
// namespace counts exactly while that namespace grants it. Synced once every informer's first list
// has been fed in: before the grants are known, a legitimate cross-namespace claim would be missed and
// a workload stamped with the wrong hash.
//
// The webhook needs no right on Secrets at all: only list and watch on infisicalsecrets (and on
// infisicalreferencegrants). The
// informer's transform reduces each InfisicalSecret to its namespace, name and published digests
// before it is stored or handed to a handler (one that publishes none is not kept at all), so the
// spec, conditions and last-applied configuration never stay in memory.
class DigestFeed : public DigestSource {
 public:
  // `tuning` sets the informer's backoff, watch timeout, page size, clock and logger; the namespace
  // and the selectors are the feed's own.
  DigestFeed(kube::Client& client, DigestCache& cache, kube::InformerOptions tuning = {});
  void start();
  // Idempotent; also in the destructor.
  void stop();

  bool synced() const override { return informer_.has_synced() && (!grants_ || grants_->has_synced()); }
  std::shared_ptr<const std::map<std::string, std::string>> key_digests(std::string_view ns,
                                                                       std::string_view name) const override {
    return cache_.key_digests(ns, name);
  }
  // Seconds since the watch last moved on (a list, an event or a bookmark advanced the informer's
  // resourceVersion) as observed by the calls to this method, which the metrics scrape makes; -1
  // before the first sync.
  double age_seconds(DigestCache::TimePoint now);
  // For tests and diagnostics: its store (what is kept of each Secret), counters and backoff.
  const kube::Informer& informer() const { return informer_; }
  // The grants' informer; nullptr in upstream-compatible mode.
  const kube::Informer* grant_informer() const { return grants_.get(); }

 private:
  DigestCache& cache_;
  kube::Informer informer_;
  std::unique_ptr<kube::Informer> grants_;
  std::mutex progress_mu_;
  std::string progress_rv_;  // the informer's resourceVersion at the last age_seconds()
};

}  // namespace ifo::webhook
