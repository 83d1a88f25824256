// The Kubernetes REST client over net::HttpClient.
#include "kube/client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <sstream>

#include "kube/meta.h"

namespace ifo::kube {

namespace {

std::optional<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  return t;
}

TransportError::Kind map_kind(net::TransportError::Kind k) {
  switch (k) {
    case net::TransportError::Kind::kConnect: return TransportError::Kind::kConnect;
    case net::TransportError::Kind::kTimeout: return TransportError::Kind::kTimeout;
    case net::TransportError::Kind::kTls: return TransportError::Kind::kTls;
    case net::TransportError::Kind::kAborted: return TransportError::Kind::kAborted;
    case net::TransportError::Kind::kOther: return TransportError::Kind::kOther;
  }
  return TransportError::Kind::kOther;
}

std::string path_only(const std::string& path_and_query) { return path_and_query.substr(0, path_and_query.find('?')); }

// Appends "k=v" query parameters, skipping empty values.
class Query {
 public:
  Query& add(std::string_view key, std::string_view value) {
    if (value.empty()) return *this;
    out_ += out_.empty() ? '?' : '&';
    out_ += key;
    out_ += '=';
    out_ += net::url_encode(value);
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

Query write_query(const WriteOptions& o) {
  Query q;
  q.add("fieldManager", o.field_manager);
  if (o.dry_run) q.add("dryRun", "All");
  if (o.force) q.add("force", "true");
  return q;
}

// Items of a List lack apiVersion/kind; fill them in so that objects look the same from get, list and watch.
ObjectPtr item_document(const core::JsonValue& item, const Resource& r) {
  auto doc = core::copy_compact(item);
  if (doc->IsObject()) {
    auto& a = doc->GetAllocator();
    if (core::member(*doc, "apiVersion") == nullptr) core::set_string(*doc, "apiVersion", r.api_version(), a);
    if (core::member(*doc, "kind") == nullptr) core::set_string(*doc, "kind", r.kind, a);
  }
  return doc;
}

}  // namespace

const char* content_type(PatchType t) {
  switch (t) {
    case PatchType::kMerge: return "application/merge-patch+json";
    case PatchType::kJson: return "application/json-patch+json";
    case PatchType::kStrategicMerge: return "application/strategic-merge-patch+json";
    case PatchType::kApply: return "application/apply-patch+yaml";
  }
  return "application/json";
}

std::shared_ptr<spdlog::logger> default_logger() {
  if (auto l = spdlog::get("kube")) return l;
  return spdlog::default_logger()->clone("kube");
}

Client::Client(Config config, ClientOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : real_clock()),
      log_(options_.logger ? options_.logger : default_logger()),
      http_(config_.tls, config_.user_agent),
      limiter_(config_.qps, config_.burst, clock_) {
  if (config_.server.empty()) throw ConfigError(fmt::format("{}: no API server URL", config_.source));
  while (config_.server.size() > 1 && config_.server.back() == '/') config_.server.pop_back();
  token_ = config_.token;
}

Client::~Client() = default;

std::string Client::bearer_token(bool force_reload) {
  std::lock_guard lock(token_mu_);
  if (config_.token_file.empty()) return token_;
  const auto now = clock_.now();
  if (force_reload || !token_loaded_ || now - token_read_at_ >= config_.token_refresh) {
    if (auto t = read_token_file(config_.token_file)) {
      if (token_loaded_ && *t != token_) log_->info("msg=\"service-account token reloaded\" file={}", config_.token_file);
      token_ = std::move(*t);
      token_loaded_ = true;
    } else {
      // Keep the previous token: a rotation in progress must not break requests.
      log_->warn("msg=\"cannot read the token file; keeping the previous token\" file={}", config_.token_file);
    }
    token_read_at_ = now;
  }
  return token_;
}

Client::Reply Client::send(std::string_view method, const std::string& path_and_query, std::string_view body,
                           std::string_view content_type) {
  bool reauthenticated = false;
  for (int attempt = 0;; ++attempt) {
    limiter_.wait();
    net::Request req;
    req.method = std::string(method);
    req.url = config_.server + path_and_query;
    req.body = std::string(body);
    req.total_timeout = config_.timeout;
    req.headers.emplace_back("Accept", "application/json");
    if (!body.empty()) req.headers.emplace_back("Content-Type", std::string(content_type));
    std::string token = bearer_token(false);
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    net::Response resp;
    try {
      ++requests_sent_;
      resp = http_.perform(req);
    } catch (const net::TransportError& e) {
      count_request(method, 0);
      note_unanswered(e);
      throw TransportError(map_kind(e.kind()), e.what());
    }
    count_request(method, resp.status);
    note_answered();
    log_->debug("msg=request method={} path={} status={}", method, path_only(path_and_query), resp.status);
    if (resp.status == 401 && !reauthenticated && !config_.token_file.empty()) {
      // A rotated token may have been written since the last read.
      reauthenticated = true;
      bearer_token(true);
      continue;
    }
    auto retry_after = resp.header("retry-after");
    const bool retriable = resp.status == 429 || (resp.status >= 500 && retry_after.has_value());
    if (retriable && attempt < options_.max_retries) {
      std::chrono::seconds delay{1};
      if (retry_after) {
        try {
          delay = std::chrono::seconds(std::max(0L, std::stol(*retry_after)));
        } catch (const std::exception&) {
          delay = std::chrono::seconds(1);  // an HTTP-date: not worth parsing for a bounded retry
        }
      }
      delay = std::min(delay, options_.max_retry_after);
      log_->info("msg=\"server asked to retry\" method={} path={} status={} delay_s={}", method,
                 path_only(path_and_query), resp.status, delay.count());
      clock_.sleep_for(delay);
      continue;
    }
    return Reply{resp.status, std::move(resp.body), std::move(retry_after)};
  }
}

void Client::count_request(std::string_view method, long code) {
  std::lock_guard lock(request_counts_mu_);
  auto by_method = request_counts_.find(method);
  if (by_method == request_counts_.end())
    by_method = request_counts_.emplace(std::string(method), std::map<int, uint64_t>{}).first;
  ++by_method->second[static_cast<int>(code)];
}

void Client::note_unanswered(const net::TransportError& e) {
  if (e.kind() != net::TransportError::Kind::kAborted) unanswered_.store(true);
}

void Client::note_answered() {
  if (!unanswered_.load(std::memory_order_relaxed) || !unanswered_.exchange(false)) return;
  ++reconnects_;
  log_->info("msg=\"API server answering again\" server={}", config_.server);
  std::lock_guard lock(reconnect_mu_);
  for (const auto& [id, listener] : reconnect_listeners_) listener();
}

std::shared_ptr<void> Client::on_reconnect(std::function<void()> listener) {
  std::lock_guard lock(reconnect_mu_);
  const uint64_t id = next_listener_++;
  reconnect_listeners_.emplace(id, std::move(listener));
  return std::shared_ptr<void>(nullptr, [this, id](void*) {
    std::lock_guard lock(reconnect_mu_);
    reconnect_listeners_.erase(id);
  });
}

std::vector<Client::RequestCount> Client::request_counts() const {
  std::lock_guard lock(request_counts_mu_);
  std::vector<RequestCount> out;
  out.reserve(request_counts_.size());
  for (const auto& [method, by_code] : request_counts_)
    for (const auto& [code, count] : by_code) out.push_back({method, code, count});
  return out;
}

void Client::throw_api_error(std::string_view method, const std::string& path_and_query, long status,
                             const std::string& body, const std::optional<std::string>& retry_after_header) {
  const int code = static_cast<int>(status);
  std::string reason;
  std::string message;
  std::optional<std::chrono::seconds> retry_after;
  if (retry_after_header) {
    try {
      retry_after = std::chrono::seconds(std::stol(*retry_after_header));
    } catch (const std::exception&) {
    }
  }
  auto parsed = core::parse_json(body);
  if (parsed && (*parsed)->IsObject() && core::string_or(**parsed, "kind", "") == "Status") {
    const auto& st = **parsed;
    reason = core::string_or(st, "reason", "");
    message = core::string_or(st, "message", "");
    if (const auto* d = core::member(st, "details"); d != nullptr && !retry_after) {
      if (auto s = core::get_int(*d, "retryAfterSeconds")) retry_after = std::chrono::seconds(*s);
    }
  }
  if (reason.empty()) reason = ApiError::reason_for_code(code);
  if (message.empty())
    message = fmt::format("the server responded with the status code {} but did not return more information", code);
  throw ApiError(code, std::move(reason), std::move(message), fmt::format("{} {}", method, path_only(path_and_query)),
                 retry_after);
}

ObjectPtr Client::send_json(std::string_view method, const std::string& path_and_query, std::string_view body,
                            std::string_view content_type) {
  Reply r = send(method, path_and_query, body, content_type);
  if (r.status < 200 || r.status >= 300) throw_api_error(method, path_and_query, r.status, r.body, r.retry_after);
  if (r.body.empty()) return nullptr;
  // Sized for the body rather than a 64 KiB first chunk: each worker holds the answers of its writes.
  auto parsed = core::parse_json_compact(r.body);
  if (!parsed) throw DecodeError(fmt::format("{} {}: {}", method, path_only(path_and_query), parsed.error()));
  return std::move(parsed).value();
}

ObjectPtr Client::request(std::string_view method, const std::string& path_and_query, std::string_view body,
                          std::string_view content_type) {
  return send_json(method, path_and_query, body, content_type);
}

ObjectPtr Client::get(const Resource& r, std::string_view ns, std::string_view name) {
  return send_json("GET", r.object_path(ns, name), {}, {});
}

ObjectList Client::list(const Resource& r, std::string_view ns, const ListOptions& o) {
  Query q;
  q.add("labelSelector", o.label_selector).add("fieldSelector", o.field_selector);
  if (o.limit > 0) q.add("limit", std::to_string(o.limit));
  q.add("continue", o.continue_token).add("resourceVersion", o.resource_version);
  const std::string path = r.collection_path(ns) + q.str();
  auto doc = send_json("GET", path, {}, {});
  if (!doc || !doc->IsObject()) throw DecodeError(fmt::format("GET {}: the list is not a JSON object", path_only(path)));
  ObjectList out;
  if (const auto* md = core::member(*doc, "metadata")) {
    out.resource_version = core::string_or(*md, "resourceVersion", "");
    out.continue_token = core::string_or(*md, "continue", "");
  }
  if (const auto* items = core::member(*doc, "items"); items != nullptr && items->IsArray()) {
    out.items.reserve(items->Size());
    for (const auto& item : items->GetArray()) out.items.push_back(item_document(item, r));
  } else if (items != nullptr && !items->IsNull()) {
    throw DecodeError(fmt::format("GET {}: \"items\" is not an array", path_only(path)));
  }
  return out;
}

ObjectList Client::list_all(const Resource& r, std::string_view ns, ListOptions o) {
  if (o.limit <= 0) o.limit = 500;
  ObjectList all;
  const ListOptions first = o;
  for (int page = 0; page < 100000; ++page) {
    ObjectList part;
    try {
      part = list(r, ns, o);
    } catch (const ApiError& e) {
      if (!e.is_gone() || o.continue_token.empty()) throw;
      log_->info("msg=\"list continue token expired; listing without paging\" resource={}", r.resource);
      ListOptions whole = first;
      whole.limit = 0;
      whole.continue_token.clear();
      return list(r, ns, whole);
    }
    for (auto& item : part.items) all.items.push_back(std::move(item));
    all.resource_version = part.resource_version;
    if (part.continue_token.empty()) return all;
    o.continue_token = part.continue_token;
  }
  throw DecodeError(fmt::format("list {}: the server kept returning continue tokens", r.resource));
}

ObjectPtr Client::write_object(std::string_view method, const Resource& r, std::string_view ns,
                               const core::JsonValue& object, const WriteOptions& options,
                               std::string_view subresource) {
  std::string path;
  if (method == "POST") {
    path = r.collection_path(ns);
  } else {
    std::string name = meta_name(object);
    if (name.empty()) throw DecodeError(fmt::format("{} {}: the object has no metadata.name", method, r.resource));
    path = r.object_path(ns, name, subresource);
  }
  return send_json(method, path + write_query(options).str(), core::to_json(object), "application/json");
}

ObjectPtr Client::create(const Resource& r, std::string_view ns, const core::JsonValue& object, const WriteOptions& o) {
  return write_object("POST", r, ns, object, o, {});
}

ObjectPtr Client::update(const Resource& r, std::string_view ns, const core::JsonValue& object, const WriteOptions& o) {
  return write_object("PUT", r, ns, object, o, {});
}

ObjectPtr Client::update_status(const Resource& r, std::string_view ns, const core::JsonValue& object,
                                const WriteOptions& o) {
  return write_object("PUT", r, ns, object, o, "status");
}

ObjectPtr Client::do_patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                           std::string_view patch_body, const WriteOptions& o, std::string_view subresource) {
  if (type == PatchType::kApply && o.field_manager.empty())
    throw DecodeError(fmt::format("apply {}/{}: server-side apply needs a field manager", r.resource, name));
  return send_json("PATCH", r.object_path(ns, name, subresource) + write_query(o).str(), patch_body,
                   content_type(type));
}

ObjectPtr Client::patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                        std::string_view patch_body, const WriteOptions& o) {
  return do_patch(r, ns, name, type, patch_body, o, {});
}

