// A shared-informer-like cache of one resource: list (paged), then watch from the list's
// resourceVersion with bookmarks, relist when the server says the version is gone (410), jittered
// exponential backoff on the injected clock after every failure, a thread-safe local store and
// add/update/delete handlers (client-go's Reflector + Indexer + event handlers, for one resource and
// one selector). A transform narrows what is kept and a store codec chooses how (client-go's
// SetTransform; kube/deflate_codec.h keeps 10,000 objects small).
//
// Objects in the store are shared_ptr<const JsonDoc> and are never mutated: copy before changing one.
// Handlers run on the informer's thread, after the store is updated, one event at a time; they must
// be quick (typically: enqueue the key in a WorkQueue) and should not throw (an exception is logged,
// and the other handlers and the rest of a relist still run).
//
// Typical use:
//   InformerOptions opts;
//   opts.label_selector = "app.kubernetes.io/managed-by=x";
//   Informer inf(client, kSecrets, opts);
//   inf.set_transform([](ObjectPtr o) -> ConstObjectPtr { ...; return o; });  // optional
//   inf.set_codec(std::make_unique<DeflateCodec>());                            // optional
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
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "kube/client.h"
#include "kube/clock.h"
#include "kube/object_store.h"
#include "kube/resource.h"

namespace ifo::kube {

struct EventHandlers {
  std::function<void(const ConstObjectPtr& obj)> on_add;
  // From a watch, every modification; from a relist, only objects whose kept form changed.
  std::function<void(const ConstObjectPtr& old_obj, const ConstObjectPtr& new_obj)> on_update;
  // For a deletion seen in a watch, the object as the server last had it (transformed); for one found
  // by a relist, or an object the transform stopped keeping, the last object this store knew
  // (client-go's DeletedFinalStateUnknown, unwrapped).
  std::function<void(const ConstObjectPtr& obj)> on_delete;
};

struct InformerOptions {
  std::string namespace_;  // empty: all namespaces (or a cluster-scoped resource)
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;  // list ?limit=; 0: one unpaged list
  // Each watch asks for timeoutSeconds uniformly in [min_watch_timeout, 2*min_watch_timeout), as the
  // reflector does, so that many clients do not reconnect together.
  std::chrono::seconds min_watch_timeout{300};
  // Backoff after a failure (a failed list or watch, an ERROR event, a watch that ends at once without
  // an event, a resourceVersion that is gone as soon as it was listed): initial * 2^n capped at max,
  // plus up to 100% random jitter, waited on `clock`. It starts again from initial once a watch works:
  // it delivered an event (bookmarks count) or ran until the server ended it.
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

  // Maps each listed or watched object to what the store keeps and handlers see (client-go's
  // SetTransform). It runs after metadata.managedFields were dropped (always: no cache reader needs
  // them and they are often the largest part of an object), gets the object to itself, and may change
  // it in place and return it, or build a smaller one (with core::copy_compact, so that it costs its own
  // size). nullptr keeps nothing, as if the object did not exist: a watched change that makes an object
  // nullptr is delivered as the deletion of what the store held. An exception fails the list or watch
  // the object came in (retried after backoff): an object is never skipped silently.
  using Transform = std::function<ConstObjectPtr(ObjectPtr obj)>;

  // Before start().
  void add_handlers(EventHandlers handlers);
  void set_transform(Transform transform);
  // How the store keeps objects; the default is ParsedCodec.
  void set_codec(std::unique_ptr<StoreCodec> codec);
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
  // While backing off after a failure: when (on the informer's clock) it tries again; nullopt otherwise.
  std::optional<Clock::time_point> retry_at() const;

 private:
  // How one round of the loop ended, which decides the next.
  enum class RoundEnd {
    kClosed,          // the server ended a working watch (timeoutSeconds): watch again at once
    kExpired,         // 410 after the watch had worked: relist at once
    kExpiredAtOnce,   // 410 before any event: the listed version is already gone; relist after backoff
    kFailed,          // an error (or a watch ended at once): retry the same step after backoff
  };
  void run();
  RoundEnd failed(bool listing, const std::exception& e);
  void list_and_replace();
  std::string list_into(std::map<std::string, Store::Kept>& fresh);
  RoundEnd watch_once();
  void apply_event(WatchEvent& ev);
  ConstObjectPtr keep(ObjectPtr obj) const;
  void deliver(const Store::Change& change);
  void notify_add(const ConstObjectPtr& obj);
  void notify_update(const ConstObjectPtr& old_obj, const ConstObjectPtr& new_obj);
  void notify_delete(const ConstObjectPtr& obj);
  // Waits the next backoff. `outage_reconnects`: the round failed without an answer from the server,
  // which had answered again this many times when the round began; the wait ends early once the
  // client sees the server answer again (Client::reconnects grows). Once per run of failures: until
  // a round works again the next backoffs run their course, so a server that answers other requests
  // but keeps cutting this one is not retried at the pace of everybody else's requests.
  void backoff_wait(std::optional<uint64_t> outage_reconnects = std::nullopt);
  void reset_backoff() {
    backoff_step_ = 0;
    woke_early_ = false;
  }
  void require_not_started(const char* what) const;
  template <typename F>
  void call(const char* what, F&& f);

  Client& client_;
  Resource resource_;
  InformerOptions options_;
  Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<EventHandlers> handlers_;
  Transform transform_;
  Store store_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> lists_{0}, watches_{0}, errors_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string rv_;
  std::optional<Clock::time_point> retry_at_;
  int backoff_step_ = 0;
  bool woke_early_ = false;  // a backoff of this run of failures already ended because the server was back
  std::shared_ptr<void> reconnect_subscription_;  // wakes backoff_wait when the server answers again
  std::mt19937_64 rng_;
};

}  // namespace ifo::kube
