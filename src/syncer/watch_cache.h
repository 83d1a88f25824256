// A small informer: list, then watch from the list's resourceVersion (bookmarks on), relist on 410,
// jittered backoff on errors, and a local store of the objects it was asked to watch (narrowed by
// namespace, label and field selectors so memory never grows with the cluster's other objects).
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/client.h"
#include "syncer/kube_api.h"

namespace ifo::syncer {

// A copy of v in a document whose allocator grows in small chunks. A parsed or copied JsonDoc owns a
// pool allocator whose first chunk is 64 KiB however small the object; a cache of 10,000 objects held
// that way costs hundreds of MiB, held this way it costs about the objects' size.
Object compact_copy(const core::JsonValue& v);

class WatchCache {
 public:
  struct Handlers {
    std::function<void(const Object&)> on_add;
    std::function<void(const Object& old_obj, const Object& new_obj)> on_update;
    std::function<void(const Object&)> on_delete;
  };
  WatchCache(kube::Client& client, const kube::Resource& resource, std::string ns, std::string label_selector,
             std::string field_selector, std::shared_ptr<spdlog::logger> log);
  ~WatchCache();
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Maps each listed or watched object to what the store keeps (e.g. only the fields a reader needs);
  // nullptr keeps nothing, as if the object did not exist. Set before start(). Without one the store
  // keeps a compact copy of the whole object. Either way managedFields are dropped first.
  using Transform = std::function<Object(const core::JsonValue&)>;
  void set_transform(Transform t) { transform_ = std::move(t); }
  // Keep parsed trees instead of JSON text: for small objects read in bulk (list_namespace), where
  // parsing on every read would cost more CPU than the memory saved. Set before start().
  void set_keep_parsed(bool keep) { keep_parsed_ = keep; }

  void start(Handlers handlers);
  void stop();
  bool synced() const { return synced_.load(); }

  Object get(const std::string& ns, const std::string& name) const;
  std::vector<Object> list() const;
  // The objects of one namespace ("" = all), in name order.
  std::vector<Object> list_namespace(const std::string& ns) const;
  size_t size() const;

 private:
  void run();
  Object keep(const kube::ObjectPtr& o) const;  // what the store keeps of an object (nullptr: nothing)
  void apply(kube::WatchEvent& ev);
  void sleep_backoff(int failures);

  kube::Client& client_;
  const kube::Resource& resource_;
  std::string ns_, label_selector_, field_selector_;
  std::shared_ptr<spdlog::logger> log_;
  Handlers handlers_;
  Transform transform_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // An object as the store keeps it: its JSON text deflated against a dictionary (the default), or
  // the parsed tree when reads are many and the objects small (set_keep_parsed).
  struct Stored {
    std::shared_ptr<const std::string> packed;      // raw deflate stream of the JSON text
    std::shared_ptr<const std::string> dictionary;  // the preset dictionary it was deflated with
    uint32_t text_size = 0;                         // length of the JSON text
    bool deflated = false;                          // false: packed is the text itself
    Object parsed;
    bool kept() const { return packed || parsed; }
  };
  Stored serialize(const Object& o);  // watch thread only
  static Object materialize(const Stored& s);
  void replace(std::map<std::string, Stored> fresh);
  bool keep_parsed_ = false;
  // The text of a typical object of this cache, used as deflate's preset dictionary: objects of one
  // resource share nearly all field names and many values, so each compresses to its differences.
  // Replaced by a larger object's text when one is seen (entries keep the dictionary they used).
  std::shared_ptr<const std::string> dictionary_;
  class Deflater;
  std::unique_ptr<Deflater> deflater_;
  std::map<std::string, Stored> store_;  // "ns/name"
  std::string resource_version_;
};

}  // namespace ifo::syncer
