// The informer loop: list page by page into the store, watch, relist on 410, back off after failures.
#include "kube/informer.h"

#include <fmt/format.h>

#include <algorithm>

#include "kube/meta.h"

namespace ifo::kube {

Informer::Informer(Client& client, const Resource& resource, InformerOptions options)
    : client_(client),
      resource_(resource),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : real_clock()),
      log_(options_.logger ? options_.logger : default_logger()),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {}

Informer::~Informer() { stop(); }

void Informer::require_not_started(const char* what) const {
  if (thread_.joinable()) throw std::logic_error(fmt::format("Informer::{} after start()", what));
}

void Informer::add_handlers(EventHandlers handlers) {
  require_not_started("add_handlers");
  handlers_.push_back(std::move(handlers));
}

void Informer::set_transform(Transform transform) {
  require_not_started("set_transform");
  transform_ = std::move(transform);
}

void Informer::set_codec(std::unique_ptr<StoreCodec> codec) {
  require_not_started("set_codec");
  store_.set_codec(codec ? std::move(codec) : std::make_unique<ParsedCodec>());
}

void Informer::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  reconnect_subscription_ = client_.on_reconnect([this] {
    { std::lock_guard lock(mu_); }
    cv_.notify_all();
  });
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  reconnect_subscription_.reset();
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

std::optional<Clock::time_point> Informer::retry_at() const {
  std::lock_guard lock(mu_);
  return retry_at_;
}

