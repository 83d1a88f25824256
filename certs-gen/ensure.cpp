// ensure: Secret first (create-if-absent, CA rotation), then caBundles, then the serving certificate.
#include "certs-gen/ensure.h"

#include <fmt/format.h>
#include <stdexcept>

#include "core/base64.h"
#include "core/constants.h"
#include "kube/errors.h"
#include "kube/resource.h"

namespace ifo::certsgen {
namespace {

namespace c = ifo::core;

std::string b64_encode(std::string_view in) { return c::base64_encode(in); }

// A value that is not base64 counts as absent: the material is then regenerated.
std::string b64_decode(std::string_view in) {
  auto r = c::base64_decode(in);
  return r ? *r : std::string();
}

std::string secret_data(const c::JsonValue& secret, std::string_view key) {
  const c::JsonValue* data = c::member(secret, "data");
  if (!data) return {};
  auto v = c::get_string(*data, key);
  return v ? b64_decode(*v) : std::string();
}

const kube::WriteOptions kWrite = kube::as_manager(c::kCertsGenFieldManager);

// PUT with the resourceVersion read: false when someone else wrote the object meanwhile (409).
bool update(kube::Api& api, const kube::Resource& r, const std::string& ns, const c::JsonValue& object) {
  try {
    api.update(r, ns, object, kWrite);
    return true;
  } catch (const kube::ApiError& e) {
    if (e.is_conflict()) return false;
    throw;
  }
}

c::JsonDoc new_secret(const EnsureOptions& o) {
  c::JsonDoc doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  c::set_string(doc, "apiVersion", "v1", a);
  c::set_string(doc, "kind", "Secret", a);
  auto& md = c::ensure_object(doc, "metadata", a);
  c::set_string(md, "name", o.secret_name, a);
  c::set_string(md, "namespace", o.secret_namespace, a);
  auto& labels = c::ensure_object(md, "labels", a);
  c::set_string(labels, c::kManagedByLabel, c::kCertsGenFieldManager, a);
  return doc;
}

void patch_bundles(kube::Api& api, const EnsureOptions& o, const kube::Resource& r,
                   const std::vector<std::string>& names, const std::string& bundle, EnsureReport& report) {
  const std::string_view kind = r.kind;
  for (const auto& name : names) {
    bool done = false;
    for (int attempt = 0; attempt < o.max_attempts && !done; ++attempt) {
      auto doc = kube::get_or_null(api, r, "", name);
      if (!doc) throw std::runtime_error(fmt::format("{} {}: not found (create it before running ensure)", kind, name));
      if (!set_ca_bundles(*doc, bundle)) {
        report.log.push_back(fmt::format("{} {}: caBundle already current", kind, name));
        done = true;
        break;
      }
      if (update(api, r, "", *doc)) {
        report.log.push_back(fmt::format("{} {}: caBundle updated", kind, name));
        done = true;
      } else {
        report.log.push_back(fmt::format("{} {}: conflict, retrying", kind, name));
      }
    }
    if (!done) throw std::runtime_error(fmt::format("{} {}: still conflicting after {} attempts", kind, name, o.max_attempts));
  }
}

}  // namespace

Material material_from_secret(const c::JsonValue& secret) {
  return Material{secret_data(secret, c::kCaCertKey), secret_data(secret, c::kCaPrivateKeyKey),
                  secret_data(secret, c::kTlsCertKey), secret_data(secret, c::kTlsPrivateKeyKey)};
}

void put_material(c::JsonDoc& secret, const Material& m) {
  auto& a = secret.GetAllocator();
  c::set_string(secret, "type", c::kSecretTypeTls, a);
  c::JsonValue data(rapidjson::kObjectType);
  c::set_string(data, c::kTlsCertKey, b64_encode(m.cert), a);
  c::set_string(data, c::kTlsPrivateKeyKey, b64_encode(m.key), a);
  c::set_string(data, c::kCaCertKey, b64_encode(m.ca_bundle), a);
  c::set_string(data, c::kCaPrivateKeyKey, b64_encode(m.ca_key), a);
  c::set_member(secret, "data", std::move(data), a);
  c::remove_member(secret, "stringData");
}

bool set_ca_bundles(c::JsonDoc& config, const std::string& bundle_pem) {
  const std::string encoded = b64_encode(bundle_pem);
  auto& a = config.GetAllocator();
  c::JsonValue* hooks = c::member(config, "webhooks");
  if (!hooks || !hooks->IsArray()) return false;
  bool changed = false;
  for (auto& hook : hooks->GetArray()) {
    if (!hook.IsObject()) continue;
    auto& client = c::ensure_object(hook, "clientConfig", a);
    if (c::get_string(client, "caBundle") == encoded) continue;
    c::set_string(client, "caBundle", encoded, a);
    changed = true;
  }
  return changed;
}

EnsureReport ensure(kube::Api& api, const EnsureOptions& o, const std::function<TimePoint()>& now) {
  if (auto problem = check_policy(o.policy); !problem.empty()) throw std::runtime_error(problem);
  EnsureReport report;
  const std::string where = fmt::format("Secret {}/{}", o.secret_namespace, o.secret_name);
  bool bundles_patched_for_current_ca = false;
  std::string patched_bundle;
  for (int attempt = 0; attempt < o.max_attempts; ++attempt) {
    auto secret = kube::get_or_null(api, kube::kSecrets, o.secret_namespace, o.secret_name);
    if (!secret) {
      auto m = create_material(o.policy, now());
      if (!m) throw std::runtime_error(where + ": " + m.error());
      auto doc = new_secret(o);
      put_material(doc, *m);
      try {
        api.create(kube::kSecrets, o.secret_namespace, doc, kWrite);
      } catch (const kube::ApiError& e) {
        if (!e.is_already_exists()) throw;
        report.log.push_back(where + ": created by someone else meanwhile, re-reading");
        continue;
      }
      report.log.push_back(where + ": created with a new CA and serving certificate");
      continue;  // re-read: the bundles are patched from what the Secret holds
    }
    Material m = material_from_secret(*secret);
    const TimePoint t = now();
    auto ca = decide_ca(m, o.policy, t);
    if (ca.action != CaAction::kKeep) {
      auto next = ca.action == CaAction::kCreate ? create_material(o.policy, t) : rotate_ca(m, o.policy, t);
      if (!next) throw std::runtime_error(where + ": " + next.error());
      put_material(*secret, *next);
      const bool written = update(api, kube::kSecrets, o.secret_namespace, *secret);
      report.log.push_back(fmt::format("{}: {} ({}){}", where,
                                       ca.action == CaAction::kCreate ? "replaced the CA" : "rotated the CA",
                                       ca.reason, written ? "" : ": conflict, retrying"));
      continue;
    }
    // The caBundles must trust the signing CA before a serving certificate from it is put in place.
    if (!bundles_patched_for_current_ca || patched_bundle != m.ca_bundle) {
      patch_bundles(api, o, kube::kValidatingWebhookConfigurations, o.validating_configs, m.ca_bundle, report);
      patch_bundles(api, o, kube::kMutatingWebhookConfigurations, o.mutating_configs, m.ca_bundle, report);
      bundles_patched_for_current_ca = true;
      patched_bundle = m.ca_bundle;
    }
    auto serving = decide_serving(m, o.policy, t);
    if (serving.action == ServingAction::kKeep) {
      report.log.push_back(where + ": reused (" + serving.reason + ")");
      report.material = m;
      return report;
    }
    auto next = reissue_serving(m, o.policy, t);
    if (!next) throw std::runtime_error(where + ": " + next.error());
    put_material(*secret, *next);
    const bool written = update(api, kube::kSecrets, o.secret_namespace, *secret);
    report.log.push_back(fmt::format("{}: issued a new serving certificate ({}){}", where, serving.reason,
                                     written ? "" : ": conflict, retrying"));
    // Loop once more: re-reading confirms the write, and a pruned bundle is propagated.
  }
  throw std::runtime_error(fmt::format("{}: no stable state after {} attempts", where, o.max_attempts));
}

}  // namespace ifo::certsgen