ObjectPtr Client::patch_status(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                               std::string_view patch_body, const WriteOptions& o) {
  return do_patch(r, ns, name, type, patch_body, o, "status");
}

void Client::remove(const Resource& r, std::string_view ns, std::string_view name, const DeleteOptions& o) {
  core::JsonDoc body(rapidjson::kObjectType);
  auto& a = body.GetAllocator();
  core::set_string(body, "apiVersion", "v1", a);
  core::set_string(body, "kind", "DeleteOptions", a);
  switch (o.propagation) {
    case Propagation::kDefault: break;
    case Propagation::kBackground: core::set_string(body, "propagationPolicy", "Background", a); break;
    case Propagation::kForeground: core::set_string(body, "propagationPolicy", "Foreground", a); break;
    case Propagation::kOrphan: core::set_string(body, "propagationPolicy", "Orphan", a); break;
  }
  if (o.grace_period_seconds) core::set_member(body, "gracePeriodSeconds", core::JsonValue(*o.grace_period_seconds), a);
  if (!o.precondition_uid.empty() || !o.precondition_resource_version.empty()) {
    auto& pre = core::ensure_object(body, "preconditions", a);
    if (!o.precondition_uid.empty()) core::set_string(pre, "uid", o.precondition_uid, a);
    if (!o.precondition_resource_version.empty())
      core::set_string(pre, "resourceVersion", o.precondition_resource_version, a);
  }
  send_json("DELETE", r.object_path(ns, name), core::to_json(body), "application/json");
}

