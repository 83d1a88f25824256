// Garbage collection over an owner-uid index fed by the store's write events.
#include "sim/kube/gc.h"

#include <vector>

namespace ifo::kubesim {

namespace {

using core::JsonDoc;
using core::JsonValue;

constexpr const char* kForegroundFinalizer = "foregroundDeletion";
constexpr int kConflictRetries = 5;

std::vector<std::string> owner_uids(const JsonValue* obj) {
  std::vector<std::string> out;
  if (obj == nullptr) return out;
  const JsonValue* refs = core::at_path(*obj, {"metadata", "ownerReferences"});
  if (refs == nullptr || !refs->IsArray()) return out;
  for (const auto& r : refs->GetArray()) {
    auto uid = core::get_string(r, "uid");
    if (uid && !uid->empty()) out.push_back(*uid);
  }
  return out;
}

std::string meta(const JsonValue& obj, const char* field) {
  const JsonValue* md = core::member(obj, "metadata");
  return md ? core::string_or(*md, field, "") : "";
}

bool has_finalizer(const JsonValue& obj, const char* name) {
  const JsonValue* f = core::at_path(obj, {"metadata", "finalizers"});
  if (f == nullptr || !f->IsArray()) return false;
  for (const auto& v : f->GetArray()) {
    if (v.IsString() && std::string_view(v.GetString()) == name) return true;
  }
  return false;
}

}  // namespace

GarbageCollector::GarbageCollector(Store& store) : store_(store) {}

void GarbageCollector::install() {
  store_.add_observer([self = shared_from_this()](const WriteEvent& ev) {
    try {
      self->on_event(ev);
    } catch (const std::exception&) {
      // The collector never takes the server down; a later event for the object retries.
    }
  });
}

void GarbageCollector::index(const WriteEvent& ev) {
  if (!ev.object) return;
  Ref self{ev.group, ev.resource, ev.ns, meta(ev.object->value(), "name")};
  std::string uid = meta(ev.object->value(), "uid");
  std::lock_guard<std::mutex> lock(mu_);
  if (!uid.empty()) {
    if (ev.type == EventType::kDeleted) live_uids_.erase(uid);
    else live_uids_.insert(uid);
  }
  for (const auto& uid : owner_uids(ev.old_object ? &ev.old_object->value() : nullptr)) {
    auto it = dependents_.find(uid);
    if (it != dependents_.end()) {
      it->second.erase(self);
      if (it->second.empty()) dependents_.erase(it);
    }
  }
  if (ev.type == EventType::kDeleted) {
    for (const auto& uid : owner_uids(&ev.object->value())) {
      auto it = dependents_.find(uid);
      if (it != dependents_.end()) {
        it->second.erase(self);
        if (it->second.empty()) dependents_.erase(it);
      }
    }
    return;
  }
  for (const auto& uid : owner_uids(&ev.object->value())) dependents_[uid].insert(self);
}

void GarbageCollector::on_event(const WriteEvent& ev) {
  if (ev.type == EventType::kBookmark || ev.type == EventType::kError || !ev.object) return;
  index(ev);
  const JsonValue& obj = ev.object->value();
  std::string uid = meta(obj, "uid");
  if (uid.empty()) return;
  if (ev.type == EventType::kDeleted) {
    process_owner(uid, ev.propagation_policy == "Orphan");
    return;
  }
  collect_if_dangling(ev);
  // Foreground: collect the dependents, then let the owner go.
  const JsonValue* ts = core::at_path(obj, {"metadata", "deletionTimestamp"});
  if (ts != nullptr && !ts->IsNull() && has_finalizer(obj, kForegroundFinalizer)) {
    process_owner(uid, false);
    auto t = store_.find_type(ev.group, ev.resource);
    if (!t) return;
    for (int attempt = 0; attempt < kConflictRetries; ++attempt) {
      ObjectPtr cur = store_.get(ev.group, ev.resource, ev.ns, meta(obj, "name"));
      if (!cur || !has_finalizer(cur->value(), kForegroundFinalizer)) return;
      JsonDoc want;
      want.CopyFrom(cur->value(), want.GetAllocator());
      JsonValue* fins = core::at_path(want, {"metadata"}) ? core::member(*core::member(want, "metadata"), "finalizers") : nullptr;
      if (fins == nullptr || !fins->IsArray()) return;
      for (auto it = fins->Begin(); it != fins->End(); ++it) {
        if (it->IsString() && std::string_view(it->GetString()) == kForegroundFinalizer) {
          fins->Erase(it);
          break;
        }
      }
      try {
        store_.update(*t, ev.ns, std::move(want), UpdateScope::kAll);
        return;
      } catch (const StatusError& e) {
        if (e.code != 409) return;
      }
    }
  }
}

bool GarbageCollector::owner_alive(const JsonValue& ref, const std::string& dependent_ns,
                                   const std::string& except_uid) const {
  std::string uid = core::string_or(ref, "uid", "");
  if (uid == except_uid) return false;
  std::string api_version = core::string_or(ref, "apiVersion", "");
  auto slash = api_version.find('/');
  std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  auto t = store_.find_type_by_kind(group, core::string_or(ref, "kind", ""));
  if (!t) return false;  // an unknown kind cannot be looked up: the real GC treats it as absent too
  ObjectPtr owner = store_.get(t->group, t->resource, t->namespaced ? dependent_ns : "", core::string_or(ref, "name", ""));
  return owner && meta(owner->value(), "uid") == uid;
}

void GarbageCollector::collect_if_dangling(const WriteEvent& ev) {
  // A dependent written after its owner went (a controller acting on a stale cache) is collected as
  // the real garbage collector's graph builder does: when every owner it names is of a known kind and
  // absent (or has another uid), it is deleted; owners of kinds the server does not serve are never
  // judged absent. Presence is judged in event order (live_uids_), not by reading the store now: an
  // owner deleted after this write was committed is handled by its own delete event, which honours
  // its propagation policy.
  const JsonValue& obj = ev.object->value();
  const JsonValue* refs = core::at_path(obj, {"metadata", "ownerReferences"});
  if (refs == nullptr || !refs->IsArray() || refs->Empty()) return;
  const JsonValue* ts = core::at_path(obj, {"metadata", "deletionTimestamp"});
  if (ts != nullptr && !ts->IsNull()) return;
  for (const auto& r : refs->GetArray()) {
    std::string api_version = core::string_or(r, "apiVersion", "");
    auto slash = api_version.find('/');
    std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
    if (!store_.find_type_by_kind(group, core::string_or(r, "kind", ""))) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (live_uids_.count(core::string_or(r, "uid", "")) != 0) return;
  }
  auto t = store_.find_type(ev.group, ev.resource);
  if (!t) return;
  try {
    DeleteOptions o;
    o.propagation_policy = "Background";
    store_.remove(*t, ev.ns, meta(obj, "name"), o);
    collected_.fetch_add(1);
  } catch (const StatusError&) {
    // Already gone, or refused: nothing to collect.
  }
}

void GarbageCollector::drop_reference(const Ref& dep, const std::string& owner_uid) {
  auto t = store_.find_type(dep.group, dep.resource);
  if (!t) return;
  for (int attempt = 0; attempt < kConflictRetries; ++attempt) {
    ObjectPtr cur = store_.get(dep.group, dep.resource, dep.ns, dep.name);
    if (!cur) return;
    JsonDoc want;
    want.CopyFrom(cur->value(), want.GetAllocator());
    JsonValue* md = core::member(want, "metadata");
    JsonValue* refs = md ? core::member(*md, "ownerReferences") : nullptr;
    if (refs == nullptr || !refs->IsArray()) return;
    bool removed = false;
    for (auto it = refs->Begin(); it != refs->End();) {
      if (core::string_or(*it, "uid", "") == owner_uid) {
        it = refs->Erase(it);
        removed = true;
      } else {
        ++it;
      }
    }
    if (!removed) return;
    if (refs->Empty()) core::remove_member(*md, "ownerReferences");
    try {
      store_.update(*t, dep.ns, std::move(want), UpdateScope::kAll);
      orphaned_.fetch_add(1);
      return;
    } catch (const StatusError& e) {
      if (e.code != 409) return;
    }
  }
}

void GarbageCollector::process_owner(const std::string& owner_uid, bool orphan) {
  std::vector<Ref> deps;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = dependents_.find(owner_uid);
    if (it == dependents_.end()) return;
    deps.assign(it->second.begin(), it->second.end());
  }
  for (const auto& dep : deps) {
    if (orphan) {
      drop_reference(dep, owner_uid);
      continue;
    }
    ObjectPtr cur = store_.get(dep.group, dep.resource, dep.ns, dep.name);
    if (!cur) continue;
    const JsonValue* refs = core::at_path(cur->value(), {"metadata", "ownerReferences"});
    bool references_owner = false;
    bool other_live_owner = false;
    if (refs && refs->IsArray()) {
      for (const auto& r : refs->GetArray()) {
        if (core::string_or(r, "uid", "") == owner_uid) references_owner = true;
        else if (owner_alive(r, dep.ns, owner_uid)) other_live_owner = true;
      }
    }
    if (!references_owner) continue;
    if (other_live_owner) {
      drop_reference(dep, owner_uid);
      continue;
    }
    auto t = store_.find_type(dep.group, dep.resource);
    if (!t) continue;
    try {
      DeleteOptions o;
      o.propagation_policy = "Background";
      store_.remove(*t, dep.ns, dep.name, o);
      collected_.fetch_add(1);
    } catch (const StatusError&) {
      // Already gone, or refused: nothing left to collect here.
    }
  }
}

}  // namespace ifo::kubesim
