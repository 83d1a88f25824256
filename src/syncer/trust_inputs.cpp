// Reading grants and ServiceAccount opt-ins for the trust policy, with a short per-object cache.
#include "syncer/trust_inputs.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/constants.h"
#include "kube/errors.h"
#include "kube/resource.h"

namespace ifo::syncer {

std::string global_host_api_of(const Object& config_map) {
  if (!config_map) return "";
  auto data = string_map(core::member(*config_map, "data"));
  auto it = data.find(std::string(core::kGlobalConfigHostKey));
  return it == data.end() ? "" : it->second;
}

std::string describe_refusals(const std::vector<core::TrustRefusal>& refusals) {
  std::vector<std::string> parts;
  for (const auto& r : refusals) parts.push_back(fmt::format("{}: {}", r.path, r.message));
  return fmt::format("{}", fmt::join(parts, "; "));
}

namespace {

bool same_grants(const std::vector<core::ReferenceGrant>& a, const std::vector<core::ReferenceGrant>& b) {
  auto same_to = [](const core::ReferenceGrant::To& x, const core::ReferenceGrant::To& y) {
    return x.kind == y.kind && x.name == y.name;
  };
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [&](const auto& x, const auto& y) {
    return x.namespace_ == y.namespace_ && x.name == y.name && x.from_namespaces == y.from_namespaces &&
           std::equal(x.to.begin(), x.to.end(), y.to.begin(), y.to.end(), same_to);
  });
}

}  // namespace

TrustInputsReader::TrustInputsReader(kube::Api& kube, core::Clock& clock, std::chrono::milliseconds ttl)
    : kube_(kube), clock_(clock), ttl_(ttl) {}

void TrustInputsReader::forget() {
  std::lock_guard lock(mu_);
  grants_.clear();
  service_accounts_.clear();
  ++generation_;
}

uint64_t TrustInputsReader::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void TrustInputsReader::refresh(const TrustReads& reads) {
  for (const auto& ns : reads.grant_namespaces) grants_in(ns);
  if (const auto slash = reads.service_account.find('/'); slash != std::string::npos)
    service_account_annotations(reads.service_account.substr(0, slash),
                                reads.service_account.substr(slash + 1));
}

TrustInputsReader::GrantList TrustInputsReader::grants_in(const std::string& ns) {
  {
    std::lock_guard lock(mu_);
    auto it = grants_.find(ns);
    if (it != grants_.end() && clock_.now() - it->second.read_at < ttl_) return it->second.value;
  }
  std::vector<core::ReferenceGrant> grants;
  try {
    for (const auto& o : kube_.list_all(kube::kInfisicalReferenceGrants, ns).items) {
      auto parsed = core::parse_reference_grant(*o);
      if (!parsed.ok()) continue;  // an invalid grant grants nothing
      if (parsed.grant.namespace_.empty()) parsed.grant.namespace_ = ns;
      grants.push_back(std::move(parsed.grant));
    }
  } catch (const kube::ApiError& e) {
    // The grant kind not served (its CRD not installed): nothing is granted.
    if (!e.is_not_found()) throw;
  }
  auto list = std::make_shared<const std::vector<core::ReferenceGrant>>(std::move(grants));
  std::lock_guard lock(mu_);
  auto [it, added] = grants_.try_emplace(ns);
  if (!added && !same_grants(*it->second.value, *list)) ++generation_;
  it->second = {list, clock_.now()};
  return list;
}

std::optional<std::map<std::string, std::string>> TrustInputsReader::service_account_annotations(
    const std::string& ns, const std::string& name) {
  std::string key = ns + "/" + name;
  {
    std::lock_guard lock(mu_);
    auto it = service_accounts_.find(key);
    if (it != service_accounts_.end() && clock_.now() - it->second.read_at < ttl_) return it->second.value;
  }
  std::optional<std::map<std::string, std::string>> annotations;
  try {
    Object sa = kube_.get(kube::kServiceAccounts, ns, name);
    annotations = string_map(core::at_path(*sa, {"metadata", "annotations"}));
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
  }
  std::lock_guard lock(mu_);
  auto [it, added] = service_accounts_.try_emplace(key);
  if (!added && it->second.value != annotations) ++generation_;
  it->second = {annotations, clock_.now()};
  return annotations;
}

core::TrustInputs TrustInputsReader::gather(const core::InfisicalSecret& resource,
                                            const core::TrustPolicy& policy, std::string global_host_api,
                                            TrustReads* reads) {
  core::TrustInputs inputs;
  inputs.global_host_api = std::move(global_host_api);
  const std::string& own = resource.metadata.namespace_;
  std::vector<core::TrustReference> refs = core::trust_references(resource);
  if (!policy.cross_namespace_without_grant) {
    std::set<std::string> namespaces;
    for (const auto& r : refs)
      if (r.namespace_ != own) namespaces.insert(r.namespace_);
    for (const auto& ns : namespaces) {
      if (reads) reads->grant_namespaces.push_back(ns);
      // Only a grant from the resource's own namespace can admit its references (core::reference_allowed).
      // Held here: a range-for over *grants_in(ns) would not keep the list alive, and another worker
      // may replace the cached one meanwhile.
      const GrantList grants = grants_in(ns);
      for (const auto& g : *grants)
        if (std::find(g.from_namespaces.begin(), g.from_namespaces.end(), own) != g.from_namespaces.end())
          inputs.grants.push_back(g);
    }
  }
  // Kubernetes auth: the ServiceAccount's opt-in, unless the policy does not ask for it or the reference
  // to the account is refused anyway (then it is not read at all).
  if (policy.cross_namespace_without_grant) return inputs;
  auto sa = std::find_if(refs.begin(), refs.end(),
                         [](const core::TrustReference& r) { return r.kind == "ServiceAccount"; });
  if (sa == refs.end()) return inputs;
  for (const auto& refusal : core::check_trust(resource, policy, inputs))
    if (refusal.path == sa->path && refusal.reason == core::kReasonReferenceNotGranted) return inputs;
  if (reads) reads->service_account = sa->namespace_ + "/" + sa->name;
  inputs.service_account_annotations = service_account_annotations(sa->namespace_, sa->name);
  return inputs;
}

}  // namespace ifo::syncer
