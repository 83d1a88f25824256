// Service-account JWTs (TokenRequest/TokenReview), static token files and the SubjectAccessReview table.
#include "sim/kube/auth.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <sstream>

#include "core/jwt.h"
#include "sim/kube/sim_util.h"

namespace ifo::kubesim {

namespace {

using core::JsonDoc;
using core::JsonValue;

constexpr int64_t kDefaultExpirationSeconds = 3600;
constexpr int64_t kMinExpirationSeconds = 600;
constexpr int64_t kMaxExpirationSeconds = int64_t{1} << 32;
constexpr int64_t kLeewaySeconds = 60;  // go-jose jwt.DefaultLeeway
constexpr const char* kServiceAccountPrefix = "system:serviceaccount:";
constexpr std::string_view kMastersGroup = "system:masters";
constexpr std::string_view kAuthenticatedGroup = "system:authenticated";
// The nonResourceURLs of the bootstrap ClusterRoles system:public-info-viewer and system:discovery.
constexpr std::array<std::string_view, 5> kPublicInfoPaths = {"/healthz", "/livez", "/readyz", "/version", "/version/"};
constexpr std::array<std::string_view, 6> kDiscoveryPaths = {"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"};

// kid as kube-apiserver computes it: base64url(SHA-256(DER SubjectPublicKeyInfo)).
std::string key_id(const std::string& public_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())),
                                                BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  if (!key) return "";
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return "";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(len), digest);
  OPENSSL_free(der);
  return core::base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::vector<std::string> string_array(const JsonValue* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->IsArray()) return out;
  for (const auto& s : v->GetArray()) {
    if (s.IsString()) out.emplace_back(s.GetString(), s.GetStringLength());
  }
  return out;
}

// Go's %q of a []string: ["a" "b"].
std::string go_quote_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += " ";
    out += "\"" + v[i] + "\"";
  }
  return out + "]";
}

JsonValue string_list_value(const std::vector<std::string>& v, core::JsonAlloc& a) {
  JsonValue arr(rapidjson::kArrayType);
  for (const auto& s : v) arr.PushBack(core::json_string(s, a), a);
  return arr;
}

// RBAC's reason for a request one of the bootstrap ClusterRoleBindings allows.
std::string bootstrap_reason(std::string_view role) {
  return fmt::format("RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to Group \"system:authenticated\"",
                     role, role);
}

std::string to_text(const JsonValue& v) { return core::to_json(v); }

// "SubjectAccessReview" -> "subjectaccessreview" (a kind's resource name, less the plural s).
std::string lower_ascii(const std::string& kind) {
  std::string out = kind;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool field_matches(const std::string& pattern, const std::string& value) { return pattern == "*" || pattern == value; }

// The lines of a rules or token file without their '\n' (line i+1 at index i; a final newline yields
// one last empty line).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    lines.push_back(text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    pos = end == std::string_view::npos ? text.size() + 1 : end + 1;
  }
  return lines;
}

std::vector<std::string> split_ws(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

}  // namespace

core::Result<std::vector<AccessRule>> parse_access_rules(std::string_view text) {
  using R = core::Result<std::vector<AccessRule>>;
  std::vector<AccessRule> rules;
  const std::vector<std::string_view> lines = lines_of(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    std::string_view line = lines[i];
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto f = split_ws(line);
    if (f.empty()) continue;
    if (f.size() != 6) {
      return R::fail(fmt::format("access rules line {}: expected 6 fields (allow|deny SUBJECT VERB RESOURCE NAMESPACE NAME), got {}",
                                 line_no, f.size()));
    }
    AccessRule r;
    if (f[0] == "allow") r.allow = true;
    else if (f[0] == "deny") r.allow = false;
    else return R::fail(fmt::format("access rules line {}: \"{}\" is neither allow nor deny", line_no, f[0]));
    if (f[1] != "*" && f[1].rfind("user:", 0) != 0 && f[1].rfind("group:", 0) != 0) {
      return R::fail(fmt::format("access rules line {}: subject \"{}\" must be *, user:NAME or group:NAME", line_no, f[1]));
    }
    r.subject = f[1];
    r.verb = f[2];
    r.resource = f[3];
    r.ns = f[4];
    r.name = f[5];
    r.line = line_no;
    rules.push_back(std::move(r));
  }
  return rules;
}

