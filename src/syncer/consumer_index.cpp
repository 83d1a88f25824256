// Index of opted-in workloads by the Secrets they consume.
#include "syncer/consumer_index.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/constants.h"
#include "core/consumed_keys.h"

namespace ifo::syncer {

const core::JsonValue* opted_in_pod_spec(const core::JsonValue& workload) {
  const core::JsonValue* opt_in = core::at_path(workload, {"metadata", "annotations", core::kAutoReloadAnnotation});
  if (!opt_in || !opt_in->IsString() || std::string_view(opt_in->GetString()) != "true") return nullptr;
  const core::JsonValue* pod_spec = core::at_path(workload, {"spec", "template", "spec"});
  return pod_spec && pod_spec->IsObject() ? pod_spec : nullptr;
}

namespace {

std::string prefix_of(const kube::Resource& kind, std::string_view ns) {
  return fmt::format("{}/{}|{}|", kind.group, kind.resource, ns);
}

// The index keys of what a workload consumes when it opted in to auto-reload (none otherwise), sorted.
std::vector<std::string> index_keys(const kube::Resource& kind, const Object& workload) {
  std::vector<std::string> out;
  const core::JsonValue* pod_spec = workload ? opted_in_pod_spec(*workload) : nullptr;
  if (!pod_spec) return out;
  const std::string prefix = prefix_of(kind, meta_string(*workload, "namespace"));
  for (const auto& c : core::consumed_secret_keys(*pod_spec)) {
    std::string key = prefix + c.secret;
    if (out.empty() || out.back() != key) out.push_back(std::move(key));  // sorted by Secret already
  }
  return out;
}

}  // namespace

void ConsumerIndex::update(const kube::Resource& kind, const Object& before, const Object& after) {
  const std::vector<std::string> old_keys = index_keys(kind, before);
  const std::vector<std::string> new_keys = index_keys(kind, after);
  const std::string old_name = before ? meta_string(*before, "name") : std::string();
  const std::string new_name = after ? meta_string(*after, "name") : std::string();
  if (old_keys == new_keys && old_name == new_name) return;
  std::lock_guard lock(mu_);
  for (const auto& key : old_keys) {
    auto it = consumers_.find(key);
    if (it == consumers_.end()) continue;
    auto& names = it->second;
    if (auto n = std::lower_bound(names.begin(), names.end(), old_name); n != names.end() && *n == old_name)
      names.erase(n);
    if (names.empty()) consumers_.erase(it);
  }
  for (const auto& key : new_keys) {
    auto& names = consumers_[key];
    auto n = std::lower_bound(names.begin(), names.end(), new_name);
    if (n == names.end() || *n != new_name) names.insert(n, new_name);
  }
}

std::vector<std::string> ConsumerIndex::consumers(const kube::Resource& kind, const std::string& ns,
                                                  const std::vector<std::string>& secrets) const {
  const std::string prefix = prefix_of(kind, ns);
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& secret : secrets) {
    auto it = consumers_.find(prefix + secret);
    if (it != consumers_.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace ifo::syncer
