// The production TrustLookup: InfisicalReferenceGrants, ServiceAccount annotations and the
// infisical-config host read from the API server, each answer reused for a short time per key so a
// burst of applies costs one call. Its calls block for a whole API request: the webhook makes them off
// the event loops (trust_pool.h), and on a loop reads only the cache (CacheOnly).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "webhook/admission.h"

namespace ifo::kube {
class Api;
}

namespace ifo::webhook {

class KubeTrustLookup : public TrustLookup {
 public:
  KubeTrustLookup(kube::Api& api, std::string operator_namespace, std::chrono::milliseconds ttl)
      : api_(api), operator_namespace_(std::move(operator_namespace)), ttl_(ttl) {}

  std::vector<core::ReferenceGrant> grants(std::string_view ns, bool fresh) override;
  std::optional<std::map<std::string, std::string>> service_account_annotations(std::string_view ns,
                                                                                std::string_view name,
                                                                                bool fresh) override;
  std::string global_host_api(bool fresh) override;

  // A view that answers from the lookup's cache only and never calls the API server: a question the
  // cache does not hold, or one asked `fresh`, fails with `why_not` (which says why the answer could
  // not be had; the handler reports it as "could not verify") and marks the view missed().
  class CacheOnly final : public TrustLookup {
   public:
    CacheOnly(KubeTrustLookup& owner, std::string why_not) : owner_(owner), why_not_(std::move(why_not)) {}
    std::vector<core::ReferenceGrant> grants(std::string_view ns, bool fresh) override;
    std::optional<std::map<std::string, std::string>> service_account_annotations(std::string_view ns,
                                                                                  std::string_view name,
                                                                                  bool fresh) override;
    std::string global_host_api(bool fresh) override;
    bool missed() const { return missed_; }

   private:
    friend class KubeTrustLookup;
    [[noreturn]] void miss();
    KubeTrustLookup& owner_;
    const std::string why_not_;
    bool missed_ = false;
  };

 private:
  template <typename T>
  struct Entry {
    T value;
    std::chrono::steady_clock::time_point expires;
  };
  // The cached answer for key unless fresh, else fetch(), which is then cached (not when it throws:
  // a failure is asked again). With a `view`, nothing is fetched: the view misses instead.
  template <typename T, typename Fetch>
  T cached(std::map<std::string, Entry<T>, std::less<>>& cache, const std::string& key, bool fresh,
           CacheOnly* view, Fetch fetch);
  std::vector<core::ReferenceGrant> grants(std::string_view ns, bool fresh, CacheOnly* view);
  std::optional<std::map<std::string, std::string>> service_account_annotations(std::string_view ns,
                                                                                std::string_view name,
                                                                                bool fresh, CacheOnly* view);
  std::string global_host_api(bool fresh, CacheOnly* view);

  kube::Api& api_;
  const std::string operator_namespace_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry<std::vector<core::ReferenceGrant>>, std::less<>> grants_;
  std::map<std::string, Entry<std::optional<std::map<std::string, std::string>>>, std::less<>> accounts_;
  std::map<std::string, Entry<std::string>, std::less<>> config_;
};

}  // namespace ifo::webhook
