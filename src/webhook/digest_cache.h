// Watch-fed cache of managed Secrets' key-digest annotations (never their values): what the mutate
// path reads instead of calling the API server. In the webhook, DigestFeed (kube_sources.h) feeds it
// from an informer and answers synced(); replace() serves tests and benchmarks that fill it at once.
#pragma once

#include <chrono>
#include <map>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/json.h"
#include "webhook/admission.h"

namespace ifo::webhook {

class DigestCache : public DigestSource {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // A Secret object (from a list or a watch event): keeps only namespace, name and the parsed
  // secrets.infisical.com/key-digests annotation. A Secret without a readable annotation is dropped.
  void upsert(const core::JsonValue& secret, TimePoint now);
  void remove(const std::string& ns, const std::string& name, TimePoint now);
  // Replaces the whole content (after a list / relist) and marks the cache synced.
  void replace(const std::vector<const core::JsonValue*>& secrets, TimePoint now);
  // The watch is alive (it moved on without changing an entry, e.g. a bookmark): refreshes the age.
  void touch(TimePoint now);

  bool synced() const override;
  std::shared_ptr<const std::map<std::string, std::string>> key_digests(std::string_view ns,
                                                                       std::string_view name) const override;
  size_t size() const;
  // Seconds since the last list or watch activity; -1 before the first sync.
  double age_seconds(TimePoint now) const;

  static std::optional<std::map<std::string, std::string>> parse_annotation(std::string_view text);

 private:
  void upsert_locked(const core::JsonValue& secret);
  // Every admission request reads; only the feed writes: readers share the lock.
  mutable std::shared_mutex mu_;
  // (namespace, name), looked up by views without copying them.
  struct NsNameLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::pair<std::string_view, std::string_view>(a.first, a.second) <
             std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
  };
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const std::map<std::string, std::string>>, NsNameLess>
      entries_;
  std::atomic<bool> synced_{false};
  std::optional<TimePoint> last_activity_;
};

}  // namespace ifo::webhook
