// The rollout simulator: ReplicaSets and revisions for Deployments, revisions and ready counts for
// StatefulSets and DaemonSets. Level based: each call compares the desired state with the stored one
// and writes only differences, so its own writes settle after one round.
#include "sim/kube/rollout.h"

#include <fmt/format.h>

#include <initializer_list>
#include <optional>
#include <vector>

#include "sim/kube/sim_util.h"

namespace ifo::kubesim {

namespace {

using core::JsonAlloc;
using core::JsonDoc;
using core::JsonValue;

constexpr const char* kApps = "apps";
constexpr const char* kRevisionAnnotation = "deployment.kubernetes.io/revision";
constexpr const char* kDesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
constexpr const char* kMaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";
constexpr const char* kPodTemplateHashLabel = "pod-template-hash";
constexpr const char* kDaemonSetTemplateGeneration = "deprecated.daemonset.template.generation";

std::string key_of(const std::string& resource, const std::string& ns, const std::string& name) {
  return resource + "/" + ns + "/" + name;
}

int64_t replicas_of(const JsonValue& obj) {
  const JsonValue* spec = core::member(obj, "spec");
  if (spec == nullptr) return 1;
  return core::get_int(*spec, "replicas").value_or(1);
}

std::string meta_string(const JsonValue& obj, const char* field) {
  const JsonValue* md = core::member(obj, "metadata");
  return md ? core::string_or(*md, field, "") : "";
}

int64_t generation_of(const JsonValue& obj) {
  const JsonValue* md = core::member(obj, "metadata");
  return md ? core::get_int(*md, "generation").value_or(1) : 1;
}

bool being_deleted(const JsonValue& obj) {
  const JsonValue* ts = core::at_path(obj, {"metadata", "deletionTimestamp"});
  return ts != nullptr && !ts->IsNull();
}

int64_t revision_of(const JsonValue& obj) {
  const JsonValue* ann = core::at_path(obj, {"metadata", "annotations"});
  if (ann == nullptr) return 0;
  auto s = core::get_string(*ann, kRevisionAnnotation);
  if (!s) return 0;
  try {
    return std::stoll(*s);
  } catch (...) {
    return 0;
  }
}

JsonDoc copy_of(const JsonValue& v) {
  JsonDoc d;
  d.CopyFrom(v, d.GetAllocator());
  return d;
}

bool same_spec_and_deletion(const JsonValue& a, const JsonValue& b) {
  const JsonValue* sa = core::member(a, "spec");
  const JsonValue* sb = core::member(b, "spec");
  if ((sa == nullptr) != (sb == nullptr) || (sa && *sa != *sb)) return false;
  const JsonValue* da = core::at_path(a, {"metadata", "deletionTimestamp"});
  const JsonValue* db = core::at_path(b, {"metadata", "deletionTimestamp"});
  return (da == nullptr) == (db == nullptr) && (!da || *da == *db);
}

bool owned_by(const JsonValue& obj, const std::string& uid) {
  const JsonValue* refs = core::at_path(obj, {"metadata", "ownerReferences"});
  if (refs == nullptr || !refs->IsArray()) return false;
  for (const auto& r : refs->GetArray()) {
    if (core::string_or(r, "uid", "") == uid) return true;
  }
  return false;
}

// A condition object; keeps `previous` when type, status, reason and message are unchanged.
JsonValue condition(const JsonValue* previous, const std::string& type, const std::string& reason,
                    const std::string& message, const std::string& now, JsonAlloc& a) {
  if (previous != nullptr && core::string_or(*previous, "status", "") == "True" &&
      core::string_or(*previous, "reason", "") == reason && core::string_or(*previous, "message", "") == message) {
    return JsonValue(*previous, a);
  }
  JsonValue c(rapidjson::kObjectType);
  core::set_string(c, "type", type, a);
  core::set_string(c, "status", "True", a);
  core::set_string(c, "lastUpdateTime", now, a);
  std::string transition = now;
  if (previous != nullptr && core::string_or(*previous, "status", "") == "True") {
    transition = core::string_or(*previous, "lastTransitionTime", now);
  }
  core::set_string(c, "lastTransitionTime", transition, a);
  core::set_string(c, "reason", reason, a);
  core::set_string(c, "message", message, a);
  return c;
}

const JsonValue* find_condition(const JsonValue& obj, const std::string& type) {
  const JsonValue* conds = core::at_path(obj, {"status", "conditions"});
  if (conds == nullptr || !conds->IsArray()) return nullptr;
  for (const auto& c : conds->GetArray()) {
    if (core::string_or(c, "type", "") == type) return &c;
  }
  return nullptr;
}

// Writes `desired` (a full object) when it differs from `current`; a conflict means a newer version
// exists, whose own event brings us back.
void write_if_changed(Store& store, const ResourceType& t, const std::string& ns, const JsonValue& current,
                      JsonDoc desired) {
  if (desired == current) return;
  try {
    store.update(t, ns, std::move(desired), UpdateScope::kAll);
  } catch (const StatusError& e) {
    if (e.code != 409 && e.code != 404) throw;
  }
}

}  // namespace

std::string pod_template_hash(const JsonValue& pod_template) {
  std::string text = core::to_json(pod_template);
  uint32_t h = 2166136261u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  // k8s.io/apimachinery rand.SafeEncodeString over the decimal text, as the controllers encode hashes.
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (char d : std::to_string(h)) out += kAlphabet[static_cast<unsigned char>(d) % (sizeof kAlphabet - 1)];
  return out;
}

namespace {

// What each workload reconcile starts from; nullopt when there is nothing to do (the type is not
// installed, the object is absent or being deleted, or it has no pod template).
struct Templated {
  ResourceType type;
  ObjectPtr obj;                   // keeps tmpl alive
  const JsonValue* tmpl = nullptr;  // spec.template
  std::string hash;                // pod_template_hash(*tmpl)
};

std::optional<Templated> load_templated(const Store& store, const char* resource, const std::string& ns,
                                        const std::string& name) {
  auto type = store.find_type(kApps, resource);
  if (!type) return std::nullopt;
  ObjectPtr obj = store.get(kApps, resource, ns, name);
  if (!obj || being_deleted(obj->value())) return std::nullopt;
  const JsonValue* tmpl = core::at_path(obj->value(), {"spec", "template"});
  if (tmpl == nullptr) return std::nullopt;
  std::string hash = pod_template_hash(*tmpl);
  return Templated{std::move(*type), std::move(obj), tmpl, std::move(hash)};
}

// Adds each named count to a status object, all equal to n (a finished rollout).
void add_counts(JsonValue& status, std::initializer_list<const char*> fields, int64_t n, JsonAlloc& a) {
  for (const char* f : fields) status.AddMember(rapidjson::StringRef(f), JsonValue(n), a);
}

}  // namespace

RolloutSimulator::RolloutSimulator(Store& store, Options options) : store_(store), options_(options) {}

void RolloutSimulator::install() {
  store_.add_observer([self = shared_from_this()](const WriteEvent& ev) {
    if (self->options_.pods_decide_readiness && ev.group.empty() && ev.resource == "pods" && ev.object) {
      // Pod -> its ReplicaSet -> that ReplicaSet's Deployment.
      try {
        const JsonValue* refs = core::at_path(ev.object->value(), {"metadata", "ownerReferences"});
        if (refs == nullptr || !refs->IsArray()) return;
        for (const auto& r : refs->GetArray()) {
          if (core::string_or(r, "kind", "") != "ReplicaSet") continue;
          ObjectPtr rs = self->store_.get(kApps, "replicasets", ev.ns, core::string_or(r, "name", ""));
          if (!rs) continue;
          const JsonValue* rrefs = core::at_path(rs->value(), {"metadata", "ownerReferences"});
          if (rrefs == nullptr || !rrefs->IsArray()) continue;
          for (const auto& d : rrefs->GetArray()) {
            if (core::string_or(d, "kind", "") == "Deployment")
              self->reconcile("deployments", ev.ns, core::string_or(d, "name", ""));
          }
        }
      } catch (const std::exception&) {
      }
      return;
    }
    if (ev.group != kApps || ev.type == EventType::kDeleted) return;
    if (ev.resource != "deployments" && ev.resource != "statefulsets" && ev.resource != "daemonsets") return;
    if (!ev.object) return;
    // A write that changed neither the spec nor the deletion state (labels, annotations, our own status
    // writes) leaves what the controllers decide as it was: the real ones find nothing to do there,
    // and walking the namespace's ReplicaSets for each was a tenth of kube-sim's CPU while a syncer
    // recorded rollout baselines on 10,000 Deployments.
    if (ev.type == EventType::kModified && ev.old_object && same_spec_and_deletion(ev.old_object->value(), ev.object->value()))
      return;
    std::string name = meta_string(ev.object->value(), "name");
    try {
      self->reconcile(ev.resource, ev.ns, name);
    } catch (const std::exception&) {
      // A controller never takes the server down; the next write of the object retries.
    }
  });
}

uint64_t RolloutSimulator::rollouts_of(const std::string& resource, const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = per_object_.find(key_of(resource, ns, name));
  return it == per_object_.end() ? 0 : it->second;
}

int64_t RolloutSimulator::ready_pods(const std::string& rs_uid, const std::string& ns) const {
  if (!store_.find_type("", "pods")) return 0;
  int64_t n = 0;
  for (const auto& p : store_.list("", "pods", ns).items) {
    if (!owned_by(p->value(), rs_uid) || being_deleted(p->value())) continue;
    const JsonValue* conds = core::at_path(p->value(), {"status", "conditions"});
    if (conds == nullptr || !conds->IsArray()) continue;
    for (const auto& c : conds->GetArray()) {
      if (core::string_or(c, "type", "") == "Ready" && core::string_or(c, "status", "") == "True") ++n;
    }
  }
  return n;
}

void RolloutSimulator::count(const std::string& resource, const std::string& ns, const std::string& name) {
  rollouts_.fetch_add(1);
  std::lock_guard<std::mutex> lock(mu_);
  ++per_object_[key_of(resource, ns, name)];
}

void RolloutSimulator::reconcile(const std::string& resource, const std::string& ns, const std::string& name) {
  if (resource == "deployments") reconcile_deployment(ns, name);
  else if (resource == "statefulsets") reconcile_statefulset(ns, name);
  else if (resource == "daemonsets") reconcile_daemonset(ns, name);
}

void RolloutSimulator::reconcile_deployment(const std::string& ns, const std::string& name) {
  auto loaded = load_templated(store_, "deployments", ns, name);
  if (!loaded) return;
  const JsonValue& d = loaded->obj->value();
  const JsonValue* tmpl = loaded->tmpl;
  const std::string& hash = loaded->hash;
  std::string uid = meta_string(d, "uid");
  int64_t replicas = replicas_of(d);
  std::string now = sim_rfc3339(std::chrono::system_clock::now());
  int64_t revision = revision_of(d);

  int64_t ready = replicas;  // without the kubelet stand-in Pods are ready at once
  auto rstype = store_.find_type(kApps, "replicasets");
  std::string rs_name = fmt::format("{}-{}", name, hash);
  if (rstype) {
    // The ReplicaSets this Deployment controls.
    std::vector<ObjectPtr> owned;
    for (const auto& rs : store_.list(kApps, "replicasets", ns).items) {
      if (owned_by(rs->value(), uid)) owned.push_back(rs);
    }
    int64_t max_revision = 0;
    ObjectPtr current;
    for (const auto& rs : owned) {
      max_revision = std::max(max_revision, revision_of(rs->value()));
      const JsonValue* labels = core::at_path(rs->value(), {"metadata", "labels"});
      if (labels && core::string_or(*labels, kPodTemplateHashLabel, "") == hash) current = rs;
    }
    if (!current) {
      revision = max_revision + 1;
      JsonDoc rs(rapidjson::kObjectType);
      auto& a = rs.GetAllocator();
      core::set_string(rs, "apiVersion", "apps/v1", a);
      core::set_string(rs, "kind", "ReplicaSet", a);
      JsonValue md(rapidjson::kObjectType);
      core::set_string(md, "name", rs_name, a);
      core::set_string(md, "namespace", ns, a);
      JsonValue labels(rapidjson::kObjectType);
      if (const JsonValue* tl = core::at_path(*tmpl, {"metadata", "labels"}); tl && tl->IsObject()) labels.CopyFrom(*tl, a);
      core::set_string(labels, kPodTemplateHashLabel, hash, a);
      md.AddMember("labels", JsonValue(labels, a), a);
      JsonValue ann(rapidjson::kObjectType);
      core::set_string(ann, kRevisionAnnotation, std::to_string(revision), a);
      core::set_string(ann, kDesiredReplicasAnnotation, std::to_string(replicas), a);
      core::set_string(ann, kMaxReplicasAnnotation, std::to_string(replicas + 1), a);
      md.AddMember("annotations", std::move(ann), a);
      sim_set_controller_owner(md, "apps/v1", "Deployment", name, uid, a);
      rs.AddMember("metadata", std::move(md), a);
      JsonValue spec(rapidjson::kObjectType);
      spec.AddMember("replicas", JsonValue(replicas), a);
      JsonValue selector(rapidjson::kObjectType);
      if (const JsonValue* sel = core::at_path(d, {"spec", "selector"}); sel && sel->IsObject()) selector.CopyFrom(*sel, a);
      core::set_string(core::ensure_object(selector, "matchLabels", a), kPodTemplateHashLabel, hash, a);
      spec.AddMember("selector", std::move(selector), a);
      JsonValue rs_tmpl(*tmpl, a);
      core::set_string(core::ensure_object(core::ensure_object(rs_tmpl, "metadata", a), "labels", a),
                       kPodTemplateHashLabel, hash, a);
      spec.AddMember("template", std::move(rs_tmpl), a);
      rs.AddMember("spec", std::move(spec), a);
      try {
        ObjectPtr created = store_.create(*rstype, ns, std::move(rs));
        current = created;
        count("deployments", ns, name);
      } catch (const StatusError& e) {
        if (e.code != 409) throw;  // AlreadyExists: an event for it is queued; that round settles it
        return;
      }
    } else {
      int64_t rs_revision = revision_of(current->value());
      revision = rs_revision;
      if (rs_revision < max_revision) {  // rollback to an older template: it becomes the newest revision
        revision = max_revision + 1;
        count("deployments", ns, name);
      }
    }
    // Desired state of each owned ReplicaSet: the current one at full scale with the revision, the others at 0.
    for (const auto& rs : owned) {
      if (rs == current) continue;
      JsonDoc want = copy_of(rs->value());
      auto& a = want.GetAllocator();
      core::set_member(core::ensure_object(want, "spec", a), "replicas", JsonValue(int64_t{0}), a);
      JsonValue st(rapidjson::kObjectType);
      st.AddMember("replicas", 0, a);
      st.AddMember("observedGeneration", JsonValue(generation_of(rs->value())), a);
      core::set_member(want, "status", std::move(st), a);
      write_if_changed(store_, *rstype, ns, rs->value(), std::move(want));
    }
    ObjectPtr cur = store_.get(kApps, "replicasets", ns, current ? meta_string(current->value(), "name") : rs_name);
    if (cur && options_.pods_decide_readiness) ready = ready_pods(meta_string(cur->value(), "uid"), ns);
    if (cur) {
      JsonDoc want = copy_of(cur->value());
      auto& a = want.GetAllocator();
      auto& md = core::ensure_object(want, "metadata", a);
      auto& ann = core::ensure_object(md, "annotations", a);
      core::set_string(ann, kRevisionAnnotation, std::to_string(revision), a);
      core::set_string(ann, kDesiredReplicasAnnotation, std::to_string(replicas), a);
      core::set_member(core::ensure_object(want, "spec", a), "replicas", JsonValue(replicas), a);
      JsonValue st(rapidjson::kObjectType);
      add_counts(st, {"replicas", "fullyLabeledReplicas"}, replicas, a);
      add_counts(st, {"readyReplicas", "availableReplicas"}, ready, a);
      st.AddMember("observedGeneration", JsonValue(generation_of(cur->value())), a);
      core::set_member(want, "status", std::move(st), a);
      write_if_changed(store_, *rstype, ns, cur->value(), std::move(want));
    }
  } else if (revision == 0) {
    revision = 1;
    count("deployments", ns, name);
  }

  // The Deployment: revision annotation and a finished rollout's status.
  JsonDoc want = copy_of(d);
  auto& a = want.GetAllocator();
  auto& md = core::ensure_object(want, "metadata", a);
  core::set_string(core::ensure_object(md, "annotations", a), kRevisionAnnotation, std::to_string(revision), a);
  JsonValue st(rapidjson::kObjectType);
  st.AddMember("observedGeneration", JsonValue(generation_of(d)), a);
  add_counts(st, {"replicas", "updatedReplicas"}, replicas, a);
  add_counts(st, {"readyReplicas", "availableReplicas"}, ready, a);
  if (ready < replicas) st.AddMember("unavailableReplicas", JsonValue(replicas - ready), a);
  JsonValue conds(rapidjson::kArrayType);
  if (ready >= replicas) {
    conds.PushBack(condition(find_condition(d, "Available"), "Available", "MinimumReplicasAvailable",
                             "Deployment has minimum availability.", now, a),
                   a);
    conds.PushBack(condition(find_condition(d, "Progressing"), "Progressing", "NewReplicaSetAvailable",
                             fmt::format("ReplicaSet \"{}\" has successfully progressed.", rs_name), now, a),
                   a);
  } else {
    // The real controller's texts while Pods are not yet available (maxUnavailable is not modelled).
    JsonValue c(rapidjson::kObjectType);
    core::set_string(c, "type", "Available", a);
    core::set_string(c, "status", "False", a);
    const JsonValue* prev = find_condition(d, "Available");
    std::string t = prev && core::string_or(*prev, "status", "") == "False" ? core::string_or(*prev, "lastTransitionTime", now) : now;
    core::set_string(c, "lastUpdateTime", t, a);
    core::set_string(c, "lastTransitionTime", t, a);
    core::set_string(c, "reason", "MinimumReplicasUnavailable", a);
    core::set_string(c, "message", "Deployment does not have minimum availability.", a);
    conds.PushBack(std::move(c), a);
    conds.PushBack(condition(find_condition(d, "Progressing"), "Progressing", "ReplicaSetUpdated",
                             fmt::format("ReplicaSet \"{}\" is progressing.", rs_name), now, a),
                   a);
  }
  st.AddMember("conditions", std::move(conds), a);
  core::set_member(want, "status", std::move(st), a);
  write_if_changed(store_, loaded->type, ns, d, std::move(want));
}

void RolloutSimulator::reconcile_statefulset(const std::string& ns, const std::string& name) {
  auto loaded = load_templated(store_, "statefulsets", ns, name);
  if (!loaded) return;
  const JsonValue& s = loaded->obj->value();
  std::string revision = fmt::format("{}-{}", name, loaded->hash);
  const JsonValue* status = core::member(s, "status");
  if (!status || core::string_or(*status, "updateRevision", "") != revision) count("statefulsets", ns, name);
  int64_t replicas = replicas_of(s);
  JsonDoc want = copy_of(s);
  auto& a = want.GetAllocator();
  JsonValue st(rapidjson::kObjectType);
  st.AddMember("observedGeneration", JsonValue(generation_of(s)), a);
  add_counts(st, {"replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"}, replicas, a);
  core::set_string(st, "currentRevision", revision, a);
  core::set_string(st, "updateRevision", revision, a);
  st.AddMember("collisionCount", 0, a);
  core::set_member(want, "status", std::move(st), a);
  write_if_changed(store_, loaded->type, ns, s, std::move(want));
}

void RolloutSimulator::reconcile_daemonset(const std::string& ns, const std::string& name) {
  auto loaded = load_templated(store_, "daemonsets", ns, name);
  if (!loaded) return;
  const JsonValue& s = loaded->obj->value();
  std::string revision = fmt::format("{}-{}", name, loaded->hash);
  const JsonValue* status = core::member(s, "status");
  std::string stored = status ? core::string_or(*status, "updateRevision", "") : "";
  int64_t template_generation = 1;
  if (const JsonValue* ann = core::at_path(s, {"metadata", "annotations"}); ann && ann->IsObject()) {
    if (auto g = core::get_string(*ann, kDaemonSetTemplateGeneration)) {
      try {
        template_generation = std::stoll(*g);
      } catch (...) {
        template_generation = 1;
      }
    }
  }
  if (stored.empty()) {
    count("daemonsets", ns, name);
  } else if (stored != revision) {
    ++template_generation;
    count("daemonsets", ns, name);
  }
  int64_t nodes = options_.node_count;
  JsonDoc want = copy_of(s);
  auto& a = want.GetAllocator();
  auto& md = core::ensure_object(want, "metadata", a);
  core::set_string(core::ensure_object(md, "annotations", a), kDaemonSetTemplateGeneration,
                   std::to_string(template_generation), a);
  JsonValue st(rapidjson::kObjectType);
  st.AddMember("observedGeneration", JsonValue(generation_of(s)), a);
  add_counts(st, {"desiredNumberScheduled", "currentNumberScheduled", "updatedNumberScheduled", "numberReady", "numberAvailable"},
             nodes, a);
  st.AddMember("numberMisscheduled", 0, a);
  core::set_string(st, "currentRevision", revision, a);
  core::set_string(st, "updateRevision", revision, a);
  core::set_member(want, "status", std::move(st), a);
  write_if_changed(store_, loaded->type, ns, s, std::move(want));
}

}  // namespace ifo::kubesim
