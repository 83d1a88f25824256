// KubeApi over kube::Client: every write names the syncer as field manager.
#include "syncer/client_kube_api.h"

#include "core/constants.h"

namespace ifo::syncer {

namespace {
kube::WriteOptions writer() {
  kube::WriteOptions o;
  o.field_manager = std::string(core::kSyncerFieldManager);
  return o;
}
}  // namespace

Object ClientKubeApi::get(const kube::Resource& r, const std::string& ns, const std::string& name) {
  return client_.get(r, ns, name);
}

std::vector<Object> ClientKubeApi::list(const kube::Resource& r, const std::string& ns,
                                        const std::string& label_selector) {
  kube::ListOptions o;
  o.label_selector = label_selector;
  auto l = client_.list_all(r, ns, o);
  return {l.items.begin(), l.items.end()};
}

Object ClientKubeApi::create(const kube::Resource& r, const std::string& ns, const core::JsonValue& object) {
  return client_.create(r, ns, object, writer());
}

Object ClientKubeApi::update(const kube::Resource& r, const std::string& ns, const std::string&,
                             const core::JsonValue& object) {
  return client_.update(r, ns, object, writer());
}

Object ClientKubeApi::patch_status(const kube::Resource& r, const std::string& ns, const std::string& name,
                                   const std::string& patch) {
  return client_.patch_status(r, ns, name, kube::PatchType::kMerge, patch, writer());
}

Object ClientKubeApi::merge_patch(const kube::Resource& r, const std::string& ns, const std::string& name,
                                  const std::string& patch) {
  return client_.patch(r, ns, name, kube::PatchType::kMerge, patch, writer());
}

std::string ClientKubeApi::create_token(const std::string& ns, const std::string& service_account,
                                        const std::vector<std::string>& audiences, int64_t expiration_seconds) {
  kube::TokenRequestOptions o;
  o.audiences = audiences;
  o.expiration_seconds = expiration_seconds;
  return client_.create_token(ns, service_account, o).token;
}

}  // namespace ifo::syncer
