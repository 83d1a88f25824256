// The informer loop: list, watch, relist on 410, back off on errors.
#include "kube/informer.h"

#include <fmt/format.h>

#include <algorithm>

#include "kube/meta.h"

namespace ifo::kube {

ConstObjectPtr Store::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ConstObjectPtr> Store::list() const {
  std::lock_guard lock(mu_);
  std::vector<ConstObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(v);
  return out;
}

std::vector<ConstObjectPtr> Store::list(std::string_view ns) const {
  if (ns.empty()) return list();
  std::lock_guard lock(mu_);
  std::vector<ConstObjectPtr> out;
  const std::string prefix = std::string(ns) + "/";
  for (auto it = items_.lower_bound(prefix); it != items_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    out.push_back(it->second);
  return out;
}

std::vector<std::string> Store::keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : items_) out.push_back(k);
  return out;
}

size_t Store::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

ConstObjectPtr Store::upsert(const std::string& key, ConstObjectPtr obj) {
  std::lock_guard lock(mu_);
  auto& slot = items_[key];
  auto old = std::move(slot);
  slot = std::move(obj);
  return old;
}

ConstObjectPtr Store::erase(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  auto old = std::move(it->second);
  items_.erase(it);
  return old;
}

std::map<std::string, ConstObjectPtr> Store::replace(std::map<std::string, ConstObjectPtr> items) {
  std::lock_guard lock(mu_);
  std::swap(items_, items);
  return items;
}

Informer::Informer(Client& client, const Resource& resource, InformerOptions options)
    : client_(client),
      resource_(resource),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : real_clock()),
      log_(options_.logger ? options_.logger : default_logger()),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {}

Informer::~Informer() { stop(); }

void Informer::add_handlers(EventHandlers handlers) {
  if (thread_.joinable()) throw std::logic_error("Informer::add_handlers after start()");
  handlers_.push_back(std::move(handlers));
}

void Informer::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::wait_for_sync(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return synced_.load() || stop_.load(); }) && synced_.load();
}

std::string Informer::resource_version() const {
  std::lock_guard lock(mu_);
  return rv_;
}

template <typename F>
void Informer::call(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    log_->error("msg=\"event handler threw\" resource={} handler={} error=\"{}\"", resource_.resource, what, e.what());
  } catch (...) {
    log_->error("msg=\"event handler threw\" resource={} handler={}", resource_.resource, what);
  }
}

bool Informer::wait_stopped_for(Clock::duration d) {
  std::unique_lock lock(mu_);
  const auto deadline = clock_.now() + d;
  while (!stop_ && clock_.now() < deadline) clock_.wait_until(cv_, lock, deadline);
  return stop_;
}

