// kube-sim's object store and the extension points the other kube-sim modules plug into.
//
// Who calls what (read this first):
//  * The HTTP server (server.h) parses requests, applies patches, validates CRD instances, runs the
//    AdmissionHooks and then calls Store::create/update/remove. Every API semantic that does not
//    depend on the HTTP request lives here in the Store: uid, creationTimestamp, generateName,
//    resourceVersion, metadata.generation, optimistic concurrency, the status subresource split,
//    finalizers / deletionTimestamp, watch events.
//  * Controllers inside kube-sim (rollout, garbage collection) call the Store directly. Such writes do
//    NOT run admission (they stand for kube-controller-manager writes; that is a documented
//    simplification) but they do produce watch events and are seen by observers.
//  * Observers (Store::add_observer) are called AFTER each committed write, on one dispatcher thread
//    owned by the Store, in commit order, never under the store lock: an observer may call any Store
//    method, including writes (whose events are queued behind the current one).
//
// Errors: every failing operation throws StatusError, which carries the kube-apiserver Status
// (code, reason, message, details). The HTTP layer turns it into the response verbatim, so a module
// that throws StatusError from a hook controls exactly what kubectl prints.
//
// Objects: JSON documents (RapidJSON). A stored object is immutable and shared (ObjectPtr); writers
// pass a fresh document by value. Identity is (group, resource, namespace, name); "" namespace for
// cluster-scoped resources. Each (group, resource) has one stored version.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/json.h"

namespace ifo::kubesim {

// One resource the server serves (built-in or from a CRD).
struct ResourceType {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string resource;  // plural: "deployments"
  std::string kind;      // "Deployment"
  std::string singular;  // "deployment"
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> subresources;  // "status", "scale", "token"
  std::vector<std::string> verbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
  bool create_only = false;  // tokenreviews, subjectaccessreviews: POST only, nothing stored
  bool tracks_generation = true;  // metadata.generation kept (false: secrets, configmaps, events, ...)
  std::string crd_name;      // set when the type comes from a CustomResourceDefinition

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "deployments.apps", or "secrets" for the core group (the form used in error messages).
  std::string qualified_resource() const { return group.empty() ? resource : resource + "." + group; }
  bool has_subresource(std::string_view s) const;
};

// A field-level cause inside an Invalid Status ("spec.x: Invalid value: ...").
struct StatusCause {
  std::string reason;  // "FieldValueInvalid", "FieldValueRequired", "FieldValueNotSupported", ...
  std::string message;
  std::string field;
};

// A failed API call, as kube-apiserver reports it (a metav1.Status).
class StatusError : public std::runtime_error {
 public:
  StatusError(int code, std::string reason, std::string message);

  int code;
  std::string reason;   // "NotFound", "AlreadyExists", "Conflict", "Invalid", "BadRequest", "Gone", ...
  std::string message;  // the exact message kubectl prints after "Error from server (Reason): "
  // details (omitted from the JSON when empty)
  std::string details_name;
  std::string details_group;
  std::string details_kind;
  std::vector<StatusCause> causes;
  int retry_after_seconds = 0;

  std::string to_json() const;  // the Status object
};

// Factories with the real server's wording.
StatusError not_found(const ResourceType& t, std::string_view name);
StatusError already_exists(const ResourceType& t, std::string_view name);
// `Operation cannot be fulfilled on deployments.apps "x": the object has been modified; please apply
// your changes to the latest version and try again`
StatusError conflict_modified(const ResourceType& t, std::string_view name);
StatusError conflict(const ResourceType& t, std::string_view name, std::string_view why);
// `Kind.group "name" is invalid: cause1, cause2` (422), causes listed in details.
StatusError invalid(const ResourceType& t, std::string_view name, std::vector<StatusCause> causes);
StatusError bad_request(std::string message);
StatusError forbidden(std::string message);
StatusError method_not_supported(const ResourceType& t, std::string_view verb);
StatusError gone(std::string message);
StatusError internal_error(std::string message);
StatusError too_many_requests(std::string message, int retry_after_seconds);

struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

struct Object {
  std::shared_ptr<const core::JsonDoc> doc;
  std::string json;  // doc serialized (lists and watches send this text as is)
  uint64_t rv = 0;   // == metadata.resourceVersion
  const core::JsonValue& value() const { return *doc; }

