// Built-in resource table, defaults and validation.
#include "sim/kube/builtin.h"

#include <fmt/format.h>

#include <regex>

#include "core/base64.h"
#include "sim/kube/selector.h"

namespace ifo::kubesim {

using core::JsonAlloc;
using core::JsonValue;

namespace {

ResourceType rt(std::string group, std::string version, std::string resource, std::string kind, bool namespaced,
                std::vector<std::string> short_names = {}, std::vector<std::string> subresources = {},
                bool generation = true) {
  ResourceType t;
  t.group = std::move(group);
  t.version = std::move(version);
  t.resource = std::move(resource);
  t.kind = std::move(kind);
  t.singular = t.kind;
  for (auto& c : t.singular) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  t.namespaced = namespaced;
  t.short_names = std::move(short_names);
  t.subresources = std::move(subresources);
  t.tracks_generation = generation;
  return t;
}

std::string_view sv(const JsonValue& v) { return {v.GetString(), v.GetStringLength()}; }

// Go's base64.StdEncoding error offset for the first bad input byte.
std::optional<size_t> base64_error_offset(std::string_view s) {
  auto ok = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  };
  size_t i = 0;
  for (; i < s.size() && ok(s[i]); ++i) {
  }
  if (i == s.size()) {
    if (s.size() % 4 == 0) return std::nullopt;
    return s.size() - s.size() % 4 + (s.size() % 4 == 1 ? 0 : 0);
  }
  if (s[i] != '=') return i;
  // padding: only at the end, making a multiple of 4
  size_t pad = s.size() - i;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] != '=') return j;
  if (pad > 2 || s.size() % 4 != 0) return i;
  return std::nullopt;
}

const std::regex& config_key_re() {
  static const std::regex re("[-._a-zA-Z0-9]+");
  return re;
}

void check_keys(const JsonValue& obj, std::string_view field, std::vector<StatusCause>& out) {
  auto* d = core::member(obj, field);
  if (!d || !d->IsObject()) return;
  for (auto it = d->MemberBegin(); it != d->MemberEnd(); ++it) {
    std::string k(sv(it->name));
    if (!std::regex_match(k, config_key_re()) || k.size() > 253)
      out.push_back({"FieldValueInvalid",
                     fmt::format("Invalid value: \"{}\": a valid config key must consist of alphanumeric characters, "
                                 "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                                 "validation is '[-._a-zA-Z0-9]+')",
                                 k),
                     fmt::format("{}[{}]", field, k)});
  }
}

void default_pod_template(JsonValue& tmpl, JsonAlloc& a) {
  if (!tmpl.IsObject()) return;
  auto* spec = core::member(tmpl, "spec");
  if (!spec || !spec->IsObject()) return;
  auto set_if_absent = [&](JsonValue& o, std::string_view k, JsonValue v) {
    if (!core::member(o, k)) core::set_member(o, k, std::move(v), a);
  };
  set_if_absent(*spec, "restartPolicy", core::json_string("Always", a));
  set_if_absent(*spec, "terminationGracePeriodSeconds", JsonValue(30));
  set_if_absent(*spec, "dnsPolicy", core::json_string("ClusterFirst", a));
  set_if_absent(*spec, "schedulerName", core::json_string("default-scheduler", a));
  set_if_absent(*spec, "securityContext", JsonValue(rapidjson::kObjectType));
  for (std::string_view list : {"containers", "initContainers"}) {
    auto* cs = core::member(*spec, list);
    if (!cs || !cs->IsArray()) continue;
    for (auto& c : cs->GetArray()) {
      if (!c.IsObject()) continue;
      std::string image = core::string_or(c, "image", "");
      bool latest = image.find(':') == std::string::npos || image.ends_with(":latest");
      if (image.find('@') != std::string::npos) latest = false;
      set_if_absent(c, "imagePullPolicy", core::json_string(latest ? "Always" : "IfNotPresent", a));
      set_if_absent(c, "terminationMessagePath", core::json_string("/dev/termination-log", a));
      set_if_absent(c, "terminationMessagePolicy", core::json_string("File", a));
      set_if_absent(c, "resources", JsonValue(rapidjson::kObjectType));
      if (auto* ports = core::member(c, "ports"); ports && ports->IsArray())
        for (auto& p : ports->GetArray())
          if (p.IsObject()) set_if_absent(p, "protocol", core::json_string("TCP", a));
    }
  }
}

}  // namespace

