// ensure: the CA Secret first (create-if-absent, CA rotation, the move out of an old serving Secret), then
// the caBundles, then the serving Secret.
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

c::JsonDoc new_secret(const std::string& ns, const std::string& name) {
  c::JsonDoc doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  c::set_string(doc, "apiVersion", "v1", a);
  c::set_string(doc, "kind", "Secret", a);
  auto& md = c::ensure_object(doc, "metadata", a);
  c::set_string(md, "name", name, a);
  c::set_string(md, "namespace", ns, a);
  auto& labels = c::ensure_object(md, "labels", a);
  c::set_string(labels, c::kManagedByLabel, c::kCertsGenFieldManager, a);
  return doc;
}

// Writes one of the two Secrets: created when `current` is null (false when someone else created it
// meanwhile), else updated with the resourceVersion read (false on a conflict). The caller re-reads.
bool write_secret(kube::Api& api, const std::string& ns, const std::string& name, kube::ObjectPtr current,
                  void (*put)(c::JsonDoc&, const Material&), const Material& m) {
  if (!current) {
    auto doc = new_secret(ns, name);
    put(doc, m);
    try {
      api.create(kube::kSecrets, ns, doc, kWrite);
      return true;
    } catch (const kube::ApiError& e) {
      if (!e.is_already_exists()) throw;
      return false;
    }
  }
  put(*current, m);
  return update(api, kube::kSecrets, ns, *current);
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

void put_serving(c::JsonDoc& secret, const Material& m) {
  auto& a = secret.GetAllocator();
  c::set_string(secret, "type", c::kSecretTypeTls, a);
  c::JsonValue data(rapidjson::kObjectType);
  c::set_string(data, c::kTlsCertKey, b64_encode(m.cert), a);
  c::set_string(data, c::kTlsPrivateKeyKey, b64_encode(m.key), a);
  // The bundle is public; kept here for clients that verify the webhook from this Secret alone.
  c::set_string(data, c::kCaCertKey, b64_encode(m.ca_bundle), a);
  c::set_member(secret, "data", std::move(data), a);
  c::remove_member(secret, "stringData");
}

void put_ca(c::JsonDoc& secret, const Material& m) {
  auto& a = secret.GetAllocator();
  c::set_string(secret, "type", c::kSecretTypeOpaque, a);
  c::JsonValue data(rapidjson::kObjectType);
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
  if (o.ca_secret_name.empty() || o.ca_secret_name == o.secret_name)
    throw std::runtime_error("the CA Secret needs a name of its own (the webhook must not read the CA key)");
  EnsureReport report;
  const std::string& ns = o.secret_namespace;
  const std::string serving_where = fmt::format("Secret {}/{}", ns, o.secret_name);
  const std::string ca_where = fmt::format("Secret {}/{}", ns, o.ca_secret_name);
  std::string patched_bundle;  // the bundle every caBundle was last checked against
  auto retrying = [](bool written) { return written ? "" : ": written by someone else meanwhile, retrying"; };
  for (int attempt = 0; attempt < o.max_attempts; ++attempt) {
    auto ca_secret = kube::get_or_null(api, kube::kSecrets, ns, o.ca_secret_name);
    auto serving_secret = kube::get_or_null(api, kube::kSecrets, ns, o.secret_name);
    Material m;
    if (ca_secret) {
      const Material held = material_from_secret(*ca_secret);
      m.ca_bundle = held.ca_bundle;
      m.ca_key = held.ca_key;
    }
    Material in_serving;
    if (serving_secret) {
      in_serving = material_from_secret(*serving_secret);
      m.cert = in_serving.cert;
      m.key = in_serving.key;
    }
    const TimePoint t = now();
    auto ca = decide_ca(m, o.policy, t);

    // An install from before the split kept ca.key in the serving Secret. Moving that CA, which every
    // caBundle already trusts, keeps the webhook's certificate valid; minting a new one would not.
    if (ca.action == CaAction::kCreate && !in_serving.ca_key.empty()) {
      Material legacy{in_serving.ca_bundle, in_serving.ca_key, {}, {}};
      if (decide_ca(legacy, o.policy, t).action != CaAction::kCreate) {
        const bool written = write_secret(api, ns, o.ca_secret_name, ca_secret, put_ca, legacy);
        report.log.push_back(fmt::format("{}: the CA moved here from {} (an install from before the split){}",
                                         ca_where, serving_where, retrying(written)));
        continue;
      }
    }
    if (ca.action != CaAction::kKeep) {
      auto next = ca.action == CaAction::kCreate ? create_ca(o.policy, t) : rotate_ca(m, o.policy, t);
      if (!next) throw std::runtime_error(ca_where + ": " + next.error());
      const bool written = write_secret(api, ns, o.ca_secret_name, ca_secret, put_ca, *next);
      report.log.push_back(fmt::format("{}: {} ({}){}", ca_where,
                                       ca.action == CaAction::kCreate ? "new CA" : "rotated the CA", ca.reason,
                                       retrying(written)));
      continue;
    }
    // Expired CAs leave the bundle in the CA Secret first, so the serving Secret's ca.crt and every
    // caBundle follow one stored value.
    if (const std::string live = live_bundle(m, t); live != m.ca_bundle) {
      Material pruned = m;
      pruned.ca_bundle = live;
      const bool written = write_secret(api, ns, o.ca_secret_name, ca_secret, put_ca, pruned);
      report.log.push_back(fmt::format("{}: dropped expired CAs from ca.crt{}", ca_where, retrying(written)));
      continue;
    }
    // The caBundles must trust the signing CA before a serving certificate from it is put in place.
    if (patched_bundle != m.ca_bundle) {
      const std::string& bundle = m.ca_bundle;
      patch_bundles(api, o, kube::kValidatingWebhookConfigurations, o.validating_configs, bundle, report);
      patch_bundles(api, o, kube::kMutatingWebhookConfigurations, o.mutating_configs, bundle, report);
      patched_bundle = m.ca_bundle;
    }
    auto serving = decide_serving(m, o.policy, t);
    std::string why;
    Material next = m;
    if (serving.action == ServingAction::kIssue) {
      auto issued = reissue_serving(m, o.policy, t);
      if (!issued) throw std::runtime_error(serving_where + ": " + issued.error());
      next = *issued;
      why = "issued a new serving certificate (" + serving.reason + ")";
    } else if (!in_serving.ca_key.empty()) {
      why = "removed ca.key (the CA key is kept in " + ca_where + " only)";
    } else if (in_serving.ca_bundle != m.ca_bundle) {
      why = "ca.crt brought in line with " + ca_where;
    } else {
      report.log.push_back(serving_where + ": reused (" + serving.reason + ")");
      report.material = m;
      return report;
    }
    const bool written = write_secret(api, ns, o.secret_name, serving_secret, put_serving, next);
    report.log.push_back(fmt::format("{}: {}{}", serving_where, why, retrying(written)));
    // Loop once more: re-reading confirms the write.
  }
  throw std::runtime_error(fmt::format("{}: no stable state after {} attempts", serving_where, o.max_attempts));
}

}  // namespace ifo::certsgen