core::Result<std::vector<StaticToken>> parse_token_file(std::string_view text) {
  using R = core::Result<std::vector<StaticToken>>;
  std::vector<StaticToken> out;
  const std::vector<std::string_view> lines = lines_of(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    std::string_view line = lines[i];
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    // CSV with one optional quoted last field.
    std::vector<std::string> fields;
    std::string cur;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) fields.push_back(std::exchange(cur, {}));
      else cur += c;
    }
    fields.push_back(cur);
    if (quoted) return R::fail(fmt::format("token file line {}: unterminated quote", line_no));
    if (fields.size() < 2 || fields[0].empty() || fields[1].empty()) {
      return R::fail(fmt::format("token file line {}: expected token,user[,uid[,\"group1,group2\"]]", line_no));
    }
    StaticToken t;
    t.token = fields[0];
    t.user.username = fields[1];
    if (fields.size() > 2) t.user.uid = fields[2];
    if (fields.size() > 3) {
      std::string g;
      std::istringstream in(fields[3]);
      while (std::getline(in, g, ',')) {
        if (!g.empty()) t.user.groups.push_back(g);
      }
    }
    if (fields.size() > 4) return R::fail(fmt::format("token file line {}: too many fields", line_no));
    out.push_back(std::move(t));
  }
  return out;
}

AccessDecision decide_access(const std::vector<AccessRule>& rules, const RequestAttributes& attrs) {
  if (rules.empty()) return AccessDecision{true, false, "kube-sim allows every request (no access rule table given)"};
  std::string qualified = attrs.path;
  if (attrs.resource_request) {
    qualified = attrs.api_group.empty() ? attrs.resource : attrs.resource + "." + attrs.api_group;
    if (!attrs.subresource.empty()) qualified += "/" + attrs.subresource;
  }
  const std::vector<std::string>& groups = attrs.user.groups;
  for (const auto& r : rules) {
    bool subject_ok = r.subject == "*";
    if (!subject_ok && r.subject.rfind("user:", 0) == 0) subject_ok = r.subject.substr(5) == attrs.user.username;
    if (!subject_ok && r.subject.rfind("group:", 0) == 0) {
      subject_ok = std::find(groups.begin(), groups.end(), r.subject.substr(6)) != groups.end();
    }
    if (!subject_ok || !field_matches(r.verb, attrs.verb) || !field_matches(r.resource, qualified) ||
        !field_matches(r.ns, attrs.ns) || !field_matches(r.name, attrs.name)) {
      continue;
    }
    return AccessDecision{r.allow, !r.allow,
                          fmt::format("kube-sim access rule on line {} {} it", r.line, r.allow ? "allows" : "denies")};
  }
  return AccessDecision{false, false, ""};
}

AccessDecision authorize(const std::vector<AccessRule>& rules, const RequestAttributes& attrs) {
  const auto& groups = attrs.user.groups;
  auto in_group = [&](std::string_view g) { return std::find(groups.begin(), groups.end(), g) != groups.end(); };
  // The privileged-group authorizer kube-apiserver puts before every other one.
  if (in_group(kMastersGroup)) return AccessDecision{true, false, ""};
  if (!attrs.resource_request && attrs.verb == "get") {
    // RBAC nonResourceURLs: exact, or a prefix ending in '*'.
    auto matches = [&](const auto& urls) {
      for (std::string_view u : urls) {
        if (u.back() == '*' ? attrs.path.rfind(u.substr(0, u.size() - 1), 0) == 0 : attrs.path == u) return true;
      }
      return false;
    };
    if (matches(kPublicInfoPaths)) return AccessDecision{true, false, bootstrap_reason("system:public-info-viewer")};
    if (in_group(kAuthenticatedGroup) && matches(kDiscoveryPaths))
      return AccessDecision{true, false, bootstrap_reason("system:discovery")};
  }
  if (attrs.resource_request && attrs.verb == "create" && attrs.subresource.empty() && in_group(kAuthenticatedGroup) &&
      ((attrs.api_group == "authorization.k8s.io" &&
        (attrs.resource == "selfsubjectaccessreviews" || attrs.resource == "selfsubjectrulesreviews")) ||
       (attrs.api_group == "authentication.k8s.io" && attrs.resource == "selfsubjectreviews"))) {
    return AccessDecision{true, false, bootstrap_reason("system:basic-user")};
  }
  return decide_access(rules, attrs);
}

