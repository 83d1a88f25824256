// Counters of the Infisical client (requests by endpoint and status, token cache, fetches); the syncer
// exports them to Prometheus.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ifo::infisical {

class RequestCounters {
 public:
  struct Row {
    std::string endpoint;  // route template: "POST /v1/auth/universal-auth/login", "GET /v3/secrets/raw"
    int status;            // HTTP status, 0 when no response arrived
    uint64_t count;
  };
  void add(const std::string& endpoint, int status) {
    std::lock_guard lock(mu_);
    ++counts_[{endpoint, status}];
  }
  uint64_t get(const std::string& endpoint, int status) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find({endpoint, status});
    return it == counts_.end() ? 0 : it->second;
  }
  // Requests to this endpoint whatever the status.
  uint64_t total(const std::string& endpoint) const {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (const auto& [k, v] : counts_)
      if (k.first == endpoint) n += v;
    return n;
  }
  std::vector<Row> snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<Row> rows;
    for (const auto& [k, v] : counts_) rows.push_back({k.first, k.second, v});
    return rows;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> counts_;
};

struct Metrics {
  RequestCounters requests;
  std::atomic<uint64_t> token_cache_hits{0};    // a caller got a cached token without any call
  std::atomic<uint64_t> token_cache_misses{0};  // a caller had to log in or renew (or waited for that)
  std::atomic<uint64_t> logins{0};
  std::atomic<uint64_t> login_failures{0};
  std::atomic<uint64_t> renewals{0};
  std::atomic<uint64_t> renewal_failures{0};
  std::atomic<uint64_t> cached_login_errors{0};  // callers answered with a recent login error, no call made
  std::atomic<uint64_t> secrets_fetches{0};      // HTTP fetches of /v3/secrets/raw
  std::atomic<uint64_t> secrets_not_modified{0};  // of which answered 304
  std::atomic<uint64_t> secrets_shared{0};        // callers served by another caller's in-flight fetch
  std::atomic<uint64_t> secrets_cache_served{0};  // callers served from a result younger than max_age
};

}  // namespace ifo::infisical
