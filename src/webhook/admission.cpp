// AdmissionReview v1: parsing, the validate and mutate decisions, and the response document.
#include "webhook/admission.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <cstddef>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <set>
#include <variant>

#include "core/base64.h"
#include "core/constants.h"
#include "core/json.h"
#include "core/json_patch.h"
#include "core/rollout.h"
#include "webhook/workload_hash.h"

namespace ifo::webhook {
namespace {

namespace c = ifo::core;

// The parsed request. Its pool allocator starts in a buffer of its own that holds a typical
// AdmissionReview, so a request costs one allocation here instead of a 64 KiB pool chunk; the text
// is copied into the pool once and parsed in place, so its strings are not copied again.
struct ReviewDoc {
  ReviewDoc() {}  // user-provided, so make_unique does not zero the buffer first
  static constexpr size_t kInlineBytes = 16 * 1024;
  alignas(std::max_align_t) char buffer[kInlineBytes];
  rapidjson::MemoryPoolAllocator<> pool{buffer, sizeof buffer};
  c::JsonDoc doc{&pool};
};

// The envelope's fields as views into the parsed document, which the Review owns.
struct Review {
  std::unique_ptr<ReviewDoc> doc;
  std::string_view uid;
  std::string_view operation;
  std::string_view ns;
  std::string_view name;
  std::string_view kind_group;
  std::string_view kind;
  const c::JsonValue* object = nullptr;
  const c::JsonValue* old_object = nullptr;
  const c::JsonValue* user_info = nullptr;  // read into a UserInfo only when an authorizer needs it
};

Reply bad_request(std::string_view message) { return Reply{400, status_body(400, message), "bad_request"}; }

UserInfo user_of(const Review& r) {
  UserInfo user;
  if (!r.user_info) return user;
  const c::JsonValue& u = *r.user_info;
  user.username = c::string_or(u, "username", "");
  user.uid = c::string_or(u, "uid", "");
  if (const c::JsonValue* g = c::member(u, "groups"); g && g->IsArray())
    for (const auto& v : g->GetArray())
      if (v.IsString()) user.groups.emplace_back(v.GetString(), v.GetStringLength());
  if (const c::JsonValue* e = c::member(u, "extra"); e && e->IsObject())
    for (const auto& m : e->GetObject()) {
      auto& vals = user.extra[std::string(m.name.GetString(), m.name.GetStringLength())];
      if (m.value.IsArray())
        for (const auto& v : m.value.GetArray())
          if (v.IsString()) vals.emplace_back(v.GetString(), v.GetStringLength());
    }
  return user;
}

// Parses and checks the envelope; on failure the Reply is the 400 to send.
std::variant<Review, Reply> parse_review(std::string_view body) {
  if (body.empty()) return bad_request("empty request body: expected an admission.k8s.io/v1 AdmissionReview");
  Review r;
  r.doc = std::make_unique<ReviewDoc>();
  char* text = static_cast<char*>(r.doc->pool.Malloc(body.size() + 1));
  std::memcpy(text, body.data(), body.size());
  text[body.size()] = '\0';
  auto parsed = c::parse_json_in_place(r.doc->doc, text);
  if (!parsed) return bad_request("request body is not JSON: " + parsed.error());
  const c::JsonValue& root = r.doc->doc;
  if (!root.IsObject()) return bad_request("request body is not a JSON object");
  auto api_version = c::get_string_view(root, "apiVersion");
  if (api_version != c::kAdmissionApiVersion)
    return bad_request(fmt::format("apiVersion must be {} (got {:?}); set admissionReviewVersions: [\"v1\"]",
                                   c::kAdmissionApiVersion, api_version.value_or("")));
  auto kind = c::get_string_view(root, "kind");
  if (kind != c::kAdmissionReviewKind)
    return bad_request(fmt::format("kind must be AdmissionReview (got {:?})", kind.value_or("")));
  const c::JsonValue* req = c::member(root, "request");
  if (!req || !req->IsObject()) return bad_request("request: required object is missing");
  auto uid = c::get_string_view(*req, "uid");
  if (!uid || uid->empty()) return bad_request("request.uid: required string is missing");
  r.uid = *uid;
  r.operation = c::string_view_or(*req, "operation", "");
  r.ns = c::string_view_or(*req, "namespace", "");
  r.name = c::string_view_or(*req, "name", "");
  if (const c::JsonValue* k = c::member(*req, "kind"); k && k->IsObject()) {
    r.kind_group = c::string_view_or(*k, "group", "");
    r.kind = c::string_view_or(*k, "kind", "");
  }
  r.object = c::member(*req, "object");
  if (r.object && r.object->IsNull()) r.object = nullptr;
  r.old_object = c::member(*req, "oldObject");
  if (r.old_object && r.old_object->IsNull()) r.old_object = nullptr;
  if (const c::JsonValue* u = c::member(*req, "userInfo"); u && u->IsObject()) r.user_info = u;
  if ((r.operation == "CREATE" || r.operation == "UPDATE") && (!r.object || !r.object->IsObject()))
    return bad_request(fmt::format("request.object: required object is missing for {}", r.operation));
  if (r.operation == "UPDATE" && r.old_object && !r.old_object->IsObject())
    return bad_request("request.oldObject: must be an object");
  if (r.name.empty() && r.object && r.object->IsObject())
    if (const c::JsonValue* md = c::member(*r.object, "metadata"); md && md->IsObject())
      r.name = c::string_view_or(*md, "name", c::string_view_or(*md, "generateName", ""));
  return r;
}

struct Verdict {
  bool allowed = true;
  int code = 0;
  std::string reason;
  std::string message;
  std::vector<std::string> warnings;
  std::string patch;  // JSON Patch text; empty for none
};

// Written straight to text (no document tree, no writer): it runs once per admission request.
Reply respond(const Review& r, const Verdict& v, std::string result) {
  std::string out;
  size_t size = 256 + r.uid.size() + v.message.size() + (v.patch.size() + 2) / 3 * 4;
  for (const auto& w : v.warnings) size += w.size() + 3;
  out.reserve(size);
  out.append(R"({"apiVersion":)");
  c::append_json_string(out, c::kAdmissionApiVersion);
  out.append(R"(,"kind":)");
  c::append_json_string(out, c::kAdmissionReviewKind);
  out.append(R"(,"response":{"uid":)");
  c::append_json_string(out, r.uid);
  out.append(v.allowed ? R"(,"allowed":true)" : R"(,"allowed":false)");
  if (!v.allowed) {
    out.append(R"(,"status":{"code":)");
    out.append(std::to_string(v.code));
    out.append(R"(,"reason":)");
    c::append_json_string(out, v.reason);
    out.append(R"(,"message":)");
    c::append_json_string(out, v.message);
    out.push_back('}');
  }
  if (!v.warnings.empty()) {
    out.append(R"(,"warnings":[)");
    for (size_t i = 0; i < v.warnings.size(); ++i) {
      if (i > 0) out.push_back(',');
      c::append_json_string(out, v.warnings[i]);
    }
    out.push_back(']');
  }
  if (!v.patch.empty()) {
    out.append(R"(,"patchType":"JSONPatch","patch":")");
    c::base64_append(out, v.patch);  // the base64 alphabet needs no escaping
    out.push_back('"');
  }
  out.append("}}");
  return Reply{200, std::move(out), std::move(result)};
}

std::string describe(const c::CrossNamespaceReference& ref) {
  return fmt::format("{} {}/{}", c::reference_kind_name(ref.kind), ref.namespace_, ref.name);
}

std::string access_text(const c::AccessCheck& check) {
  std::string resource = check.subresource.empty() ? check.resource : check.resource + "/" + check.subresource;
  if (check.name.empty()) return fmt::format("{} {} in namespace {}", check.verb, resource, check.namespace_);
  return fmt::format("{} {} {:?} in namespace {}", check.verb, resource, check.name, check.namespace_);
}

const c::JsonValue* pod_spec(const c::JsonValue* object) {
  return object ? c::at_path(*object, {"spec", "template", "spec"}) : nullptr;
}

// The JSON Patch operation that sets the pod template's rollout-hash annotation, creating the
// template's metadata or annotations object when missing; appended to `out` as text.
void append_hash_op(std::string& out, const c::JsonValue& object, const std::string& value) {
  const c::JsonValue* tmpl_md = c::at_path(object, {"spec", "template", "metadata"});
  const c::JsonValue* ann = tmpl_md ? c::member(*tmpl_md, "annotations") : nullptr;
  out.append(R"({"op":"add","path":)");
  auto annotation = [&out, &value] {
    out.push_back('{');
    c::append_json_string(out, c::kRolloutHashAnnotation);
    out.push_back(':');
    c::append_json_string(out, value);
    out.push_back('}');
  };
  if (!tmpl_md || !tmpl_md->IsObject()) {
    c::append_json_string(out, "/spec/template/metadata");
    out.append(R"(,"value":{"annotations":)");
    annotation();
    out.push_back('}');
  } else if (!ann || !ann->IsObject()) {
    c::append_json_string(out, "/spec/template/metadata/annotations");
    out.append(R"(,"value":)");
    annotation();
  } else {
    static const std::string kAnnotationPointer =
        "/spec/template/metadata/annotations/" + c::json_pointer_escape(c::kRolloutHashAnnotation);
    c::append_json_string(out, kAnnotationPointer);
    out.append(R"(,"value":)");
    c::append_json_string(out, value);
  }
  out.push_back('}');
}

// The operation that sets (a value) or removes (nullopt) the workload's rollout-baseline annotation.
// The metadata's annotations object exists: it carries the opt-in.
void append_baseline_op(std::string& out, const std::optional<std::string>& value) {
  static const std::string kPointer = "/metadata/annotations/" + c::json_pointer_escape(c::kRolloutBaselineAnnotation);
  out.append(value ? R"({"op":"add","path":)" : R"({"op":"remove","path":)");
  c::append_json_string(out, kPointer);
  if (value) {
    out.append(R"(,"value":)");
    c::append_json_string(out, *value);
  }
  out.push_back('}');
}

// Where the kubernetesAuth ServiceAccount is named (the path core::trust_references gives it).
constexpr std::string_view kServiceAccountRefPath = "spec.authentication.kubernetesAuth.serviceAccountRef";

// The spec fields that decide where credentials come from and where secrets go (DESIGN.md section 8:
// host, TLS, auth block and identity, targets); a change to any of them is re-authorised.
constexpr std::string_view kTrustFields[] = {"hostAPI",
                                             "tls",
                                             "authentication",
                                             "tokenSecretReference",
                                             "managedSecretReference",
                                             "managedKubeSecretReferences",
                                             "managedKubeConfigMapReferences"};

bool trust_fields_changed(const c::JsonValue& old_object, const c::JsonValue& object) {
  const c::JsonValue* old_spec = c::member(old_object, "spec");
  const c::JsonValue* spec = c::member(object, "spec");
  if (!old_spec || !spec || !old_spec->IsObject() || !spec->IsObject()) return true;  // nothing to compare: check all
  for (std::string_view field : kTrustFields) {
    const c::JsonValue* before = c::member(*old_spec, field);
    const c::JsonValue* after = c::member(*spec, field);
    if ((before == nullptr) != (after == nullptr) || (before && *before != *after)) return true;
  }
  return false;
}

// What deciding on a spec's hostAPI takes: nothing (an allowed https host, or http where http is
// allowed), the admin's global host (which is always allowed, http or not), or nothing because it is
// refused whatever the global host is (not a URL).
enum class HostDecision { kAdmitted, kNeedsGlobalHost, kRefused };
HostDecision decide_host(const std::string& host_api, const c::TrustPolicy& policy) {
  auto host = c::parse_host_api(c::normalize_host_api(host_api));
  if (!host) return HostDecision::kRefused;
  if (host->scheme == "http" && !policy.allow_http) return HostDecision::kNeedsGlobalHost;
  return c::host_allowed(policy.allowed_hosts, *host) ? HostDecision::kAdmitted : HostDecision::kNeedsGlobalHost;
}

struct TrustOutcome {
  std::vector<c::FieldError> errors;
  bool refused = false;  // the policy refused something (not only lookups that failed)
  bool asked = false;    // the lookup was asked something
};

// The trust policy's refusals, and lookups that failed, as field errors; asks `lookup` only for what
// the resource needs (grants of the namespaces it refers into, its ServiceAccount, the global host).
TrustOutcome evaluate_trust(const c::InfisicalSecret& resource, const c::TrustPolicy& policy, TrustLookup* lookup,
                            HostDecision host, bool fresh) {
  TrustOutcome out;
  std::set<std::string> unverified;  // paths whose lookup failed: reported as such, not as refused
  auto ask = [&]() -> TrustLookup& {
    if (!lookup) throw std::runtime_error("the webhook has no trust lookup configured");
    out.asked = true;
    return *lookup;
  };
  const std::string& own = resource.metadata.namespace_;
  const std::vector<c::TrustReference> refs = c::trust_references(resource);
  c::TrustInputs inputs;
  if (!policy.cross_namespace_without_grant) {
    std::set<std::string> asked;
    for (const auto& ref : refs) {
      if (ref.namespace_ == own || !asked.insert(ref.namespace_).second) continue;
      try {
        auto grants = ask().grants(ref.namespace_, fresh);
        std::move(grants.begin(), grants.end(), std::back_inserter(inputs.grants));
      } catch (const std::exception& e) {
        for (const auto& other : refs) {
          if (other.namespace_ != ref.namespace_ || !unverified.insert(other.path).second) continue;
          out.errors.push_back({other.path, fmt::format("could not verify that namespace {} grants the {} {}/{} to "
                                                        "namespace {} (reading its {}s): {}",
                                                        ref.namespace_, other.role, other.namespace_, other.name, own,
                                                        c::kGrantKind, e.what())});
        }
      }
    }
  }
  if (host == HostDecision::kNeedsGlobalHost) {
    try {
      inputs.global_host_api = ask().global_host_api(fresh);
    } catch (const std::exception& e) {
      unverified.insert("spec.hostAPI");
      out.errors.push_back({"spec.hostAPI", fmt::format("could not verify that the host is allowed (reading the "
                                                        "operator's ConfigMap {}): {}",
                                                        c::kGlobalConfigMapName, e.what())});
    }
  }
  std::vector<c::TrustRefusal> refusals = c::check_trust(resource, policy, inputs);
  // Kubernetes auth: the ServiceAccount's opt-in, unless the policy does not ask for it or the
  // reference to the account is refused anyway (then it is not read at all), as the syncer does.
  auto sa = std::find_if(refs.begin(), refs.end(), [](const c::TrustReference& t) { return t.kind == "ServiceAccount"; });
  if (!policy.cross_namespace_without_grant && sa != refs.end() && !unverified.count(sa->path) &&
      std::none_of(refusals.begin(), refusals.end(), [&](const c::TrustRefusal& t) {
        return t.path == sa->path && t.reason == c::kReasonReferenceNotGranted;
      })) {
    try {
      inputs.service_account_annotations = ask().service_account_annotations(sa->namespace_, sa->name, fresh);
      refusals = c::check_trust(resource, policy, inputs);
    } catch (const std::exception& e) {
      unverified.insert(sa->path);
      out.errors.push_back({sa->path, fmt::format("could not verify that the ServiceAccount {}/{} opted in to "
                                                  "Kubernetes auth (annotation {}): {}",
                                                  sa->namespace_, sa->name, c::kKubernetesAuthIdentitiesAnnotation,
                                                  e.what())});
    }
  }
  for (auto& t : refusals) {
    if (unverified.count(t.path)) continue;
    out.errors.push_back({std::move(t.path), std::move(t.message)});
    out.refused = true;
  }
  return out;
}

bool is_workload(const Review& r) {
  return r.kind_group == "apps" && (r.kind == "Deployment" || r.kind == "StatefulSet" || r.kind == "DaemonSet");
}

}  // namespace

std::optional<CrossNamespacePolicy> parse_policy(std::string_view text) {
  if (text == "deny") return CrossNamespacePolicy::kDeny;
  if (text == "authorize") return CrossNamespacePolicy::kAuthorize;
  if (text == "allow") return CrossNamespacePolicy::kAllow;
  return std::nullopt;
}

std::string_view policy_name(CrossNamespacePolicy p) {
  switch (p) {
    case CrossNamespacePolicy::kDeny: return "deny";
    case CrossNamespacePolicy::kAuthorize: return "authorize";
    case CrossNamespacePolicy::kAllow: return "allow";
  }
  return "?";
}

std::string status_body(int code, std::string_view message) {
  c::JsonDoc d;
  d.SetObject();
  auto& a = d.GetAllocator();
  c::set_string(d, "apiVersion", "v1", a);
  c::set_string(d, "kind", "Status", a);
  c::set_string(d, "status", "Failure", a);
  c::set_string(d, "message", message, a);
  c::set_member(d, "code", c::JsonValue(code), a);
  return c::to_json(d);
}

Reply AdmissionHandler::validate(std::string_view body, Authorizer* authorizer, TrustLookup* trust_lookup) const {
  auto parsed = parse_review(body);
  if (auto* reply = std::get_if<Reply>(&parsed)) return std::move(*reply);
  const Review& r = std::get<Review>(parsed);
  Verdict v;
  if (r.operation != "CREATE" && r.operation != "UPDATE") return respond(r, v, "allowed");
  if (r.kind_group != c::kGroup || r.kind != c::kKind) {
    v.allowed = false;
    v.code = 400;
    v.reason = "BadRequest";
    v.message = fmt::format("this webhook validates {}/{} objects, not {:?} of group {:?}; check the webhook rules",
                            c::kGroup, c::kKind, r.kind, r.kind_group);
    return respond(r, v, "denied");
  }
  // One parse serves validation and the trust policy; a spec with type errors is checked again the
  // way check_infisical_secret reports it (type errors shadow rule errors below them).
  c::ParsedInfisicalSecret model = c::parse_infisical_secret(*r.object);
  const c::ValidationReport report = model.ok() ? c::validate_infisical_secret(model.resource, r.ns)
                                                : c::check_infisical_secret(*r.object, r.ns);
  c::InfisicalSecret& resource = model.resource;
  if (resource.metadata.namespace_.empty()) resource.metadata.namespace_ = std::string(r.ns);
  if (c::at_path(*r.object, {"spec", "authentication", "serviceToken"}))
    v.warnings.push_back(
        "spec.authentication.serviceToken is deprecated: Infisical service tokens are being retired; "
        "use a machine identity (universalAuth or kubernetesAuth)");
  std::vector<c::FieldError> errors = report.errors;
  // Every reference is (re-)authorised on CREATE and whenever a field that decides where credentials
  // come from or go to changed: against the user making the change, who may not be the one whose
  // rights admitted the references before. An UPDATE of anything else asks nothing.
  const bool recheck = r.operation == "CREATE" || !r.old_object || trust_fields_changed(*r.old_object, *r.object);
  bool forbidden = false;
  bool pending = false;
  bool unverified = false;  // a check of the user's rights could not be answered
  if (recheck && policy_ != CrossNamespacePolicy::kAllow) {
    // The user's own rights: each cross-namespace reference, and minting tokens for a Kubernetes-auth
    // ServiceAccount of the same namespace (cross-namespace ones are among the references).
    std::optional<c::CrossNamespaceReference> own_account;
    if (resource.spec.authentication && resource.spec.authentication->kubernetes_auth &&
        resource.spec.authentication->kubernetes_auth->service_account_ref) {
      const auto& sa = *resource.spec.authentication->kubernetes_auth->service_account_ref;
      if (!sa.name.empty() && (sa.namespace_.empty() || sa.namespace_ == resource.metadata.namespace_))
        own_account = c::CrossNamespaceReference{c::ReferenceKind::kServiceAccount, resource.metadata.namespace_,
                                                 sa.name, std::string(kServiceAccountRefPath)};
    }
    std::optional<UserInfo> user;
    auto authorize = [&](const c::CrossNamespaceReference& ref, std::string_view why) {
      if (!user) user = user_of(r);
      const c::AccessCheck check = c::access_check_for(ref);
      std::optional<bool> ok = false;
      try {
        if (authorizer) ok = authorizer->allowed(*user, check);
      } catch (const std::exception& e) {
        errors.push_back({ref.path, fmt::format("could not verify whether user {:?} may {}: {}", user->username,
                                                access_text(check), e.what())});
        forbidden = true;
        unverified = true;
        return;
      }
      if (!ok) {
        pending = true;  // every check is still asked, so all of them are known before the next attempt
        return;
      }
      if (!*ok) {
        errors.push_back({ref.path, fmt::format("user {:?} may not {} ({})", user->username, access_text(check), why)});
        forbidden = true;
      }
    };
    for (const auto& ref : report.cross_namespace_references) {
      if (policy_ == CrossNamespacePolicy::kDeny) {
        errors.push_back({ref.path, fmt::format("refers to the {} in another namespace, which the webhook's "
                                                "cross-namespace policy (deny) forbids", describe(ref))});
        forbidden = true;
        continue;
      }
      authorize(ref, fmt::format("required to refer to the {} from namespace {}", describe(ref), r.ns));
    }
    if (own_account)
      authorize(*own_account, fmt::format("required to have the operator mint tokens for the service account {}/{}",
                                          own_account->namespace_, own_account->name));
  }
  if (pending) return Reply{0, "", "", true};
  // The trust boundary, as the syncer will enforce it; a spec with errors is not looked up for, nor
  // one whose user's rights could not be verified: it is denied with "retry" anyway, and reviews
  // forged while the API server is slow must not make the webhook call it for more.
  if (recheck && report.errors.empty() && !unverified) {
    for (auto& e : trust_errors(resource, report, trust_lookup)) {
      errors.push_back(std::move(e));
      forbidden = true;
    }
  }
  if (errors.empty()) return respond(r, v, "allowed");
  v.allowed = false;
  v.code = forbidden && report.errors.empty() ? 403 : 422;
  v.reason = v.code == 403 ? "Forbidden" : "Invalid";
  v.message = fmt::format("{} {:?} is invalid: {}", c::kKind, r.name, c::format_field_errors(errors));
  return respond(r, v, "denied");
}

std::vector<c::FieldError> AdmissionHandler::trust_errors(const c::InfisicalSecret& resource,
                                                          const c::ValidationReport& report,
                                                          TrustLookup* lookup) const {
  // The fast path: references only into the own namespace, no Kubernetes auth, no host or one allowed
  // on its own. The policy has nothing to refuse, so nothing is asked or built. (Validation lists
  // every reference core::trust_references governs that leaves the namespace.)
  const auto host = resource.spec.host_api.empty() ? HostDecision::kAdmitted : decide_host(resource.spec.host_api, trust_);
  const bool kubernetes_auth = resource.spec.authentication && resource.spec.authentication->kubernetes_auth;
  if (report.cross_namespace_references.empty() && !kubernetes_auth && host == HostDecision::kAdmitted) return {};
  TrustOutcome outcome = evaluate_trust(resource, trust_, lookup, host, false);
  // A refusal that rests on cached answers is confirmed against the cluster as it is now.
  if (outcome.refused && outcome.asked) outcome = evaluate_trust(resource, trust_, lookup, host, true);
  return std::move(outcome.errors);
}

Reply AdmissionHandler::mutate(std::string_view body) const {
  auto parsed = parse_review(body);
  if (auto* reply = std::get_if<Reply>(&parsed)) return std::move(*reply);
  const Review& r = std::get<Review>(parsed);
  Verdict v;
  if ((r.operation != "CREATE" && r.operation != "UPDATE") || !is_workload(r)) return respond(r, v, "allowed");
  const c::JsonValue* md = c::member(*r.object, "metadata");
  const c::JsonValue* ann = md ? c::member(*md, "annotations") : nullptr;
  if (!ann || c::get_string(*ann, c::kAutoReloadAnnotation) != "true") return respond(r, v, "allowed");
  const c::JsonValue* spec = pod_spec(r.object);
  if (!spec || !spec->IsObject()) return respond(r, v, "allowed");  // the API server's own validation reports it
  const auto consumed = consumed_keys(*spec);
  const c::RolloutMarks given = c::rollout_marks(*r.object);
  std::optional<c::RolloutMarks> old;
  bool same_consumers = false;
  if (r.operation == "UPDATE" && r.old_object) {
    old = c::rollout_marks(*r.old_object);
    const c::JsonValue* old_spec = pod_spec(r.old_object);
    same_consumers = old_spec && old_spec->IsObject() && consumed_keys(*old_spec) == consumed;
  }
  // core/rollout.h: CREATE and a changed consumer set get the current hash; otherwise what is given or
  // stored is kept, and a workload without a hash keeps its baseline instead of getting one.
  const c::AdmissionMarks plan = c::plan_admission(given, old ? &*old : nullptr, same_consumers);
  std::optional<std::string> hash;
  switch (plan.hash) {
    case c::TemplateHashSource::kNone: break;
    case c::TemplateHashSource::kGiven: hash = given.template_hash; break;
    case c::TemplateHashSource::kOld: hash = old->template_hash; break;
    case c::TemplateHashSource::kCurrent: {
      if (!digests_ || !digests_->synced()) {
        v.warnings.push_back("rollout hash not set: the webhook's managed-Secret cache is not synced yet; "
                             "the syncer records a rollout baseline instead");
        return respond(r, v, "not_synced");
      }
      const std::string ns(!r.ns.empty() ? r.ns : c::string_view_or(*md, "namespace", ""));
      hash = rollout_hash(ns, consumed, *digests_);
      break;
    }
  }
  std::string ops;
  auto next_op = [&ops] { ops.push_back(ops.empty() ? '[' : ','); };
  if (hash && hash != given.template_hash) {
    next_op();
    append_hash_op(ops, *r.object, *hash);
  }
  if (plan.copy_old_baseline) {
    next_op();
    append_baseline_op(ops, old->baseline);
  }
  if (plan.drop_baseline) {
    next_op();
    append_baseline_op(ops, std::nullopt);
  }
  if (ops.empty()) return respond(r, v, "allowed");
  ops.push_back(']');
  v.patch = std::move(ops);
  return respond(r, v, "patched");
}

}  // namespace ifo::webhook