ServiceAccountAuth::ServiceAccountAuth(Store& store, AuthOptions options)
    : store_(store), options_(std::move(options)), rbac_(store) {
  if (options_.api_audiences.empty()) options_.api_audiences.push_back(options_.issuer);
  core::RsaKeyPair keys = core::generate_rsa_keypair();
  private_pem_ = std::move(keys.private_pem);
  public_pem_ = std::move(keys.public_pem);
  kid_ = key_id(public_pem_);
}

std::chrono::system_clock::time_point ServiceAccountAuth::now() const {
  return options_.clock ? options_.clock() : std::chrono::system_clock::now();
}

JsonDoc ServiceAccountAuth::token_request(const CreateCall& call) {
  ObjectPtr sa = store_.get("", "serviceaccounts", call.ns, call.name);
  ResourceType sa_type;
  sa_type.version = "v1";
  sa_type.resource = "serviceaccounts";
  sa_type.kind = "ServiceAccount";
  if (!sa) throw not_found(sa_type, call.name);
  std::string sa_uid;
  if (const JsonValue* md = core::member(sa->value(), "metadata")) sa_uid = core::string_or(*md, "uid", "");

  const JsonValue* spec = call.body ? core::member(*call.body, "spec") : nullptr;
  int64_t expiration = kDefaultExpirationSeconds;
  std::vector<std::string> audiences;
  const JsonValue* bound = nullptr;
  if (spec != nullptr && spec->IsObject()) {
    if (const JsonValue* e = core::member(*spec, "expirationSeconds"); e && !e->IsNull()) {
      if (!e->IsInt64()) throw bad_request("spec.expirationSeconds must be an integer");
      expiration = e->GetInt64();
    }
    audiences = string_array(core::member(*spec, "audiences"));
    bound = core::member(*spec, "boundObjectRef");
    if (bound && !bound->IsObject()) bound = nullptr;
  }
  ResourceType tr_type;
  tr_type.group = "authentication.k8s.io";
  tr_type.version = "v1";
  tr_type.resource = "tokenrequests";
  tr_type.kind = "TokenRequest";
  if (expiration < kMinExpirationSeconds) {
    throw invalid(tr_type, call.name,
                  {StatusCause{"FieldValueInvalid",
                               fmt::format("Invalid value: {}: may not specify a duration less than 10 minutes", expiration),
                               "spec.expirationSeconds"}});
  }
  if (expiration > kMaxExpirationSeconds) {
    throw invalid(tr_type, call.name,
                  {StatusCause{"FieldValueInvalid",
                               fmt::format("Invalid value: {}: may not specify a duration larger than 2^32 seconds", expiration),
                               "spec.expirationSeconds"}});
  }
  if (audiences.empty()) audiences = options_.api_audiences;

  auto issued_at = now();
  int64_t iat = std::chrono::duration_cast<std::chrono::seconds>(issued_at.time_since_epoch()).count();
  int64_t exp = iat + expiration;
  std::string jti = sim_random_uuid();

  JsonDoc claims(rapidjson::kObjectType);
  auto& a = claims.GetAllocator();
  claims.AddMember("aud", string_list_value(audiences, a), a);
  claims.AddMember("exp", JsonValue(exp), a);
  claims.AddMember("iat", JsonValue(iat), a);
  core::set_string(claims, "iss", options_.issuer, a);
  core::set_string(claims, "jti", jti, a);
  JsonValue k8s(rapidjson::kObjectType);
  core::set_string(k8s, "namespace", call.ns, a);
  if (bound) {
    std::string bound_kind = core::string_or(*bound, "kind", "");
    JsonValue ref(rapidjson::kObjectType);
    core::set_string(ref, "name", core::string_or(*bound, "name", ""), a);
    core::set_string(ref, "uid", core::string_or(*bound, "uid", ""), a);
    std::string key = bound_kind == "Secret" ? "secret" : bound_kind == "Node" ? "node" : "pod";
    core::set_member(k8s, key, std::move(ref), a);
  }
  JsonValue sa_claim(rapidjson::kObjectType);
  core::set_string(sa_claim, "name", call.name, a);
  core::set_string(sa_claim, "uid", sa_uid, a);
  k8s.AddMember("serviceaccount", std::move(sa_claim), a);
  claims.AddMember("kubernetes.io", std::move(k8s), a);
  claims.AddMember("nbf", JsonValue(iat), a);
  core::set_string(claims, "sub", fmt::format("{}{}:{}", kServiceAccountPrefix, call.ns, call.name), a);

  auto token = core::jwt_sign_rs256(to_text(claims), private_pem_, kid_);
  if (!token.ok()) throw internal_error("failed to sign the service account token: " + token.error());
  issued_.fetch_add(1);

  JsonDoc out(rapidjson::kObjectType);
  auto& oa = out.GetAllocator();
  core::set_string(out, "kind", "TokenRequest", oa);
  core::set_string(out, "apiVersion", "authentication.k8s.io/v1", oa);
  JsonValue md(rapidjson::kObjectType);
  core::set_string(md, "name", call.name, oa);
  core::set_string(md, "namespace", call.ns, oa);
  core::set_string(md, "creationTimestamp", sim_rfc3339(issued_at), oa);
  out.AddMember("metadata", std::move(md), oa);
  JsonValue out_spec(rapidjson::kObjectType);
  out_spec.AddMember("audiences", string_list_value(audiences, oa), oa);
  out_spec.AddMember("expirationSeconds", JsonValue(expiration), oa);
  out_spec.AddMember("boundObjectRef", bound ? JsonValue(*bound, oa) : JsonValue(), oa);
  out.AddMember("spec", std::move(out_spec), oa);
  JsonValue status(rapidjson::kObjectType);
  core::set_string(status, "token", *token, oa);
  core::set_string(status, "expirationTimestamp", sim_rfc3339(issued_at + std::chrono::seconds(expiration)), oa);
  out.AddMember("status", std::move(status), oa);
  return out;
}

