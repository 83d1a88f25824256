// SubjectAccessReview with a cache, and the managed-Secret informer feeding the digest cache.
#include "webhook/kube_sources.h"

#include <fmt/format.h>

#include "core/constants.h"
#include "kube/client.h"
#include "kube/meta.h"

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
  const bool ok = api_.create_subject_access_review(subject, attrs).allowed;
  std::lock_guard lock(mu_);
  if (cache_.size() > 10000) cache_.clear();  // bounded: answers live only ttl_ anyway
  cache_[key] = {ok, now + ttl_};
  return ok;
}

namespace {

// What the feed keeps of a managed Secret: namespace, name and the key-digests annotation, in a
// document of its own size; nullptr (keep nothing) for a Secret without the annotation. Values and
// every other field are dropped before the informer stores the object or any handler sees it.
kube::ConstObjectPtr digests_only(const core::JsonValue& secret) {
  const core::JsonValue* digests =
      core::at_path(secret, {"metadata", "annotations", core::kKeyDigestsAnnotation});
  if (digests == nullptr || !digests->IsString()) return nullptr;
  rapidjson::MemoryPoolAllocator<> pool(1024);
  core::JsonValue annotations(rapidjson::kObjectType);
  core::set_member(annotations, core::kKeyDigestsAnnotation, core::JsonValue(*digests, pool), pool);
  core::JsonValue metadata(rapidjson::kObjectType);
  core::set_string(metadata, "namespace", kube::meta_namespace(secret), pool);
  core::set_string(metadata, "name", kube::meta_name(secret), pool);
  core::set_member(metadata, "annotations", std::move(annotations), pool);
  core::JsonValue object(rapidjson::kObjectType);
  core::set_member(object, "metadata", std::move(metadata), pool);
  return core::copy_compact(object);
}

kube::InformerOptions managed_secrets(kube::InformerOptions o) {
  o.namespace_.clear();
  o.label_selector = fmt::format("{}={}", core::kManagedByLabel, core::kManagedByValue);
  o.field_selector.clear();
  return o;
}

}  // namespace

DigestFeed::DigestFeed(kube::Client& client, DigestCache& cache, kube::InformerOptions tuning)
    : cache_(cache), informer_(client, kube::kSecrets, managed_secrets(std::move(tuning))) {
  informer_.set_transform([](kube::ObjectPtr secret) { return digests_only(*secret); });
  kube::EventHandlers h;
  h.on_add = [this](const kube::ConstObjectPtr& secret) {
    cache_.upsert(*secret, std::chrono::steady_clock::now());
  };
  h.on_update = [this](const kube::ConstObjectPtr&, const kube::ConstObjectPtr& secret) {
    cache_.upsert(*secret, std::chrono::steady_clock::now());
  };
  h.on_delete = [this](const kube::ConstObjectPtr& secret) {
    cache_.remove(kube::meta_namespace(*secret), kube::meta_name(*secret), std::chrono::steady_clock::now());
  };
  informer_.add_handlers(std::move(h));
}

double DigestFeed::age_seconds(DigestCache::TimePoint now) {
  // Every list, event and bookmark moves the informer's resourceVersion: a new one is fresh activity.
  std::string rv = informer_.resource_version();
  std::lock_guard lock(progress_mu_);
  if (!rv.empty() && rv != progress_rv_) {
    progress_rv_ = std::move(rv);
    cache_.touch(now);
  }
  return cache_.age_seconds(now);
}

}  // namespace ifo::webhook
