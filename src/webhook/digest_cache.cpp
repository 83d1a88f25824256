// DigestCache: the published digests, indexed by InfisicalSecret and by Secret, and the grants that
// decide which claims across namespaces count.
#include "webhook/digest_cache.h"

#include <span>

#include "core/constants.h"
#include "core/managed_digests.h"

namespace ifo::webhook {

namespace c = ifo::core;

void DigestCache::remove_locked(const NsName& owner) {
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return;
  for (const NsName& secret : it->second) {
    auto s = by_secret_.find(secret);
    if (s == by_secret_.end()) continue;
    s->second.erase(ClaimRank(owner.first != secret.first, owner.first, owner.second));
    if (s->second.empty()) by_secret_.erase(s);
  }
  by_owner_.erase(it);
}

void DigestCache::upsert_locked(const c::JsonValue& infisical_secret) {
  const c::JsonValue* md = c::member(infisical_secret, "metadata");
  if (!md) return;
  auto ns = c::get_string(*md, "namespace");
  auto name = c::get_string(*md, "name");
  if (!ns || !name) return;
  NsName owner(std::move(*ns), std::move(*name));
  remove_locked(owner);
  const c::JsonValue* published = c::at_path(infisical_secret, {"status", c::kStatusManagedKeyDigests});
  if (!published) return;
  std::vector<NsName> secrets;
  for (c::ManagedKeyDigests& e : c::read_managed_key_digests(*published)) {
    if (e.kind != c::kManagedKindSecret) continue;  // rollout hashes follow Secrets only
    NsName secret(std::move(e.namespace_), std::move(e.name));
    const ClaimRank rank(owner.first != secret.first, owner.first, owner.second);
    by_secret_[secret].insert_or_assign(rank,
                                        std::make_shared<const c::KeyDigests>(std::move(e.key_digests)));
    secrets.push_back(std::move(secret));
  }
  if (!secrets.empty()) by_owner_.emplace(std::move(owner), std::move(secrets));
}

void DigestCache::upsert(const c::JsonValue& infisical_secret, TimePoint now) {
  std::lock_guard lock(mu_);
  upsert_locked(infisical_secret);
  last_activity_ = now;
}

void DigestCache::remove(const std::string& ns, const std::string& name, TimePoint now) {
  std::lock_guard lock(mu_);
  remove_locked({ns, name});
  last_activity_ = now;
}

void DigestCache::replace(const std::vector<const c::JsonValue*>& infisical_secrets, TimePoint now) {
  std::lock_guard lock(mu_);
  by_owner_.clear();
  by_secret_.clear();
  for (const auto* s : infisical_secrets)
    if (s) upsert_locked(*s);
  synced_ = true;
  last_activity_ = now;
}

void DigestCache::touch(TimePoint now) {
  std::lock_guard lock(mu_);
  last_activity_ = now;
}

bool DigestCache::synced() const {
  return synced_.load();
}

void DigestCache::upsert_grant(const c::JsonValue& grant) {
  c::ParsedReferenceGrant parsed = c::parse_reference_grant(grant);
  const std::string ns = parsed.grant.namespace_;
  std::lock_guard lock(mu_);
  auto& in_ns = grants_[ns];
  std::erase_if(in_ns, [&](const c::ReferenceGrant& g) { return g.name == parsed.grant.name; });
  if (parsed.ok()) in_ns.push_back(std::move(parsed.grant));  // an invalid grant grants nothing
  if (in_ns.empty()) grants_.erase(ns);
}

void DigestCache::remove_grant(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = grants_.find(ns);
  if (it == grants_.end()) return;
  std::erase_if(it->second, [&](const c::ReferenceGrant& g) { return g.name == name; });
  if (it->second.empty()) grants_.erase(it);
}

bool DigestCache::claim_counts_locked(std::string_view from, std::string_view ns,
                                      std::string_view name) const {
  auto it = grants_.find(ns);
  std::span<const c::ReferenceGrant> grants;
  if (it != grants_.end()) grants = it->second;
  return c::reference_allowed(policy_, grants, from, c::kManagedKindSecret, ns, name);
}

std::shared_ptr<const std::map<std::string, std::string>> DigestCache::key_digests(
    std::string_view ns, std::string_view name) const {
  std::shared_lock lock(mu_);
  auto it = by_secret_.find(std::pair<std::string_view, std::string_view>(ns, name));
  if (it == by_secret_.end()) return nullptr;
  // Best first: the same-namespace claim (which always counts) comes before any foreign one.
  for (const auto& [rank, digests] : it->second)
    if (claim_counts_locked(std::get<1>(rank), ns, name)) return digests;
  return nullptr;
}

size_t DigestCache::size() const {
  std::shared_lock lock(mu_);
  return by_secret_.size();
}

double DigestCache::age_seconds(TimePoint now) const {
  std::shared_lock lock(mu_);
  if (!last_activity_) return -1;
  return std::chrono::duration<double>(now - *last_activity_).count();
}

}  // namespace ifo::webhook