void Client::watch(const Resource& r, std::string_view ns, const WatchOptions& o,
                   const std::function<bool(WatchEvent&)>& on_event) {
  Query q;
  q.add("watch", "true").add("labelSelector", o.label_selector).add("fieldSelector", o.field_selector);
  q.add("resourceVersion", o.resource_version);
  if (o.allow_bookmarks) q.add("allowWatchBookmarks", "true");
  if (o.timeout_seconds > 0) q.add("timeoutSeconds", std::to_string(o.timeout_seconds));
  const std::string path = r.collection_path(ns) + q.str();

  limiter_.wait();
  net::Request req;
  req.method = "GET";
  req.url = config_.server + path;
  req.headers.emplace_back("Accept", "application/json");
  std::string token = bearer_token(false);
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  // The server ends the watch after timeoutSeconds; allow a margin before calling the connection dead.
  req.total_timeout = o.timeout_seconds > 0 ? std::chrono::milliseconds((o.timeout_seconds + 30) * 1000)
                                            : std::chrono::milliseconds(0);
  req.cancel = o.cancel;

  WatchDecoder decoder(o.max_event_bytes);
  std::vector<WatchEvent> events;
  std::exception_ptr failure;
  bool stopped = false;
  auto on_chunk = [&](std::string_view chunk) -> bool {
    // Exceptions must not cross libcurl's C frames: keep the first and stop the transfer.
    try {
      events.clear();
      auto fed = decoder.feed(chunk, events);
      for (auto& ev : events) {
        if (!on_event(ev)) {
          stopped = true;
          return false;
        }
      }
      if (!fed) {
        failure = std::make_exception_ptr(DecodeError(fmt::format("watch {}: {}", path_only(path), fed.error())));
        return false;
      }
      return true;
    } catch (...) {
      failure = std::current_exception();
      return false;
    }
  };
  net::Response resp;
  try {
    ++requests_sent_;
    resp = http_.stream(req, on_chunk);
  } catch (const net::TransportError& e) {
    count_request("GET", 0);
    note_unanswered(e);
    if (failure) std::rethrow_exception(failure);
    throw TransportError(map_kind(e.kind()), e.what());
  }
  count_request("GET", resp.status);
  if (failure) std::rethrow_exception(failure);
  if (resp.status < 200 || resp.status >= 300) throw_api_error("GET", path, resp.status, resp.body, resp.header("retry-after"));
  if (stopped) return;
  events.clear();
  auto fin = decoder.finish(events);
  for (auto& ev : events)
    if (!on_event(ev)) return;
  if (!fin) throw DecodeError(fmt::format("watch {}: {}", path_only(path), fin.error()));
}

