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
#include "kube/clock.h"
#include "kube/config.h"
#include "kube/errors.h"
#include "kube/rate_limiter.h"
#include "kube/resource.h"
#include "kube/watch.h"
#include "net/http_client.h"

namespace ifo::kube {

using ObjectPtr = std::shared_ptr<core::JsonDoc>;

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902)
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in types only)
  kApply,           // application/apply-patch+yaml (server-side apply; needs a field manager)
};
const char* content_type(PatchType t);

enum class Propagation { kDefault, kBackground, kForeground, kOrphan };

struct ListOptions {
  std::string label_selector;  // "app=x,tier!=db"
  std::string field_selector;  // "metadata.name=x"
  int64_t limit = 0;           // page size; 0: everything in one response
  std::string continue_token;
  std::string resource_version;  // "" (most recent, consistent read), "0" (any, from cache)
};

struct ObjectList {
  // Each item as its own document, with apiVersion and kind filled in from the resource.
  std::vector<ObjectPtr> items;
  std::string resource_version;  // the list's metadata.resourceVersion: where a watch starts
  std::string continue_token;    // non-empty when more pages remain
};

struct WriteOptions {
  std::string field_manager;  // ?fieldManager=
  bool dry_run = false;       // ?dryRun=All
  bool force = false;         // server-side apply: ?force=true
};

struct DeleteOptions {
  Propagation propagation = Propagation::kDefault;
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_resource_version;
};

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

struct ServiceAccountToken {
  std::string token;  // never log it
  std::string expiration_timestamp;
  std::optional<std::chrono::system_clock::time_point> expiration;
};

struct TokenRequestOptions {
  std::vector<std::string> audiences;
  std::optional<int64_t> expiration_seconds;  // the server may shorten it (minimum 600)
  // Bind the token to an object (kind "Pod" or "Secret"), so it dies with it.
  std::string bound_object_kind, bound_object_name, bound_object_uid;
};

struct ResourceAttributes {
  std::string namespace_, verb, group, version, resource, subresource, name;
};

struct AccessReviewSubject {
  std::string user;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

struct AccessReviewResult {
  bool allowed = false;
  bool denied = false;
  std::string reason;
  std::string evaluation_error;
};

struct ClientOptions {
  Clock* clock = nullptr;                      // default: real_clock()
  std::shared_ptr<spdlog::logger> logger;      // default: a "kube" clone of spdlog's default logger
  int max_retries = 3;                         // for 429 / 5xx with Retry-After
  std::chrono::seconds max_retry_after{10};    // cap on a single server-requested delay
};

class Client {
 public:
  explicit Client(Config config, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const { return config_; }
  const std::string& default_namespace() const { return config_.namespace_; }

  // namespace_ is ignored for cluster-scoped resources; for list/watch an empty one means all namespaces.
  ObjectPtr get(const Resource& r, std::string_view namespace_, std::string_view name);
  ObjectList list(const Resource& r, std::string_view namespace_, const ListOptions& options = {});
  // Follows continue tokens (page size options.limit, default 500); if a token expires mid-way
  // (410) it falls back to one unpaged list, as client-go's pager does.
  ObjectList list_all(const Resource& r, std::string_view namespace_, ListOptions options = {});
  ObjectPtr create(const Resource& r, std::string_view namespace_, const core::JsonValue& object,
                   const WriteOptions& options = {});
  // PUT; object must carry metadata.name and metadata.resourceVersion (409 if stale).
  ObjectPtr update(const Resource& r, std::string_view namespace_, const core::JsonValue& object,
                   const WriteOptions& options = {});
  ObjectPtr patch(const Resource& r, std::string_view namespace_, std::string_view name, PatchType type,
                  std::string_view patch_body, const WriteOptions& options = {});
  // The status subresource: only .status of the object is taken by the server.
  ObjectPtr update_status(const Resource& r, std::string_view namespace_, const core::JsonValue& object,
                          const WriteOptions& options = {});
  ObjectPtr patch_status(const Resource& r, std::string_view namespace_, std::string_view name, PatchType type,
                         std::string_view patch_body, const WriteOptions& options = {});
  void remove(const Resource& r, std::string_view namespace_, std::string_view name, const DeleteOptions& options = {});

  // Streams events until the server ends the watch (returns), on_event returns false (returns), or
  // options.cancel is set (throws TransportError, is_aborted()). An error status when starting
  // throws ApiError (410: resourceVersion too old). ERROR events (a 410 Status inside the stream)
  // are handed to on_event like the others; a malformed event throws DecodeError.
  void watch(const Resource& r, std::string_view namespace_, const WatchOptions& options,
             const std::function<bool(WatchEvent&)>& on_event);

  // POST serviceaccounts/NAME/token (authentication.k8s.io/v1 TokenRequest).
  ServiceAccountToken create_token(std::string_view namespace_, std::string_view service_account,
                                   const TokenRequestOptions& options);
  // POST subjectaccessreviews: may `subject` do `attributes`?
  AccessReviewResult create_subject_access_review(const AccessReviewSubject& subject,
                                                  const ResourceAttributes& attributes);

  // A raw request against a path ("/api/v1/..."); throws like the verbs. Returns the parsed body
  // (nullptr for an empty one).
  ObjectPtr request(std::string_view method, const std::string& path_and_query, std::string_view body = {},
                    std::string_view content_type = "application/json");

  // Requests sent (each retry counts), for tests and metrics.
  uint64_t requests_sent() const { return requests_sent_.load(); }

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
};

// The logger the kube module uses when none is given.
std::shared_ptr<spdlog::logger> default_logger();

}  // namespace ifo::kube
