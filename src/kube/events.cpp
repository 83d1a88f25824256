// Event creation and aggregation.
#include "kube/events.h"

#include <fmt/format.h>

#include <random>

#include "kube/client.h"  // default_logger
#include "kube/errors.h"
#include "kube/meta.h"

namespace ifo::kube {

namespace {
constexpr size_t kMaxMessageBytes = 1024;

std::string truncate_message(std::string_view m) {
  if (m.size() <= kMaxMessageBytes) return std::string(m);
  size_t cut = kMaxMessageBytes - 3;
  while (cut > 0 && (static_cast<unsigned char>(m[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return std::string(m.substr(0, cut)) + "...";
}
}  // namespace

EventRecorder::EventRecorder(Api& api, EventRecorderOptions options)
    : api_(api),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : real_clock()),
      log_(options_.logger ? options_.logger : default_logger()) {}

void EventRecorder::remember(const std::string& key, Entry e) {
  if (cache_.find(key) == cache_.end()) order_.push_back(key);
  cache_[key] = std::move(e);
  while (cache_.size() > options_.cache_size && !order_.empty()) {
    cache_.erase(order_.front());
    order_.pop_front();
  }
}

bool EventRecorder::record(const core::JsonValue& involved, std::string_view type, std::string_view reason,
                           std::string_view message) {
  const std::string msg = truncate_message(message);
  const std::string ns = meta_namespace(involved).empty() ? std::string("default") : meta_namespace(involved);
  const std::string key =
      fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", core::string_or(involved, "kind", ""), ns,
                  meta_name(involved), meta_uid(involved), type, reason, msg, options_.component);
  Entry entry;
  bool found = false;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      entry = it->second;
      found = true;
    }
  }
  if (found) {
    const std::string now = format_time(clock_.wall_now());
    const std::string patch = fmt::format(R"({{"count":{},"lastTimestamp":"{}"}})", entry.count + 1, now);
    try {
      api_.patch(kEvents, entry.namespace_, entry.name, PatchType::kMerge, patch, write_options());
      entry.count += 1;
      std::lock_guard lock(mu_);
      remember(key, entry);
      ++aggregated_;
      return true;
    } catch (const ApiError& e) {
      if (!e.is_not_found()) return not_recorded(ns, involved, reason, e);
      // The Event expired (events have a TTL): start a new one.
    } catch (const std::exception& e) {
      return not_recorded(ns, involved, reason, e);
    }
  }
  return create(involved, key, type, reason, msg);
}

std::string EventRecorder::event_name(std::string_view object_name, std::chrono::system_clock::time_point wall,
                                      bool retry) {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch());
  auto nanos = static_cast<uint64_t>(since_epoch.count());
  if (retry) nanos += std::random_device{}() + 1;
  std::lock_guard lock(mu_);
  nanos = std::max(nanos, last_name_nanos_ + 1);
  last_name_nanos_ = nanos;
  return fmt::format("{}.{:x}", object_name, nanos);
}

bool EventRecorder::create(const core::JsonValue& involved, const std::string& key, std::string_view type,
                           std::string_view reason, std::string_view message) {
  const auto wall = clock_.wall_now();
  const std::string now = format_time(wall);
  const std::string ns = meta_namespace(involved).empty() ? std::string("default") : meta_namespace(involved);
  const std::string& instance = options_.reporting_instance.empty() ? options_.host : options_.reporting_instance;

  core::JsonDoc ev(rapidjson::kObjectType);
  auto& a = ev.GetAllocator();
  core::set_string(ev, "apiVersion", "v1", a);
  core::set_string(ev, "kind", "Event", a);
  auto& md = core::ensure_object(ev, "metadata", a);
  core::set_string(md, "name", "", a);  // set per attempt below
  core::set_string(md, "namespace", ns, a);
  auto& io = core::ensure_object(ev, "involvedObject", a);
  core::set_string(io, "apiVersion", core::string_or(involved, "apiVersion", ""), a);
  core::set_string(io, "kind", core::string_or(involved, "kind", ""), a);
  core::set_string(io, "name", meta_name(involved), a);
  if (!meta_namespace(involved).empty()) core::set_string(io, "namespace", meta_namespace(involved), a);
  if (!meta_uid(involved).empty()) core::set_string(io, "uid", meta_uid(involved), a);
  if (!meta_resource_version(involved).empty())
    core::set_string(io, "resourceVersion", meta_resource_version(involved), a);
  core::set_string(ev, "reason", reason, a);
  core::set_string(ev, "message", message, a);
  core::set_string(ev, "type", type, a);
  auto& src = core::ensure_object(ev, "source", a);
  core::set_string(src, "component", options_.component, a);
  if (!options_.host.empty()) core::set_string(src, "host", options_.host, a);
  core::set_string(ev, "firstTimestamp", now, a);
  core::set_string(ev, "lastTimestamp", now, a);
  core::set_member(ev, "count", core::JsonValue(1), a);
  core::set_string(ev, "reportingComponent", options_.component, a);
  if (!instance.empty()) core::set_string(ev, "reportingInstance", instance, a);
  std::string name;
  for (int attempt = 0;; ++attempt) {
    name = event_name(meta_name(involved), wall, attempt > 0);
    core::set_string(*core::member(ev, "metadata"), "name", name, a);
    try {
      api_.create(kEvents, ns, ev, write_options());
      break;
    } catch (const ApiError& e) {
      // The name is taken (another recorder at the same instant): once more with another one.
      if (e.is_already_exists() && attempt == 0) continue;
      return not_recorded(ns, involved, reason, e);
    } catch (const std::exception& e) {
      return not_recorded(ns, involved, reason, e);
    }
  }
  std::lock_guard lock(mu_);
  remember(key, Entry{ns, name, 1, now});
  ++created_;
  return true;
}

bool EventRecorder::not_recorded(std::string_view ns, const core::JsonValue& involved, std::string_view reason,
                                 const std::exception& e) const {
  log_->warn("msg=\"event not recorded\" reason={} object={}/{} error=\"{}\"", reason, ns, meta_name(involved),
             e.what());
  return false;
}

WriteOptions EventRecorder::write_options() const { return as_manager(options_.field_manager); }

}  // namespace ifo::kube
