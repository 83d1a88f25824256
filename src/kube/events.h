// Recording core/v1 Events about objects, with client-go's simple aggregation: an Event identical in
// object, type, reason, message and source to one recorded before is not created again; its count
// is incremented and lastTimestamp moved forward with a merge patch. Written through a kube::Api.
//
// The message is user-visible and stored in the cluster: callers must never put secret values,
// tokens or client secrets in it (name keys and resources, never values).
#pragma once

#include <chrono>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <spdlog/logger.h>

#include "core/json.h"
#include "kube/api.h"
#include "kube/clock.h"

namespace ifo::kube {

inline constexpr std::string_view kEventTypeNormal = "Normal";
inline constexpr std::string_view kEventTypeWarning = "Warning";

struct EventRecorderOptions {
  std::string component;  // source.component and reportingComponent, e.g. "infisical-syncer"
  std::string host;       // source.host (optional)
  // reportingInstance, e.g. the process's leader-election identity; "" takes host.
  std::string reporting_instance;
  std::string field_manager;  // of the Event writes; "" names none
  size_t cache_size = 4096;  // aggregation entries kept (oldest forgotten first)
  Clock* clock = nullptr;
  std::shared_ptr<spdlog::logger> logger;
};

class EventRecorder {
 public:
  // `api` must outlive the recorder.
  EventRecorder(Api& api, EventRecorderOptions options);

  // `involved` is the object the Event is about (its apiVersion, kind, metadata.name, namespace, uid
  // and resourceVersion are copied into involvedObject). type is kEventTypeNormal or kEventTypeWarning;
  // reason is CamelCase. Events are best effort: a failure is logged and false returned, never thrown.
  // Thread safe.
  bool record(const core::JsonValue& involved, std::string_view type, std::string_view reason,
              std::string_view message);

  uint64_t created() const { return created_; }
  uint64_t aggregated() const { return aggregated_; }

 private:
  struct Entry {
    std::string namespace_;
    std::string name;
    int64_t count = 1;
    std::string first_timestamp;
  };
  bool create(const core::JsonValue& involved, const std::string& key, std::string_view type,
              std::string_view reason, std::string_view message);
  void remember(const std::string& key, Entry e);
  // "<object name>.<hex>" as client-go names Events (the wall time in nanoseconds), kept increasing
  // within this recorder so two Events in one clock tick do not collide; `retry` adds randomness for
  // a name already taken (another recorder, the same instant).
  std::string event_name(std::string_view object_name, std::chrono::system_clock::time_point wall, bool retry);
  WriteOptions write_options() const;
  // Logs that the Event for `involved` (in `ns`) could not be written and answers false.
  bool not_recorded(std::string_view ns, const core::JsonValue& involved, std::string_view reason, const std::exception& e) const;

  Api& api_;
  EventRecorderOptions options_;
  Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;
  std::list<std::string> order_;  // insertion order, for eviction
  uint64_t created_ = 0;
  uint64_t aggregated_ = 0;
  uint64_t last_name_nanos_ = 0;
};

}  // namespace ifo::kube
