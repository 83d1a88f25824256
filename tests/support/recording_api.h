// A kube::Api decorator that records every call as "verb resource namespace/name" before passing it on,
// so a test can assert the list of API actions a component performed (controller-runtime's style).
// Verbs: get, list, create, update, update-status, patch, patch-status, delete, token, review. The
// target is "namespace/name", or "name" when there is no namespace; list records only the namespace.
#pragma once

#include <fmt/format.h>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "kube/api.h"

namespace ifo::test {

// "namespace/name", or "name" without a namespace.
inline std::string api_target(std::string_view ns, std::string_view name) {
  return ns.empty() ? std::string(name) : fmt::format("{}/{}", ns, name);
}

// The name a create gives an object: metadata.name, else metadata.generateName.
inline std::string name_to_create(const core::JsonValue& object) {
  if (const auto* n = core::at_path(object, {"metadata", "name"});
      n && n->IsString() && n->GetStringLength() > 0)
    return n->GetString();
  if (const auto* g = core::at_path(object, {"metadata", "generateName"}); g && g->IsString())
    return g->GetString();
  return "";
}

class RecordingApi final : public kube::Api {
 public:
  // `inner` must outlive the recorder.
  explicit RecordingApi(kube::Api& inner) : inner_(inner) {}

  kube::ObjectPtr get(const kube::Resource& r, std::string_view ns, std::string_view name) override {
    record("get", r, api_target(ns, name));
    return inner_.get(r, ns, name);
  }
  kube::ObjectList list(const kube::Resource& r, std::string_view ns,
                        const kube::ListOptions& options = {}) override {
    record("list", r, std::string(ns));
    return inner_.list(r, ns, options);
  }
  kube::ObjectList list_all(const kube::Resource& r, std::string_view ns,
                            kube::ListOptions options = {}) override {
    record("list", r, std::string(ns));
    return inner_.list_all(r, ns, std::move(options));
  }
  kube::ObjectPtr create(const kube::Resource& r, std::string_view ns, const core::JsonValue& object,
                         const kube::WriteOptions& options = {}) override {
    record("create", r, api_target(ns, name_to_create(object)));
    return inner_.create(r, ns, object, options);
  }
  kube::ObjectPtr update(const kube::Resource& r, std::string_view ns, const core::JsonValue& object,
                         const kube::WriteOptions& options = {}) override {
    record("update", r, api_target(ns, name_to_create(object)));
    return inner_.update(r, ns, object, options);
  }
  kube::ObjectPtr patch(const kube::Resource& r, std::string_view ns, std::string_view name,
                        kube::PatchType type, std::string_view patch_body,
                        const kube::WriteOptions& options = {}) override {
    record("patch", r, api_target(ns, name));
    return inner_.patch(r, ns, name, type, patch_body, options);
  }
  kube::ObjectPtr update_status(const kube::Resource& r, std::string_view ns, const core::JsonValue& object,
                                const kube::WriteOptions& options = {}) override {
    record("update-status", r, api_target(ns, name_to_create(object)));
    return inner_.update_status(r, ns, object, options);
  }
  kube::ObjectPtr patch_status(const kube::Resource& r, std::string_view ns, std::string_view name,
                               kube::PatchType type, std::string_view patch_body,
                               const kube::WriteOptions& options = {}) override {
    record("patch-status", r, api_target(ns, name));
    return inner_.patch_status(r, ns, name, type, patch_body, options);
  }
  void remove(const kube::Resource& r, std::string_view ns, std::string_view name,
              const kube::DeleteOptions& options = {}) override {
    record("delete", r, api_target(ns, name));
    inner_.remove(r, ns, name, options);
  }
  kube::ServiceAccountToken create_token(std::string_view ns, std::string_view service_account,
                                         const kube::TokenRequestOptions& options) override {
    add(fmt::format("token serviceaccounts {}", api_target(ns, service_account)));
    return inner_.create_token(ns, service_account, options);
  }
  kube::AccessReviewResult create_subject_access_review(const kube::AccessReviewSubject& subject,
                                                        const kube::ResourceAttributes& attributes) override {
    add(fmt::format("review subjectaccessreviews {}", subject.user));
    return inner_.create_subject_access_review(subject, attributes);
  }

  std::vector<std::string> actions() const {
    std::lock_guard lock(mu_);
    return actions_;
  }
  // Only the calls that change something (create, update, patch and delete, of objects or status).
  std::vector<std::string> writes() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& a : actions_)
      for (std::string_view verb :
           {"create ", "update ", "update-status ", "patch ", "patch-status ", "delete "})
        if (a.starts_with(verb)) {
          out.push_back(a);
          break;
        }
    return out;
  }
  void clear() {
    std::lock_guard lock(mu_);
    actions_.clear();
  }

 private:
  void record(std::string_view verb, const kube::Resource& r, const std::string& target) {
    add(fmt::format("{} {} {}", verb, r.resource, target));
  }
  void add(std::string action) {
    std::lock_guard lock(mu_);
    actions_.push_back(std::move(action));
  }

  kube::Api& inner_;
  mutable std::mutex mu_;
  std::vector<std::string> actions_;
};

}  // namespace ifo::test
