// Recording core/v1 Events about objects, with client-go's simple aggregation: an Event identical in
// object, type, reason, message and source to one recorded before is not created again; its count
// is incremented and lastTimestamp moved forward with a merge patch.
//
// The message is user-visible and stored in the cluster: callers must never put secret values,
// tokens or client secrets in it (name keys and resources, never values).
#pragma once

#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <spdlog/logger.h>

#include "core/json.h"
#include "kube/client.h"
#include "kube/clock.h"

namespace ifo::kube {

inline constexpr std::string_view kEventTypeNormal = "Normal";
inline constexpr std::string_view kEventTypeWarning = "Warning";

struct EventRecorderOptions {
  std::string component;  // source.component, e.g. "infisical-syncer"
  std::string host;       // source.host (optional)
  size_t cache_size = 4096;  // aggregation entries kept (oldest forgotten first)
  Clock* clock = nullptr;
  std::shared_ptr<spdlog::logger> logger;
};

class EventRecorder {
 public:
  EventRecorder(Client& client, EventRecorderOptions options);

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

  Client& client_;
  EventRecorderOptions options_;
  Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;
  std::list<std::string> order_;  // insertion order, for eviction
  uint64_t created_ = 0;
  uint64_t aggregated_ = 0;
};

}  // namespace ifo::kube