ServiceAccountAuth::Review ServiceAccountAuth::review(std::string_view token,
                                                      const std::vector<std::string>& requested) const {
  Review r;
  const std::vector<std::string>& wanted = requested.empty() ? options_.api_audiences : requested;
  for (const auto& st : options_.static_tokens) {
    if (st.token != token) continue;
    for (const auto& a : wanted) {
      if (std::find(options_.api_audiences.begin(), options_.api_audiences.end(), a) != options_.api_audiences.end())
        r.audiences.push_back(a);
    }
    if (r.audiences.empty()) {
      r.error = fmt::format("[invalid bearer token, token audiences {} is invalid for the target audiences {}]",
                            go_quote_list(options_.api_audiences), go_quote_list(wanted));
      return r;
    }
    r.authenticated = true;
    r.user = st.user;
    if (std::find(r.user.groups.begin(), r.user.groups.end(), "system:authenticated") == r.user.groups.end())
      r.user.groups.push_back("system:authenticated");
    return r;
  }
  auto fail = [&](const std::string& why) {
    r.error = "[invalid bearer token, " + why + "]";
    return r;
  };
  auto unverified = core::jwt_decode_unverified(token);
  if (!unverified.ok()) return fail("token is not a JWT");
  auto claims_doc = core::parse_json(unverified->claims_json);
  if (!claims_doc.ok() || !(*claims_doc)->IsObject()) return fail("token is not a JWT");
  const JsonValue& pre = **claims_doc;
  if (core::string_or(pre, "iss", "") != options_.issuer) return fail("token lookup failed");
  auto verified = core::jwt_verify_rs256(token, public_pem_);
  if (!verified.ok()) return fail("square/go-jose: error in cryptographic primitive");
  auto doc = core::parse_json(verified->claims_json);
  if (!doc.ok() || !(*doc)->IsObject()) return fail("token is not a JWT");
  const JsonValue& c = **doc;

  std::vector<std::string> token_auds;
  if (const JsonValue* aud = core::member(c, "aud"); aud && aud->IsString()) token_auds.emplace_back(aud->GetString());
  else token_auds = string_array(aud);
  const std::vector<std::string>& target = requested.empty() ? options_.api_audiences : requested;
  for (const auto& t : token_auds) {
    if (std::find(target.begin(), target.end(), t) != target.end() &&
        std::find(r.audiences.begin(), r.audiences.end(), t) == r.audiences.end()) {
      r.audiences.push_back(t);
    }
  }
  if (r.audiences.empty()) {
    return fail(fmt::format("token audiences {} is invalid for the target audiences {}", go_quote_list(token_auds),
                            go_quote_list(target)));
  }

  int64_t t_now = std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
  auto exp = core::get_int(c, "exp");
  auto nbf = core::get_int(c, "nbf");
  if (exp && t_now - kLeewaySeconds > *exp) {
    r.audiences.clear();
    return fail("service account token has expired");
  }
  if (nbf && t_now + kLeewaySeconds < *nbf) {
    r.audiences.clear();
    return fail("service account token is not valid yet");
  }
  const JsonValue* k8s = core::member(c, "kubernetes.io");
  const JsonValue* sa_claim = k8s ? core::member(*k8s, "serviceaccount") : nullptr;
  if (k8s == nullptr || sa_claim == nullptr) {
    r.audiences.clear();
    return fail("service account token claims could not be validated due to unexpected private claim");
  }
  std::string ns = core::string_or(*k8s, "namespace", "");
  std::string name = core::string_or(*sa_claim, "name", "");
  std::string uid = core::string_or(*sa_claim, "uid", "");
  ObjectPtr sa = store_.get("", "serviceaccounts", ns, name);
  if (!sa) {
    r.audiences.clear();
    return fail(fmt::format("serviceaccounts \"{}\" not found", name));
  }
  const JsonValue* md = core::member(sa->value(), "metadata");
  if (md && core::member(*md, "deletionTimestamp") && !core::member(*md, "deletionTimestamp")->IsNull()) {
    r.audiences.clear();
    return fail(fmt::format("service account {}/{} has been deleted", ns, name));
  }
  std::string stored_uid = md ? core::string_or(*md, "uid", "") : "";
  if (stored_uid != uid) {
    r.audiences.clear();
    return fail(fmt::format("service account UID ({}) does not match claim ({})", stored_uid, uid));
  }
  r.authenticated = true;
  r.user.username = fmt::format("{}{}:{}", kServiceAccountPrefix, ns, name);
  r.user.uid = uid;
  r.user.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"};
  if (auto jti = core::get_string(c, "jti")) r.user.extra["authentication.kubernetes.io/credential-id"] = {"JTI=" + *jti};
  return r;
}