ServiceAccountToken Client::create_token(std::string_view ns, std::string_view service_account,
                                         const TokenRequestOptions& o) {
  core::JsonDoc body(rapidjson::kObjectType);
  auto& a = body.GetAllocator();
  core::set_string(body, "apiVersion", "authentication.k8s.io/v1", a);
  core::set_string(body, "kind", "TokenRequest", a);
  auto& spec = core::ensure_object(body, "spec", a);
  core::JsonValue auds(rapidjson::kArrayType);
  for (const auto& aud : o.audiences) auds.PushBack(core::json_string(aud, a), a);
  core::set_member(spec, "audiences", std::move(auds), a);
  if (o.expiration_seconds) core::set_member(spec, "expirationSeconds", core::JsonValue(*o.expiration_seconds), a);
  if (!o.bound_object_kind.empty()) {
    auto& ref = core::ensure_object(spec, "boundObjectRef", a);
    core::set_string(ref, "kind", o.bound_object_kind, a);
    core::set_string(ref, "apiVersion", "v1", a);
    core::set_string(ref, "name", o.bound_object_name, a);
    if (!o.bound_object_uid.empty()) core::set_string(ref, "uid", o.bound_object_uid, a);
  }
  const std::string path = kServiceAccounts.object_path(ns, service_account, "token");
  auto doc = send_json("POST", path, core::to_json(body), "application/json");
  const auto* status = doc ? core::member(*doc, "status") : nullptr;
  auto token = status ? core::get_string(*status, "token") : std::nullopt;
  if (!token || token->empty()) throw DecodeError(fmt::format("POST {}: the TokenRequest has no status.token", path));
  ServiceAccountToken out;
  out.token = std::move(*token);
  out.expiration_timestamp = core::string_or(*status, "expirationTimestamp", "");
  out.expiration = parse_time(out.expiration_timestamp);
  return out;
}