  // The Store's memo of how this stored object is served under its type's Decoder (see
  // Store::set_decoder): valid for decoded_epoch; decoded == nullptr means "served as stored".
  // Guarded by the type's decoder lock in store.cpp; nothing else reads or writes these.
  mutable uint64_t decoded_epoch = 0;
  mutable std::shared_ptr<const Object> decoded;
};
using ObjectPtr = std::shared_ptr<const Object>;

// How a type's stored objects are decoded whenever they are read, as kube-apiserver's storage codec
// decodes custom resources read from etcd (prune to the CRD's current structural schema, default).
// It edits a copy of the stored object; the stored object is never changed by a read.
using Decoder = std::function<void(core::JsonDoc&)>;
class TypeDecoder;  // store.cpp: a type's Decoder, its epoch, and the lock over the objects' memos

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };
std::string_view event_type_name(EventType t);  // "ADDED", ...

// A committed change, as watches and observers see it.
struct WriteEvent {
  EventType type = EventType::kAdded;
  std::string group;
  std::string resource;
  std::string ns;
  ObjectPtr object;      // the new object (for kDeleted: the last state)
  ObjectPtr old_object;  // nullptr for kAdded
  uint64_t rv = 0;
  std::string propagation_policy;  // kDeleted or deletion started: "Background", "Foreground", "Orphan"
};

struct ListOptions {
  std::string label_selector;  // "a=b,c!=d,e in (x,y),!f,g"
  std::string field_selector;  // metadata.name, metadata.namespace (=, ==, !=); more where the type has them
  int64_t limit = 0;           // 0: no limit
  std::string continue_token;
};

struct ListResult {
  std::vector<ObjectPtr> items;
  uint64_t resource_version = 0;
  std::string continue_token;
  std::optional<int64_t> remaining_item_count;
};

enum class UpdateScope {
  kMain,    // a PUT/PATCH of the object: for types with a status subresource, status is kept as stored
  kStatus,  // a PUT/PATCH of .../status: only status (and metadata labels/annotations) change
  kAll,     // controllers: write everything as given (still bumps generation when spec changed)
};

struct DeleteOptions {
  std::string propagation_policy;  // "" = type default (Background; Orphan is never the default here)
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_rv;
  bool dry_run = false;
};

// One watch subscription; pull events with next().
class Watch {
 public:
  // The next event, or nullopt when `timeout` passed without one (then check closed()).
  std::optional<WriteEvent> next(std::chrono::milliseconds timeout);
  void close();
  bool closed() const;

 private:
  friend class Store;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WriteEvent> queue_;  // as stored; next() decodes
  bool closed_ = false;
  std::string group_, resource_, ns_;
  std::shared_ptr<TypeDecoder> decoder_;
};

class Store {
 public:
  using Observer = std::function<void(const WriteEvent&)>;
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  explicit Store(Clock clock = nullptr, size_t history_limit = 100000);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- Types -------------------------------------------------------------------------------
  void register_type(const ResourceType& t);  // replaces a type with the same (group, resource)
  void unregister_type(const std::string& group, const std::string& resource);  // drops its objects
  std::optional<ResourceType> find_type(std::string_view group, std::string_view resource) const;
  std::optional<ResourceType> find_type_by_kind(std::string_view group, std::string_view kind) const;
  std::vector<ResourceType> types() const;
  uint64_t types_generation() const;  // bumps whenever types change (discovery caches)

  // ---- Decoding on read ----------------------------------------------------------------------
  // From now on the type's objects are served as `decode` leaves a copy of the stored object: by
  // get, list, watch events (also those queued before this call), observers, the objects writes
  // return, and the old object an update starts from (so the next write stores the decoded form).
  // The stored object stays as written until its next write: a later decoder sees it whole again.
  // Each stored object is decoded at most once per set_decoder call, on its first read; when decoding
  // changes nothing it is served as stored (no copy kept). A null `decode` serves objects as stored.
  void set_decoder(const std::string& group, const std::string& resource, Decoder decode);

  // ---- Reads --------------------------------------------------------------------------------
  ObjectPtr get(std::string_view group, std::string_view resource, std::string_view ns,
                std::string_view name) const;  // nullptr when absent
  // What the store holds, not decoded (what etcd has; tests).
  ObjectPtr get_stored(std::string_view group, std::string_view resource, std::string_view ns,
                       std::string_view name) const;
  // ns "" on a namespaced type lists all namespaces. Throws StatusError (bad selector, 410 on an
  // expired continue token).
  ListResult list(std::string_view group, std::string_view resource, std::string_view ns,
                  const ListOptions& opts = {}) const;
  uint64_t current_rv() const;