JsonDoc ServiceAccountAuth::token_review(const CreateCall& call) {
  const JsonValue* spec = call.body ? core::member(*call.body, "spec") : nullptr;
  std::string token = spec ? core::string_or(*spec, "token", "") : "";
  std::vector<std::string> audiences = spec ? string_array(core::member(*spec, "audiences")) : std::vector<std::string>{};
  Review r;
  if (token.empty()) {
    r.error = "";  // the real server answers an empty review for an empty token
  } else {
    r = review(token, audiences);
  }

  JsonDoc out = sim_review_envelope("TokenReview", "authentication.k8s.io/v1");
  auto& a = out.GetAllocator();
  JsonValue out_spec(rapidjson::kObjectType);
  core::set_string(out_spec, "token", token, a);  // echoed as the real server does; never logged
  if (!audiences.empty()) out_spec.AddMember("audiences", string_list_value(audiences, a), a);
  out.AddMember("spec", std::move(out_spec), a);
  JsonValue status(rapidjson::kObjectType);
  if (r.authenticated) status.AddMember("authenticated", true, a);
  JsonValue user(rapidjson::kObjectType);
  if (r.authenticated) {
    core::set_string(user, "username", r.user.username, a);
    core::set_string(user, "uid", r.user.uid, a);
    user.AddMember("groups", string_list_value(r.user.groups, a), a);
    JsonValue extra(rapidjson::kObjectType);
    for (const auto& [k, vs] : r.user.extra) extra.AddMember(core::json_string(k, a), string_list_value(vs, a), a);
    if (!r.user.extra.empty()) user.AddMember("extra", std::move(extra), a);
  }
  status.AddMember("user", std::move(user), a);
  if (r.authenticated) status.AddMember("audiences", string_list_value(r.audiences, a), a);
  if (!r.error.empty()) core::set_string(status, "error", r.error, a);
  out.AddMember("status", std::move(status), a);
  return out;
}

