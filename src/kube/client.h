// The Kubernetes REST client: verbs on any resource described by a kube::Resource, watches, and the
// TokenRequest / SubjectAccessReview helpers. Thread safe; one instance per process is the intent.
//
// Errors: an error status from the server throws ApiError (is_not_found(), is_conflict(), ...);
// no answer throws kube::TransportError; an unparseable success body throws DecodeError. Messages
// carry the verb and path, never the token, request bodies or object contents.
//
// Requests go through a client-side QPS/burst token bucket (Config::qps/burst) and reuse pooled
// connections. A 429, or a 5xx carrying Retry-After, is retried up to ClientOptions::max_retries
// times after the delay the server asks for (capped), as client-go does.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "core/json.h"
#include "kube/api.h"
#include "kube/clock.h"
#include "kube/config.h"
#include "kube/errors.h"
#include "kube/rate_limiter.h"
#include "kube/resource.h"
#include "kube/watch.h"
#include "net/http_client.h"

namespace ifo::kube {

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // start after this version ("" or "0": from now, with synthetic ADDED events)
  bool allow_bookmarks = true;
  int64_t timeout_seconds = 300;  // the server ends the watch after this
  // When it becomes true the watch stops promptly (throws TransportError with is_aborted()).
  const std::atomic<bool>* cancel = nullptr;
  size_t max_event_bytes = WatchDecoder::kDefaultMaxLineBytes;
};

struct ClientOptions {
  Clock* clock = nullptr;                      // default: real_clock()
  std::shared_ptr<spdlog::logger> logger;      // default: a "kube" clone of spdlog's default logger
  int max_retries = 3;                         // for 429 / 5xx with Retry-After
  std::chrono::seconds max_retry_after{10};    // cap on a single server-requested delay
};

class Client final : public Api {
 public:
  explicit Client(Config config, ClientOptions options = {});
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const { return config_; }
  const std::string& default_namespace() const { return config_.namespace_; }

  // The Api verbs (kube/api.h), against the API server. namespace_ is ignored for cluster-scoped
  // resources; for list/watch an empty one means all namespaces.
  ObjectPtr get(const Resource& r, std::string_view namespace_, std::string_view name) override;
  ObjectList list(const Resource& r, std::string_view namespace_, const ListOptions& options = {}) override;
  // Follows continue tokens (page size options.limit, default 500); if a token expires mid-way
  // (410) it falls back to one unpaged list, as client-go's pager does.
  ObjectList list_all(const Resource& r, std::string_view namespace_, ListOptions options = {}) override;
  ObjectPtr create(const Resource& r, std::string_view namespace_, const core::JsonValue& object,
                   const WriteOptions& options = {}) override;
  ObjectPtr update(const Resource& r, std::string_view namespace_, const core::JsonValue& object,
                   const WriteOptions& options = {}) override;
  ObjectPtr patch(const Resource& r, std::string_view namespace_, std::string_view name, PatchType type,
                  std::string_view patch_body, const WriteOptions& options = {}) override;
  ObjectPtr update_status(const Resource& r, std::string_view namespace_, const core::JsonValue& object,
                          const WriteOptions& options = {}) override;
  ObjectPtr patch_status(const Resource& r, std::string_view namespace_, std::string_view name, PatchType type,
                         std::string_view patch_body, const WriteOptions& options = {}) override;
  void remove(const Resource& r, std::string_view namespace_, std::string_view name,
              const DeleteOptions& options = {}) override;
  ServiceAccountToken create_token(std::string_view namespace_, std::string_view service_account,
                                   const TokenRequestOptions& options) override;
  AccessReviewResult create_subject_access_review(const AccessReviewSubject& subject,
                                                  const ResourceAttributes& attributes) override;

  // Streams events until the server ends the watch (returns), on_event returns false (returns), or
  // options.cancel is set (throws TransportError, is_aborted()). An error status when starting
  // throws ApiError (410: resourceVersion too old). ERROR events (a 410 Status inside the stream)
  // are handed to on_event like the others; a malformed event throws DecodeError.
  void watch(const Resource& r, std::string_view namespace_, const WatchOptions& options,
             const std::function<bool(WatchEvent&)>& on_event);

  // A raw request against a path ("/api/v1/..."); throws like the verbs. Returns the parsed body
  // (nullptr for an empty one).
  ObjectPtr request(std::string_view method, const std::string& path_and_query, std::string_view body = {},
                    std::string_view content_type = "application/json");

  // Requests sent (each retry counts), for tests and metrics.
  uint64_t requests_sent() const { return requests_sent_.load(); }
  // The same requests by HTTP method and answer: the status code, or 0 when none came (a transport
  // error), as client-go's rest_client_requests_total counts them.
  struct RequestCount {
    std::string method;
    int code = 0;
    uint64_t count = 0;
  };
  std::vector<RequestCount> request_counts() const;
  // The API server's URL, as configured (scheme, host and port).
  const std::string& server() const { return config_.server; }

  // How many times the server answered again after a request to it got no answer (refused,
  // timed out, cut): informers backing off from an outage compare it before and after to retry as
  // soon as the server is back, instead of at the end of a backoff that grew during the outage.
  uint64_t reconnects() const { return reconnects_.load(); }
  // Calls `listener` (on the requesting thread, which must not be blocked for long) each time
  // reconnects() grows, until the returned handle is destroyed. The client must outlive the handle.
  [[nodiscard]] std::shared_ptr<void> on_reconnect(std::function<void()> listener);

 private:
  struct Reply {
    long status;
    std::string body;
    std::optional<std::string> retry_after;
  };
  Reply send(std::string_view method, const std::string& path_and_query, std::string_view body,
             std::string_view content_type);
  ObjectPtr send_json(std::string_view method, const std::string& path_and_query, std::string_view body,
                      std::string_view content_type);
  std::string bearer_token(bool force_reload);
  void count_request(std::string_view method, long code);
  // The bookkeeping of reconnects(): an answer-less failure (not a cancellation), then an answer.
  void note_unanswered(const net::TransportError& e);
  void note_answered();
  [[noreturn]] void throw_api_error(std::string_view method, const std::string& path_and_query, long status,
                                    const std::string& body, const std::optional<std::string>& retry_after_header);
  ObjectPtr write_object(std::string_view method, const Resource& r, std::string_view namespace_,
                         const core::JsonValue& object, const WriteOptions& options, std::string_view subresource);
  ObjectPtr do_patch(const Resource& r, std::string_view namespace_, std::string_view name, PatchType type,
                     std::string_view patch_body, const WriteOptions& options, std::string_view subresource);

  Config config_;
  ClientOptions options_;
  Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  net::HttpClient http_;
  TokenBucket limiter_;
  std::mutex token_mu_;
  std::string token_;
  Clock::time_point token_read_at_{};
  bool token_loaded_ = false;
  std::atomic<uint64_t> requests_sent_{0};
  mutable std::mutex request_counts_mu_;
  // By method, then status code: a method's name is copied once, not at every request.
  std::map<std::string, std::map<int, uint64_t>, std::less<>> request_counts_;
  std::atomic<bool> unanswered_{false};
  std::atomic<uint64_t> reconnects_{0};
  std::mutex reconnect_mu_;
  uint64_t next_listener_ = 0;
  std::map<uint64_t, std::function<void()>> reconnect_listeners_;
};

// The logger the kube module uses when none is given.
std::shared_ptr<spdlog::logger> default_logger();

}  // namespace ifo::kube
