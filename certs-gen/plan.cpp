// Reuse / renew / rotate decisions over parsed certificates.
#include "certs-gen/plan.h"

#include <algorithm>
#include <fmt/format.h>
#include <set>

namespace ifo::certsgen {
namespace {

// The bundle's certificate whose key is `ca_key` (the signing CA), if any.
const CertInfo* signing_ca(const std::vector<CertInfo>& bundle, const std::string& ca_key) {
  for (const auto& c : bundle)
    if (c.is_ca && key_matches(c.pem, ca_key)) return &c;
  return nullptr;
}

std::string fmt_time(TimePoint t) {
  const time_t tt = static_cast<time_t>(t.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::set<std::string> desired_names(const Policy& p) {
  std::set<std::string> out(p.dns_names.begin(), p.dns_names.end());
  for (const auto& ip : p.ip_addresses) out.insert("IP:" + canonical_ip(ip));
  return out;
}

std::set<std::string> cert_names(const CertInfo& c) {
  std::set<std::string> out(c.dns_names.begin(), c.dns_names.end());
  for (const auto& ip : c.ip_addresses) out.insert("IP:" + canonical_ip(ip));
  return out;
}

}  // namespace

std::string check_policy(const Policy& p) {
  using std::chrono::seconds;
  if (p.dns_names.empty() && p.ip_addresses.empty()) return "no DNS name or IP address for the serving certificate";
  for (const auto& ip : p.ip_addresses)
    if (canonical_ip(ip).empty()) return fmt::format("not an IP address: {}", ip);
  if (p.ca_validity <= seconds(0) || p.serving_validity <= seconds(0)) return "validity must be positive";
  if (p.ca_renew_before >= p.ca_validity) return "the CA renew-before must be shorter than the CA validity";
  if (p.serving_renew_before >= p.serving_validity)
    return "the serving renew-before must be shorter than the serving validity";
  if (p.ca_renew_before <= p.serving_renew_before)
    return "the CA renew-before must be longer than the serving renew-before (a serving certificate never outlives its CA)";
  if (p.clock_skew < seconds(0)) return "the clock-skew margin must not be negative";
  return {};
}

CaDecision decide_ca(const Material& m, const Policy& policy, TimePoint now) {
  if (m.ca_bundle.empty() || m.ca_key.empty()) return {CaAction::kCreate, "no CA stored"};
  auto bundle = parse_certificates(m.ca_bundle);
  if (!bundle) return {CaAction::kCreate, "the stored CA bundle is unreadable: " + bundle.error()};
  if (!check_private_key(m.ca_key)) return {CaAction::kCreate, "the stored CA key is unreadable"};
  const CertInfo* ca = signing_ca(*bundle, m.ca_key);
  if (!ca) return {CaAction::kCreate, "no CA in the bundle matches the stored CA key"};
  if (ca->not_after <= now) return {CaAction::kCreate, "the CA expired at " + fmt_time(ca->not_after)};
  if (ca->not_after - now <= policy.ca_renew_before)
    return {CaAction::kRotate, "the CA expires at " + fmt_time(ca->not_after) + ", inside the renew-before window"};
  return {CaAction::kKeep, "the CA is valid until " + fmt_time(ca->not_after)};
}

ServingDecision decide_serving(const Material& m, const Policy& policy, TimePoint now) {
  if (m.cert.empty() || m.key.empty()) return {ServingAction::kIssue, "no serving certificate stored"};
  auto certs = parse_certificates(m.cert);
  if (!certs) return {ServingAction::kIssue, "the serving certificate is unreadable"};
  const CertInfo& leaf = certs->front();
  if (!key_matches(m.cert, m.key)) return {ServingAction::kIssue, "the serving key does not match the certificate"};
  auto bundle = parse_certificates(m.ca_bundle);
  const CertInfo* ca = bundle ? signing_ca(*bundle, m.ca_key) : nullptr;
  if (!ca) return {ServingAction::kIssue, "no signing CA"};
  if (!issued_by(m.cert, ca->pem)) return {ServingAction::kIssue, "the serving certificate is not issued by the signing CA"};
  if (cert_names(leaf) != desired_names(policy))
    return {ServingAction::kIssue, "the serving certificate's names differ from the requested ones"};
  if (leaf.not_before > now + policy.clock_skew)
    return {ServingAction::kIssue, "the serving certificate is not valid before " + fmt_time(leaf.not_before)};
  if (leaf.not_after - now <= policy.serving_renew_before)
    return {ServingAction::kIssue,
            "the serving certificate expires at " + fmt_time(leaf.not_after) + ", inside the renew-before window"};
  return {ServingAction::kKeep, "the serving certificate is valid until " + fmt_time(leaf.not_after)};
}

core::Result<Material> create_material(const Policy& policy, TimePoint now) {
  auto ca = generate_ca(policy.ca_common_name, now - policy.clock_skew, policy.ca_validity);
  if (!ca) return core::Result<Material>::fail(ca.error());
  Material m{ca->cert_pem, ca->key_pem, {}, {}};
  return reissue_serving(m, policy, now);
}

core::Result<Material> create_ca(const Policy& policy, TimePoint now) {
  auto ca = generate_ca(policy.ca_common_name, now - policy.clock_skew, policy.ca_validity);
  if (!ca) return core::Result<Material>::fail(ca.error());
  // Through prune_bundle so the stored bundle has the same normal form as after a rotation.
  return Material{prune_bundle(ca->cert_pem, ca->cert_pem, now), ca->key_pem, {}, {}};
}

core::Result<Material> rotate_ca(const Material& m, const Policy& policy, TimePoint now) {
  auto ca = generate_ca(policy.ca_common_name, now - policy.clock_skew, policy.ca_validity);
  if (!ca) return core::Result<Material>::fail(ca.error());
  Material out = m;
  out.ca_key = ca->key_pem;
  out.ca_bundle = prune_bundle(ca->cert_pem + m.ca_bundle, ca->cert_pem, now);
  return out;
}

core::Result<Material> reissue_serving(const Material& m, const Policy& policy, TimePoint now) {
  using R = core::Result<Material>;
  auto bundle = parse_certificates(m.ca_bundle);
  if (!bundle) return R::fail("CA bundle: " + bundle.error());
  const CertInfo* ca = signing_ca(*bundle, m.ca_key);
  if (!ca) return R::fail("no CA in the bundle matches the CA key");
  ServingRequest req;
  req.dns_names = policy.dns_names;
  req.ip_addresses = policy.ip_addresses;
  req.not_before = now - policy.clock_skew;
  // Never outlive the signing CA: a client would reject the chain before the leaf expires.
  req.validity = std::min<std::chrono::seconds>(policy.serving_validity + policy.clock_skew,
                                                ca->not_after - req.not_before);
  auto leaf = issue_serving(KeyCert{ca->pem, m.ca_key}, req);
  if (!leaf) return R::fail(leaf.error());
  Material out = m;
  out.cert = leaf->cert_pem;
  out.key = leaf->key_pem;
  out.ca_bundle = prune_bundle(m.ca_bundle, ca->pem, now);
  return out;
}

std::string prune_bundle(const std::string& bundle, const std::string& signing_ca_pem, TimePoint now) {
  auto certs = parse_certificates(bundle);
  if (!certs) return signing_ca_pem;
  std::string signing_norm;
  if (auto s = parse_certificates(signing_ca_pem)) signing_norm = s->front().pem;
  std::string out = signing_norm;
  std::set<std::string> seen{signing_norm};
  for (const auto& c : *certs) {
    if (c.not_after <= now || seen.count(c.pem)) continue;
    seen.insert(c.pem);
    out += c.pem;
  }
  return out;
}

std::string live_bundle(const Material& m, TimePoint now) {
  auto bundle = parse_certificates(m.ca_bundle);
  const CertInfo* ca = bundle ? signing_ca(*bundle, m.ca_key) : nullptr;
  return ca ? prune_bundle(m.ca_bundle, ca->pem, now) : m.ca_bundle;
}

}  // namespace ifo::certsgen