void Informer::backoff_wait() {
  const int step = std::min(backoff_step_, 30);
  ++backoff_step_;
  auto base = options_.backoff_initial * (int64_t{1} << step);
  if (base > options_.backoff_max || base <= Clock::duration::zero()) base = options_.backoff_max;
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  const auto d = base + std::chrono::duration_cast<Clock::duration>(base * jitter(rng_));
  log_->debug("msg=\"informer backing off\" resource={} delay_ms={}", resource_.resource,
              std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  wait_stopped_for(d);
}

void Informer::list_and_replace() {
  ListOptions lo;
  lo.label_selector = options_.label_selector;
  lo.field_selector = options_.field_selector;
  lo.limit = options_.page_size;
  ObjectList listed = client_.list_all(resource_, options_.namespace_, lo);
  ++lists_;
  std::map<std::string, ConstObjectPtr> fresh;
  for (auto& item : listed.items) {
    std::string key = meta_key(*item);
    fresh.emplace(std::move(key), std::move(item));
  }
  auto old = store_.replace(fresh);
  {
    std::lock_guard lock(mu_);
    rv_ = listed.resource_version;
  }
  // Handlers after the store holds the new state, as client-go's processor does.
  for (const auto& entry : fresh) {
    const ConstObjectPtr& obj = entry.second;
    auto it = old.find(entry.first);
    if (it == old.end()) {
      for (auto& h : handlers_)
        if (h.on_add) call("add", [&] { h.on_add(obj); });
    } else if (meta_resource_version(*it->second) != meta_resource_version(*obj)) {
      const ConstObjectPtr& previous = it->second;
      for (auto& h : handlers_)
        if (h.on_update) call("update", [&] { h.on_update(previous, obj); });
    }
  }
  for (const auto& entry : old) {
    if (fresh.count(entry.first) != 0) continue;
    const ConstObjectPtr& obj = entry.second;
    for (auto& h : handlers_)
      if (h.on_delete) call("delete", [&] { h.on_delete(obj); });
  }
  log_->info("msg=\"informer listed\" resource={} namespace={} objects={} resourceVersion={}", resource_.resource,
             options_.namespace_.empty() ? "*" : options_.namespace_, fresh.size(), listed.resource_version);
  if (!synced_) {
    {
      std::lock_guard lock(mu_);
      synced_ = true;
    }
    cv_.notify_all();
  }
}

void Informer::apply_event(WatchEvent& ev) {
  ConstObjectPtr obj = ev.object;
  const std::string rv = ev.resource_version();
  if (ev.type == WatchEvent::Type::kBookmark) {
    std::lock_guard lock(mu_);
    if (!rv.empty()) rv_ = rv;
    return;
  }
  const std::string key = meta_key(*obj);
  if (ev.type == WatchEvent::Type::kDeleted) {
    store_.erase(key);
    for (auto& h : handlers_)
      if (h.on_delete) call("delete", [&] { h.on_delete(obj); });
  } else {
    auto old = store_.upsert(key, obj);
    for (auto& h : handlers_) {
      if (old == nullptr) {
        if (h.on_add) call("add", [&] { h.on_add(obj); });
      } else if (h.on_update) {
        call("update", [&] { h.on_update(old, obj); });
      }
    }
  }
  std::lock_guard lock(mu_);
  if (!rv.empty()) rv_ = rv;
}

Informer::WatchEnd Informer::watch_once() {
  WatchOptions wo;
  wo.label_selector = options_.label_selector;
  wo.field_selector = options_.field_selector;
  wo.resource_version = resource_version();
  wo.allow_bookmarks = true;
  std::uniform_int_distribution<int64_t> spread(0, std::max<int64_t>(options_.min_watch_timeout.count() - 1, 0));
  wo.timeout_seconds = options_.min_watch_timeout.count() + spread(rng_);
  wo.cancel = &stop_;
  ++watches_;
  const auto started = clock_.now();
  size_t events = 0;
  WatchEnd end = WatchEnd::kClosed;
  client_.watch(resource_, options_.namespace_, wo, [&](WatchEvent& ev) {
    if (ev.type == WatchEvent::Type::kError) {
      if (ev.is_gone_error()) {
        log_->info("msg=\"watch resourceVersion expired; relisting\" resource={} message=\"{}\"", resource_.resource,
                   ev.error_message);
        end = WatchEnd::kGone;
      } else {
        log_->warn("msg=\"watch error event\" resource={} code={} reason={} message=\"{}\"", resource_.resource,
                   ev.error_code, ev.error_reason, ev.error_message);
        end = WatchEnd::kError;
      }
      return false;
    }
    ++events;
    if (events == 1) reset_backoff();
    apply_event(ev);
    return !stop_.load();
  });
  // A watch that closes at once without events is treated as an error, so a server that keeps
  // closing watches is not hammered (the reflector's "very short watch").
  if (end == WatchEnd::kClosed && events == 0 && clock_.now() - started < std::chrono::seconds(1)) {
    log_->debug("msg=\"very short watch\" resource={}", resource_.resource);
    return WatchEnd::kError;
  }
  return end;
}

void Informer::run() {
  bool need_list = true;
  while (!stop_) {
    try {
      if (need_list) {
        list_and_replace();
        need_list = false;
        reset_backoff();
      }
      switch (watch_once()) {
        case WatchEnd::kClosed:
          break;  // timeoutSeconds reached: watch again from the last resourceVersion
        case WatchEnd::kGone:
          need_list = true;
          break;
        case WatchEnd::kError:
          ++errors_;
          backoff_wait();
          break;
      }
    } catch (const TransportError& e) {
      if (stop_ && e.is_aborted()) break;
      ++errors_;
      log_->warn("msg=\"informer {} failed\" resource={} error=\"{}\"", need_list ? "list" : "watch", resource_.resource,
                 e.what());
      backoff_wait();
    } catch (const ApiError& e) {
      if (e.is_gone()) {
        log_->info("msg=\"resourceVersion expired; relisting\" resource={}", resource_.resource);
        need_list = true;
        continue;
      }
      ++errors_;
      log_->warn("msg=\"informer {} failed\" resource={} error=\"{}\"", need_list ? "list" : "watch", resource_.resource,
                 e.what());
      backoff_wait();
    } catch (const std::exception& e) {
      ++errors_;
      log_->warn("msg=\"informer {} failed\" resource={} error=\"{}\"", need_list ? "list" : "watch", resource_.resource,
                 e.what());
      backoff_wait();
    }
  }
  cv_.notify_all();
}

}  // namespace ifo::kube
