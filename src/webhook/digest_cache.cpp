// DigestCache: annotation parsing and the locked map.
#include "webhook/digest_cache.h"

#include "core/constants.h"
#include "core/digest.h"

namespace ifo::webhook {

namespace c = ifo::core;

std::optional<std::map<std::string, std::string>> DigestCache::parse_annotation(std::string_view text) {
  auto digests = c::decode_key_digests(text);
  if (!digests) return std::nullopt;
  return std::move(*digests);
}

void DigestCache::upsert_locked(const c::JsonValue& secret) {
  const c::JsonValue* md = c::member(secret, "metadata");
  if (!md) return;
  auto ns = c::get_string(*md, "namespace");
  auto name = c::get_string(*md, "name");
  if (!ns || !name) return;
  const c::JsonValue* ann = c::member(*md, "annotations");
  auto text = ann ? c::get_string(*ann, c::kKeyDigestsAnnotation) : std::nullopt;
  auto digests = text ? parse_annotation(*text) : std::nullopt;
  if (!digests) {
    entries_.erase({*ns, *name});
    return;
  }
  entries_[{*ns, *name}] = std::make_shared<const std::map<std::string, std::string>>(std::move(*digests));
}

void DigestCache::upsert(const c::JsonValue& secret, TimePoint now) {
  std::lock_guard lock(mu_);
  upsert_locked(secret);
  last_activity_ = now;
}

void DigestCache::remove(const std::string& ns, const std::string& name, TimePoint now) {
  std::lock_guard lock(mu_);
  entries_.erase({ns, name});
  last_activity_ = now;
}

void DigestCache::replace(const std::vector<const c::JsonValue*>& secrets, TimePoint now) {
  std::lock_guard lock(mu_);
  entries_.clear();
  for (const auto* s : secrets)
    if (s) upsert_locked(*s);
  synced_ = true;
  last_activity_ = now;
}

void DigestCache::touch(TimePoint now) {
  std::lock_guard lock(mu_);
  last_activity_ = now;
}

bool DigestCache::synced() const { return synced_.load(); }

std::shared_ptr<const std::map<std::string, std::string>> DigestCache::key_digests(std::string_view ns,
                                                                                  std::string_view name) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(std::pair<std::string_view, std::string_view>(ns, name));
  if (it == entries_.end()) return nullptr;
  return it->second;
}

size_t DigestCache::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

double DigestCache::age_seconds(TimePoint now) const {
  std::shared_lock lock(mu_);
  if (!last_activity_) return -1;
  return std::chrono::duration<double>(now - *last_activity_).count();
}

}  // namespace ifo::webhook
