// Grants, ServiceAccount opt-ins and the global host for the trust policy, with a short cache.
#include "webhook/trust_lookup.h"

#include <stdexcept>

#include "core/constants.h"
#include "core/json.h"
#include "kube/api.h"
#include "kube/errors.h"
#include "kube/resource.h"

namespace ifo::webhook {

template <typename T, typename Fetch>
T KubeTrustLookup::cached(std::map<std::string, Entry<T>, std::less<>>& cache, const std::string& key,
                          bool fresh, CacheOnly* view, Fetch fetch) {
  const auto now = std::chrono::steady_clock::now();
  if (!fresh) {
    std::lock_guard lock(mu_);
    if (auto it = cache.find(key); it != cache.end() && it->second.expires > now) return it->second.value;
  }
  if (view) view->miss();
  T value = fetch();
  std::lock_guard lock(mu_);
  if (cache.size() > 10000) cache.clear();  // bounded: answers live only ttl_ anyway
  cache[key] = Entry<T>{value, now + ttl_};
  return value;
}

std::vector<core::ReferenceGrant> KubeTrustLookup::grants(std::string_view ns, bool fresh) {
  return grants(ns, fresh, nullptr);
}

std::optional<std::map<std::string, std::string>> KubeTrustLookup::service_account_annotations(
    std::string_view ns, std::string_view name, bool fresh) {
  return service_account_annotations(ns, name, fresh, nullptr);
}

std::string KubeTrustLookup::global_host_api(bool fresh) {
  return global_host_api(fresh, nullptr);
}

void KubeTrustLookup::CacheOnly::miss() {
  missed_ = true;
  throw std::runtime_error(why_not_);
}

std::vector<core::ReferenceGrant> KubeTrustLookup::CacheOnly::grants(std::string_view ns, bool fresh) {
  return owner_.grants(ns, fresh, this);
}

std::optional<std::map<std::string, std::string>> KubeTrustLookup::CacheOnly::service_account_annotations(
    std::string_view ns, std::string_view name, bool fresh) {
  return owner_.service_account_annotations(ns, name, fresh, this);
}

std::string KubeTrustLookup::CacheOnly::global_host_api(bool fresh) {
  return owner_.global_host_api(fresh, this);
}

std::vector<core::ReferenceGrant> KubeTrustLookup::grants(std::string_view ns, bool fresh, CacheOnly* view) {
  return cached(grants_, std::string(ns), fresh, view, [&] {
    std::vector<core::ReferenceGrant> out;
    try {
      for (const auto& item : api_.list_all(kube::kInfisicalReferenceGrants, ns).items) {
        auto parsed = core::parse_reference_grant(*item);
        if (!parsed.ok()) continue;  // an invalid grant grants nothing
        if (parsed.grant.namespace_.empty()) parsed.grant.namespace_ = std::string(ns);
        out.push_back(std::move(parsed.grant));
      }
    } catch (const kube::ApiError& e) {
      // The grant kind is not served (its CRD is not installed): nothing is granted, as in the syncer.
      if (!e.is_not_found()) throw;
    }
    return out;
  });
}

std::optional<std::map<std::string, std::string>> KubeTrustLookup::service_account_annotations(
    std::string_view ns, std::string_view name, bool fresh, CacheOnly* view) {
  std::string key = std::string(ns) + "/" + std::string(name);
  return cached(accounts_, key, fresh, view, [&]() -> std::optional<std::map<std::string, std::string>> {
    kube::ObjectPtr sa;
    try {
      sa = api_.get(kube::kServiceAccounts, ns, name);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) return std::nullopt;
      throw;
    }
    std::map<std::string, std::string> out;
    if (const core::JsonValue* ann = core::at_path(*sa, {"metadata", "annotations"}); ann && ann->IsObject())
      for (const auto& m : ann->GetObject())
        if (m.value.IsString())
          out.emplace(std::string(m.name.GetString(), m.name.GetStringLength()),
                      std::string(m.value.GetString(), m.value.GetStringLength()));
    return out;
  });
}

std::string KubeTrustLookup::global_host_api(bool fresh, CacheOnly* view) {
  return cached(config_, operator_namespace_, fresh, view, [&]() -> std::string {
    kube::ObjectPtr cm;
    try {
      cm = api_.get(kube::kConfigMaps, operator_namespace_, core::kGlobalConfigMapName);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) return "";
      throw;
    }
    const core::JsonValue* data = core::member(*cm, "data");
    return data ? core::string_or(*data, core::kGlobalConfigHostKey, "") : "";
  });
}

}  // namespace ifo::webhook
