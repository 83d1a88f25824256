// An in-memory syncer::KubeApi for unit tests: objects by resource, namespace and name, a
// resourceVersion bumped per write, NotFound and AlreadyExists as an API server answers them, and a
// log of the calls ("get secrets apps/creds").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/json.h"
#include "kube/errors.h"
#include "syncer/kube_api.h"
#include "test_helpers.h"

namespace ifo::syncer::testing {

class FakeKubeApi final : public KubeApi {
 public:
  // Stores `json` (an object with metadata.name) in `ns` as it is, without a call logged.
  void put(const kube::Resource& r, const std::string& ns, std::string_view json) {
    auto doc = test::parse_doc(json);
    objects_[{std::string(r.resource), ns, core::string_or(*core::member(*doc, "metadata"), "name", "")}] = doc;
  }
  void remove(const kube::Resource& r, const std::string& ns, const std::string& name) {
    objects_.erase({std::string(r.resource), ns, name});
  }
  Object stored(const kube::Resource& r, const std::string& ns, const std::string& name) const {
    auto it = objects_.find({std::string(r.resource), ns, name});
    return it == objects_.end() ? nullptr : it->second;
  }

  Object get(const kube::Resource& r, const std::string& ns, const std::string& name) override {
    calls.push_back(call("get", r, ns, name));
    if (Object o = stored(r, ns, name)) return o;
    throw kube::ApiError(404, "NotFound", std::string(r.resource) + " \"" + name + "\" not found");
  }
  std::vector<Object> list(const kube::Resource& r, const std::string& ns, const std::string&) override {
    calls.push_back(call("list", r, ns, ""));
    std::vector<Object> out;
    for (const auto& [k, o] : objects_)
      if (std::get<0>(k) == r.resource && (ns.empty() || std::get<1>(k) == ns)) out.push_back(o);
    return out;
  }
  Object create(const kube::Resource& r, const std::string& ns, const core::JsonValue& object) override {
    const std::string name = core::string_or(*core::member(object, "metadata"), "name", "");
    calls.push_back(call("create", r, ns, name));
    if (stored(r, ns, name))
      throw kube::ApiError(409, "AlreadyExists", std::string(r.resource) + " \"" + name + "\" already exists");
    return store(r, ns, name, object);
  }
  Object update(const kube::Resource& r, const std::string& ns, const std::string& name,
                const core::JsonValue& object) override {
    calls.push_back(call("update", r, ns, name));
    if (!stored(r, ns, name)) throw kube::ApiError(404, "NotFound", std::string(r.resource) + " not found");
    return store(r, ns, name, object);
  }
  Object patch_status(const kube::Resource& r, const std::string& ns, const std::string& name,
                      const std::string&) override {
    calls.push_back(call("patch-status", r, ns, name));
    return stored(r, ns, name);
  }
  Object merge_patch(const kube::Resource& r, const std::string& ns, const std::string& name,
                     const std::string&) override {
    calls.push_back(call("patch", r, ns, name));
    return stored(r, ns, name);
  }
  std::string create_token(const std::string& ns, const std::string& service_account,
                           const std::vector<std::string>&, int64_t) override {
    calls.push_back("token " + ns + "/" + service_account);
    return "token-for-" + service_account;
  }

  std::vector<std::string> calls;

 private:
  static std::string call(std::string_view verb, const kube::Resource& r, const std::string& ns,
                          const std::string& name) {
    return std::string(verb) + " " + std::string(r.resource) + " " + ns + "/" + name;
  }
  Object store(const kube::Resource& r, const std::string& ns, const std::string& name, const core::JsonValue& object) {
    auto doc = std::make_shared<core::JsonDoc>();
    doc->CopyFrom(object, doc->GetAllocator());
    auto& meta = core::ensure_object(*doc, "metadata", doc->GetAllocator());
    core::set_string(meta, "resourceVersion", std::to_string(++version_), doc->GetAllocator());
    objects_[{std::string(r.resource), ns, name}] = doc;
    return doc;
  }

  std::map<std::tuple<std::string, std::string, std::string>, Object> objects_;
  int version_ = 0;
};

}  // namespace ifo::syncer::testing
