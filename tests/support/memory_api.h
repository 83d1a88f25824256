// An in-memory kube::Api for unit tests: objects by resource, namespace and name, answered as an API
// server answers: NotFound, AlreadyExists, Conflict for a stale resourceVersion (update, a patch or
// delete precondition carrying one), a resourceVersion bumped on every write, merge and JSON patches
// applied, status written only through the status verbs, equality-based label selectors. No watch
// (informers need kube-sim), no admission, no field selectors. Thread safe.
//
// Faults and races are made by the test: on_call runs before each call is served (outside the store's
// lock) and may change the store or throw. Pair it with RecordingApi (recording_api.h) to assert the
// calls made.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/json_patch.h"
#include "kube/api.h"
#include "kube/errors.h"
#include "recording_api.h"

namespace ifo::test {

class MemoryApi final : public kube::Api {
 public:
  // A call about to be served. verb is one of RecordingApi's (get, list, create, update, ...); name is
  // "" for list, the service account for token.
  struct Call {
    std::string_view verb;
    const kube::Resource& resource;
    std::string_view namespace_;
    std::string_view name;
  };
  // Runs before each call; may put or erase objects (another writer winning a race) or throw a fault
  // (kube::ApiError, kube::TransportError). Unset: nothing.
  std::function<void(const Call&)> on_call;
  // The answer to create_subject_access_review. Unset: allowed.
  std::function<kube::AccessReviewResult(const kube::AccessReviewSubject&, const kube::ResourceAttributes&)>
      access_review;

  // Stores `object` as it is (it must have metadata.name), replacing any object of that name; no
  // on_call, no resourceVersion bump. `ns` is ignored for cluster-scoped resources.
  void put(const kube::Resource& r, std::string_view ns, const core::JsonValue& object) {
    auto doc = std::make_shared<core::JsonDoc>();
    doc->CopyFrom(object, doc->GetAllocator());
    const std::string name = core::string_or(*meta_of(*doc), "name", "");
    if (name.empty()) throw std::invalid_argument("MemoryApi::put: the object has no metadata.name");
    std::lock_guard lock(mu_);
    objects_[key(r, ns, name)] = std::move(doc);
  }
  void put(const kube::Resource& r, std::string_view ns, std::string_view json) {
    auto parsed = core::parse_json(json);
    if (!parsed) throw std::invalid_argument("MemoryApi::put: " + parsed.error());
    put(r, ns, **parsed);
  }
  // Removes an object if it is there, without on_call.
  void erase(const kube::Resource& r, std::string_view ns, std::string_view name) {
    std::lock_guard lock(mu_);
    objects_.erase(key(r, ns, name));
  }
  // The object as stored, or nullptr.
  std::shared_ptr<const core::JsonDoc> stored(const kube::Resource& r, std::string_view ns,
                                              std::string_view name) const {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key(r, ns, name));
    return it == objects_.end() ? nullptr : it->second;
  }

  kube::ObjectPtr get(const kube::Resource& r, std::string_view ns, std::string_view name) override {
    before("get", r, ns, name);
    std::lock_guard lock(mu_);
    return copy(existing(r, ns, name));
  }

  kube::ObjectList list(const kube::Resource& r, std::string_view ns,
                        const kube::ListOptions& options = {}) override {
    before("list", r, ns, "");
    if (!options.field_selector.empty())
      throw std::logic_error("MemoryApi: field selectors are not supported");
    const auto selector = parse_selector(options.label_selector);
    std::lock_guard lock(mu_);
    kube::ObjectList out;
    out.resource_version = std::to_string(version_);
    size_t index = 0;
    const size_t start = options.continue_token.empty() ? 0 : std::stoul(options.continue_token);
    for (const auto& [k, o] : objects_) {
      if (std::get<0>(k) != group_resource(r) || (r.namespaced && !ns.empty() && std::get<1>(k) != ns))
        continue;
      if (!matches(selector, *o)) continue;
      if (index++ < start) continue;
      if (options.limit > 0 && out.items.size() == static_cast<size_t>(options.limit)) {
        out.continue_token = std::to_string(index - 1);
        break;
      }
      auto item = copy(o);
      auto& a = item->GetAllocator();
      if (!core::member(*item, "apiVersion")) core::set_string(*item, "apiVersion", r.api_version(), a);
      if (!core::member(*item, "kind")) core::set_string(*item, "kind", r.kind, a);
      out.items.push_back(std::move(item));
    }
    return out;
  }

