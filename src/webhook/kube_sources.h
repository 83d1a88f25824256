// Two of the webhook's uses of the API server: a SubjectAccessReview authorizer with a short answer
// cache, and the list+watch loop that feeds the digest cache with managed Secrets (label-selected,
// metadata only is read; values are never kept). The trust policy's lookups are in trust_lookup.h.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "webhook/admission.h"
#include "webhook/digest_cache.h"

namespace spdlog {
class logger;
}
namespace ifo::kube {
class Client;
}

namespace ifo::webhook {

class SarAuthorizer : public Authorizer {
 public:
  SarAuthorizer(kube::Client& client, std::chrono::milliseconds ttl) : client_(client), ttl_(ttl) {}
  bool allowed(const UserInfo& user, const core::AccessCheck& check) override;
  uint64_t reviews_sent() const { return sent_.load(); }

 private:
  kube::Client& client_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::string, std::pair<bool, std::chrono::steady_clock::time_point>> cache_;
  std::atomic<uint64_t> sent_{0};
};

// Lists then watches Secrets with the managed-by label in all namespaces; relists on 410 and after
// errors (with capped backoff). The cache is synced after the first successful list.
class SecretWatcher {
 public:
  SecretWatcher(kube::Client& client, DigestCache& cache, std::shared_ptr<spdlog::logger> log);
  ~SecretWatcher();
  void start();
  void stop();

 private:
  void run();
  kube::Client& client_;
  DigestCache& cache_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace ifo::webhook
