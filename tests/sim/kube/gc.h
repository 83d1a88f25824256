// kube-sim's garbage collector: ownerReference cascades after deletions, as kube-controller-manager's
// garbage collector does them.
//
//   - Background (the default): when an owner is deleted, every object whose ownerReferences then all
//     point to deleted owners (matched by uid) is deleted (Background again, so chains cascade);
//     a dependent that still has a live owner only loses the reference to the deleted one.
//   - Orphan: the dependents lose their ownerReference to the deleted owner and stay.
//   - Foreground: the owner (kept by the store with deletionTimestamp and the foregroundDeletion
//     finalizer) has its dependents deleted first, then the finalizer is removed and the owner goes.
//     Simplification: the dependents themselves are deleted in the background (their own dependents
//     are collected after them, not before), and blockOwnerDeletion is not consulted.
//   - Dangling: an object created or updated while every owner it names (of a served kind) is absent
//     is deleted at once (a controller that recreates a dependent from a stale cache loses it again).
//     "Absent" is judged in event order, like the real collector's dependency graph: an owner whose
//     deletion is committed but not yet processed still counts as present, so its own delete event
//     decides (an Orphan delete then keeps the dependent).
// Collection happens on the store's observer thread right after the owner's delete is committed, so
// it is seen by watches within milliseconds; it does not run admission (see store.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <unordered_set>

#include "sim/kube/store.h"

namespace ifo::kubesim {

class GarbageCollector : public std::enable_shared_from_this<GarbageCollector> {
 public:
  explicit GarbageCollector(Store& store);

  // Registers the store observer (which keeps this object alive); call once before serving (objects
  // written before are not indexed). The object must be owned by a std::shared_ptr.
  void install();

  uint64_t collected() const { return collected_.load(); }  // dependents deleted so far
  uint64_t orphaned() const { return orphaned_.load(); }    // ownerReferences removed so far

 private:
  struct Ref {
    std::string group, resource, ns, name;
    bool operator<(const Ref& o) const {
      return std::tie(group, resource, ns, name) < std::tie(o.group, o.resource, o.ns, o.name);
    }
  };
  void on_event(const WriteEvent& ev);
  void index(const WriteEvent& ev);
  void process_owner(const std::string& owner_uid, bool orphan);
  bool owner_alive(const core::JsonValue& ref, const std::string& dependent_ns, const std::string& except_uid) const;
  void drop_reference(const Ref& dep, const std::string& owner_uid);
  void collect_if_dangling(const WriteEvent& ev);

  Store& store_;
  std::mutex mu_;
  std::map<std::string, std::set<Ref>> dependents_;  // owner uid -> dependents
  std::unordered_set<std::string> live_uids_;          // uids of objects present, in event order
  std::atomic<uint64_t> collected_{0};
  std::atomic<uint64_t> orphaned_{0};
};

}  // namespace ifo::kubesim