  kube::ObjectList list_all(const kube::Resource& r, std::string_view ns,
                            kube::ListOptions options = {}) override {
    kube::ObjectList all;
    do {
      kube::ObjectList page = list(r, ns, options);
      all.items.insert(all.items.end(), page.items.begin(), page.items.end());
      all.resource_version = page.resource_version;
      options.continue_token = page.continue_token;
    } while (!options.continue_token.empty());
    return all;
  }

  kube::ObjectPtr create(const kube::Resource& r, std::string_view ns, const core::JsonValue& object,
                         const kube::WriteOptions& = {}) override {
    std::string name = core::string_or(*meta_of(object), "name", "");
    before("create", r, ns, name.empty() ? name_to_create(object) : name);
    std::lock_guard lock(mu_);
    if (name.empty()) {
      const std::string prefix = core::string_or(*meta_of(object), "generateName", "");
      if (prefix.empty())
        throw kube::ApiError(422, "Invalid", fmt::format("{}: metadata.name: Required value", r.kind));
      name = fmt::format("{}{:05d}", prefix, ++generated_);
    }
    if (objects_.count(key(r, ns, name)))
      throw kube::ApiError(409, "AlreadyExists", fmt::format("{} \"{}\" already exists", r.resource, name));
    auto doc = copy(object);
    auto& a = doc->GetAllocator();
    auto& meta = core::ensure_object(*doc, "metadata", a);
    core::set_string(meta, "name", name, a);
    if (r.namespaced) core::set_string(meta, "namespace", ns, a);
    core::set_string(meta, "uid", fmt::format("uid-{}", ++uids_), a);
    return store(r, ns, name, std::move(doc));
  }

  kube::ObjectPtr update(const kube::Resource& r, std::string_view ns, const core::JsonValue& object,
                         const kube::WriteOptions& = {}) override {
    const std::string name = core::string_or(*meta_of(object), "name", "");
    before("update", r, ns, name);
    std::lock_guard lock(mu_);
    auto current = existing(r, ns, name);
    check_version(r, name, *current, core::string_or(*meta_of(object), "resourceVersion", ""));
    auto doc = copy(object);
    keep_server_fields(*current, *doc);
    return store(r, ns, name, std::move(doc));
  }

  kube::ObjectPtr patch(const kube::Resource& r, std::string_view ns, std::string_view name,
                        kube::PatchType type, std::string_view patch_body,
                        const kube::WriteOptions& = {}) override {
    before("patch", r, ns, name);
    std::lock_guard lock(mu_);
    auto current = existing(r, ns, name);
    auto doc = patched(r, name, *current, type, patch_body);
    keep_server_fields(*current, *doc);
    return store(r, ns, name, std::move(doc));
  }

  kube::ObjectPtr update_status(const kube::Resource& r, std::string_view ns, const core::JsonValue& object,
                                const kube::WriteOptions& = {}) override {
    const std::string name = core::string_or(*meta_of(object), "name", "");
    before("update-status", r, ns, name);
    std::lock_guard lock(mu_);
    auto current = existing(r, ns, name);
    check_version(r, name, *current, core::string_or(*meta_of(object), "resourceVersion", ""));
    return store(r, ns, name, with_status_of(*current, object));
  }

  kube::ObjectPtr patch_status(const kube::Resource& r, std::string_view ns, std::string_view name,
                               kube::PatchType type, std::string_view patch_body,
                               const kube::WriteOptions& = {}) override {
    before("patch-status", r, ns, name);
    std::lock_guard lock(mu_);
    auto current = existing(r, ns, name);
    auto doc = patched(r, name, *current, type, patch_body);
    return store(r, ns, name, with_status_of(*current, *doc));
  }

