// SubjectAccessReview with a cache, and the managed-Secret list+watch loop.
#include "webhook/kube_sources.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <fmt/format.h>

#include "core/constants.h"
#include "kube/client.h"
#include "kube/errors.h"

namespace ifo::webhook {

bool SarAuthorizer::allowed(const UserInfo& user, const core::AccessCheck& check) {
  std::string key = fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", user.username, user.uid,
                                fmt::join(user.groups, ","), check.verb, check.resource, check.subresource,
                                check.namespace_, check.name);
  for (const auto& [k, v] : user.extra) key += fmt::format("\x1f{}={}", k, fmt::join(v, ","));
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end() && it->second.second > now) return it->second.first;
  }
  kube::AccessReviewSubject subject{user.username, user.uid, user.groups, user.extra};
  kube::ResourceAttributes attrs{check.namespace_, check.verb, check.group, "v1", check.resource, check.subresource,
                                 check.name};
  ++sent_;
  const bool ok = client_.create_subject_access_review(subject, attrs).allowed;
  std::lock_guard lock(mu_);
  if (cache_.size() > 10000) cache_.clear();  // bounded: answers live only ttl_ anyway
  cache_[key] = {ok, now + ttl_};
  return ok;
}

SecretWatcher::SecretWatcher(kube::Client& client, DigestCache& cache, std::shared_ptr<spdlog::logger> log)
    : client_(client), cache_(cache), log_(std::move(log)) {}

SecretWatcher::~SecretWatcher() { stop(); }

void SecretWatcher::start() { thread_ = std::thread([this] { run(); }); }

void SecretWatcher::stop() {
  cancel_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SecretWatcher::run() {
  const std::string selector = fmt::format("{}={}", core::kManagedByLabel, core::kManagedByValue);
  auto backoff = std::chrono::milliseconds(200);
  while (!cancel_) {
    try {
      kube::ListOptions lo;
      lo.label_selector = selector;
      auto list = client_.list_all(kube::kSecrets, "", lo);
      std::vector<const core::JsonValue*> items;
      for (const auto& item : list.items) items.push_back(item.get());
      cache_.replace(items, std::chrono::steady_clock::now());
      log_->info("managed-secret cache synced secrets={} resourceVersion={}", cache_.size(), list.resource_version);
      backoff = std::chrono::milliseconds(200);
      std::string rv = list.resource_version;
      bool relist = false;
      while (!cancel_ && !relist) {
        kube::WatchOptions wo;
        wo.label_selector = selector;
        wo.resource_version = rv;
        wo.cancel = &cancel_;
        wo.timeout_seconds = 300;
        client_.watch(kube::kSecrets, "", wo, [&](kube::WatchEvent& ev) {
          const auto now = std::chrono::steady_clock::now();
          switch (ev.type) {
            case kube::WatchEvent::Type::kAdded:
            case kube::WatchEvent::Type::kModified: cache_.upsert(*ev.object, now); break;
            case kube::WatchEvent::Type::kDeleted: {
              const core::JsonValue* md = core::member(*ev.object, "metadata");
              if (md) cache_.remove(core::string_or(*md, "namespace", ""), core::string_or(*md, "name", ""), now);
              break;
            }
            case kube::WatchEvent::Type::kBookmark: cache_.touch(now); break;
            case kube::WatchEvent::Type::kError:
              relist = true;
              return false;
          }
          if (auto v = ev.resource_version(); !v.empty()) rv = v;
          return !cancel_.load();
        });
      }
    } catch (const kube::ApiError& e) {
      if (cancel_) break;
      log_->warn("managed-secret watch: {}; relisting", e.what());
    } catch (const std::exception& e) {
      if (cancel_) break;
      log_->warn("managed-secret list/watch failed: {}; retrying in {}ms", e.what(), backoff.count());
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, backoff, [this] { return cancel_.load(); });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
    }
  }
}

}  // namespace ifo::webhook
