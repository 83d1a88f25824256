// List + watch loop of WatchCache.
#include "syncer/watch_cache.h"

#include <algorithm>
#include <random>

namespace ifo::syncer {

namespace {
std::string key_of(const core::JsonValue& o) {
  auto ns = core::at_path(o, {"metadata", "namespace"});
  auto name = core::at_path(o, {"metadata", "name"});
  std::string n = name && name->IsString() ? name->GetString() : "";
  if (ns && ns->IsString() && ns->GetStringLength() > 0) return std::string(ns->GetString()) + "/" + n;
  return n;
}
}  // namespace

Object compact_copy(const core::JsonValue& v) { return core::copy_compact(v); }

WatchCache::WatchCache(kube::Client& client, const kube::Resource& resource, std::string ns,
                       std::string label_selector, std::string field_selector, std::shared_ptr<spdlog::logger> log)
    : client_(client),
      resource_(resource),
      ns_(std::move(ns)),
      label_selector_(std::move(label_selector)),
      field_selector_(std::move(field_selector)),
      log_(std::move(log)) {}

WatchCache::~WatchCache() { stop(); }

void WatchCache::start(Handlers handlers) {
  handlers_ = std::move(handlers);
  thread_ = std::thread([this] { run(); });
}

void WatchCache::stop() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// By default the store keeps each object as its JSON text and parses it again on every read. Text
// takes about half the memory of RapidJSON's tree (16 bytes per value, a member is two values), and
// a reconcile parses only a few KiB. bench/syncer-scale at 10,000 InfisicalSecrets: peak RSS 123 MiB
// with trees, 90 MiB with text.
WatchCache::Stored WatchCache::serialize(const Object& o) const {
  Stored s;
  if (keep_parsed_) s.parsed = o;
  else s.text = std::make_shared<const std::string>(core::to_json(*o));
  return s;
}

namespace {
// A document parsed into a pool sized for it (about twice the text), not RapidJSON's default 64 KiB
// first chunk: sixteen workers each holding a few parsed objects stay small.
struct ParsedDoc {
  explicit ParsedDoc(size_t chunk) : allocator(chunk), doc(&allocator) {}
  rapidjson::MemoryPoolAllocator<> allocator;
  core::JsonDoc doc;
};
}  // namespace

Object WatchCache::materialize(const Stored& s) {
  if (s.parsed) return s.parsed;
  if (!s.text) return nullptr;
  auto holder = std::make_shared<ParsedDoc>(std::max<size_t>(1024, s.text->size() * 2));
  holder->doc.Parse(s.text->data(), s.text->size());
  if (holder->doc.HasParseError()) return nullptr;  // cannot happen: the text is our own serialisation
  return Object(holder, &holder->doc);
}

Object WatchCache::get(const std::string& ns, const std::string& name) const {
  Stored s;
  {
    std::lock_guard lock(mu_);
    auto it = store_.find(ns.empty() ? name : ns + "/" + name);
    if (it == store_.end()) return nullptr;
    s = it->second;
  }
  return materialize(s);
}

std::vector<Object> WatchCache::list() const { return list_namespace(""); }

std::vector<Object> WatchCache::list_namespace(const std::string& ns) const {
  std::vector<Stored> kept;
  {
    std::lock_guard lock(mu_);
    if (ns.empty()) {
      for (const auto& [_, o] : store_) kept.push_back(o);
    } else {
      std::string prefix = ns + "/";
      for (auto it = store_.lower_bound(prefix); it != store_.end() && it->first.starts_with(prefix); ++it)
        kept.push_back(it->second);
    }
  }
  std::vector<Object> out;
  out.reserve(kept.size());
  for (const auto& s : kept)
    if (Object o = materialize(s)) out.push_back(std::move(o));
  return out;
}

size_t WatchCache::size() const {
  std::lock_guard lock(mu_);
  return store_.size();
}

Object WatchCache::keep(const kube::ObjectPtr& o) const {
  if (transform_) return transform_(*o);
  // managedFields are never read and are often the largest part of an object on a real API server.
  if (core::JsonValue* m = core::member(*o, "metadata")) core::remove_member(*m, "managedFields");
  return o;
}

void WatchCache::replace(std::map<std::string, Object> fresh) {
  std::map<std::string, Stored> fresh_stored;
  for (const auto& [k, o] : fresh) fresh_stored[k] = serialize(o);
  std::vector<Object> added;
  std::vector<Stored> deleted;
  std::vector<std::pair<Stored, Object>> updated;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, o] : fresh) {
      auto it = store_.find(k);
      if (it == store_.end()) added.push_back(o);
      else updated.emplace_back(it->second, o);
    }
    for (const auto& [k, o] : store_)
      if (!fresh.count(k)) deleted.push_back(o);
    store_ = std::move(fresh_stored);
  }
  for (const auto& o : added)
    if (handlers_.on_add) handlers_.on_add(o);
  if (handlers_.on_update)
    for (const auto& [a, b] : updated)
      if (Object old = materialize(a)) handlers_.on_update(old, b);
  if (handlers_.on_delete)
    for (const auto& o : deleted)
      if (Object old = materialize(o)) handlers_.on_delete(old);
}