  void remove(const kube::Resource& r, std::string_view ns, std::string_view name,
              const kube::DeleteOptions& options = {}) override {
    before("delete", r, ns, name);
    std::lock_guard lock(mu_);
    auto current = existing(r, ns, name);
    if (!options.precondition_uid.empty() &&
        options.precondition_uid != core::string_or(*meta_of(*current), "uid", ""))
      throw kube::ApiError(409, "Conflict",
                           fmt::format("{} \"{}\": precondition failed: UID", r.resource, name));
    if (!options.precondition_resource_version.empty())
      check_version(r, name, *current, options.precondition_resource_version);
    objects_.erase(key(r, ns, name));
  }

  // The token is "token-for-<service account>".
  kube::ServiceAccountToken create_token(std::string_view ns, std::string_view service_account,
                                         const kube::TokenRequestOptions&) override {
    static const kube::Resource kAccounts{"", "v1", "serviceaccounts", true, "ServiceAccount"};
    before("token", kAccounts, ns, service_account);
    kube::ServiceAccountToken t;
    t.token = fmt::format("token-for-{}", service_account);
    return t;
  }

  kube::AccessReviewResult create_subject_access_review(const kube::AccessReviewSubject& subject,
                                                        const kube::ResourceAttributes& attributes) override {
    static const kube::Resource kReviews{"authorization.k8s.io", "v1", "subjectaccessreviews", false,
                                         "SubjectAccessReview"};
    before("review", kReviews, "", subject.user);
    if (access_review) return access_review(subject, attributes);
    kube::AccessReviewResult allowed;
    allowed.allowed = true;
    return allowed;
  }

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // group/resource, namespace, name
  using Selector = std::vector<std::tuple<std::string, std::string, std::string>>;  // key, op, value

  static std::string group_resource(const kube::Resource& r) {
    return fmt::format("{}/{}", r.group, r.resource);
  }
  static Key key(const kube::Resource& r, std::string_view ns, std::string_view name) {
    return {group_resource(r), r.namespaced ? std::string(ns) : std::string(), std::string(name)};
  }
  static const core::JsonValue* meta_of(const core::JsonValue& o) {
    static const core::JsonValue kEmpty(rapidjson::kObjectType);
    const core::JsonValue* m = core::member(o, "metadata");
    return m && m->IsObject() ? m : &kEmpty;
  }
  static kube::ObjectPtr copy(const core::JsonValue& o) {
    auto doc = std::make_shared<core::JsonDoc>();
    doc->CopyFrom(o, doc->GetAllocator());
    return doc;
  }
  static kube::ObjectPtr copy(const std::shared_ptr<const core::JsonDoc>& o) { return copy(*o); }

  // "a=b,c!=d,e,!f" (=, ==, != and existence; set-based terms are not supported).
  static Selector parse_selector(std::string_view text) {
    Selector out;
    while (!text.empty()) {
      const size_t comma = text.find(',');
      std::string term(text.substr(0, comma));
      text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
      if (term.find(" in ") != std::string::npos || term.find(" notin ") != std::string::npos)
        throw std::logic_error("MemoryApi: set-based label selectors are not supported");
      if (auto p = term.find("!="); p != std::string::npos)
        out.emplace_back(term.substr(0, p), "!=", term.substr(p + 2));
      else if (auto q = term.find("=="); q != std::string::npos)
        out.emplace_back(term.substr(0, q), "=", term.substr(q + 2));
      else if (auto e = term.find('='); e != std::string::npos)
        out.emplace_back(term.substr(0, e), "=", term.substr(e + 1));
      else if (term.starts_with("!"))
        out.emplace_back(term.substr(1), "!", "");
      else
        out.emplace_back(term, "exists", "");
    }
    return out;
  }
  static bool matches(const Selector& selector, const core::JsonValue& o) {
    const core::JsonValue* labels = core::member(*meta_of(o), "labels");
    for (const auto& [k, op, v] : selector) {
      const core::JsonValue* l = labels && labels->IsObject() ? core::member(*labels, k) : nullptr;
      const bool has = l && l->IsString();
      const bool equal = has && std::string_view(l->GetString()) == v;
      if ((op == "=" && !equal) || (op == "!=" && equal) || (op == "!" && has) || (op == "exists" && !has))
        return false;
    }
    return true;
  }

