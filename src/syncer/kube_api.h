// The Kubernetes operations the reconciler performs, as a narrow interface: one adapter over
// kube::Client for production, and a recording decorator so tests can assert the list of API actions.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "kube/resource.h"

namespace ifo::syncer {

using Object = std::shared_ptr<const core::JsonDoc>;

// Every method throws kube::ApiError / kube::TransportError as kube::Client does.
class KubeApi {
 public:
  virtual ~KubeApi() = default;
  virtual Object get(const kube::Resource& r, const std::string& ns, const std::string& name) = 0;
  virtual std::vector<Object> list(const kube::Resource& r, const std::string& ns, const std::string& label_selector) = 0;
  virtual Object create(const kube::Resource& r, const std::string& ns, const core::JsonValue& object) = 0;
  virtual Object update(const kube::Resource& r, const std::string& ns, const std::string& name,
                        const core::JsonValue& object) = 0;
  // RFC 7386 merge patch of the status subresource.
  virtual Object patch_status(const kube::Resource& r, const std::string& ns, const std::string& name,
                              const std::string& merge_patch) = 0;
  // RFC 7386 merge patch of the object.
  virtual Object merge_patch(const kube::Resource& r, const std::string& ns, const std::string& name,
                             const std::string& merge_patch) = 0;
  // TokenRequest for a service account; returns the JWT.
  virtual std::string create_token(const std::string& ns, const std::string& service_account,
                                   const std::vector<std::string>& audiences, int64_t expiration_seconds) = 0;
};

// Wraps another KubeApi and records "verb resource namespace/name" for every call (before it is made).
class RecordingKubeApi final : public KubeApi {
 public:
  explicit RecordingKubeApi(KubeApi& inner) : inner_(inner) {}

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

  std::vector<std::string> actions() const;
  // Only the calls that change something (create, update, patch, patch-status; not get/list/token).
  std::vector<std::string> writes() const;
  void clear();

 private:
  void record(std::string action);
  KubeApi& inner_;
  mutable std::mutex mu_;
  std::vector<std::string> actions_;
};

}  // namespace ifo::syncer