AccessReviewResult Client::create_subject_access_review(const AccessReviewSubject& subject,
                                                        const ResourceAttributes& attr) {
  core::JsonDoc body(rapidjson::kObjectType);
  auto& a = body.GetAllocator();
  core::set_string(body, "apiVersion", "authorization.k8s.io/v1", a);
  core::set_string(body, "kind", "SubjectAccessReview", a);
  auto& spec = core::ensure_object(body, "spec", a);
  if (!subject.user.empty()) core::set_string(spec, "user", subject.user, a);
  if (!subject.uid.empty()) core::set_string(spec, "uid", subject.uid, a);
  if (!subject.groups.empty()) {
    core::JsonValue groups(rapidjson::kArrayType);
    for (const auto& g : subject.groups) groups.PushBack(core::json_string(g, a), a);
    core::set_member(spec, "groups", std::move(groups), a);
  }
  if (!subject.extra.empty()) {
    auto& extra = core::ensure_object(spec, "extra", a);
    for (const auto& [k, vs] : subject.extra) {
      core::JsonValue arr(rapidjson::kArrayType);
      for (const auto& v : vs) arr.PushBack(core::json_string(v, a), a);
      core::set_member(extra, k, std::move(arr), a);
    }
  }
  auto& ra = core::ensure_object(spec, "resourceAttributes", a);
  auto put = [&](std::string_view k, const std::string& v) {
    if (!v.empty()) core::set_string(ra, k, v, a);
  };
  put("namespace", attr.namespace_);
  put("verb", attr.verb);
  put("group", attr.group);
  put("version", attr.version);
  put("resource", attr.resource);
  put("subresource", attr.subresource);
  put("name", attr.name);
  const std::string path = kSubjectAccessReviews.collection_path({});
  auto doc = send_json("POST", path, core::to_json(body), "application/json");
  const auto* status = doc ? core::member(*doc, "status") : nullptr;
  if (status == nullptr) throw DecodeError(fmt::format("POST {}: the SubjectAccessReview has no status", path));
  AccessReviewResult out;
  out.allowed = core::get_bool(*status, "allowed").value_or(false);
  out.denied = core::get_bool(*status, "denied").value_or(false);
  out.reason = core::string_or(*status, "reason", "");
  out.evaluation_error = core::string_or(*status, "evaluationError", "");
  return out;
}

}  // namespace ifo::kube