void Informer::backoff_wait(std::optional<uint64_t> outage_reconnects) {
  auto base = options_.backoff_initial;
  for (int i = 0; i < backoff_step_ && base < options_.backoff_max; ++i) base *= 2;
  base = std::min(base, options_.backoff_max);
  backoff_step_ = std::min(backoff_step_ + 1, 64);
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  const auto d = base + std::chrono::duration_cast<Clock::duration>(base * jitter(rng_));
  log_->debug("msg=\"informer backing off\" resource={} delay_ms={}", resource_.resource,
              std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  std::unique_lock lock(mu_);
  const auto deadline = clock_.now() + d;
  retry_at_ = deadline;
  if (woke_early_) outage_reconnects.reset();
  const auto server_back = [&] { return outage_reconnects && client_.reconnects() != *outage_reconnects; };
  while (!stop_ && clock_.now() < deadline && !server_back()) clock_.wait_until(cv_, lock, deadline);
  if (server_back() && clock_.now() < deadline) {
    woke_early_ = true;
    log_->info("msg=\"API server answering again; retrying before the backoff ends\" resource={}", resource_.resource);
  }
  retry_at_.reset();
}

ConstObjectPtr Informer::keep(ObjectPtr obj) const {
  if (core::JsonValue* m = core::member(*obj, "metadata")) core::remove_member(*m, "managedFields");
  if (!transform_) return obj;
  return transform_(std::move(obj));
}

void Informer::notify_add(const ConstObjectPtr& obj) {
  for (auto& h : handlers_)
    if (h.on_add) call("add", [&] { h.on_add(obj); });
}

void Informer::notify_update(const ConstObjectPtr& old_obj, const ConstObjectPtr& new_obj) {
  for (auto& h : handlers_)
    if (h.on_update) call("update", [&] { h.on_update(old_obj, new_obj); });
}

void Informer::notify_delete(const ConstObjectPtr& obj) {
  for (auto& h : handlers_)
    if (h.on_delete) call("delete", [&] { h.on_delete(obj); });
}

// A relist's change, with both sides decoded from the store's form one at a time: a first list of
// 10,000 objects never holds 10,000 parsed objects at once. An object is updated when what the store
// keeps of it changed (a new resourceVersion, unless the transform drops it).
void Informer::deliver(const Store::Change& change) {
  const ConstObjectPtr old_obj = change.old_kept ? change.old_kept->object() : nullptr;
  const ConstObjectPtr new_obj = change.new_kept ? change.new_kept->object() : nullptr;
  if (old_obj && new_obj) {
    if (*old_obj != *new_obj) notify_update(old_obj, new_obj);
  } else if (new_obj) {
    notify_add(new_obj);
  } else if (old_obj) {
    notify_delete(old_obj);
  }
}

// Page by page, each object kept (transformed and encoded) as its page arrives, so that listing
// 10,000 objects never holds more than one page of them whole. A continue token that expired (410)
// restarts with one unpaged list, as client-go's pager does. Returns the list's resourceVersion.
std::string Informer::list_into(std::map<std::string, Store::Kept>& fresh) {
  constexpr int kMaxPages = 100000;
  ListOptions lo;
  lo.label_selector = options_.label_selector;
  lo.field_selector = options_.field_selector;
  lo.limit = options_.page_size;
  for (int page = 0; page < kMaxPages; ++page) {
    ObjectList part;
    try {
      part = client_.list(resource_, options_.namespace_, lo);
    } catch (const ApiError& e) {
      if (!e.is_gone() || lo.continue_token.empty()) throw;
      log_->info("msg=\"list continue token expired; listing without paging\" resource={}", resource_.resource);
      lo.continue_token.clear();
      lo.limit = 0;
      fresh.clear();
      continue;
    }
    for (auto& item : part.items) {
      std::string key = meta_key(*item);
      if (ConstObjectPtr kept = keep(std::move(item))) fresh.insert_or_assign(std::move(key), store_.encode(kept));
    }
    if (part.continue_token.empty()) return part.resource_version;
    lo.continue_token = std::move(part.continue_token);
  }
  throw DecodeError(fmt::format("list {}: the server kept returning continue tokens", resource_.resource));
}

void Informer::list_and_replace() {
  std::map<std::string, Store::Kept> fresh;
  const std::string listed_rv = list_into(fresh);
  ++lists_;
  const size_t kept = fresh.size();
  const std::vector<Store::Change> changes = store_.replace(std::move(fresh));
  {
    std::lock_guard lock(mu_);
    rv_ = listed_rv;
  }
  // Handlers after the store holds the new state, as client-go's processor does.
  if (!handlers_.empty())
    for (const auto& change : changes) deliver(change);
  log_->info("msg=\"informer listed\" resource={} namespace={} objects={} resourceVersion={}", resource_.resource,
             options_.namespace_.empty() ? "*" : options_.namespace_, kept, listed_rv);
  if (!synced_) {
    {
      std::lock_guard lock(mu_);
      synced_ = true;
    }
    cv_.notify_all();
  }
}

void Informer::apply_event(WatchEvent& ev) {
  const std::string rv = ev.resource_version();
  if (ev.type != WatchEvent::Type::kBookmark) {
    const std::string key = meta_key(*ev.object);
    ConstObjectPtr kept = keep(std::move(ev.object));
    if (ev.type == WatchEvent::Type::kDeleted || !kept) {
      // Deleted, or no longer kept by the transform: gone from the store either way. Handlers see the
      // object as deleted (transformed), else the last state the store knew; nothing if it never held it.
      const StoredPtr old = store_.erase(key);
      if (!kept && old) kept = old->object();
      if (kept) notify_delete(kept);
    } else {
      const StoredPtr old = store_.upsert(key, store_.encode(kept));
      if (!old) notify_add(kept);
      else if (ConstObjectPtr previous = old->object()) notify_update(previous, kept);
    }
  }
  std::lock_guard lock(mu_);
  if (!rv.empty()) rv_ = rv;
}

Informer::RoundEnd Informer::watch_once() {
  // A watch shorter than this that delivered nothing did not work (the reflector's "very short watch").
  constexpr auto kShortWatch = std::chrono::seconds(1);
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
  RoundEnd end = RoundEnd::kClosed;
  client_.watch(resource_, options_.namespace_, wo, [&](WatchEvent& ev) {
    if (ev.type == WatchEvent::Type::kError) {
      if (ev.is_gone_error()) {
        log_->info("msg=\"watch resourceVersion expired; relisting\" resource={} message=\"{}\"", resource_.resource,
                   ev.error_message);
        end = RoundEnd::kExpired;
      } else {
        log_->warn("msg=\"watch error event\" resource={} code={} reason={} message=\"{}\"", resource_.resource,
                   ev.error_code, ev.error_reason, ev.error_message);
        end = RoundEnd::kFailed;
      }
      return false;
    }
    if (++events == 1) reset_backoff();  // the watch works
    apply_event(ev);
    return !stop_.load();
  });
  if (events > 0) return end;
  // Nothing delivered. A version gone as soon as it was listed, or a watch the server ends at once, is
  // retried after backoff like an error, so that a server in that state is not hammered.
  if (end == RoundEnd::kExpired) return RoundEnd::kExpiredAtOnce;
  if (end == RoundEnd::kClosed) {
    if (clock_.now() - started >= kShortWatch) {
      reset_backoff();  // a quiet watch that ran its course
      return end;
    }
    log_->warn("msg=\"watch ended at once without an event\" resource={}", resource_.resource);
    return RoundEnd::kFailed;
  }
  return end;
}

Informer::RoundEnd Informer::failed(bool listing, const std::exception& e) {
  log_->warn("msg=\"informer {} failed\" resource={} error=\"{}\"", listing ? "list" : "watch", resource_.resource,
             e.what());
  return RoundEnd::kFailed;
}

void Informer::run() {
  bool need_list = true;
  while (!stop_) {
    RoundEnd end = RoundEnd::kFailed;
    const uint64_t reconnects_before = client_.reconnects();
    bool unanswered = false;  // the round failed because the server did not answer
    try {
      if (need_list) {
        list_and_replace();
        need_list = false;
      }
      end = watch_once();
    } catch (const TransportError& e) {
      if (stop_ && e.is_aborted()) break;
      unanswered = !e.is_aborted();
      end = failed(need_list, e);
    } catch (const ApiError& e) {
      // A watch refused with 410 at its start: the version the store holds is already gone.
      end = e.is_gone() && !need_list ? RoundEnd::kExpiredAtOnce : failed(need_list, e);
    } catch (const std::exception& e) {
      end = failed(need_list, e);
    }
    switch (end) {
      case RoundEnd::kClosed:
        break;
      case RoundEnd::kExpired:
        need_list = true;
        break;
      case RoundEnd::kExpiredAtOnce:
        need_list = true;
        backoff_wait();
        break;
      case RoundEnd::kFailed:
        ++errors_;
        backoff_wait(unanswered ? std::optional<uint64_t>(reconnects_before) : std::nullopt);
        break;
    }
  }
  cv_.notify_all();
}

}  // namespace ifo::kube
