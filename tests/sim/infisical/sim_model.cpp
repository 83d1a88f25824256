// infisical-sim's data model: seed parsing, secret storage, reference expansion and the secrets/raw shape.
#include "sim_model.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "core/json.h"

namespace ifo::sim {

using core::JsonValue;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

Environment* Project::env(std::string_view slug) {
  for (auto& e : environments)
    if (e.slug == slug) return &e;
  return nullptr;
}
const Environment* Project::env(std::string_view slug) const {
  for (const auto& e : environments)
    if (e.slug == slug) return &e;
  return nullptr;
}

Project* Model::project_by_id(std::string_view id) {
  for (auto& p : projects)
    if (p.id == id) return &p;
  return nullptr;
}
Project* Model::project_by_slug(std::string_view slug) {
  for (auto& p : projects)
    if (p.slug == slug) return &p;
  return nullptr;
}
Identity* Model::identity_by_id(std::string_view id) {
  for (auto& i : identities)
    if (i.id == id) return &i;
  return nullptr;
}
Identity* Model::identity_by_client_id(std::string_view client_id) {
  for (auto& i : identities)
    if (i.universal && i.universal->client_id == client_id) return &i;
  return nullptr;
}
ServiceToken* Model::service_token_by_id(std::string_view id) {
  for (auto& t : service_tokens)
    if (t.id == id) return &t;
  return nullptr;
}

IdSource::IdSource() : rng_(std::random_device{}()) {}

std::string IdSource::hex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rng_() & 0xff);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string IdSource::uuid() {
  std::string h = hex(16);
  h[12] = '4';
  h[16] = "89ab"[rng_() & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string iso_time(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(unix_ms % 1000));
  return out;
}

std::string normalize_path(std::string_view path) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    if (j > i) {
      out.push_back('/');
      out.append(path.substr(i, j - i));
    }
    i = j;
  }
  return out.empty() ? "/" : out;
}