std::vector<ResourceType> builtin_types() {
  std::vector<ResourceType> v;
  v.push_back(rt("", "v1", "namespaces", "Namespace", false, {"ns"}, {"status", "finalize"}, false));
  v.push_back(rt("", "v1", "secrets", "Secret", true, {}, {}, false));
  v.push_back(rt("", "v1", "configmaps", "ConfigMap", true, {"cm"}, {}, false));
  v.push_back(rt("", "v1", "serviceaccounts", "ServiceAccount", true, {"sa"}, {"token"}, false));
  v.push_back(rt("", "v1", "events", "Event", true, {"ev"}, {}, false));
  v.push_back(rt("", "v1", "services", "Service", true, {"svc"}, {"status"}, false));
  v.push_back(rt("", "v1", "pods", "Pod", true, {"po"}, {"status"}, false));
  v.back().categories = {"all"};
  v.push_back(rt("events.k8s.io", "v1", "events", "Event", true, {"ev"}, {}, false));
  for (auto [res, kind, sn] : {std::tuple{"deployments", "Deployment", "deploy"},
                               std::tuple{"statefulsets", "StatefulSet", "sts"},
                               std::tuple{"daemonsets", "DaemonSet", "ds"},
                               std::tuple{"replicasets", "ReplicaSet", "rs"}}) {
    auto t = rt("apps", "v1", res, kind, true, {sn}, {"status"});
    if (std::string_view(res) != "daemonsets") t.subresources.push_back("scale");
    t.categories = {"all"};
    v.push_back(t);
  }
  v.push_back(rt("coordination.k8s.io", "v1", "leases", "Lease", true, {}, {}, false));
  v.push_back(rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false,
                 {"crd", "crds"}, {"status"}));
  v.push_back(rt("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
                 "MutatingWebhookConfiguration", false, {}, {}));
  v.push_back(rt("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
                 "ValidatingWebhookConfiguration", false, {}, {}));
  for (auto [group, res, kind] : {std::tuple{"authentication.k8s.io", "tokenreviews", "TokenReview"},
                                  std::tuple{"authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview"},
                                  std::tuple{"authorization.k8s.io", "selfsubjectaccessreviews",
                                             "SelfSubjectAccessReview"},
                                  std::tuple{"authorization.k8s.io", "selfsubjectrulesreviews",
                                             "SelfSubjectRulesReview"},
                                  std::tuple{"authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview"}}) {
    auto t = rt(group, "v1", res, kind, false, {}, {}, false);
    t.create_only = true;
    t.verbs = {"create"};
    v.push_back(t);
  }
  auto lsar = rt("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", true);
  lsar.create_only = true;
  lsar.verbs = {"create"};
  v.push_back(lsar);
  v.push_back(rt("rbac.authorization.k8s.io", "v1", "roles", "Role", true, {}, {}, false));
  v.push_back(rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, {}, {}, false));
  v.push_back(rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, {}, {}, false));
  v.push_back(rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, {}, {}, false));
  // Kinds the operator's chart installs (stored; Jobs run with --run-pods, CronJobs never).
  v.push_back(rt("batch", "v1", "cronjobs", "CronJob", true, {"cj"}, {"status"}));
  v.push_back(rt("batch", "v1", "jobs", "Job", true, {}, {"status"}));
  v.push_back(rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, {"pdb"}, {"status"}));
  v.push_back(rt("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, {"netpol"}, {}, false));
  return v;
}

// ObjectMeta's list and map fields are `omitempty` in the API server's Go types: an empty
// finalizers list (a patch that removed the last finalizer), an empty labels map and the like are
// not stored, so a client never reads `finalizers: []` back.
static void drop_empty_metadata_fields(JsonValue& obj) {
  JsonValue* md = core::member(obj, "metadata");
  if (md == nullptr || !md->IsObject()) return;
  for (std::string_view field : {"finalizers", "ownerReferences", "managedFields", "labels", "annotations"}) {
    const JsonValue* v = core::member(*md, field);
    if (v == nullptr) continue;
    if (v->IsNull() || (v->IsArray() && v->Empty()) || (v->IsObject() && v->ObjectEmpty()))
      core::remove_member(*md, field);
  }
}

void apply_builtin_defaults(const ResourceType& t, JsonValue& obj, JsonAlloc& a) {
  if (!obj.IsObject()) return;
  drop_empty_metadata_fields(obj);
  if (t.group.empty() && t.resource == "secrets") {
    if (!core::member(obj, "type")) core::set_string(obj, "type", "Opaque", a);
    return;
  }
  if (t.group.empty() && t.resource == "namespaces") {
    auto& md = core::ensure_object(obj, "metadata", a);
    std::string name = core::string_or(md, "name", "");
    if (!name.empty())
      core::set_string(core::ensure_object(md, "labels", a), "kubernetes.io/metadata.name", name, a);
    auto& spec = core::ensure_object(obj, "spec", a);
    if (!core::member(spec, "finalizers")) {
      JsonValue f(rapidjson::kArrayType);
      f.PushBack(core::json_string("kubernetes", a), a);
      core::set_member(spec, "finalizers", std::move(f), a);
    }
    auto& st = core::ensure_object(obj, "status", a);
    if (!core::member(st, "phase")) core::set_string(st, "phase", "Active", a);
    return;
  }
  if (t.group.empty() && t.resource == "services") {
    // The Service REST strategy's defaults and its ClusterIP allocation (helm --wait waits for a
    // clusterIP). The address is FNV-32a of NS/NAME inside 10.96.0.0/16, not a random free one.
    auto& spec = core::ensure_object(obj, "spec", a);
    if (!core::member(spec, "type")) core::set_string(spec, "type", "ClusterIP", a);
    std::string type = core::string_or(spec, "type", "");
    if (!core::member(spec, "sessionAffinity")) core::set_string(spec, "sessionAffinity", "None", a);
    if (type != "ExternalName") {
      if (core::string_or(spec, "clusterIP", "").empty()) {
        const JsonValue* md = core::member(obj, "metadata");
        std::string key = md ? core::string_or(*md, "namespace", "") + "/" + core::string_or(*md, "name", "") : "";
        uint32_t h = 2166136261u;
        for (unsigned char c : key) {
          h ^= c;
          h *= 16777619u;
        }
        core::set_string(spec, "clusterIP", fmt::format("10.96.{}.{}", (h >> 8) & 0xff, 2 + (h & 0xff) % 250), a);
      }
      if (!core::member(spec, "clusterIPs")) {
        JsonValue ips(rapidjson::kArrayType);
        ips.PushBack(core::json_string(core::string_or(spec, "clusterIP", ""), a), a);
        core::set_member(spec, "clusterIPs", std::move(ips), a);
      }
      if (!core::member(spec, "ipFamilies")) {
        JsonValue fam(rapidjson::kArrayType);
        fam.PushBack(core::json_string("IPv4", a), a);
        core::set_member(spec, "ipFamilies", std::move(fam), a);
      }
      if (!core::member(spec, "ipFamilyPolicy")) core::set_string(spec, "ipFamilyPolicy", "SingleStack", a);
      if (!core::member(spec, "internalTrafficPolicy")) core::set_string(spec, "internalTrafficPolicy", "Cluster", a);
    }
    if (JsonValue* ports = core::member(spec, "ports"); ports && ports->IsArray()) {
      for (auto& p : ports->GetArray()) {
        if (!p.IsObject()) continue;
        if (!core::member(p, "protocol")) core::set_string(p, "protocol", "TCP", a);
        if (!core::member(p, "targetPort")) {
          if (const JsonValue* port = core::member(p, "port")) core::set_member(p, "targetPort", JsonValue(*port, a), a);
        }
      }
    }
    return;
  }
  if (t.group == "apps") {
    auto* spec = core::member(obj, "spec");
    if (!spec || !spec->IsObject()) return;
    if (t.resource != "daemonsets" && !core::member(*spec, "replicas"))
      core::set_member(*spec, "replicas", JsonValue(1), a);
    if (t.resource == "deployments") {
      if (!core::member(*spec, "revisionHistoryLimit")) core::set_member(*spec, "revisionHistoryLimit", JsonValue(10), a);
      if (!core::member(*spec, "progressDeadlineSeconds"))
        core::set_member(*spec, "progressDeadlineSeconds", JsonValue(600), a);
      auto& strat = core::ensure_object(*spec, "strategy", a);
      if (!core::member(strat, "type")) core::set_string(strat, "type", "RollingUpdate", a);
      if (core::string_or(strat, "type", "") == "RollingUpdate") {
        auto& ru = core::ensure_object(strat, "rollingUpdate", a);
        if (!core::member(ru, "maxUnavailable")) core::set_string(ru, "maxUnavailable", "25%", a);
        if (!core::member(ru, "maxSurge")) core::set_string(ru, "maxSurge", "25%", a);
      }
    } else if (t.resource == "statefulsets") {
      if (!core::member(*spec, "revisionHistoryLimit")) core::set_member(*spec, "revisionHistoryLimit", JsonValue(10), a);
      if (!core::member(*spec, "podManagementPolicy")) core::set_string(*spec, "podManagementPolicy", "OrderedReady", a);
      auto& strat = core::ensure_object(*spec, "updateStrategy", a);
      if (!core::member(strat, "type")) core::set_string(strat, "type", "RollingUpdate", a);
    } else if (t.resource == "daemonsets") {
      if (!core::member(*spec, "revisionHistoryLimit")) core::set_member(*spec, "revisionHistoryLimit", JsonValue(10), a);
      auto& strat = core::ensure_object(*spec, "updateStrategy", a);
      if (!core::member(strat, "type")) core::set_string(strat, "type", "RollingUpdate", a);
    }
    if (auto* tmpl = core::member(*spec, "template")) default_pod_template(*tmpl, a);
  }
}

void decode_secret(JsonValue& obj, JsonAlloc& a) {
  auto fail = [](const std::string& why) {
    throw bad_request("Secret in version \"v1\" cannot be handled as a Secret: " + why);
  };
  if (!obj.IsObject()) return;
  if (auto* d = core::member(obj, "data")) {
    if (d->IsNull()) {
      core::remove_member(obj, "data");
    } else if (!d->IsObject()) {
      fail("json: cannot unmarshal into Go struct field Secret.data of type map[string][]uint8");
    } else {
      for (auto it = d->MemberBegin(); it != d->MemberEnd(); ++it) {
        if (it->value.IsNull()) continue;
        if (!it->value.IsString())
          fail(fmt::format("json: cannot unmarshal {} into Go struct field Secret.data of type []uint8",
                           it->value.IsNumber() ? "number" : it->value.IsBool() ? "bool" : "object"));
        if (auto off = base64_error_offset(sv(it->value))) fail(fmt::format("illegal base64 data at input byte {}", *off));
      }
    }
  }
  if (auto* sd = core::member(obj, "stringData")) {
    if (sd->IsObject()) {
      auto& data = core::ensure_object(obj, "data", a);
      for (auto it = sd->MemberBegin(); it != sd->MemberEnd(); ++it) {
        if (!it->value.IsString())
          fail("json: cannot unmarshal into Go struct field Secret.stringData of type string");
        core::set_string(data, sv(it->name), core::base64_encode(sv(it->value)), a);
      }
    }
    core::remove_member(obj, "stringData");
  }
}

std::vector<StatusCause> validate_builtin(const ResourceType& t, const JsonValue& obj, const JsonValue* old) {
  std::vector<StatusCause> out;
  if (t.group.empty() && (t.resource == "secrets" || t.resource == "configmaps")) {
    check_keys(obj, "data", out);
    if (t.resource == "configmaps") check_keys(obj, "binaryData", out);
    if (t.resource == "secrets") {
      // ValidateSecret: the decoded values together at most 1 MiB (corev1.MaxSecretSize).
      size_t total = 0;
      if (auto* d = core::member(obj, "data"); d && d->IsObject())
        for (auto it = d->MemberBegin(); it != d->MemberEnd(); ++it)
          if (it->value.IsString()) total += it->value.GetStringLength() / 4 * 3;  // upper bound of decoded size
      if (total > 1048576) {
        total = 0;
        for (auto it = core::member(obj, "data")->MemberBegin(); it != core::member(obj, "data")->MemberEnd(); ++it)
          if (it->value.IsString())
            if (auto v = core::base64_decode(sv(it->value))) total += v->size();
        if (total > 1048576)
          out.push_back({"FieldValueTooLong", "Too long: may not be more than 1048576 bytes", "data"});
      }
    }
    if (old) {
      auto* imm = core::member(*old, "immutable");
      if (imm && imm->IsBool() && imm->GetBool()) {
        auto* od = core::member(*old, "data");
        auto* nd = core::member(obj, "data");
        bool same = (!od && !nd) || (od && nd && *od == *nd);
        if (!same)
          out.push_back({"FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set", "data"});
        auto* ni = core::member(obj, "immutable");
        if (!ni || !ni->IsBool() || !ni->GetBool())
          out.push_back({"FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set", "immutable"});
      }
    }
    if (t.resource == "secrets" && old) {
      std::string ot = core::string_or(*old, "type", "Opaque");
      std::string nt = core::string_or(obj, "type", "Opaque");
      if (ot != nt)
        out.push_back({"FieldValueInvalid", fmt::format("Invalid value: \"{}\": field is immutable", nt), "type"});
    }
  }
  if (t.group == "apps") {
    auto* spec = core::member(obj, "spec");
    if (!spec || !spec->IsObject()) {
      out.push_back({"FieldValueRequired", "Required value", "spec.selector"});
      return out;
    }
    auto* sel = core::member(*spec, "selector");
    if (!sel || !sel->IsObject()) {
      out.push_back({"FieldValueRequired", "Required value", "spec.selector"});
    } else {
      auto ls = LabelSelector::from_json(*sel);
      auto* labels = core::at_path(*spec, {"template", "metadata", "labels"});
      if (ls.empty())
        out.push_back({"FieldValueInvalid", "Invalid value: \"null\": empty selector is invalid for deployment",
                       "spec.selector"});
      else if (!ls.matches(labels))
        out.push_back({"FieldValueInvalid",
                       fmt::format("Invalid value: {}: `selector` does not match template `labels`",
                                   labels ? core::to_json(*labels) : "null"),
                       "spec.template.metadata.labels"});
      if (old) {
        auto* osel = core::at_path(*old, {"spec", "selector"});
        if (osel && !(*osel == *sel))
          out.push_back({"FieldValueInvalid",
                         fmt::format("Invalid value: {}: field is immutable", core::to_json(*sel)), "spec.selector"});
      }
    }
    auto* cs = core::at_path(*spec, {"template", "spec", "containers"});
    if (!cs || !cs->IsArray() || cs->Empty())
      out.push_back({"FieldValueRequired", "Required value", "spec.template.spec.containers"});
    else
      for (rapidjson::SizeType i = 0; i < cs->Size(); ++i) {
        if (core::string_or((*cs)[i], "name", "").empty())
          out.push_back({"FieldValueRequired", "Required value", fmt::format("spec.template.spec.containers[{}].name", i)});
        if (core::string_or((*cs)[i], "image", "").empty())
          out.push_back({"FieldValueRequired", "Required value", fmt::format("spec.template.spec.containers[{}].image", i)});
      }
    if (auto r = core::get_int(*spec, "replicas"); r && *r < 0)
      out.push_back({"FieldValueInvalid",
                     fmt::format("Invalid value: {}: must be greater than or equal to 0", *r), "spec.replicas"});
  }
  return out;
}

}  // namespace ifo::kubesim
