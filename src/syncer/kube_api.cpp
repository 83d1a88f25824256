// The recording decorator of KubeApi.
#include "syncer/kube_api.h"

#include <fmt/format.h>

namespace ifo::syncer {

namespace {
std::string target(const std::string& ns, const std::string& name) { return ns.empty() ? name : ns + "/" + name; }
std::string object_name(const core::JsonValue& o) {
  if (const auto* n = core::at_path(o, {"metadata", "name"}); n && n->IsString()) return n->GetString();
  if (const auto* g = core::at_path(o, {"metadata", "generateName"}); g && g->IsString()) return g->GetString();
  return "";
}
bool is_write(const std::string& a) {
  return a.starts_with("create ") || a.starts_with("update ") || a.starts_with("patch ") ||
         a.starts_with("patch-status ");
}
}  // namespace

void RecordingKubeApi::record(std::string action) {
  std::lock_guard lock(mu_);
  actions_.push_back(std::move(action));
}

Object RecordingKubeApi::get(const kube::Resource& r, const std::string& ns, const std::string& name) {
  record(fmt::format("get {} {}", r.resource, target(ns, name)));
  return inner_.get(r, ns, name);
}
std::vector<Object> RecordingKubeApi::list(const kube::Resource& r, const std::string& ns,
                                           const std::string& label_selector) {
  record(fmt::format("list {} {}", r.resource, ns));
  return inner_.list(r, ns, label_selector);
}
Object RecordingKubeApi::create(const kube::Resource& r, const std::string& ns, const core::JsonValue& object) {
  record(fmt::format("create {} {}", r.resource, target(ns, object_name(object))));
  return inner_.create(r, ns, object);
}
Object RecordingKubeApi::update(const kube::Resource& r, const std::string& ns, const std::string& name,
                                const core::JsonValue& object) {
  record(fmt::format("update {} {}", r.resource, target(ns, name)));
  return inner_.update(r, ns, name, object);
}
Object RecordingKubeApi::patch_status(const kube::Resource& r, const std::string& ns, const std::string& name,
                                      const std::string& merge_patch) {
  record(fmt::format("patch-status {} {}", r.resource, target(ns, name)));
  return inner_.patch_status(r, ns, name, merge_patch);
}
Object RecordingKubeApi::merge_patch(const kube::Resource& r, const std::string& ns, const std::string& name,
                                     const std::string& patch) {
  record(fmt::format("patch {} {}", r.resource, target(ns, name)));
  return inner_.merge_patch(r, ns, name, patch);
}
std::string RecordingKubeApi::create_token(const std::string& ns, const std::string& service_account,
                                           const std::vector<std::string>& audiences, int64_t expiration_seconds) {
  record(fmt::format("token serviceaccounts {}", target(ns, service_account)));
  return inner_.create_token(ns, service_account, audiences, expiration_seconds);
}

std::vector<std::string> RecordingKubeApi::actions() const {
  std::lock_guard lock(mu_);
  return actions_;
}
std::vector<std::string> RecordingKubeApi::writes() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& a : actions_)
    if (is_write(a)) out.push_back(a);
  return out;
}
void RecordingKubeApi::clear() {
  std::lock_guard lock(mu_);
  actions_.clear();
}

}  // namespace ifo::syncer
