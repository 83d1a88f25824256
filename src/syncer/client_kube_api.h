// KubeApi over the real kube::Client.
#pragma once

#include "kube/client.h"
#include "syncer/kube_api.h"

namespace ifo::syncer {

class ClientKubeApi final : public KubeApi {
 public:
  explicit ClientKubeApi(kube::Client& client) : client_(client) {}

  Object get(const kube::Resource& r, const std::string& ns, const std::string& name) override;
  std::vector<Object> list(const kube::Resource& r, const std::string& ns, const std::string& label_selector) override;
  Object create(const kube::Resource& r, const std::string& ns, const core::JsonValue& object) override;
  Object update(const kube::Resource& r, const std::string& ns, const std::string& name,
                const core::JsonValue& object) override;
  Object patch_status(const kube::Resource& r, const std::string& ns, const std::string& name,
                      const std::string& merge_patch) override;
  Object merge_patch(const kube::Resource& r, const std::string& ns, const std::string& name,
                     const std::string& merge_patch) override;
  std::string create_token(const std::string& ns, const std::string& service_account,
                           const std::vector<std::string>& audiences, int64_t expiration_seconds) override;

 private:
  kube::Client& client_;
};

}  // namespace ifo::syncer
