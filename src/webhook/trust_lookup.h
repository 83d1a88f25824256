// The production TrustLookup: InfisicalReferenceGrants, ServiceAccount annotations and the
// infisical-config host read from the API server, each answer reused for a short time per key so a
// burst of applies costs one call.
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

 private:
  template <typename T>
  struct Entry {
    T value;
    std::chrono::steady_clock::time_point expires;
  };
  // The cached answer for key unless fresh, else fetch(), which is then cached (not when it throws:
  // a failure is asked again).
  template <typename T, typename Fetch>
  T cached(std::map<std::string, Entry<T>, std::less<>>& cache, const std::string& key, bool fresh,
           Fetch fetch);

  kube::Api& api_;
  const std::string operator_namespace_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry<std::vector<core::ReferenceGrant>>, std::less<>> grants_;
  std::map<std::string, Entry<std::optional<std::map<std::string, std::string>>>, std::less<>> accounts_;
  std::map<std::string, Entry<std::string>, std::less<>> config_;
};

}  // namespace ifo::webhook