  void before(std::string_view verb, const kube::Resource& r, std::string_view ns, std::string_view name) {
    if (on_call) on_call(Call{verb, r, ns, name});
  }
  // The stored object; NotFound when there is none. mu_ held.
  std::shared_ptr<const core::JsonDoc> existing(const kube::Resource& r, std::string_view ns,
                                                std::string_view name) const {
    auto it = objects_.find(key(r, ns, name));
    if (it == objects_.end())
      throw kube::ApiError(404, "NotFound", fmt::format("{} \"{}\" not found", r.resource, name));
    return it->second;
  }
  static void check_version(const kube::Resource& r, std::string_view name, const core::JsonValue& current,
                            const std::string& wanted) {
    if (!wanted.empty() && wanted != core::string_or(*meta_of(current), "resourceVersion", ""))
      throw kube::ApiError(
          409, "Conflict",
          fmt::format("Operation cannot be fulfilled on {} \"{}\": the object has been modified; "
                      "please apply your changes to the latest version and try again",
                      r.resource, name));
  }
  // `current` with the patch applied; a merge patch carrying metadata.resourceVersion is conditional.
  static kube::ObjectPtr patched(const kube::Resource& r, std::string_view name,
                                 const core::JsonValue& current, kube::PatchType type,
                                 std::string_view body) {
    auto patch = core::parse_json(body);
    if (!patch) throw kube::ApiError(400, "BadRequest", "invalid patch: " + patch.error());
    switch (type) {
      case kube::PatchType::kMerge:
        check_version(r, name, current, core::string_or(*meta_of(**patch), "resourceVersion", ""));
        return core::apply_merge_patch(current, **patch);
      case kube::PatchType::kJson: {
        auto out = core::apply_json_patch(current, **patch);
        if (!out) throw kube::ApiError(422, "Invalid", out.error());
        return *out;
      }
      case kube::PatchType::kStrategicMerge:
      case kube::PatchType::kApply:
        break;
    }
    throw std::logic_error("MemoryApi: only merge and JSON patches are supported");
  }
  // What a write of the object itself cannot change: uid, namespace and (status subresource) status.
  static void keep_server_fields(const core::JsonValue& current, core::JsonDoc& doc) {
    auto& a = doc.GetAllocator();
    auto& meta = core::ensure_object(doc, "metadata", a);
    for (std::string_view field : {"uid", "namespace"})
      if (const core::JsonValue* v = core::member(*meta_of(current), field))
        core::set_member(meta, field, core::JsonValue(*v, a), a);
    core::remove_member(doc, "status");
    if (const core::JsonValue* s = core::member(current, "status"))
      core::set_member(doc, "status", core::JsonValue(*s, a), a);
  }
  // `current` with the status of `from`.
  static kube::ObjectPtr with_status_of(const core::JsonValue& current, const core::JsonValue& from) {
    auto doc = copy(current);
    auto& a = doc->GetAllocator();
    core::remove_member(*doc, "status");
    if (const core::JsonValue* s = core::member(from, "status"))
      core::set_member(*doc, "status", core::JsonValue(*s, a), a);
    return doc;
  }
  // Stores with the next resourceVersion and returns a copy. mu_ held.
  kube::ObjectPtr store(const kube::Resource& r, std::string_view ns, std::string_view name,
                        kube::ObjectPtr doc) {
    auto& a = doc->GetAllocator();
    core::set_string(core::ensure_object(*doc, "metadata", a), "resourceVersion", std::to_string(++version_),
                     a);
    objects_[key(r, ns, name)] = doc;
    return copy(*doc);
  }

  mutable std::mutex mu_;
  std::map<Key, std::shared_ptr<const core::JsonDoc>> objects_;
  int64_t version_ = 0;
  int generated_ = 0;
  int uids_ = 0;
};

}  // namespace ifo::test
