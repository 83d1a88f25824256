// The InfisicalSecret and InfisicalReferenceGrant informers feeding the digest cache.
#include "webhook/kube_sources.h"

#include <fmt/format.h>

#include "core/constants.h"
#include "kube/client.h"
#include "kube/meta.h"

namespace ifo::webhook {

namespace {

// What the feed keeps of an InfisicalSecret: namespace, name and status.managedKeyDigests, in a
// document of its own size; nullptr (keep nothing) for one that publishes no digests (not synced yet,
// or written by the upstream operator). Spec, conditions and annotations are dropped before the
// informer stores the object or any handler sees it.
kube::ConstObjectPtr published_digests_only(const core::JsonValue& resource) {
  const core::JsonValue* digests = core::at_path(resource, {"status", core::kStatusManagedKeyDigests});
  if (digests == nullptr || !digests->IsArray() || digests->Empty()) return nullptr;
  rapidjson::MemoryPoolAllocator<> pool(1024);
  core::JsonValue status(rapidjson::kObjectType);
  core::set_member(status, core::kStatusManagedKeyDigests, core::JsonValue(*digests, pool), pool);
  core::JsonValue metadata(rapidjson::kObjectType);
  core::set_string(metadata, "namespace", kube::meta_namespace(resource), pool);
  core::set_string(metadata, "name", kube::meta_name(resource), pool);
  core::JsonValue object(rapidjson::kObjectType);
  core::set_member(object, "metadata", std::move(metadata), pool);
  core::set_member(object, "status", std::move(status), pool);
  return core::copy_compact(object);
}

kube::InformerOptions all_namespaces(kube::InformerOptions o) {
  o.namespace_.clear();
  o.label_selector.clear();
  o.field_selector.clear();
  return o;
}

}  // namespace

DigestFeed::DigestFeed(kube::Client& client, DigestCache& cache, kube::InformerOptions tuning)
    : cache_(cache), informer_(client, kube::kInfisicalSecrets, all_namespaces(tuning)) {
  informer_.set_transform([](kube::ObjectPtr resource) { return published_digests_only(*resource); });
  kube::EventHandlers h;
  h.on_add = [this](const kube::ConstObjectPtr& resource) {
    cache_.upsert(*resource, std::chrono::steady_clock::now());
  };
  h.on_update = [this](const kube::ConstObjectPtr&, const kube::ConstObjectPtr& resource) {
    cache_.upsert(*resource, std::chrono::steady_clock::now());
  };
  // Deleted, or it stopped publishing digests (the transform no longer keeps it): its entries go.
  h.on_delete = [this](const kube::ConstObjectPtr& resource) {
    cache_.remove(kube::meta_namespace(*resource), kube::meta_name(*resource), std::chrono::steady_clock::now());
  };
  informer_.add_handlers(std::move(h));
  if (!cache_.grants_matter()) return;
  grants_ = std::make_unique<kube::Informer>(client, kube::kInfisicalReferenceGrants, all_namespaces(tuning));
  kube::EventHandlers g;
  g.on_add = [this](const kube::ConstObjectPtr& grant) { cache_.upsert_grant(*grant); };
  g.on_update = [this](const kube::ConstObjectPtr&, const kube::ConstObjectPtr& grant) {
    cache_.upsert_grant(*grant);
  };
  // Deleted (the informer also reports one that vanished while the watch was down, at its relist).
  g.on_delete = [this](const kube::ConstObjectPtr& grant) {
    cache_.remove_grant(kube::meta_namespace(*grant), kube::meta_name(*grant));
  };
  grants_->add_handlers(std::move(g));
}

void DigestFeed::start() {
  // synced() waits for both first lists, so no admission is answered from digests without the grants.
  if (grants_) grants_->start();
  informer_.start();
}

void DigestFeed::stop() {
  informer_.stop();
  if (grants_) grants_->stop();
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
