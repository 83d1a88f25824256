// kube-sim's in-memory object store: API write semantics, watch history, observers.
#include "sim/kube/store.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <shared_mutex>

#include "sim/kube/selector.h"

namespace ifo::kubesim {

using core::JsonAlloc;
using core::JsonDoc;
using core::JsonValue;

// ---------------------------------------------------------------------------------------------
// ResourceType, StatusError

bool ResourceType::has_subresource(std::string_view s) const {
  return std::find(subresources.begin(), subresources.end(), s) != subresources.end();
}

StatusError::StatusError(int code_, std::string reason_, std::string message_)
    : std::runtime_error(message_), code(code_), reason(std::move(reason_)), message(std::move(message_)) {}

std::string StatusError::to_json() const {
  JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  core::set_string(d, "kind", "Status", a);
  core::set_string(d, "apiVersion", "v1", a);
  core::set_member(d, "metadata", JsonValue(rapidjson::kObjectType), a);
  core::set_string(d, "status", "Failure", a);
  core::set_string(d, "message", message, a);
  if (!reason.empty()) core::set_string(d, "reason", reason, a);
  bool has_details = !details_name.empty() || !details_group.empty() || !details_kind.empty() || !causes.empty() ||
                     retry_after_seconds > 0;
  if (has_details) {
    JsonValue det(rapidjson::kObjectType);
    if (!details_name.empty()) core::set_string(det, "name", details_name, a);
    if (!details_group.empty()) core::set_string(det, "group", details_group, a);
    if (!details_kind.empty()) core::set_string(det, "kind", details_kind, a);
    if (!causes.empty()) {
      JsonValue arr(rapidjson::kArrayType);
      for (auto& c : causes) {
        JsonValue o(rapidjson::kObjectType);
        if (!c.reason.empty()) core::set_string(o, "reason", c.reason, a);
        core::set_string(o, "message", c.message, a);
        if (!c.field.empty()) core::set_string(o, "field", c.field, a);
        arr.PushBack(o, a);
      }
      core::set_member(det, "causes", std::move(arr), a);
    }
    if (retry_after_seconds > 0) core::set_member(det, "retryAfterSeconds", JsonValue(retry_after_seconds), a);
    core::set_member(d, "details", std::move(det), a);
  }
  core::set_member(d, "code", JsonValue(code), a);
  return core::to_json(d);
}

namespace {
StatusError with_details(StatusError e, const ResourceType& t, std::string_view name) {
  e.details_name = std::string(name);
  e.details_group = t.group;
  e.details_kind = t.resource;
  return e;
}
}  // namespace

StatusError not_found(const ResourceType& t, std::string_view name) {
  return with_details(StatusError(404, "NotFound", fmt::format("{} \"{}\" not found", t.qualified_resource(), name)),
                      t, name);
}

StatusError already_exists(const ResourceType& t, std::string_view name) {
  return with_details(
      StatusError(409, "AlreadyExists", fmt::format("{} \"{}\" already exists", t.qualified_resource(), name)), t,
      name);
}

StatusError conflict_modified(const ResourceType& t, std::string_view name) {
  return conflict(t, name,
                  "the object has been modified; please apply your changes to the latest version and try again");
}

StatusError conflict(const ResourceType& t, std::string_view name, std::string_view why) {
  return with_details(StatusError(409, "Conflict",
                                  fmt::format("Operation cannot be fulfilled on {} \"{}\": {}",
                                              t.qualified_resource(), name, why)),
                      t, name);
}

StatusError invalid(const ResourceType& t, std::string_view name, std::vector<StatusCause> causes) {
  std::string kind_group = t.group.empty() ? t.kind : t.kind + "." + t.group;
  std::string joined;
  for (size_t i = 0; i < causes.size(); ++i) {
    if (i) joined += ", ";
    joined += causes[i].field.empty() ? causes[i].message : causes[i].field + ": " + causes[i].message;
  }
  std::string msg = fmt::format("{} \"{}\" is invalid: ", kind_group, name);
  msg += causes.size() > 1 ? "[" + joined + "]" : joined;
  StatusError e(422, "Invalid", msg);
  e.details_name = std::string(name);
  e.details_group = t.group;
  e.details_kind = t.kind;
  e.causes = std::move(causes);
  return e;
}

StatusError bad_request(std::string message) { return StatusError(400, "BadRequest", std::move(message)); }
StatusError forbidden(std::string message) { return StatusError(403, "Forbidden", std::move(message)); }
StatusError method_not_supported(const ResourceType& t, std::string_view verb) {
  return with_details(StatusError(405, "MethodNotAllowed",
                                  fmt::format("{} is not supported on resources of kind \"{}\"", verb,
                                              t.qualified_resource())),
                      t, "");
}
StatusError gone(std::string message) { return StatusError(410, "Expired", std::move(message)); }
StatusError internal_error(std::string message) { return StatusError(500, "InternalError", std::move(message)); }
StatusError too_many_requests(std::string message, int retry_after_seconds) {
  StatusError e(429, "TooManyRequests", std::move(message));
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

std::string_view event_type_name(EventType t) {
  switch (t) {
    case EventType::kAdded: return "ADDED";
    case EventType::kModified: return "MODIFIED";
    case EventType::kDeleted: return "DELETED";
    case EventType::kBookmark: return "BOOKMARK";
    case EventType::kError: return "ERROR";
  }
  return "ERROR";
}

std::string_view operation_name(Operation op) {
  switch (op) {
    case Operation::kCreate: return "CREATE";
    case Operation::kUpdate: return "UPDATE";
    case Operation::kDelete: return "DELETE";
  }
  return "CREATE";
}

// ---------------------------------------------------------------------------------------------
// TypeDecoder: decoding on read, memoized per stored object and decoder epoch

class TypeDecoder {
 public:
  void set(Decoder decode, uint64_t epoch) {
    std::lock_guard lk(mu_);
    fn_ = decode ? std::make_shared<const Decoder>(std::move(decode)) : nullptr;
    epoch_ = epoch;
  }

  // The object as readers get it. Decoding runs under the lock, so each stored object is decoded
  // once per epoch however many readers race on it (a watcher, a list and the write's own answer
  // all arrive together after a write); decoders are pure functions of the object and cheap.
  ObjectPtr serve(const ObjectPtr& stored) {
    if (!stored) return stored;
    std::lock_guard lk(mu_);
    if (!fn_) return stored;
    if (stored->decoded_epoch == epoch_) return stored->decoded ? stored->decoded : stored;
    auto doc = std::make_shared<JsonDoc>();
    doc->CopyFrom(stored->value(), doc->GetAllocator());
    (*fn_)(*doc);
    std::shared_ptr<Object> copy;
    if (!(*doc == stored->value())) {
      copy = std::make_shared<Object>();
      copy->json = core::to_json(*doc);
      copy->doc = std::move(doc);
      copy->rv = stored->rv;
      copy->decoded_epoch = epoch_;  // a served copy serves itself
    }
    stored->decoded_epoch = epoch_;
    stored->decoded = copy;
    if (copy) return copy;
    return stored;
  }

  void serve_all(std::vector<ObjectPtr>& objects) {
    {
      std::lock_guard lk(mu_);
      if (!fn_) return;
    }
    for (auto& o : objects) o = serve(o);
  }

 private:
  std::mutex mu_;
  std::shared_ptr<const Decoder> fn_;  // null: served as stored
  uint64_t epoch_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Watch

std::optional<WriteEvent> Watch::next(std::chrono::milliseconds timeout) {
  std::optional<WriteEvent> e;
  {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    e = std::move(queue_.front());
    queue_.pop_front();
  }
  if (decoder_) e->object = decoder_->serve(e->object);
  return e;
}

void Watch::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool Watch::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

// ---------------------------------------------------------------------------------------------
// Store

namespace {

using TypeKey = std::pair<std::string, std::string>;  // group, resource

std::string obj_key(std::string_view ns, std::string_view name) {
  std::string k(ns);
  k += '/';
  k += name;
  return k;
}

std::string random_uid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                     b[15]);
}

std::string random_suffix() {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";  // as apimachinery's rand
  unsigned char b[5];
  RAND_bytes(b, sizeof b);
  std::string s;
  for (unsigned char c : b) s += kAlphabet[c % kAlphabet.size()];
  return s;
}

std::string rfc3339(std::chrono::system_clock::time_point tp) {
  std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Everything except metadata and status (what a "spec change" means for metadata.generation).
bool spec_equal(const JsonValue& a, const JsonValue& b) {
  if (!a.IsObject() || !b.IsObject()) return a == b;
  auto skip = [](const JsonValue& n) {
    std::string_view s(n.GetString(), n.GetStringLength());
    return s == "metadata" || s == "status" || s == "apiVersion" || s == "kind";
  };
  size_t na = 0, nb = 0;
  for (auto it = a.MemberBegin(); it != a.MemberEnd(); ++it) {
    if (skip(it->name)) continue;
    ++na;
    auto* other = core::member(b, std::string_view(it->name.GetString(), it->name.GetStringLength()));
    if (!other || !(*other == it->value)) return false;
  }
  for (auto it = b.MemberBegin(); it != b.MemberEnd(); ++it)
    if (!skip(it->name)) ++nb;
  return na == nb;
}

std::string meta_string(const JsonValue& obj, std::string_view field) {
  if (auto* md = core::member(obj, "metadata")) return core::string_or(*md, field, "");
  return {};
}

bool has_finalizers(const JsonValue& obj) {
  auto* f = core::at_path(obj, {"metadata", "finalizers"});
  return f && f->IsArray() && !f->Empty();
}

}  // namespace

struct Store::Table {
  ResourceType type;
  std::map<std::string, ObjectPtr> objects;  // "ns/name" -> object as stored, sorted (continue tokens)
  std::shared_ptr<TypeDecoder> decoder = std::make_shared<TypeDecoder>();  // shared with watches
};

struct Store::Impl {
  Clock clock;
  size_t history_limit;
  mutable std::shared_mutex mu;
  std::map<TypeKey, Table> tables;
  std::atomic<uint64_t> types_gen{1};
  uint64_t rv = 1;
  uint64_t compacted_rv = 0;  // watches from a version < this get 410
  std::deque<WriteEvent> history;
  std::vector<std::weak_ptr<Watch>> watches;
  bool force_gone = false;
  uint64_t decoder_epoch = 0;  // bumps on every set_decoder (memos from older epochs are stale)

  // observers
  std::mutex obs_mu;
  std::condition_variable obs_cv;
  std::condition_variable idle_cv;
  std::deque<std::pair<WriteEvent, std::shared_ptr<TypeDecoder>>> obs_queue;  // events as stored
  std::vector<Observer> observers;
  bool obs_busy = false;
  bool stopping = false;
  std::thread dispatcher;

  std::chrono::system_clock::time_point now() const { return clock ? clock() : std::chrono::system_clock::now(); }

  Table& table(const ResourceType& t) {
    auto it = tables.find({t.group, t.resource});
    if (it == tables.end()) throw not_found(t, "");
    return it->second;
  }

  // Called with mu held exclusively. Stamps rv, stores, records history, feeds watches and observers.
  // `old` is the previous object as served. Returns the new object as stored (serve it to hand it out).
  ObjectPtr commit(Table& tb, EventType type, std::string ns, std::string name, std::shared_ptr<JsonDoc> doc,
                   ObjectPtr old, std::string propagation = {}) {
    uint64_t new_rv = ++rv;
    auto& a = doc->GetAllocator();
    core::set_string(core::ensure_object(*doc, "metadata", a), "resourceVersion", std::to_string(new_rv), a);
    auto obj = std::make_shared<Object>();
    obj->json = core::to_json(*doc);
    obj->doc = std::move(doc);
    obj->rv = new_rv;
    ObjectPtr ptr = obj;
    std::string key = obj_key(ns, name);
    if (type == EventType::kDeleted) tb.objects.erase(key);
    else tb.objects[key] = ptr;

    WriteEvent ev;
    ev.type = type;
    ev.group = tb.type.group;
    ev.resource = tb.type.resource;
    ev.ns = std::move(ns);
    ev.object = ptr;
    ev.old_object = std::move(old);
    ev.rv = new_rv;
    ev.propagation_policy = std::move(propagation);
    history.push_back(ev);
    while (history.size() > history_limit) {
      compacted_rv = history.front().rv;
      history.pop_front();
    }
    deliver(ev);
    {
      std::lock_guard lk(obs_mu);
      if (!observers.empty()) {
        obs_queue.emplace_back(ev, tb.decoder);
        obs_cv.notify_one();
      }
    }
    return ptr;
  }

  void deliver(const WriteEvent& ev) {
    size_t live = 0;
    for (auto& w : watches) {
      auto sp = w.lock();
      if (!sp) continue;
      watches[live++] = w;
      if (sp->group_ != ev.group || sp->resource_ != ev.resource) continue;
      if (!sp->ns_.empty() && sp->ns_ != ev.ns) continue;
      {
        std::lock_guard lk(sp->mu_);
        if (sp->closed_) continue;
        sp->queue_.push_back(ev);
      }
      sp->cv_.notify_one();
    }
    watches.resize(live);
  }

  void run_dispatcher() {
    std::unique_lock lk(obs_mu);
    for (;;) {
      obs_cv.wait(lk, [&] { return stopping || !obs_queue.empty(); });
      if (obs_queue.empty() && stopping) return;
      auto [ev, decoder] = std::move(obs_queue.front());
      obs_queue.pop_front();
      obs_busy = true;
      auto obs = observers;
      lk.unlock();
      ev.object = decoder->serve(ev.object);
      for (auto& o : obs) {
        try {
          o(ev);
        } catch (const std::exception&) {
          // An observer's failure (e.g. a conflicting GC delete) must not stop the others.
        }
      }
      lk.lock();
      obs_busy = false;
      if (obs_queue.empty()) idle_cv.notify_all();
    }
  }
};

Store::Store(Clock clock, size_t history_limit) : impl_(std::make_unique<Impl>()) {
  impl_->clock = std::move(clock);
  impl_->history_limit = history_limit == 0 ? 1 : history_limit;
  impl_->dispatcher = std::thread([this] { impl_->run_dispatcher(); });
}

Store::~Store() {
  {
    std::lock_guard lk(impl_->obs_mu);
    impl_->stopping = true;
  }
  impl_->obs_cv.notify_all();
  impl_->dispatcher.join();
  close_all_watches();
}

void Store::register_type(const ResourceType& t) {
  std::unique_lock lk(impl_->mu);
  auto& tb = impl_->tables[{t.group, t.resource}];
  tb.type = t;
  impl_->types_gen++;
}

void Store::unregister_type(const std::string& group, const std::string& resource) {
  std::unique_lock lk(impl_->mu);
  impl_->tables.erase({group, resource});
  impl_->types_gen++;
}

std::optional<ResourceType> Store::find_type(std::string_view group, std::string_view resource) const {
  std::shared_lock lk(impl_->mu);
  auto it = impl_->tables.find({std::string(group), std::string(resource)});
  if (it == impl_->tables.end()) return std::nullopt;
  return it->second.type;
}

std::optional<ResourceType> Store::find_type_by_kind(std::string_view group, std::string_view kind) const {
  std::shared_lock lk(impl_->mu);
  for (auto& [k, tb] : impl_->tables)
    if (tb.type.group == group && tb.type.kind == kind) return tb.type;
  return std::nullopt;
}

std::vector<ResourceType> Store::types() const {
  std::shared_lock lk(impl_->mu);
  std::vector<ResourceType> out;
  for (auto& [k, tb] : impl_->tables) out.push_back(tb.type);
  return out;
}

uint64_t Store::types_generation() const { return impl_->types_gen.load(); }

void Store::set_decoder(const std::string& group, const std::string& resource, Decoder decode) {
  std::unique_lock lk(impl_->mu);
  auto it = impl_->tables.find({group, resource});
  if (it == impl_->tables.end()) return;
  it->second.decoder->set(std::move(decode), ++impl_->decoder_epoch);
}

ObjectPtr Store::get(std::string_view group, std::string_view resource, std::string_view ns,
                     std::string_view name) const {
  ObjectPtr stored;
  std::shared_ptr<TypeDecoder> decoder;
  {
    std::shared_lock lk(impl_->mu);
    auto it = impl_->tables.find({std::string(group), std::string(resource)});
    if (it == impl_->tables.end()) return nullptr;
    auto o = it->second.objects.find(obj_key(ns, name));
    if (o == it->second.objects.end()) return nullptr;
    stored = o->second;
    decoder = it->second.decoder;
  }
  return decoder->serve(stored);
}

ObjectPtr Store::get_stored(std::string_view group, std::string_view resource, std::string_view ns,
                            std::string_view name) const {
  std::shared_lock lk(impl_->mu);
  auto it = impl_->tables.find({std::string(group), std::string(resource)});
  if (it == impl_->tables.end()) return nullptr;
  auto o = it->second.objects.find(obj_key(ns, name));
  return o == it->second.objects.end() ? nullptr : o->second;
}

uint64_t Store::current_rv() const {
  std::shared_lock lk(impl_->mu);
  return impl_->rv;
}

ListResult Store::list(std::string_view group, std::string_view resource, std::string_view ns,
                       const ListOptions& opts) const {
  std::optional<ResourceType> t = find_type(group, resource);
  if (!t) throw StatusError(404, "NotFound", "the server could not find the requested resource");
  LabelSelector ls = LabelSelector::parse(opts.label_selector);
  FieldSelector fs = FieldSelector::parse(opts.field_selector, field_labels_for(*t), !t->crd_name.empty());
  std::string start_after;
  uint64_t token_rv = 0;
  if (!opts.continue_token.empty()) {
    // Our token: "<rv>:<last key>" in plain text (clients treat it as opaque).
    auto colon = opts.continue_token.find(':');
    if (colon == std::string::npos)
      throw bad_request("continue key is not valid: the continue token is malformed");
    try {
      token_rv = std::stoull(opts.continue_token.substr(0, colon));
    } catch (const std::exception&) {
      throw bad_request("continue key is not valid: the continue token is malformed");
    }
    start_after = opts.continue_token.substr(colon + 1);
  }
  std::shared_lock lk(impl_->mu);
  std::shared_ptr<TypeDecoder> decoder;
  if (token_rv && token_rv < impl_->compacted_rv)
    throw gone(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list "
        "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
        "the results. Continuing with the provided token results in an inconsistent list - objects that were "
        "created, modified, or deleted between the time the first chunk was returned and now may show up in the "
        "list.");
  auto it = impl_->tables.find({std::string(group), std::string(resource)});
  ListResult r;
  r.resource_version = token_rv ? token_rv : impl_->rv;
  if (it == impl_->tables.end()) return r;
  decoder = it->second.decoder;
  auto& objects = it->second.objects;
  std::string prefix = ns.empty() ? std::string() : std::string(ns) + "/";
  std::string exact = fs.exact_name();
  auto begin = objects.begin();
  if (!start_after.empty()) begin = objects.upper_bound(start_after);
  else if (!prefix.empty()) begin = objects.lower_bound(prefix);
  std::string last_key;
  bool more = false;
  for (auto o = begin; o != objects.end(); ++o) {
    if (!prefix.empty() && o->first.compare(0, prefix.size(), prefix) != 0) break;
    if (!exact.empty()) {
      auto slash = o->first.find('/');
      if (o->first.compare(slash + 1, std::string::npos, exact) != 0) continue;
    }
    const JsonValue& v = o->second->value();
    if (!ls.empty() && !ls.matches(core::at_path(v, {"metadata", "labels"}))) continue;
    if (!fs.empty() && !fs.matches(v)) continue;
    if (opts.limit > 0 && static_cast<int64_t>(r.items.size()) >= opts.limit) {
      more = true;
      break;
    }
    r.items.push_back(o->second);
    last_key = o->first;
  }
  if (more) r.continue_token = fmt::format("{}:{}", r.resource_version, last_key);
  lk.unlock();
  decoder->serve_all(r.items);
  return r;
}

ObjectPtr Store::create(const ResourceType& t, std::string_view ns, JsonDoc obj, bool dry_run) {
  if (!obj.IsObject()) throw bad_request("the body of the request was in an unknown format");
  auto doc = std::make_shared<JsonDoc>();
  doc->Swap(obj);
  auto& a = doc->GetAllocator();
  auto& md = core::ensure_object(*doc, "metadata", a);
  std::string name = core::string_or(md, "name", "");
  if (name.empty()) {
    std::string gen = core::string_or(md, "generateName", "");
    if (gen.empty())
      throw invalid(t, "", {{"FieldValueRequired", "Required value: name or generateName is required", "metadata.name"}});
    name = gen + random_suffix();
    core::set_string(md, "name", name, a);
  }
  if (t.namespaced) core::set_string(md, "namespace", ns, a);
  else core::remove_member(md, "namespace");
  core::set_string(md, "uid", random_uid(), a);
  core::set_string(md, "creationTimestamp", rfc3339(impl_->now()), a);
  core::remove_member(md, "deletionTimestamp");
  core::remove_member(md, "deletionGracePeriodSeconds");
  if (t.tracks_generation) core::set_member(md, "generation", JsonValue(int64_t{1}), a);
  else core::remove_member(md, "generation");
  // The status subresource's types ignore status on create (their strategies reset it).
  if (t.has_subresource("status")) core::remove_member(*doc, "status");
  if (!core::member(*doc, "apiVersion")) core::set_string(*doc, "apiVersion", t.api_version(), a);
  if (!core::member(*doc, "kind")) core::set_string(*doc, "kind", t.kind, a);

  std::unique_lock lk(impl_->mu);
  auto& tb = impl_->table(t);
  if (t.namespaced && !(t.group.empty() && t.resource == "namespaces")) {
    auto nt = impl_->tables.find({"", "namespaces"});
    if (nt != impl_->tables.end()) {
      auto nso = nt->second.objects.find(obj_key("", ns));
      if (nso == nt->second.objects.end())
        throw not_found(nt->second.type, ns);
      if (core::at_path(nso->second->value(), {"metadata", "deletionTimestamp"})) {
        StatusError e(403, "Forbidden",
                      fmt::format("{} \"{}\" is forbidden: unable to create new content in namespace {} because it "
                                  "is being terminated",
                                  t.qualified_resource(), name, ns));
        throw e;
      }
    }
  }
  if (tb.objects.count(obj_key(t.namespaced ? ns : "", name))) throw already_exists(t, name);
  auto decoder = tb.decoder;
  ObjectPtr out;
  if (dry_run) {
    auto o = std::make_shared<Object>();
    o->json = core::to_json(*doc);
    o->doc = std::move(doc);
    out = o;
  } else {
    out = impl_->commit(tb, EventType::kAdded, t.namespaced ? std::string(ns) : std::string(), name, std::move(doc),
                        nullptr);
  }
  lk.unlock();
  return decoder->serve(out);
}

ObjectPtr Store::update(const ResourceType& t, std::string_view ns_in, JsonDoc obj, UpdateScope scope, bool dry_run) {
  if (!obj.IsObject()) throw bad_request("the body of the request was in an unknown format");
  std::string ns = t.namespaced ? std::string(ns_in) : std::string();
  auto doc = std::make_shared<JsonDoc>();
  doc->Swap(obj);
  auto& a = doc->GetAllocator();
  auto& md = core::ensure_object(*doc, "metadata", a);
  std::string name = core::string_or(md, "name", "");
  std::string want_rv = core::string_or(md, "resourceVersion", "");

  std::unique_lock lk(impl_->mu);
  auto& tb = impl_->table(t);
  auto it = tb.objects.find(obj_key(ns, name));
  if (it == tb.objects.end()) throw not_found(t, name);
  // The update starts from the object as decoded (GuaranteedUpdate decodes what etcd holds): status
  // kept, generation compared; only the no-op check below compares with the stored form.
  ObjectPtr stored = it->second;
  auto decoder = tb.decoder;
  ObjectPtr old = decoder->serve(stored);
  const JsonValue& ov = old->value();
  if (!want_rv.empty() && want_rv != std::to_string(old->rv)) throw conflict_modified(t, name);

  if (scope == UpdateScope::kStatus) {
    // Only status changes: start from the stored object.
    auto merged = std::make_shared<JsonDoc>();
    merged->CopyFrom(ov, merged->GetAllocator());
    auto& ma = merged->GetAllocator();
    if (auto* st = core::member(*doc, "status")) core::set_member(*merged, "status", JsonValue(*st, ma), ma);
    else core::remove_member(*merged, "status");
    doc = merged;
  } else {
    if (scope == UpdateScope::kMain && t.has_subresource("status")) {
      if (auto* st = core::member(ov, "status")) core::set_member(*doc, "status", JsonValue(*st, a), a);
      else core::remove_member(*doc, "status");
    }
    // Fields the client cannot change.
    auto& m = *core::member(*doc, "metadata");
    const JsonValue& om = *core::member(ov, "metadata");
    for (std::string_view f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                               "generation", "namespace"}) {
      if (auto* v = core::member(om, f)) core::set_member(m, f, JsonValue(*v, a), a);
      else core::remove_member(m, f);
    }
    if (!core::member(*doc, "apiVersion")) core::set_string(*doc, "apiVersion", t.api_version(), a);
    if (!core::member(*doc, "kind")) core::set_string(*doc, "kind", t.kind, a);
    if (t.tracks_generation && !spec_equal(ov, *doc)) {
      int64_t g = core::get_int(om, "generation").value_or(0) + 1;
      core::set_member(m, "generation", JsonValue(g), a);
    }
  }
  // A write of exactly the stored bytes keeps the resourceVersion and sends no event, as etcd3's
  // GuaranteedUpdate does; a write of the decoded form of an object stored with more is a real write.
  core::set_string(core::ensure_object(*doc, "metadata", doc->GetAllocator()), "resourceVersion",
                   std::to_string(old->rv), doc->GetAllocator());
  if (*doc == stored->value()) return old;
  ObjectPtr out;
  if (dry_run) {
    auto o = std::make_shared<Object>();
    o->json = core::to_json(*doc);
    o->doc = std::move(doc);
    out = o;
  } else {
    bool deleting = core::at_path(*doc, {"metadata", "deletionTimestamp"}) != nullptr;
    EventType type = deleting && !has_finalizers(*doc) ? EventType::kDeleted : EventType::kModified;
    out = impl_->commit(tb, type, ns, name, std::move(doc), old);
  }
  lk.unlock();
  return decoder->serve(out);
}

ObjectPtr Store::remove(const ResourceType& t, std::string_view ns_in, std::string_view name, const DeleteOptions& opts) {
  std::string ns = t.namespaced ? std::string(ns_in) : std::string();
  std::string policy = opts.propagation_policy.empty() ? "Background" : opts.propagation_policy;
  if (policy != "Background" && policy != "Foreground" && policy != "Orphan")
    throw invalid(t, name,
                  {{"FieldValueNotSupported",
                    fmt::format("Unsupported value: \"{}\": supported values: \"Foreground\", \"Background\", \"Orphan\"",
                                policy),
                    "propagationPolicy"}});
  std::vector<std::pair<ResourceType, std::string>> contents;  // a namespace's objects, deleted first
  {
    std::unique_lock lk(impl_->mu);
    auto& tb = impl_->table(t);
    auto it = tb.objects.find(obj_key(ns, name));
    if (it == tb.objects.end()) throw not_found(t, name);
    // Deletion too starts from the decoded object (the DELETED event and a deletionTimestamp write carry it).
    auto decoder = tb.decoder;
    ObjectPtr old = decoder->serve(it->second);
    const JsonValue& ov = old->value();
    if (opts.precondition_uid && *opts.precondition_uid != meta_string(ov, "uid"))
      throw conflict(t, name,
                     fmt::format("Precondition failed: UID in precondition: {}, UID in object meta: {}",
                                 *opts.precondition_uid, meta_string(ov, "uid")));
    if (opts.precondition_rv && *opts.precondition_rv != std::to_string(old->rv))
      throw conflict(t, name,
                     fmt::format("Precondition failed: ResourceVersion in precondition: {}, ResourceVersion in "
                                 "object meta: {}",
                                 *opts.precondition_rv, old->rv));
    bool is_namespace = t.group.empty() && t.resource == "namespaces";
    bool foreground = policy == "Foreground";
    if (!has_finalizers(ov) && !foreground) {
      if (opts.dry_run) return old;
      if (!is_namespace) {
        auto doc = std::make_shared<JsonDoc>();
        doc->CopyFrom(ov, doc->GetAllocator());
        ObjectPtr out = impl_->commit(tb, EventType::kDeleted, ns, std::string(name), std::move(doc), old, policy);
        lk.unlock();
        return decoder->serve(out);
      }
      for (auto& [k, other] : impl_->tables) {
        if (!other.type.namespaced) continue;
        std::string prefix = std::string(name) + "/";
        for (auto o = other.objects.lower_bound(prefix);
             o != other.objects.end() && o->first.compare(0, prefix.size(), prefix) == 0; ++o)
          contents.emplace_back(other.type, o->first.substr(prefix.size()));
      }
    } else {
      if (core::at_path(ov, {"metadata", "deletionTimestamp"})) return old;  // already being deleted
      auto doc = std::make_shared<JsonDoc>();
      doc->CopyFrom(ov, doc->GetAllocator());
      auto& a = doc->GetAllocator();
      auto& md = core::ensure_object(*doc, "metadata", a);
      core::set_string(md, "deletionTimestamp", rfc3339(impl_->now()), a);
      core::set_member(md, "deletionGracePeriodSeconds", JsonValue(0), a);
      if (foreground) {
        auto* fin = core::member(md, "finalizers");
        if (!fin || !fin->IsArray()) {
          core::set_member(md, "finalizers", JsonValue(rapidjson::kArrayType), a);
          fin = core::member(md, "finalizers");
        }
        bool present = false;
        for (auto& f : fin->GetArray()) present = present || (f.IsString() && std::string_view(f.GetString()) == "foregroundDeletion");
        if (!present) fin->PushBack(core::json_string("foregroundDeletion", a), a);
      }
      if (opts.dry_run) {
        auto o = std::make_shared<Object>();
        o->json = core::to_json(*doc);
        o->doc = std::move(doc);
        return o;
      }
      ObjectPtr out = impl_->commit(tb, EventType::kModified, ns, std::string(name), std::move(doc), old, policy);
      lk.unlock();
      return decoder->serve(out);
    }
  }
  // Namespace: its content goes first (the namespace controller's job, done synchronously here).
  for (auto& [ct, cname] : contents) {
    try {
      DeleteOptions o;
      o.propagation_policy = "Background";
      remove(ct, name, cname, o);
    } catch (const StatusError&) {
    }
  }
  std::unique_lock lk(impl_->mu);
  auto& tb = impl_->table(t);
  auto it = tb.objects.find(obj_key(ns, name));
  if (it == tb.objects.end()) throw not_found(t, name);
  auto decoder = tb.decoder;
  ObjectPtr old = decoder->serve(it->second);
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(old->value(), doc->GetAllocator());
  ObjectPtr out = impl_->commit(tb, EventType::kDeleted, ns, std::string(name), std::move(doc), old, policy);
  lk.unlock();
  return decoder->serve(out);
}

std::shared_ptr<Watch> Store::watch(std::string_view group, std::string_view resource, std::string_view ns,
                                    std::string_view from_rv) {
  auto w = std::make_shared<Watch>();
  w->group_ = std::string(group);
  w->resource_ = std::string(resource);
  w->ns_ = std::string(ns);
  std::unique_lock lk(impl_->mu);
  if (impl_->force_gone) {
    impl_->force_gone = false;
    throw gone(fmt::format("too old resource version: {} ({})", from_rv.empty() ? "0" : std::string(from_rv),
                           impl_->rv));
  }
  auto tit = impl_->tables.find({w->group_, w->resource_});
  if (tit != impl_->tables.end()) w->decoder_ = tit->second.decoder;
  if (from_rv.empty() || from_rv == "0") {
    if (tit != impl_->tables.end()) {
      for (auto& [k, o] : tit->second.objects) {
        if (!w->ns_.empty() && k.compare(0, w->ns_.size() + 1, w->ns_ + "/") != 0) continue;
        WriteEvent ev;
        ev.type = EventType::kAdded;
        ev.group = w->group_;
        ev.resource = w->resource_;
        ev.ns = k.substr(0, k.find('/'));
        ev.object = o;
        ev.rv = o->rv;
        w->queue_.push_back(std::move(ev));
      }
    }
  } else {
    uint64_t n = 0;
    try {
      size_t used = 0;
      n = std::stoull(std::string(from_rv), &used);
      if (used != from_rv.size()) throw std::invalid_argument("rv");
    } catch (const std::exception&) {
      throw bad_request(fmt::format("resourceVersion: Invalid value: \"{}\": strconv.ParseUint: parsing \"{}\": invalid syntax",
                                    from_rv, from_rv));
    }
    if (n < impl_->compacted_rv) {
      uint64_t oldest = impl_->history.empty() ? impl_->rv : impl_->history.front().rv;
      throw gone(fmt::format("too old resource version: {} ({})", n, oldest));
    }
    for (auto& ev : impl_->history) {
      if (ev.rv <= n) continue;
      if (ev.group != w->group_ || ev.resource != w->resource_) continue;
      if (!w->ns_.empty() && ev.ns != w->ns_) continue;
      w->queue_.push_back(ev);
    }
  }
  impl_->watches.push_back(w);
  return w;
}

void Store::compact(uint64_t rv) {
  std::unique_lock lk(impl_->mu);
  if (rv > impl_->rv) rv = impl_->rv;
  while (!impl_->history.empty() && impl_->history.front().rv <= rv) impl_->history.pop_front();
  impl_->compacted_rv = std::max(impl_->compacted_rv, rv);
}

void Store::close_all_watches() {
  std::vector<std::shared_ptr<Watch>> all;
  {
    std::unique_lock lk(impl_->mu);
    for (auto& w : impl_->watches)
      if (auto sp = w.lock()) all.push_back(sp);
    impl_->watches.clear();
  }
  for (auto& w : all) w->close();
}

void Store::force_gone_next_watch() {
  std::unique_lock lk(impl_->mu);
  impl_->force_gone = true;
}

size_t Store::watch_count() const {
  std::shared_lock lk(impl_->mu);
  size_t n = 0;
  for (auto& w : impl_->watches)
    if (auto sp = w.lock(); sp && !sp->closed()) ++n;
  return n;
}

void Store::add_observer(Observer o) {
  std::lock_guard lk(impl_->obs_mu);
  impl_->observers.push_back(std::move(o));
}

void Store::wait_idle() {
  std::unique_lock lk(impl_->obs_mu);
  impl_->idle_cv.wait(lk, [&] { return impl_->obs_queue.empty() && !impl_->obs_busy; });
}

}  // namespace ifo::kubesim