std::optional<UserInfo> ServiceAccountAuth::authenticate(std::string_view token) const {
  // Only tokens that look like ours are worth a signature check.
  if (std::count(token.begin(), token.end(), '.') != 2) return std::nullopt;
  Review r = review(token, {});
  if (!r.authenticated) return std::nullopt;
  return r.user;
}

AccessDecision ServiceAccountAuth::authorize(const RequestAttributes& attrs) const {
  if (options_.rbac) return rbac_.authorize(attrs);
  return kubesim::authorize(options_.rules, attrs);
}

// pkg/registry/authorization/selfsubjectrulesreview: the rules of the union of the authorizers' rule
// resolvers (here RBAC alone), not the spec, in the answer.
JsonDoc ServiceAccountAuth::self_subject_rules_review(const CreateCall& call) {
  const JsonValue* spec = call.body ? core::member(*call.body, "spec") : nullptr;
  const std::string ns = spec && spec->IsObject() ? core::string_or(*spec, "namespace", "") : "";
  if (ns.empty()) throw bad_request("no namespace on request");
  std::vector<PolicyRule> rules;
  std::string error;
  bool incomplete = false;
  if (options_.rbac) {
    ResolvedRules r = rbac_.rules_for(call.user, ns);
    rules = std::move(r.rules);
    error = std::move(r.error);
  } else if (options_.rules.empty()) {
    rules = {PolicyRule{{"*"}, {"*"}, {"*"}, {}, {}}, PolicyRule{{"*"}, {}, {}, {}, {"*"}}};  // AlwaysAllow
  } else {
    incomplete = true;
    error = "kube-sim's access rule table cannot be listed as rules (kube-sim --authorization-mode=RBAC can)";
  }

  JsonDoc out = sim_review_envelope("SelfSubjectRulesReview", "authorization.k8s.io/v1");
  auto& a = out.GetAllocator();
  out.AddMember("spec", JsonValue(rapidjson::kObjectType), a);
  JsonValue resource_rules(rapidjson::kArrayType);
  JsonValue non_resource_rules(rapidjson::kArrayType);
  auto add_list = [&](JsonValue& obj, const char* key, const std::vector<std::string>& v, bool always) {
    if (always || !v.empty()) obj.AddMember(rapidjson::StringRef(key), string_list_value(v, a), a);
  };
  for (const auto& r : rules) {
    if (!r.resources.empty()) {
      JsonValue rr(rapidjson::kObjectType);
      add_list(rr, "verbs", r.verbs, true);
      add_list(rr, "apiGroups", r.api_groups, false);
      add_list(rr, "resources", r.resources, false);
      add_list(rr, "resourceNames", r.resource_names, false);
      resource_rules.PushBack(std::move(rr), a);
    }
    if (!r.non_resource_urls.empty()) {
      JsonValue nr(rapidjson::kObjectType);
      add_list(nr, "verbs", r.verbs, true);
      add_list(nr, "nonResourceURLs", r.non_resource_urls, false);
      non_resource_rules.PushBack(std::move(nr), a);
    }
  }
  JsonValue status(rapidjson::kObjectType);
  status.AddMember("resourceRules", std::move(resource_rules), a);
  status.AddMember("nonResourceRules", std::move(non_resource_rules), a);
  status.AddMember("incomplete", incomplete, a);
  if (!error.empty()) core::set_string(status, "evaluationError", error, a);
  out.AddMember("status", std::move(status), a);
  return out;
}

