// A shared-informer-like cache of one resource: list (paged), then watch from the list's
// resourceVersion with bookmarks, relist when the server says the version is gone (410), jittered
// exponential backoff on errors, a thread-safe local store and add/update/delete handlers
// (client-go's Reflector + Indexer + event handlers, for one resource and one selector).
//
// Objects in the store are shared_ptr<const JsonDoc> and are never mutated: copy before changing one.
// Handlers run on the informer's thread, after the store is updated, one event at a time; they must
// be quick (typically: enqueue the key in a WorkQueue) and must not throw (exceptions are logged).
//
// Typical use:
//   InformerOptions opts;
//   opts.label_selector = "app.kubernetes.io/managed-by=x";
//   Informer inf(client, kSecrets, opts);
//   EventHandlers h;
//   h.on_add = [&](const ConstObjectPtr& o) { queue.add(meta_key(*o)); };
//   inf.add_handlers(h);
//   inf.start();
//   inf.wait_for_sync(30s);
//   auto obj = inf.store().get("ns/name");
//   ...
//   inf.stop();  // also in the destructor
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "kube/client.h"
#include "kube/clock.h"
#include "kube/resource.h"

namespace ifo::kube {

using ConstObjectPtr = std::shared_ptr<const core::JsonDoc>;

// Thread-safe map key ("namespace/name") -> object.
class Store {
 public:
  ConstObjectPtr get(const std::string& key) const;
  std::vector<ConstObjectPtr> list() const;
  // Objects of one namespace (all when namespace_ is empty).
  std::vector<ConstObjectPtr> list(std::string_view namespace_) const;
  std::vector<std::string> keys() const;
  size_t size() const;

  // Used by the informer; returns the previous object (nullptr if none).
  ConstObjectPtr upsert(const std::string& key, ConstObjectPtr obj);
  ConstObjectPtr erase(const std::string& key);
  // Replaces everything; returns the previous content.
  std::map<std::string, ConstObjectPtr> replace(std::map<std::string, ConstObjectPtr> items);

 private:
  mutable std::mutex mu_;
  std::map<std::string, ConstObjectPtr> items_;
};

struct EventHandlers {
  std::function<void(const ConstObjectPtr& obj)> on_add;
  std::function<void(const ConstObjectPtr& old_obj, const ConstObjectPtr& new_obj)> on_update;
  // For a deletion seen in a watch, the object as the server last had it; for one found by a relist,
  // the last object this store knew (client-go's DeletedFinalStateUnknown, unwrapped).
  std::function<void(const ConstObjectPtr& obj)> on_delete;
};

struct InformerOptions {
  std::string namespace_;  // empty: all namespaces (or a cluster-scoped resource)
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;  // list ?limit=
  // Each watch asks for timeoutSeconds uniformly in [min_watch_timeout, 2*min_watch_timeout), as the
  // reflector does, so that many clients do not reconnect together.
  std::chrono::seconds min_watch_timeout{300};
  // Backoff after errors: initial * 2^n capped at max, plus up to 100% random jitter; reset after a
  // successful list or a watch that delivered events.
  Clock::duration backoff_initial = std::chrono::milliseconds(800);
  Clock::duration backoff_max = std::chrono::seconds(30);
  Clock* clock = nullptr;  // default: real_clock()
  std::shared_ptr<spdlog::logger> logger;
  uint64_t jitter_seed = 0;  // 0: from std::random_device
};

class Informer {
 public:
  Informer(Client& client, const Resource& resource, InformerOptions options = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Before start().
  void add_handlers(EventHandlers handlers);
  void start();
  // Stops the watch (within about a second) and joins the thread. Idempotent.
  void stop();

  // True once the first list has been stored and its on_add handlers have run.
  bool has_synced() const { return synced_.load(); }
  // Waits (real time) for has_synced(); false on timeout or stop.
  bool wait_for_sync(std::chrono::milliseconds timeout);

  const Store& store() const { return store_; }
  const Resource& resource() const { return resource_; }
  // The resourceVersion the next watch starts from.
  std::string resource_version() const;

  // Counters for tests and metrics.
  uint64_t lists() const { return lists_.load(); }
  uint64_t watches() const { return watches_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  enum class WatchEnd { kClosed, kGone, kError };
  void run();
  void list_and_replace();
  WatchEnd watch_once();
  void apply_event(WatchEvent& ev);
  void backoff_wait();
  void reset_backoff() { backoff_step_ = 0; }
  bool wait_stopped_for(Clock::duration d);
  template <typename F>
  void call(const char* what, F&& f);

  Client& client_;
  Resource resource_;
  InformerOptions options_;
  Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<EventHandlers> handlers_;
  Store store_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> lists_{0}, watches_{0}, errors_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string rv_;
  int backoff_step_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace ifo::kube
