// libFuzzer target: arbitrary bytes as an AdmissionReview body for both handlers (validate and
// mutate), under each cross-namespace policy and with a synced and an unsynced digest cache.
// Besides crashes, hangs and sanitizer reports, it checks what the API server relies on:
//  - the reply is 200 or 400 with a JSON body; a 400 is a v1 Status with a message;
//  - a 200 is an admission.k8s.io/v1 AdmissionReview whose response.uid is the request's uid;
//  - a denial carries code 400/403/422, a reason and a message; validate never patches, mutate never
//    denies; a patch is a base64 JSON Patch that applies to the object and sets the rollout hash;
//  - no message or warning quotes a value outside the fields the handler may name (names,
//    namespaces, user, kind, uid, map keys): the secret marker never comes back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/base64.h"
#include "core/constants.h"
#include "core/json.h"
#include "core/json_patch.h"
#include "core/rollout.h"
#include "fuzz_common.h"
#include "webhook/admission.h"

namespace {

using namespace ifo;
using fuzz::check;

class Authorizer : public webhook::Authorizer {
 public:
  std::optional<bool> allowed(const webhook::UserInfo& user, const core::AccessCheck& check) override {
    if (user.username == "throw") throw std::runtime_error("authorizer failure");
    return (user.username.size() + check.namespace_.size()) % 2 == 0;
  }
};

class Digests : public webhook::DigestSource {
 public:
  explicit Digests(bool synced) : synced_(synced) {}
  bool synced() const override { return synced_; }
  std::shared_ptr<const std::map<std::string, std::string>> key_digests(std::string_view ns,
                                                                       std::string_view name) const override {
    if (name.empty() || name[0] == 'm') return nullptr;
    return std::make_shared<const std::map<std::string, std::string>>(
        std::map<std::string, std::string>{{"KEY", std::string(64, 'a')}, {std::string(ns), std::string(64, 'b')}});
  }

 private:
  bool synced_;
};

bool may_be_echoed(std::string_view key) {
  return key == "name" || key == "namespace" || key == "secretName" || key == "secretNamespace" ||
         key == "generateName" || key == "username" || key == "uid" || key == "kind" || key == "group" ||
         key == "apiVersion";
}

struct Request {
  std::shared_ptr<core::JsonDoc> doc;  // null when the body is not JSON
  std::string uid;
  const core::JsonValue* object = nullptr;
  bool echo_allowed = false;  // the marker sits in a field the handler may quote
};

void check_reply(const webhook::Reply& r, const Request& req, bool is_mutate) {
  check(r.status == 200 || r.status == 400, "status is neither 200 nor 400", std::to_string(r.status));
  auto body = core::parse_json(r.body);
  check(body.ok() && (*body)->IsObject(), "reply body is not a JSON object", r.body);
  const core::JsonValue& b = **body;
  if (!req.echo_allowed) check(!fuzz::contains(r.body, fuzz::kSecretMarker), "reply quotes a value", r.body);
  if (r.status == 400) {
    check(core::get_string(b, "kind") == "Status", "400 body is not a Status", r.body);
    check(!core::string_or(b, "message", "").empty(), "400 Status without message", r.body);
    check(core::get_int(b, "code") == 400, "400 Status with another code", r.body);
    return;
  }
  check(req.doc != nullptr && !req.uid.empty(), "200 for a body without a request uid", r.body);
  check(core::get_string(b, "apiVersion") == core::kAdmissionApiVersion, "response apiVersion", r.body);
  check(core::get_string(b, "kind") == core::kAdmissionReviewKind, "response kind", r.body);
  const core::JsonValue* resp = core::member(b, "response");
  check(resp != nullptr && resp->IsObject(), "response missing", r.body);
  check(core::get_string(*resp, "uid") == req.uid, "response.uid differs from request.uid", r.body);
  auto allowed = core::get_bool(*resp, "allowed");
  check(allowed.has_value(), "response.allowed missing", r.body);
  if (!*allowed) {
    check(!is_mutate, "mutate denied a request", r.body);
    const core::JsonValue* st = core::member(*resp, "status");
    check(st != nullptr, "denial without status", r.body);
    auto code = core::get_int(*st, "code");
    check(code == 400 || code == 403 || code == 422, "denial code is not 400/403/422", r.body);
    check(!core::string_or(*st, "reason", "").empty() && !core::string_or(*st, "message", "").empty(),
          "denial without reason or message", r.body);
  }
  auto patch_type = core::get_string(*resp, "patchType");
  auto patch = core::get_string(*resp, "patch");
  check(patch_type.has_value() == patch.has_value(), "patch and patchType not together", r.body);
  if (patch) {
    check(is_mutate && *allowed, "validate (or a denial) carries a patch", r.body);
    check(*patch_type == "JSONPatch", "patchType is not JSONPatch", r.body);
    auto text = core::base64_decode(*patch);
    check(text.ok(), "patch is not base64", *patch);
    check(req.object != nullptr, "patch without an object");
    auto patched = core::apply_json_patch(*req.object, *text);
    check(patched.ok(), "patch does not apply to the object", *text);
    // A workload leaves with a rollout hash in its pod template, or (an UPDATE of one that has none)
    // with the baseline in its metadata.
    const core::RolloutMarks marks = core::rollout_marks(**patched);
    check(marks.template_hash.has_value() || marks.baseline.has_value(),
          "patch sets neither the rollout hash nor the rollout baseline", *text);
  }
  if (const core::JsonValue* w = core::member(*resp, "warnings"))
    check(w->IsArray(), "warnings is not an array", r.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Authorizer authorizer;
  static const Digests synced(true);
  static const Digests unsynced(false);
  static const webhook::AdmissionHandler handlers[] = {
      webhook::AdmissionHandler(webhook::CrossNamespacePolicy::kAuthorize, &authorizer, &synced),
      webhook::AdmissionHandler(webhook::CrossNamespacePolicy::kDeny, &authorizer, &unsynced),
      webhook::AdmissionHandler(webhook::CrossNamespacePolicy::kAllow, nullptr, &synced),
  };
  std::string_view body(reinterpret_cast<const char*>(data), size);

  Request req;
  if (auto doc = core::parse_json(body); doc.ok()) {
    req.doc = *doc;
    if (const core::JsonValue* r = core::member(*req.doc, "request"); r && r->IsObject()) {
      req.uid = core::string_or(*r, "uid", "");
      req.object = core::member(*r, "object");
    }
    fuzz::walk_strings(
        *req.doc, "",
        [&](std::string_view key, std::string_view value) {
          if (may_be_echoed(key) && fuzz::contains(value, fuzz::kSecretMarker)) req.echo_allowed = true;
        },
        [&](std::string_view key) {
          if (fuzz::contains(key, fuzz::kSecretMarker)) req.echo_allowed = true;
        });
  }
  // The handler quotes the authorizer's exception text; it holds no marker. Every input goes through
  // the production configuration (authorize, synced cache), and one of the others chosen by its size.
  for (const auto* h : {&handlers[0], &handlers[1 + size % 2]}) {
    check_reply(h->validate(body), req, false);
    check_reply(h->mutate(body), req, true);
  }
  return 0;
}