JsonDoc ServiceAccountAuth::subject_access_review(const CreateCall& call) {
  return access_review(call, "SubjectAccessReview", "");
}

JsonDoc ServiceAccountAuth::local_subject_access_review(const CreateCall& call) {
  return access_review(call, "LocalSubjectAccessReview", call.ns);
}

JsonDoc ServiceAccountAuth::self_subject_access_review(const CreateCall& call) {
  return access_review(call, "SelfSubjectAccessReview", "");
}

// The three access reviews of pkg/registry/authorization: a SubjectAccessReview names the user and
// groups in its spec, a Local one also its namespace (which must be the path's), a Self one is about the
// requesting user.
JsonDoc ServiceAccountAuth::access_review(const CreateCall& call, const std::string& kind,
                                          const std::string& path_namespace) {
  const bool self = kind == "SelfSubjectAccessReview";
  const bool local = kind == "LocalSubjectAccessReview";
  const JsonValue* spec = call.body ? core::member(*call.body, "spec") : nullptr;
  if (spec == nullptr || !spec->IsObject()) throw bad_request(kind + ": spec is required");
  RequestAttributes attrs;
  if (self) {
    attrs.user = call.user;
  } else {
    attrs.user.username = core::string_or(*spec, "user", "");
    attrs.user.groups = string_array(core::member(*spec, "groups"));
  }
  const JsonValue* ra = core::member(*spec, "resourceAttributes");
  const JsonValue* nra = core::member(*spec, "nonResourceAttributes");
  ResourceType review_type;
  review_type.group = "authorization.k8s.io";
  review_type.version = "v1";
  review_type.resource = lower_ascii(kind) + "s";
  review_type.kind = kind;
  if (!self && attrs.user.username.empty() && attrs.user.groups.empty()) {
    throw invalid(review_type, "", {StatusCause{"FieldValueRequired", "Invalid value: \"\": at least one of user or group must be specified",
                                             "spec.user"}});
  }
  if ((ra == nullptr || !ra->IsObject()) == (nra == nullptr || !nra->IsObject())) {
    throw invalid(review_type, "", {StatusCause{"FieldValueRequired",
                                             "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                                             "spec.resourceAttributes"}});
  }
  if (ra && ra->IsObject()) {
    attrs.resource_request = true;
    attrs.verb = core::string_or(*ra, "verb", "");
    attrs.api_group = core::string_or(*ra, "group", "");
    attrs.api_version = core::string_or(*ra, "version", "");
    attrs.resource = core::string_or(*ra, "resource", "");
    attrs.subresource = core::string_or(*ra, "subresource", "");
    attrs.ns = core::string_or(*ra, "namespace", "");
    attrs.name = core::string_or(*ra, "name", "");
  } else {
    attrs.verb = core::string_or(*nra, "verb", "");
    attrs.path = core::string_or(*nra, "path", "");
  }
  if (local) {
    if (!attrs.resource_request) {
      throw invalid(review_type, "", {StatusCause{"FieldValueInvalid", "Invalid value: \"\": disallowed on this kind of request",
                                               "spec.nonResourceAttributes"}});
    }
    if (attrs.ns != path_namespace) {
      throw bad_request(fmt::format("spec.resourceAttributes.namespace must match namespace: {}", path_namespace));
    }
  }
  AccessDecision d = authorize(attrs);

  JsonDoc out = sim_review_envelope(kind, "authorization.k8s.io/v1", local ? path_namespace : std::string());
  auto& a = out.GetAllocator();
  out.AddMember("spec", JsonValue(*spec, a), a);
  JsonValue status(rapidjson::kObjectType);
  status.AddMember("allowed", d.allowed, a);
  if (d.denied) status.AddMember("denied", true, a);
  if (!d.reason.empty()) core::set_string(status, "reason", d.reason, a);
  out.AddMember("status", std::move(status), a);
  return out;
}

}  // namespace ifo::kubesim