void WatchCache::apply(kube::WatchEvent& ev) {
  std::string k = key_of(*ev.object);
  bool deleted = ev.type == kube::WatchEvent::Type::kDeleted;
  Object obj;
  Stored text;
  if (!deleted) {
    obj = keep(ev.object);
    deleted = !obj;  // no longer of interest: drop it like a deletion
    if (obj) text = serialize(obj);
  }
  Stored old_text;
  {
    std::lock_guard lock(mu_);
    auto it = store_.find(k);
    if (it != store_.end()) old_text = it->second;
    if (deleted) store_.erase(k);
    else store_[k] = text;
  }
  if (deleted) {
    if (ev.type == kube::WatchEvent::Type::kDeleted) obj = ev.object;
    else if (!old_text.kept()) return;  // never kept: nothing to tell
    else obj = materialize(old_text);
    if (handlers_.on_delete && obj) handlers_.on_delete(obj);
  } else if (old_text.kept()) {
    if (handlers_.on_update)
      if (Object old = materialize(old_text)) handlers_.on_update(old, obj);
  } else if (handlers_.on_add) {
    handlers_.on_add(obj);
  }
}

void WatchCache::sleep_backoff(int failures) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  int base_ms = std::min(30000, 250 << std::min(failures, 7));
  std::uniform_int_distribution<int> d(base_ms / 2, base_ms);
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(d(rng)), [this] { return stop_.load(); });
}

void WatchCache::run() {
  int failures = 0;
  bool need_list = true;
  while (!stop_) {
    try {
      if (need_list) {
        // Page by page, keeping only what the store keeps of each page, so that listing 10,000
        // objects never holds 10,000 whole objects at once.
        kube::ListOptions lo;
        lo.label_selector = label_selector_;
        lo.field_selector = field_selector_;
        lo.limit = 500;
        std::map<std::string, Object> fresh;
        std::string rv;
        for (int page = 0; page < 100000; ++page) {
          kube::ObjectList part;
          try {
            part = client_.list(resource_, ns_, lo);
          } catch (const kube::ApiError& e) {
            if (!e.is_gone() || lo.continue_token.empty()) throw;
            lo.continue_token.clear();  // the continue token expired: list again without paging
            lo.limit = 0;
            fresh.clear();
            continue;
          }
          for (const auto& item : part.items)
            if (Object kept = keep(item)) fresh[key_of(*item)] = std::move(kept);
          rv = part.resource_version;
          if (part.continue_token.empty()) break;
          lo.continue_token = part.continue_token;
        }
        replace(std::move(fresh));
        resource_version_ = rv;
        need_list = false;
        synced_ = true;
      }
      kube::WatchOptions wo;
      wo.label_selector = label_selector_;
      wo.field_selector = field_selector_;
      wo.resource_version = resource_version_;
      wo.allow_bookmarks = true;
      wo.timeout_seconds = 240;
      wo.cancel = &stop_;
      client_.watch(resource_, ns_, wo, [&](kube::WatchEvent& ev) {
        if (ev.type == kube::WatchEvent::Type::kError) {
          if (ev.is_gone_error()) need_list = true;
          else log_->warn("watch error resource={} code={} reason={}", resource_.resource, ev.error_code, ev.error_reason);
          return false;
        }
        std::string rv = ev.resource_version();
        if (!rv.empty()) resource_version_ = rv;
        if (ev.type != kube::WatchEvent::Type::kBookmark) apply(ev);
        return !stop_.load();
      });
      failures = 0;
    } catch (const kube::ApiError& e) {
      if (e.is_gone()) {
        need_list = true;
        continue;
      }
      if (stop_) break;
      log_->warn("list/watch failed resource={} error=\"{}\"", resource_.resource, e.what());
      sleep_backoff(++failures);
    } catch (const std::exception& e) {
      if (stop_) break;
      log_->warn("list/watch failed resource={} error=\"{}\"", resource_.resource, e.what());
      sleep_backoff(++failures);
    }
  }
}

}  // namespace ifo::syncer
