// The Kubernetes API verbs every process uses, as an interface: kube::Client implements it against an
// API server; tests use the in-memory and recording fakes of tests/support. Watches (streaming) stay on
// Client, with the Informer built over them.
//
// Every method throws as Client does: ApiError for an error status (is_not_found(), is_conflict(),
// is_already_exists() ...), TransportError when there is no answer, DecodeError for an unparseable body.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "kube/resource.h"

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

// WriteOptions naming `field_manager` (a constant of core/constants.h), the usual way a process writes.
inline WriteOptions as_manager(std::string_view field_manager) {
  WriteOptions o;
  o.field_manager = std::string(field_manager);
  return o;
}

struct DeleteOptions {
  Propagation propagation = Propagation::kDefault;
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_resource_version;
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

// The default arguments are repeated, identical, on Client's overrides (a default argument is taken
// from the static type of the call); implementations must keep them so.
class Api {
 public:
  virtual ~Api() = default;

  // namespace_ is ignored for cluster-scoped resources; for list an empty one means all namespaces.
  virtual ObjectPtr get(const Resource& r, std::string_view namespace_, std::string_view name) = 0;
  // One page (options.limit, 0: all) from options.continue_token.
  virtual ObjectList list(const Resource& r, std::string_view namespace_,
                          const ListOptions& options = {}) = 0;
  // Every page (page size options.limit, default 500).
  virtual ObjectList list_all(const Resource& r, std::string_view namespace_, ListOptions options = {}) = 0;
  virtual ObjectPtr create(const Resource& r, std::string_view namespace_, const core::JsonValue& object,
                           const WriteOptions& options = {}) = 0;
  // PUT; object must carry metadata.name and metadata.resourceVersion (409 if stale).
  virtual ObjectPtr update(const Resource& r, std::string_view namespace_, const core::JsonValue& object,
                           const WriteOptions& options = {}) = 0;
  virtual ObjectPtr patch(const Resource& r, std::string_view namespace_, std::string_view name,
                          PatchType type, std::string_view patch_body, const WriteOptions& options = {}) = 0;
  // The status subresource: only .status of the object is taken by the server.
  virtual ObjectPtr update_status(const Resource& r, std::string_view namespace_,
                                  const core::JsonValue& object, const WriteOptions& options = {}) = 0;
  virtual ObjectPtr patch_status(const Resource& r, std::string_view namespace_, std::string_view name,
                                 PatchType type, std::string_view patch_body,
                                 const WriteOptions& options = {}) = 0;
  virtual void remove(const Resource& r, std::string_view namespace_, std::string_view name,
                      const DeleteOptions& options = {}) = 0;
  // POST serviceaccounts/NAME/token (authentication.k8s.io/v1 TokenRequest).
  virtual ServiceAccountToken create_token(std::string_view namespace_, std::string_view service_account,
                                           const TokenRequestOptions& options) = 0;
  // POST subjectaccessreviews: may `subject` do `attributes`?
  virtual AccessReviewResult create_subject_access_review(const AccessReviewSubject& subject,
                                                          const ResourceAttributes& attributes) = 0;
};

// get, with nullptr for an object that does not exist (404); other errors are thrown.
ObjectPtr get_or_null(Api& api, const Resource& r, std::string_view namespace_, std::string_view name);

}  // namespace ifo::kube
