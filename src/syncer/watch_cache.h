// A small informer: list, then watch from the list's resourceVersion (bookmarks on), relist on 410,
// jittered backoff on errors, and a local store of the objects it was asked to watch (narrowed by
// namespace, label and field selectors so memory never grows with the cluster's other objects).
#pragma once

#include <spdlog/logger.h>

#include <atomic>
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

  void start(Handlers handlers);
  void stop();
  bool synced() const { return synced_.load(); }

  Object get(const std::string& ns, const std::string& name) const;
  std::vector<Object> list() const;
  size_t size() const;

 private:
  void run();
  void replace(const std::vector<kube::ObjectPtr>& items);
  void apply(kube::WatchEvent& ev);
  void sleep_backoff(int failures);

  kube::Client& client_;
  const kube::Resource& resource_;
  std::string ns_, label_selector_, field_selector_;
  std::shared_ptr<spdlog::logger> log_;
  Handlers handlers_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Object> store_;  // "ns/name"
  std::string resource_version_;
};

}  // namespace ifo::syncer