Folder& ensure_folder(Environment& env, std::string_view path, IdSource& ids) {
  std::string norm = normalize_path(path);
  // Parents first, as the real server has a folder per path segment.
  std::string prefix;
  size_t pos = 1;
  while (pos <= norm.size()) {
    size_t next = norm.find('/', pos);
    std::string sub = next == std::string::npos ? norm : norm.substr(0, next);
    if (!env.folders.count(sub)) {
      Folder f;
      f.id = ids.uuid();
      f.path = sub;
      env.folders.emplace(sub, std::move(f));
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  if (!env.folders.count("/")) {
    Folder root;
    root.id = ids.uuid();
    root.path = "/";
    env.folders.emplace("/", std::move(root));
  }
  return env.folders.at(norm);
}

int64_t set_secret(Project& /*p*/, Environment& env, std::string_view path, std::string_view key, std::string_view value,
                   std::string_view comment, std::string_view type, IdSource& ids, int64_t now_ms) {
  Folder& f = ensure_folder(env, path, ids);
  for (auto& s : f.secrets) {
    if (s.key == key && s.type == type) {
      s.value = std::string(value);
      s.comment = std::string(comment);
      s.version += 1;
      s.updated_at = iso_time(now_ms);
      return s.version;
    }
  }
  Secret s;
  s.id = ids.uuid();
  s.key = std::string(key);
  s.value = std::string(value);
  s.comment = std::string(comment);
  s.type = type.empty() ? "shared" : std::string(type);
  s.created_at = s.updated_at = iso_time(now_ms);
  f.secrets.push_back(std::move(s));
  return 1;
}

bool delete_secret(Environment& env, std::string_view path, std::string_view key) {
  auto it = env.folders.find(normalize_path(path));
  if (it == env.folders.end()) return false;
  auto& v = it->second.secrets;
  auto old = v.size();
  v.erase(std::remove_if(v.begin(), v.end(), [&](const Secret& s) { return s.key == key; }), v.end());
  return v.size() != old;
}

// ---------------------------------------------------------------------------------------------
// Seed parsing

namespace {

class SeedReader {
 public:
  explicit SeedReader(std::string& error) : error_(error) {}

  bool fail(const std::string& where, const std::string& what) {
    if (error_.empty()) error_ = "seed: " + where + ": " + what;
    return false;
  }

  // Optional string member; wrong type is an error.
  bool str(const JsonValue& obj, const char* name, const std::string& where, std::string& out, bool required = false) {
    const JsonValue* v = core::member(obj, name);
    if (v == nullptr || v->IsNull()) {
      if (required) return fail(where, std::string("missing \"") + name + "\"");
      return true;
    }
    if (!v->IsString()) return fail(where + "." + name, "must be a string");
    out.assign(v->GetString(), v->GetStringLength());
    return true;
  }
  bool integer(const JsonValue& obj, const char* name, const std::string& where, int64_t& out) {
    const JsonValue* v = core::member(obj, name);
    if (v == nullptr || v->IsNull()) return true;
    if (!v->IsInt64() || v->GetInt64() < 0) return fail(where + "." + name, "must be a non-negative integer");
    out = v->GetInt64();
    return true;
  }
  const JsonValue* array(const JsonValue& obj, const char* name, const std::string& where) {
    const JsonValue* v = core::member(obj, name);
    if (v == nullptr || v->IsNull()) return nullptr;
    if (!v->IsArray()) {
      fail(where + "." + name, "must be an array");
      return nullptr;
    }
    return v;
  }
  bool object(const JsonValue& v, const std::string& where) {
    if (!v.IsObject()) return fail(where, "must be an object");
    return true;
  }
  bool ok() const { return error_.empty(); }

 private:
  std::string& error_;
};

std::string idx(const std::string& base, size_t i) { return base + "[" + std::to_string(i) + "]"; }

}  // namespace

core::Result<Model> parse_seed(std::string_view json, IdSource& ids, int64_t now_ms) {
  auto doc = core::parse_json(json);
  if (!doc) return core::Result<Model>::fail("seed: " + doc.error());
  const JsonValue& root = **doc;
  std::string error;
  SeedReader r(error);
  if (!r.object(root, "$")) return core::Result<Model>::fail(error);

  Model m;
  m.org_id = ids.uuid();
  r.str(root, "orgId", "$", m.org_id);

  if (const JsonValue* projects = r.array(root, "projects", "$")) {
    for (rapidjson::SizeType i = 0; i < projects->Size() && r.ok(); ++i) {
      const JsonValue& pj = (*projects)[i];
      std::string where = idx("$.projects", i);
      if (!r.object(pj, where)) break;
      Project p;
      p.id = ids.uuid();
      p.org_id = m.org_id;
      p.created_at = iso_time(now_ms);
      r.str(pj, "id", where, p.id);
      r.str(pj, "slug", where, p.slug, true);
      p.name = p.slug;
      r.str(pj, "name", where, p.name);
      if (!r.ok()) break;
      if (m.project_by_slug(p.slug) != nullptr) {
        r.fail(where + ".slug", "duplicate project slug \"" + p.slug + "\"");
        break;
      }
      if (const JsonValue* envs = r.array(pj, "environments", where)) {
        for (rapidjson::SizeType e = 0; e < envs->Size() && r.ok(); ++e) {
          const JsonValue& ej = (*envs)[e];
          std::string ew = idx(where + ".environments", e);
          if (!r.object(ej, ew)) break;
          Environment env;
          env.id = ids.uuid();
          r.str(ej, "slug", ew, env.slug, true);
          env.name = env.slug;
          r.str(ej, "name", ew, env.name);
          if (!r.ok()) break;
          if (p.env(env.slug) != nullptr) {
            r.fail(ew + ".slug", "duplicate environment \"" + env.slug + "\"");
            break;
          }
          ensure_folder(env, "/", ids);
          p.environments.push_back(std::move(env));
        }
      } else if (r.ok()) {
        // The real server creates dev, staging and prod with every project.
        for (auto [slug, name] : {std::pair{"dev", "Development"}, {"staging", "Staging"}, {"prod", "Production"}}) {
          Environment env;
          env.id = ids.uuid();
          env.slug = slug;
          env.name = name;
          ensure_folder(env, "/", ids);
          p.environments.push_back(std::move(env));
        }
      }
      auto env_of = [&](const JsonValue& obj, const std::string& w, const char* field) -> Environment* {
        std::string slug;
        if (!r.str(obj, field, w, slug, true)) return nullptr;
        Environment* env = p.env(slug);
        if (env == nullptr) r.fail(w + "." + field, "unknown environment \"" + slug + "\" in project \"" + p.slug + "\"");
        return env;
      };
      if (const JsonValue* folders = r.array(pj, "folders", where)) {
        for (rapidjson::SizeType f = 0; f < folders->Size() && r.ok(); ++f) {
          const JsonValue& fj = (*folders)[f];
          std::string fw = idx(where + ".folders", f);
          if (!r.object(fj, fw)) break;
          Environment* env = env_of(fj, fw, "environment");
          std::string path;
          r.str(fj, "path", fw, path, true);
          if (env != nullptr && r.ok()) ensure_folder(*env, path, ids);
        }
      }
      if (const JsonValue* secrets = r.array(pj, "secrets", where)) {
        for (rapidjson::SizeType s = 0; s < secrets->Size() && r.ok(); ++s) {
          const JsonValue& sj = (*secrets)[s];
          std::string sw = idx(where + ".secrets", s);
          if (!r.object(sj, sw)) break;
          Environment* env = env_of(sj, sw, "environment");
          std::string path = "/", key, value, comment, type = "shared";
          r.str(sj, "path", sw, path);
          r.str(sj, "key", sw, key, true);
          r.str(sj, "value", sw, value);
          r.str(sj, "comment", sw, comment);
          r.str(sj, "type", sw, type);
          if (!r.ok() || env == nullptr) break;
          if (key.empty()) {
            r.fail(sw + ".key", "must not be empty");
            break;
          }
          set_secret(p, *env, path, key, value, comment, type, ids, now_ms);
        }
      }
      if (const JsonValue* imports = r.array(pj, "imports", where)) {
        for (rapidjson::SizeType k = 0; k < imports->Size() && r.ok(); ++k) {
          const JsonValue& ij = (*imports)[k];
          std::string iw = idx(where + ".imports", k);
          if (!r.object(ij, iw)) break;
          Environment* env = env_of(ij, iw, "environment");
          Environment* src = env_of(ij, iw, "importEnvironment");
          std::string path = "/", import_path = "/";
          r.str(ij, "path", iw, path);
          r.str(ij, "importPath", iw, import_path);
          if (!r.ok() || env == nullptr || src == nullptr) break;
          Folder& f = ensure_folder(*env, path, ids);
          f.imports.push_back(SecretImport{ids.uuid(), src->slug, normalize_path(import_path)});
        }
      }
      if (r.ok()) m.projects.push_back(std::move(p));
    }
  }

  auto resolve_project = [&](const std::string& ref) -> std::string {
    for (auto& p : m.projects)
      if (p.id == ref || p.slug == ref) return p.id;
    return {};
  };

  if (const JsonValue* identities = r.array(root, "identities", "$")) {
    for (rapidjson::SizeType i = 0; i < identities->Size() && r.ok(); ++i) {
      const JsonValue& ij = (*identities)[i];
      std::string where = idx("$.identities", i);
      if (!r.object(ij, where)) break;
      Identity id;
      id.id = ids.uuid();
      r.str(ij, "id", where, id.id);
      id.name = id.id;
      r.str(ij, "name", where, id.name);
      r.integer(ij, "accessTokenTTL", where, id.access_token_ttl);
      r.integer(ij, "accessTokenMaxTTL", where, id.access_token_max_ttl);
      if (r.ok() && id.access_token_max_ttl > 0 && id.access_token_ttl > id.access_token_max_ttl) {
        r.fail(where + ".accessTokenTTL", "Access token TTL cannot be greater than max TTL");
        break;
      }
      if (const JsonValue* projects = r.array(ij, "projects", where)) {
        for (rapidjson::SizeType k = 0; k < projects->Size() && r.ok(); ++k) {
          const JsonValue& pv = (*projects)[k];
          std::string pw = idx(where + ".projects", k);
          if (!pv.IsString()) {
            r.fail(pw, "must be a project id or slug");
            break;
          }
          std::string pid = resolve_project(pv.GetString());
          if (pid.empty()) {
            r.fail(pw, std::string("unknown project \"") + pv.GetString() + "\"");
            break;
          }
          id.project_ids.push_back(pid);
        }
      }
      if (const JsonValue* ua = core::member(ij, "universalAuth"); ua != nullptr && r.ok()) {
        std::string w = where + ".universalAuth";
        if (!r.object(*ua, w)) break;
        UniversalAuthConfig c;
        r.str(*ua, "clientId", w, c.client_id, true);
        r.str(*ua, "clientSecret", w, c.client_secret, true);
        id.universal = c;
      }
      if (const JsonValue* ldap = core::member(ij, "ldapAuth"); ldap != nullptr && r.ok()) {
        std::string w = where + ".ldapAuth";
        if (!r.object(*ldap, w)) break;
        LdapAuthConfig c;
        r.str(*ldap, "username", w, c.username, true);
        r.str(*ldap, "password", w, c.password, true);
        id.ldap = c;
      }
      if (const JsonValue* k8s = core::member(ij, "kubernetesAuth"); k8s != nullptr && r.ok()) {
        std::string w = where + ".kubernetesAuth";
        if (!r.object(*k8s, w)) break;
        KubernetesAuthConfig c;
        r.str(*k8s, "kubernetesHost", w, c.kubernetes_host);
        r.str(*k8s, "caCert", w, c.ca_cert);
        r.str(*k8s, "tokenReviewerJwt", w, c.token_reviewer_jwt);
        r.str(*k8s, "allowedNamespaces", w, c.allowed_namespaces);
        r.str(*k8s, "allowedNames", w, c.allowed_names);
        r.str(*k8s, "allowedAudience", w, c.allowed_audience);
        id.kubernetes = c;
      }
      if (const JsonValue* aws = core::member(ij, "awsAuth"); aws != nullptr && r.ok()) {
        std::string w = where + ".awsAuth";
        if (!r.object(*aws, w)) break;
        AwsAuthConfig c;
        r.str(*aws, "allowedPrincipalArns", w, c.allowed_principal_arns);
        r.str(*aws, "allowedAccountIds", w, c.allowed_account_ids);
        id.aws = c;
      }
      if (const JsonValue* az = core::member(ij, "azureAuth"); az != nullptr && r.ok()) {
        std::string w = where + ".azureAuth";
        if (!r.object(*az, w)) break;
        AzureAuthConfig c;
        r.str(*az, "tenantId", w, c.tenant_id);  // empty: the azure block's tenant, filled in below
        r.str(*az, "resource", w, c.resource);
        r.str(*az, "allowedServicePrincipalIds", w, c.allowed_service_principal_ids);
        id.azure = c;
      }
      if (const JsonValue* gcp = core::member(ij, "gcpAuth"); gcp != nullptr && r.ok()) {
        std::string w = where + ".gcpAuth";
        if (!r.object(*gcp, w)) break;
        GcpAuthConfig c;
        r.str(*gcp, "type", w, c.type);
        if (c.type != "gce" && c.type != "iam") {
          r.fail(w + ".type", "must be \"gce\" or \"iam\"");
          break;
        }
        r.str(*gcp, "allowedServiceAccounts", w, c.allowed_service_accounts);
        r.str(*gcp, "allowedProjects", w, c.allowed_projects);
        r.str(*gcp, "allowedZones", w, c.allowed_zones);
        id.gcp = c;
      }
      if (r.ok() && m.identity_by_id(id.id) != nullptr) {
        r.fail(where + ".id", "duplicate identity id");
        break;
      }
      if (r.ok() && id.universal && m.identity_by_client_id(id.universal->client_id) != nullptr) {
        r.fail(where + ".universalAuth.clientId", "duplicate clientId");
        break;
      }
      if (r.ok()) m.identities.push_back(std::move(id));
    }
  }

  if (const JsonValue* tokens = r.array(root, "serviceTokens", "$")) {
    for (rapidjson::SizeType i = 0; i < tokens->Size() && r.ok(); ++i) {
      const JsonValue& tj = (*tokens)[i];
      std::string where = idx("$.serviceTokens", i);
      if (!r.object(tj, where)) break;
      ServiceToken t;
      t.id = ids.hex(12);
      t.secret = ids.hex(16);
      t.key = ids.hex(16);
      r.str(tj, "id", where, t.id);
      r.str(tj, "secret", where, t.secret);
      r.str(tj, "key", where, t.key);
      t.name = "service-token";
      r.str(tj, "name", where, t.name);
      std::string project;
      r.str(tj, "project", where, project, true);
      r.integer(tj, "expiresAtMs", where, t.expires_at_ms);
      if (!r.ok()) break;
      t.project_id = resolve_project(project);
      if (t.project_id.empty()) {
        r.fail(where + ".project", "unknown project \"" + project + "\"");
        break;
      }
      if (t.id.find('.') != std::string::npos || t.secret.find('.') != std::string::npos) {
        r.fail(where, "id and secret must not contain '.'");
        break;
      }
      if (const JsonValue* scopes = r.array(tj, "scopes", where)) {
        for (rapidjson::SizeType k = 0; k < scopes->Size() && r.ok(); ++k) {
          const JsonValue& sj = (*scopes)[k];
          std::string sw = idx(where + ".scopes", k);
          if (!r.object(sj, sw)) break;
          ServiceTokenScope sc;
          r.str(sj, "environment", sw, sc.environment, true);
          sc.secret_path = "/";
          r.str(sj, "secretPath", sw, sc.secret_path);
          t.scopes.push_back(sc);
        }
      }
      if (r.ok() && t.scopes.empty()) {
        r.fail(where + ".scopes", "at least one {environment, secretPath} scope is required");
        break;
      }
      t.created_at = iso_time(now_ms);
      if (r.ok()) m.service_tokens.push_back(std::move(t));
    }
  }

  if (const JsonValue* aws = core::member(root, "aws"); aws != nullptr && r.ok()) {
    if (r.object(*aws, "$.aws")) {
      r.str(*aws, "region", "$.aws", m.aws.region);
      if (const JsonValue* users = r.array(*aws, "users", "$.aws")) {
        for (rapidjson::SizeType i = 0; i < users->Size() && r.ok(); ++i) {
          const JsonValue& uj = (*users)[i];
          std::string w = idx("$.aws.users", i);
          if (!r.object(uj, w)) break;
          AwsPrincipal u;
          r.str(uj, "accessKeyId", w, u.access_key_id, true);
          r.str(uj, "secretAccessKey", w, u.secret_access_key, true);
          r.str(uj, "arn", w, u.arn, true);
          u.user_id = "AIDA" + u.access_key_id.substr(std::min<size_t>(4, u.access_key_id.size()));
          r.str(uj, "userId", w, u.user_id);
          m.aws.users.push_back(u);
        }
      }
      auto role = [&](const char* name, std::optional<AwsRole>& out) {
        const JsonValue* v = core::member(*aws, name);
        if (v == nullptr || !r.ok()) return;
        std::string w = std::string("$.aws.") + name;
        if (!r.object(*v, w)) return;
        AwsRole ro;
        r.str(*v, "arn", w, ro.arn, true);
        out = ro;
      };
      role("instanceRole", m.aws.instance_role);
      role("ecsRole", m.aws.ecs_role);
      r.str(*aws, "ecsAuthorizationToken", "$.aws", m.aws.ecs_authorization_token);
      r.str(*aws, "webIdentityAudience", "$.aws", m.aws.web_identity_audience);
      if (const JsonValue* roles = r.array(*aws, "webIdentityRoles", "$.aws")) {
        for (rapidjson::SizeType i = 0; i < roles->Size() && r.ok(); ++i) {
          std::string w = idx("$.aws.webIdentityRoles", i);
          if (!r.object((*roles)[i], w)) break;
          AwsRole ro;
          r.str((*roles)[i], "arn", w, ro.arn, true);
          m.aws.web_identity_roles.push_back(ro);
        }
      }
    }
  }

  if (const JsonValue* az = core::member(root, "azure"); az != nullptr && r.ok()) {
    if (r.object(*az, "$.azure")) {
      r.str(*az, "tenantId", "$.azure", m.azure.tenant_id);
      if (const JsonValue* sys = core::member(*az, "systemIdentity"); sys != nullptr && r.object(*sys, "$.azure.systemIdentity")) {
        r.str(*sys, "clientId", "$.azure.systemIdentity", m.azure.system_identity.client_id);
        r.str(*sys, "objectId", "$.azure.systemIdentity", m.azure.system_identity.object_id);
      }
      if (const JsonValue* users = r.array(*az, "userIdentities", "$.azure")) {
        for (rapidjson::SizeType i = 0; i < users->Size() && r.ok(); ++i) {
          std::string w = idx("$.azure.userIdentities", i);
          if (!r.object((*users)[i], w)) break;
          AzureManagedIdentity mi;
          r.str((*users)[i], "clientId", w, mi.client_id, true);
          r.str((*users)[i], "objectId", w, mi.object_id, true);
          m.azure.user_identities.push_back(mi);
        }
      }
    }
  }

  if (const JsonValue* gcp = core::member(root, "gcp"); gcp != nullptr && r.ok()) {
    if (r.object(*gcp, "$.gcp")) {
      r.str(*gcp, "projectId", "$.gcp", m.gcp.project_id);
      r.str(*gcp, "projectNumber", "$.gcp", m.gcp.project_number);
      r.str(*gcp, "zone", "$.gcp", m.gcp.zone);
      r.str(*gcp, "instanceName", "$.gcp", m.gcp.instance_name);
      r.str(*gcp, "defaultServiceAccount", "$.gcp", m.gcp.default_service_account);
      if (const JsonValue* sas = r.array(*gcp, "serviceAccounts", "$.gcp")) {
        for (rapidjson::SizeType i = 0; i < sas->Size() && r.ok(); ++i) {
          const JsonValue& sj = (*sas)[i];
          std::string w = idx("$.gcp.serviceAccounts", i);
          if (!r.object(sj, w)) break;
          GcpServiceAccount sa;
          r.str(sj, "email", w, sa.email, true);
          sa.unique_id = std::to_string(100000000000000000ULL + ids.engine()() % 899999999999999999ULL);
          r.str(sj, "uniqueId", w, sa.unique_id);
          r.str(sj, "publicKeyPem", w, sa.public_key_pem);
          sa.key_id = ids.hex(20);
          r.str(sj, "keyId", w, sa.key_id);
          m.gcp.service_accounts.push_back(sa);
        }
      }
    }
  }
  for (auto& ident : m.identities)
    if (ident.azure && ident.azure->tenant_id.empty()) ident.azure->tenant_id = m.azure.tenant_id;
  if (m.gcp.default_service_account.empty() && !m.gcp.service_accounts.empty())
    m.gcp.default_service_account = m.gcp.service_accounts.front().email;

  if (const JsonValue* k8s = core::member(root, "kubernetes"); k8s != nullptr && r.ok()) {
    if (r.object(*k8s, "$.kubernetes")) {
      r.str(*k8s, "host", "$.kubernetes", m.kubernetes.host);
      r.str(*k8s, "caCert", "$.kubernetes", m.kubernetes.ca_cert);
      r.str(*k8s, "tokenReviewerJwt", "$.kubernetes", m.kubernetes.token_reviewer_jwt);
    }
  }

  if (!r.ok()) return core::Result<Model>::fail(error);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Reference expansion

namespace {

const Secret* find_secret(const Project& project, std::string_view env_slug, const std::string& path, std::string_view key) {
  const Environment* env = project.env(env_slug);
  if (env == nullptr) return nullptr;
  auto it = env->folders.find(path);
  if (it == env->folders.end()) return nullptr;
  // Shared secrets only: personal overrides belong to users, never to machine identities.
  for (const auto& s : it->second.secrets)
    if (s.key == key && s.type == "shared") return &s;
  return nullptr;
}

bool valid_reference_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

// Every "${...}" whose body matches [a-zA-Z0-9-_.]+, in order of appearance.
std::vector<std::string> find_references(std::string_view value) {
  std::vector<std::string> refs;
  size_t pos = 0;
  while ((pos = value.find("${", pos)) != std::string_view::npos) {
    size_t end = pos + 2;
    while (end < value.size() && valid_reference_char(value[end])) ++end;
    if (end < value.size() && value[end] == '}' && end > pos + 2) {
      refs.emplace_back(value.substr(pos, end - pos + 1));
      pos = end + 1;
    } else {
      pos += 2;
    }
  }
  return refs;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

constexpr int kMaxReferenceDepth = 10;

}  // namespace

std::string expand_references(const Project& project, std::string_view environment, std::string_view secret_path,
                              std::string_view secret_key, std::string_view value) {
  if (value.empty() || find_references(value).empty()) return std::string(value);
  struct Node {
    std::string value;
    std::string path;
    std::string env;
    int depth;
    std::set<std::string> visited;
  };
  auto id_of = [](const std::string& env, const std::string& path, const std::string& key) {
    return env + ":" + path + ":" + key;
  };
  std::string expanded(value);
  std::vector<Node> stack;
  stack.push_back(Node{std::string(value), std::string(secret_path), std::string(environment), 0,
                       {id_of(std::string(environment), std::string(secret_path), std::string(secret_key))}});
  // Bounded: every push is one level deeper and the depth is capped, and each level has finitely many refs.
  while (!stack.empty()) {
    Node node = std::move(stack.back());
    stack.pop_back();
    if (node.depth > kMaxReferenceDepth) continue;
    for (const auto& syntax : find_references(node.value)) {
      std::string body = syntax.substr(2, syntax.size() - 3);
      std::vector<std::string> parts;
      size_t start = 0;
      while (true) {
        size_t dot = body.find('.', start);
        parts.push_back(body.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      std::string ref_env, ref_path, ref_key;
      if (parts.size() == 1) {
        ref_env = node.env;
        ref_path = node.path;
        ref_key = parts[0];
      } else {
        ref_env = parts.front();
        std::string joined;
        for (size_t i = 1; i + 1 < parts.size(); ++i) joined += "/" + parts[i];
        ref_path = normalize_path(joined);
        ref_key = parts.back();
      }
      const Secret* ref = find_secret(project, ref_env, ref_path, ref_key);
      std::string ref_value = ref != nullptr ? ref->value : "";
      std::string ref_id = id_of(ref_env, ref_path, ref_key);
      bool circular = node.visited.count(ref_id) > 0;
      if (!circular && !find_references(ref_value).empty()) {
        Node next{ref_value, ref_path, ref_env, node.depth + 1, node.visited};
        next.visited.insert(ref_id);
        stack.push_back(std::move(next));
      }
      // A missing (or empty) reference is left as written, as the real server does.
      if (!ref_value.empty()) replace_all(expanded, syntax, ref_value);
    }
  }
  return expanded;
}

// ---------------------------------------------------------------------------------------------
// Rendering

namespace {

void write_str(Writer& w, const char* name, std::string_view value) {
  w.Key(name);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void write_secret(Writer& w, const Project& p, const std::string& env, const std::string& path, const Secret& s,
                  bool expand, bool imported) {
  std::string value = expand ? expand_references(p, env, path, s.key, s.value) : s.value;
  w.StartObject();
  write_str(w, "id", s.id);
  write_str(w, "_id", s.id);
  write_str(w, "workspace", imported ? "" : p.id);
  write_str(w, "environment", env);
  w.Key("version");
  w.Int64(s.version);
  write_str(w, "type", s.type);
  write_str(w, "secretKey", s.key);
  write_str(w, "secretValue", value);
  write_str(w, "secretComment", s.comment);
  if (!imported) {
    w.Key("secretReminderNote");
    w.Null();
    w.Key("secretReminderRepeatDays");
    w.Null();
  }
  w.Key("skipMultilineEncoding");
  w.Bool(s.skip_multiline_encoding);
  w.Key("metadata");
  w.Null();
  if (!imported) {
    w.Key("secretValueHidden");
    w.Bool(false);
    w.Key("secretMetadata");
    w.StartArray();
    w.EndArray();
    write_str(w, "createdAt", s.created_at);
    write_str(w, "updatedAt", s.updated_at);
    write_str(w, "secretPath", path);
    w.Key("tags");
    w.StartArray();
    w.EndArray();
  }
  w.EndObject();
}

std::vector<const Secret*> sorted_by_id(const std::vector<Secret>& v) {
  std::vector<const Secret*> out;
  for (const auto& s : v) out.push_back(&s);
  std::sort(out.begin(), out.end(), [](const Secret* a, const Secret* b) { return a->id < b->id; });
  return out;
}

struct ImportedSecret {
  const Secret* secret;
  std::string env;
  std::string path;
};

constexpr int kImportLevelBreak = 10;

// The imported folder's own secrets, then those of its imports, depth first, as the real server
// flattens them; a folder already on the chain is not visited again.
void collect_imported(const Project& p, const std::string& env_slug, const std::string& path, int depth,
                      std::set<std::string>& chain, std::vector<ImportedSecret>& out) {
  const Environment* env = p.env(env_slug);
  if (env == nullptr) return;
  auto it = env->folders.find(path);
  if (it == env->folders.end()) return;
  const Folder& f = it->second;
  for (const Secret* s : sorted_by_id(f.secrets))
    if (s->type == "shared") out.push_back(ImportedSecret{s, env_slug, path});
  if (depth >= kImportLevelBreak) return;
  for (const auto& imp : f.imports) {
    std::string key = imp.environment + ":" + imp.path;
    if (chain.count(key)) continue;
    chain.insert(key);
    collect_imported(p, imp.environment, imp.path, depth + 1, chain, out);
    chain.erase(key);
  }
}

}  // namespace

std::string render_secrets_raw(const Project& p, const RawQuery& q) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  const Environment* env = p.env(q.environment);
  std::string path = normalize_path(q.secret_path);
  const Folder* base = nullptr;
  if (env != nullptr) {
    auto it = env->folders.find(path);
    if (it != env->folders.end()) base = &it->second;
  }
  if (base == nullptr) return R"({"secrets":[],"imports":[]})";

  std::vector<const Folder*> folders;
  if (q.recursive) {
    for (const auto& [fp, f] : env->folders)
      if (fp == path || path == "/" || fp.rfind(path + "/", 0) == 0) folders.push_back(&f);
  } else {
    folders.push_back(base);
  }

  struct Row {
    const Secret* s;
    const Folder* f;
  };
  std::vector<Row> rows;
  for (const Folder* f : folders)
    for (const auto& s : f->secrets)
      if (s.type == "shared") rows.push_back(Row{&s, f});
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.s->id < b.s->id; });

  w.StartObject();
  w.Key("secrets");
  w.StartArray();
  for (const auto& row : rows) write_secret(w, p, env->slug, row.f->path, *row.s, q.expand, false);
  w.EndArray();
  if (q.include_imports) {
    w.Key("imports");
    w.StartArray();
    for (const Folder* f : folders) {
      for (const auto& imp : f->imports) {
        const Environment* src = p.env(imp.environment);
        if (src == nullptr) continue;
        auto it = src->folders.find(imp.path);
        if (it == src->folders.end()) continue;
        std::vector<ImportedSecret> imported;
        std::set<std::string> chain{env->slug + ":" + f->path, imp.environment + ":" + imp.path};
        collect_imported(p, imp.environment, imp.path, 1, chain, imported);
        w.StartObject();
        write_str(w, "secretPath", imp.path);
        write_str(w, "environment", imp.environment);
        write_str(w, "folderId", it->second.id);
        w.Key("secrets");
        w.StartArray();
        for (const auto& is : imported) write_secret(w, p, is.env, is.path, *is.secret, q.expand, true);
        w.EndArray();
        w.EndObject();
      }
    }
    w.EndArray();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::optional<std::string> render_secret_raw(const Project& p, const RawQuery& q, std::string_view secret_key) {
  const Environment* env = p.env(q.environment);
  if (env == nullptr) return std::nullopt;
  std::string path = normalize_path(q.secret_path);
  auto it = env->folders.find(path);
  if (it == env->folders.end()) return std::nullopt;
  const Secret* found = nullptr;
  std::string found_env = env->slug, found_path = path;
  for (const auto& s : it->second.secrets)
    if (s.key == secret_key && s.type == "shared") found = &s;
  if (found == nullptr && q.include_imports) {
    // Imports in position order, each flattened as the list shows it; the first that has the key wins.
    for (const auto& imp : it->second.imports) {
      std::vector<ImportedSecret> imported;
      std::set<std::string> chain{env->slug + ":" + path, imp.environment + ":" + imp.path};
      collect_imported(p, imp.environment, imp.path, 1, chain, imported);
      for (const auto& is : imported) {
        if (is.secret->key != secret_key) continue;
        found = is.secret;
        found_env = is.env;
        found_path = is.path;
        break;
      }
      if (found != nullptr) break;
    }
  }
  if (found == nullptr) return std::nullopt;
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("secret");
  write_secret(w, p, found_env, found_path, *found, q.expand, false);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string render_project(const Project& p) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  write_str(w, "id", p.id);
  write_str(w, "_id", p.id);
  write_str(w, "name", p.name);
  write_str(w, "slug", p.slug);
  write_str(w, "orgId", p.org_id);
  w.Key("autoCapitalization");
  w.Bool(true);
  w.Key("version");
  w.Int(3);
  w.Key("pitVersionLimit");
  w.Int(10);
  w.Key("upgradeStatus");
  w.Null();
  w.Key("kmsCertificateKeyId");
  w.Null();
  w.Key("auditLogsRetentionDays");
  w.Null();
  write_str(w, "createdAt", p.created_at);
  write_str(w, "updatedAt", p.created_at);
  w.Key("environments");
  w.StartArray();
  for (const auto& e : p.environments) {
    w.StartObject();
    write_str(w, "name", e.name);
    write_str(w, "slug", e.slug);
    write_str(w, "id", e.id);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace ifo::sim