  // ---- Writes (throw StatusError) -------------------------------------------------------------
  // Fills metadata.name from generateName, uid, creationTimestamp, resourceVersion, generation=1,
  // namespace; drops a client-set resourceVersion (409 AlreadyExists when the name is taken).
  ObjectPtr create(const ResourceType& t, std::string_view ns, core::JsonDoc obj, bool dry_run = false);
  // Replaces the object named by obj.metadata.name. A non-empty metadata.resourceVersion must equal
  // the stored one (else 409 conflict_modified). uid/creationTimestamp are kept from the stored object.
  // generation bumps when anything outside metadata/status changed. Removing the last finalizer of
  // an object being deleted completes its deletion (the returned object is then the deleted state).
  ObjectPtr update(const ResourceType& t, std::string_view ns, core::JsonDoc obj,
                   UpdateScope scope = UpdateScope::kMain, bool dry_run = false);
  // Deletes now, or (finalizers, or Foreground) sets deletionTimestamp and returns that state.
  ObjectPtr remove(const ResourceType& t, std::string_view ns, std::string_view name,
                   const DeleteOptions& opts = {});

  // ---- Watches ------------------------------------------------------------------------------
  // from_rv: "" or "0" sends ADDED for the current objects, then changes; "N" sends every change
  // after N (410 Gone StatusError when N is older than the kept history or was compacted).
  std::shared_ptr<Watch> watch(std::string_view group, std::string_view resource, std::string_view ns,
                               std::string_view from_rv);
  // Forget history up to and including rv (watches from older versions then get 410).
  void compact(uint64_t rv);
  void close_all_watches();
  void force_gone_next_watch();  // fault injection: the next watch() throws 410
  size_t watch_count() const;

  // ---- Observers ----------------------------------------------------------------------------
  void add_observer(Observer o);
  // Blocks until every event committed so far has been delivered to observers (tests, shutdown).
  void wait_idle();

 private:
  struct Table;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- Server hooks (server.h: KubeSim::add_admission, add_authenticator, add_create_handler) ----

enum class Operation { kCreate, kUpdate, kDelete };
std::string_view operation_name(Operation op);  // "CREATE", "UPDATE", "DELETE"

// What an admission hook sees; mirrors admission.Attributes / AdmissionRequest.
struct AdmissionAttributes {
  Operation operation = Operation::kCreate;
  ResourceType type;                          // group/version/resource/kind of the request
  std::string subresource;                    // "" or "status"
  std::string ns;                             // "" for cluster-scoped
  std::string name;                           // may be "" on CREATE with generateName
  const core::JsonValue* old_object = nullptr;  // UPDATE, DELETE
  core::JsonDoc* object = nullptr;            // CREATE, UPDATE (mutable in mutate()); nullptr on DELETE
  const core::JsonValue* options = nullptr;   // CreateOptions / UpdateOptions / DeleteOptions, may be null
  UserInfo user;
  bool dry_run = false;
  // AdmissionResponse.warnings collected by the hooks (mutate and validate append); the server sends
  // each as a `Warning: 299 - "<text>"` response header, on success and on rejection alike.
  mutable std::vector<std::string> warnings;
};

// Called by the server for every API create/update/delete (including subresources and patches,
// after the patch was applied). Order: all mutate() calls, then defaulting + CRD schema validation,
// then all validate() calls, then the Store write. Deny by throwing StatusError.
class AdmissionHook {
 public:
  virtual ~AdmissionHook() = default;
  virtual void mutate(AdmissionAttributes& attrs) = 0;
  virtual void validate(const AdmissionAttributes& attrs) = 0;
};

// Bearer token -> user (nullopt: not this authenticator's token). The static tokens are checked first.
using Authenticator = std::function<std::optional<UserInfo>(std::string_view token)>;

// A POST the server does not store: create-only resources (tokenreviews, subjectaccessreviews) and
// subresources such as serviceaccounts/token. The handler returns the response object (201), or
// throws StatusError.
struct CreateCall {
  ResourceType type;
  std::string subresource;      // "token" for serviceaccounts/token, "" otherwise
  std::string ns;
  std::string name;             // the parent's name for a subresource
  const core::JsonValue* body;  // the parsed request body
  UserInfo user;
  bool dry_run = false;
};
using CreateHandler = std::function<core::JsonDoc(const CreateCall&)>;

}  // namespace ifo::kubesim
