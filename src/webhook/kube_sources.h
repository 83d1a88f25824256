// Two of the webhook's uses of the API server: a SubjectAccessReview authorizer with a short answer
// cache, and the informer of managed Secrets that feeds the digest cache (label-selected; values are
// never kept). The trust policy's lookups are in trust_lookup.h.
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

class SarAuthorizer : public Authorizer {
 public:
  SarAuthorizer(kube::Api& api, std::chrono::milliseconds ttl) : api_(api), ttl_(ttl) {}
  bool allowed(const UserInfo& user, const core::AccessCheck& check) override;
  uint64_t reviews_sent() const { return sent_.load(); }

 private:
  kube::Api& api_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::string, std::pair<bool, std::chrono::steady_clock::time_point>> cache_;
  std::atomic<uint64_t> sent_{0};
};

// The managed-Secret digests for the admission handler: a kube::Informer of the Secrets labelled as
// managed by the operator (all namespaces) whose handlers feed a DigestCache (added or updated:
// upsert; deleted: remove). Synced once the informer's first list has been fed in.
//
// No Secret values are kept: the informer's transform reduces each Secret to its namespace, name and
// key-digests annotation before it is stored or handed to a handler (a Secret without the annotation
// is not kept at all). A full Secret lives only while the informer decodes and transforms it.
class DigestFeed : public DigestSource {
 public:
  // `tuning` sets the informer's backoff, watch timeout, page size, clock and logger; the namespace
  // and the selectors are the feed's own.
  DigestFeed(kube::Client& client, DigestCache& cache, kube::InformerOptions tuning = {});
  void start() { informer_.start(); }
  // Idempotent; also in the destructor.
  void stop() { informer_.stop(); }

  bool synced() const override { return informer_.has_synced(); }
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

 private:
  DigestCache& cache_;
  kube::Informer informer_;
  std::mutex progress_mu_;
  std::string progress_rv_;  // the informer's resourceVersion at the last age_seconds()
};

}  // namespace ifo::webhook
