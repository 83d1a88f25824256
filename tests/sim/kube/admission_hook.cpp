// Reads the webhook configurations and namespace labels from the Store and applies the dispatcher's verdict.
#include "sim/kube/admission_hook.h"

namespace ifo::kubesim {

namespace {
constexpr const char* kGroup = "admissionregistration.k8s.io";
}

StatusError to_status_error(const SimStatus& s) {
  StatusError e(s.code, s.reason, s.message);
  e.details_name = s.details_name;
  e.details_group = s.details_group;
  e.details_kind = s.details_kind;
  for (const auto& m : s.cause_messages) e.causes.push_back(StatusCause{"", m, ""});
  return e;
}

WebhookAdmissionHook::WebhookAdmissionHook(Store& store, AdmissionOptions options)
    : store_(store), dispatcher_(std::move(options)) {}

std::vector<ObjectPtr> WebhookAdmissionHook::configurations(const char* resource) const {
  if (!store_.find_type(kGroup, resource)) return {};
  return store_.list(kGroup, resource, "").items;
}

NamespaceLabelsFn WebhookAdmissionHook::namespace_labels() const {
  return [this](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
    ObjectPtr obj = store_.get("", "namespaces", "", ns);
    if (!obj) return std::nullopt;
    std::map<std::string, std::string> labels;
    if (const core::JsonValue* l = core::at_path(obj->value(), {"metadata", "labels"}); l && l->IsObject()) {
      for (const auto& m : l->GetObject()) {
        if (m.value.IsString()) labels.emplace(m.name.GetString(), m.value.GetString());
      }
    }
    return labels;
  };
}

void WebhookAdmissionHook::mutate(AdmissionAttributes& attrs) {
  auto items = configurations("mutatingwebhookconfigurations");
  if (items.empty()) return;
  std::vector<const core::JsonValue*> configs;
  for (const auto& o : items) configs.push_back(&o->value());
  AdmissionResult r = dispatcher_.mutate(configs, attrs, namespace_labels());
  attrs.warnings.insert(attrs.warnings.end(), r.warnings.begin(), r.warnings.end());
  if (r.rejection) throw to_status_error(*r.rejection);
}

void WebhookAdmissionHook::validate(const AdmissionAttributes& attrs) {
  auto items = configurations("validatingwebhookconfigurations");
  if (items.empty()) return;
  std::vector<const core::JsonValue*> configs;
  for (const auto& o : items) configs.push_back(&o->value());
  AdmissionResult r = dispatcher_.validate(configs, attrs, namespace_labels());
  attrs.warnings.insert(attrs.warnings.end(), r.warnings.begin(), r.warnings.end());
  if (r.rejection) throw to_status_error(*r.rejection);
}

}  // namespace ifo::kubesim
