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

Object WatchCache::get(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = store_.find(ns.empty() ? name : ns + "/" + name);
  return it == store_.end() ? nullptr : it->second;
}

std::vector<Object> WatchCache::list() const {
  std::lock_guard lock(mu_);
  std::vector<Object> out;
  for (const auto& [_, o] : store_) out.push_back(o);
  return out;
}

size_t WatchCache::size() const {
  std::lock_guard lock(mu_);
  return store_.size();
}

void WatchCache::replace(const std::vector<kube::ObjectPtr>& items) {
  std::map<std::string, Object> fresh;
  for (const auto& i : items) fresh[key_of(*i)] = i;
  std::vector<Object> added, deleted;
  std::vector<std::pair<Object, Object>> updated;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, o] : fresh) {
      auto it = store_.find(k);
      if (it == store_.end()) added.push_back(o);
      else updated.emplace_back(it->second, o);
    }
    for (const auto& [k, o] : store_)
      if (!fresh.count(k)) deleted.push_back(o);
    store_ = std::move(fresh);
  }
  for (const auto& o : added)
    if (handlers_.on_add) handlers_.on_add(o);
  for (const auto& [a, b] : updated)
    if (handlers_.on_update) handlers_.on_update(a, b);
  for (const auto& o : deleted)
    if (handlers_.on_delete) handlers_.on_delete(o);
}

void WatchCache::apply(kube::WatchEvent& ev) {
  Object obj = ev.object;
  std::string k = key_of(*obj);
  Object old;
  {
    std::lock_guard lock(mu_);
    auto it = store_.find(k);
    if (it != store_.end()) old = it->second;
    if (ev.type == kube::WatchEvent::Type::kDeleted) store_.erase(k);
    else store_[k] = obj;
  }
  if (ev.type == kube::WatchEvent::Type::kDeleted) {
    if (handlers_.on_delete) handlers_.on_delete(obj);
  } else if (old) {
    if (handlers_.on_update) handlers_.on_update(old, obj);
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
        kube::ListOptions lo;
        lo.label_selector = label_selector_;
        lo.field_selector = field_selector_;
        auto l = client_.list_all(resource_, ns_, lo);
        replace(l.items);
        resource_version_ = l.resource_version;
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
