// infisical-sim through plain HTTP: logins with good and bad credentials, secrets/raw shapes, ETag/304,
// imports/references/recursive, token TTLs, rate limiting, fault injection, admin changes, TLS, CLI.
#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/json.h"
#include "core/jwt.h"
#include "infisical_sim.h"
#include "net/http_client.h"
#include "sim_test_support.h"

using namespace ifo;
using ifo::sim::test::Api;
using ifo::sim::test::json;

namespace {

const char* kSeed = R"({
  "projects": [{
    "slug": "demo-project", "name": "Demo",
    "environments": [{"slug": "dev"}, {"slug": "staging"}, {"slug": "prod"}],
    "secrets": [
      {"environment": "dev", "path": "/", "key": "DB_HOST", "value": "db.internal"},
      {"environment": "dev", "path": "/", "key": "DB_PASSWORD", "value": "s3cr3t-pw"},
      {"environment": "dev", "path": "/", "key": "DB_URL", "value": "postgres://app:${DB_PASSWORD}@${DB_HOST}:5432/app"},
      {"environment": "dev", "path": "/", "key": "MISSING_REF", "value": "x-${NOPE}-y"},
      {"environment": "dev", "path": "/", "key": "CYCLE_A", "value": "a${CYCLE_B}"},
      {"environment": "dev", "path": "/", "key": "CYCLE_B", "value": "b${CYCLE_A}"},
      {"environment": "dev", "path": "/", "key": "DUP", "value": "root"},
      {"environment": "dev", "path": "/app", "key": "DUP", "value": "app"},
      {"environment": "dev", "path": "/app", "key": "CROSS", "value": "${dev.DB_HOST}|${staging.nested.deep.LEAF}|${prod.CHAIN}"},
      {"environment": "dev", "path": "/app/deeper", "key": "DEEP", "value": "deep"},
      {"environment": "staging", "path": "/", "key": "SHARED", "value": "from-staging"},
      {"environment": "staging", "path": "/", "key": "DB_HOST", "value": "staging-db"},
      {"environment": "staging", "path": "/nested/deep", "key": "LEAF", "value": "leaf-value"},
      {"environment": "prod", "path": "/", "key": "CHAIN", "value": "chain->${LINK}"},
      {"environment": "prod", "path": "/", "key": "LINK", "value": "linked"},
      {"environment": "prod", "path": "/", "key": "PROD_ONLY", "value": "p"}
    ],
    "imports": [
      {"environment": "dev", "path": "/app", "importEnvironment": "staging", "importPath": "/"},
      {"environment": "staging", "path": "/", "importEnvironment": "prod", "importPath": "/"}
    ]
  }, {"slug": "other-project"}],
  "identities": [
    {"id": "id-ua", "projects": ["demo-project"], "accessTokenTTL": 60, "accessTokenMaxTTL": 300,
     "universalAuth": {"clientId": "cid", "clientSecret": "csecret"}},
    {"id": "id-ua-other", "projects": ["other-project"],
     "universalAuth": {"clientId": "cid-other", "clientSecret": "csecret-other"}},
    {"id": "3c9e7f12-5b4a-4d8e-9f01-6a2b3c4d5e6f", "projects": ["demo-project"],
     "ldapAuth": {"username": "svc-operator", "password": "ldap-pw-1"}},
    {"id": "id-k8s", "projects": ["demo-project"],
     "kubernetesAuth": {"allowedNamespaces": "apps, infra", "allowedNames": "operator", "allowedAudience": "infisical"}}
  ],
  "serviceTokens": [
    {"id": "st1", "secret": "stsecret", "project": "demo-project", "scopes": [{"environment": "dev", "secretPath": "/"}]},
    {"id": "st2", "secret": "stsecret2", "project": "demo-project",
     "scopes": [{"environment": "dev", "secretPath": "/**"}, {"environment": "staging", "secretPath": "/"}]}
  ],
  "rateLimits": {"mode": "off"}
})";

std::unique_ptr<sim::InfisicalSim> start_sim(bool tls = false) {
  sim::SimOptions o;
  o.seed_json = kSeed;
  o.tls = tls;
  return sim::InfisicalSim::start(o);
}

std::map<std::string, std::string> values_of(const core::JsonValue& secrets) {
  std::map<std::string, std::string> out;
  REQUIRE(secrets.IsArray());
  for (const auto& s : secrets.GetArray()) out[s["secretKey"].GetString()] = s["secretValue"].GetString();
  return out;
}

}  // namespace

TEST_CASE("universal auth: good credentials log in, wrong ones fail with the real server's errors") {
  auto s = start_sim();
  Api api(*s);
  auto ok = api.post("/v1/auth/universal-auth/login", R"({"clientId":"cid","clientSecret":"csecret"})");
  REQUIRE(ok.status == 200);
  auto body = json(ok.body);
  CHECK(core::get_int(*body, "expiresIn") == 60);
  CHECK(core::get_int(*body, "accessTokenMaxTTL") == 300);
  CHECK(core::get_string(*body, "tokenType") == "Bearer");
  CHECK_FALSE(core::string_or(*body, "accessToken", "").empty());

  auto wrong = api.post("/v1/auth/universal-auth/login", R"({"clientId":"cid","clientSecret":"nope"})");
  CHECK(wrong.status == 401);
  CHECK(wrong.body == R"({"statusCode":401,"message":"Invalid credentials","error":"UnauthorizedError"})");

  auto unknown = api.post("/v1/auth/universal-auth/login", R"({"clientId":"who","clientSecret":"csecret"})");
  CHECK(unknown.status == 404);
  CHECK(core::get_string(*json(unknown.body), "message") == "No identity with specified client ID was found");

  auto missing = api.post("/v1/auth/universal-auth/login", R"({"clientId":"cid"})");
  CHECK(missing.status == 401);
  auto m = json(missing.body);
  CHECK(core::get_string(*m, "error") == "ValidationFailure");
  CHECK((*m)["message"][0]["path"][0].GetString() == std::string("clientSecret"));
}

TEST_CASE("ldap auth: the directory user logs in; a wrong password is 401 as the real server answers it") {
  auto s = start_sim();
  Api api(*s);
  const std::string id = "3c9e7f12-5b4a-4d8e-9f01-6a2b3c4d5e6f";
  auto ok = api.post("/v1/auth/ldap-auth/login",
                     R"({"identityId":")" + id + R"(","username":"svc-operator","password":"ldap-pw-1"})");
  REQUIRE(ok.status == 200);
  auto body = json(ok.body);
  CHECK(core::get_string(*body, "tokenType") == "Bearer");
  std::string token = core::string_or(*body, "accessToken", "");
  CHECK(api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/", token).status == 200);

  auto wrong = api.post("/v1/auth/ldap-auth/login",
                        R"({"identityId":")" + id + R"(","username":"svc-operator","password":"nope"})");
  CHECK(wrong.status == 401);
  CHECK(wrong.body == R"({"statusCode":401,"message":"LDAP authentication failed","error":"UnauthorizedError"})");
  auto other_user = api.post("/v1/auth/ldap-auth/login",
                             R"({"identityId":")" + id + R"(","username":"someone","password":"ldap-pw-1"})");
  CHECK(other_user.status == 401);
  // An identity without LDAP auth, and a missing field.
  auto not_ldap = api.post("/v1/auth/ldap-auth/login", R"({"identityId":"id-ua","username":"u","password":"p"})");
  CHECK(not_ldap.status == 404);
  CHECK(core::get_string(*json(not_ldap.body), "error") == "NotFound");
  auto missing = api.post("/v1/auth/ldap-auth/login", R"({"identityId":")" + id + R"(","username":"svc-operator"})");
  CHECK(missing.status == 401);
  CHECK((*json(missing.body))["message"][0]["path"][0].GetString() == std::string("password"));
  CHECK(s->counters().by_identity[id]["POST /api/v1/auth/ldap-auth/login"] == 3);
}

TEST_CASE("secrets/raw/{name}: one secret in the list's shape, from an import too; a missing one is 404") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  auto r = api.get("/v3/secrets/raw/DB_URL?workspaceSlug=demo-project&environment=dev&secretPath=/"
                   "&expandSecretReferences=true&include_imports=true&type=shared", token);
  REQUIRE(r.status == 200);
  auto doc = json(r.body);
  const auto& secret = (*doc)["secret"];
  REQUIRE(secret.IsObject());
  CHECK(secret["secretKey"].GetString() == std::string("DB_URL"));
  CHECK(secret["secretValue"].GetString() == std::string("postgres://app:s3cr3t-pw@db.internal:5432/app"));
  for (const char* field : {"id", "_id", "workspace", "environment", "type", "secretComment", "secretPath", "createdAt",
                            "updatedAt"})
    CHECK_MESSAGE(secret.HasMember(field), field);
  CHECK(secret["tags"].IsArray());
  CHECK(r.header("etag").has_value());  // the real server sends one; the operator does not use it

  auto raw = api.get("/v3/secrets/raw/DB_URL?workspaceSlug=demo-project&environment=dev&secretPath=/", token);
  CHECK((*json(raw.body))["secret"]["secretValue"].GetString() == std::string("postgres://app:${DB_PASSWORD}@${DB_HOST}:5432/app"));

  // /app has no SHARED of its own: with include_imports it comes from the staging import.
  std::string q = "?workspaceSlug=demo-project&environment=dev&secretPath=/app&expandSecretReferences=true";
  auto imported = api.get("/v3/secrets/raw/SHARED" + q + "&include_imports=true", token);
  REQUIRE(imported.status == 200);
  CHECK((*json(imported.body))["secret"]["secretValue"].GetString() == std::string("from-staging"));
  auto not_imported = api.get("/v3/secrets/raw/SHARED" + q, token);
  CHECK(not_imported.status == 404);
  CHECK(not_imported.body == R"({"statusCode":404,"message":"Secret not found","error":"NotFound"})");
  CHECK(api.get("/v3/secrets/raw/NOPE" + q + "&include_imports=true", token).status == 404);
  CHECK(api.get("/v3/secrets/raw/DB_URL?workspaceSlug=demo-project&environment=dev&secretPath=/no/such", token).status == 404);
  // Permissions as for the list.
  std::string other = api.login_universal("cid-other", "csecret-other");
  CHECK(api.get("/v3/secrets/raw/DB_URL?workspaceSlug=demo-project&environment=dev&secretPath=/", other).status == 403);
  CHECK(s->counters().by_route["GET /api/v3/secrets/raw/{secretName}"] == 7);
}

TEST_CASE("secrets/raw: shape, references expanded as the real server does, raw text without expansion") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");

  auto r = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/&expandSecretReferences=true", token);
  REQUIRE(r.status == 200);
  auto doc = json(r.body);
  REQUIRE((*doc)["secrets"].IsArray());
  CHECK(core::member(*doc, "imports") == nullptr);  // absent without include_imports
  auto v = values_of((*doc)["secrets"]);
  CHECK(v["DB_URL"] == "postgres://app:s3cr3t-pw@db.internal:5432/app");
  CHECK(v["MISSING_REF"] == "x-${NOPE}-y");  // a missing reference stays as written
  CHECK(v["CYCLE_A"].find("a") == 0);        // a cycle terminates
  const auto& first = (*doc)["secrets"][0];
  for (const char* field : {"id", "_id", "workspace", "environment", "type", "secretKey", "secretValue", "secretComment",
                            "secretPath", "createdAt", "updatedAt"})
    CHECK_MESSAGE(first.HasMember(field), field);
  CHECK(first["version"].IsInt());
  CHECK(first["tags"].IsArray());
  // Sorted by id (random UUIDs), not by key.
  std::string prev;
  for (const auto& sec : (*doc)["secrets"].GetArray()) {
    CHECK(prev < std::string(sec["id"].GetString()));
    prev = sec["id"].GetString();
  }

  auto raw = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/", token);
  CHECK(values_of((*json(raw.body))["secrets"])["DB_URL"] == "postgres://app:${DB_PASSWORD}@${DB_HOST}:5432/app");

  // Cross-environment and nested-path references, and a reference inside a referenced value.
  auto app = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/app/&expandSecretReferences=true", token);
  CHECK(values_of((*json(app.body))["secrets"])["CROSS"] == "db.internal|leaf-value|chain->linked");
}

TEST_CASE("secrets/raw: workspaceId works with an empty workspaceSlug, as the operator SDK sends it") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  auto ws = api.get("/v2/workspace/demo-project", token);
  REQUIRE(ws.status == 200);
  auto project = json(ws.body);
  std::string id = core::string_or(*project, "id", "");
  CHECK(core::get_string(*project, "slug") == "demo-project");
  CHECK((*project)["environments"].Size() == 3);
  auto r = api.get("/v3/secrets/raw?workspaceId=" + id + "&workspaceSlug=&environment=dev&secretPath=/&recursive=false"
                   "&include_imports=true&expandSecretReferences=true", token);
  CHECK(r.status == 200);
  CHECK(values_of((*json(r.body))["secrets"]).count("DB_HOST") == 1);
}

TEST_CASE("secrets/raw: imports carry the imported folder and its own imports, recursive returns sub-folders") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  auto r = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/app&include_imports=true", token);
  REQUIRE(r.status == 200);
  auto doc = json(r.body);
  const auto& imports = (*doc)["imports"];
  REQUIRE(imports.Size() == 1);
  CHECK(imports[0]["environment"].GetString() == std::string("staging"));
  CHECK(imports[0]["secretPath"].GetString() == std::string("/"));
  std::set<std::string> keys;
  for (const auto& sec : imports[0]["secrets"].GetArray()) {
    keys.insert(sec["secretKey"].GetString());
    CHECK_FALSE(sec.HasMember("secretPath"));  // imported secrets carry no path, as observed
    CHECK(sec["workspace"].GetString() == std::string(""));
  }
  // staging's own secrets, then prod's through staging's import.
  CHECK(keys == std::set<std::string>{"SHARED", "DB_HOST", "CHAIN", "LINK", "PROD_ONLY"});

  auto rec = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/&recursive=true&include_imports=true", token);
  REQUIRE_MESSAGE(rec.status == 200, rec.body);
  auto rdoc = json(rec.body);
  std::multiset<std::string> dup_paths;
  std::set<std::string> paths;
  for (const auto& sec : (*rdoc)["secrets"].GetArray()) {
    paths.insert(sec["secretPath"].GetString());
    if (std::string(sec["secretKey"].GetString()) == "DUP") dup_paths.insert(sec["secretPath"].GetString());
  }
  CHECK(paths == std::set<std::string>{"/", "/app", "/app/deeper"});
  CHECK(dup_paths == std::multiset<std::string>{"/", "/app"});  // both duplicates are returned
  CHECK((*rdoc)["imports"].Size() == 1);

  auto sub = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/app&recursive=true", token);
  REQUIRE_MESSAGE(sub.status == 200, sub.body);
  std::set<std::string> sub_paths;
  auto sub_doc = json(sub.body);
  for (const auto& sec : (*sub_doc)["secrets"].GetArray()) sub_paths.insert(sec["secretPath"].GetString());
  CHECK(sub_paths == std::set<std::string>{"/app", "/app/deeper"});
}

TEST_CASE("secrets/raw: the error cases answer as the observed server does") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  auto missing_env = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=nope&secretPath=/", token);
  CHECK(missing_env.status == 200);
  CHECK(missing_env.body == R"({"secrets":[],"imports":[]})");
  auto missing_path = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/no/such", token);
  CHECK(missing_path.body == R"({"secrets":[],"imports":[]})");
  auto no_env = api.get("/v3/secrets/raw?workspaceSlug=demo-project", token);
  CHECK(no_env.status == 400);
  CHECK(core::get_string(*json(no_env.body), "message") == "Missing workspace id or environment");
  auto bad_slug = api.get("/v3/secrets/raw?workspaceSlug=nope&environment=dev", token);
  CHECK(bad_slug.status == 500);
  CHECK(core::get_string(*json(bad_slug.body), "error") == "Failed to find project by slug");
  auto no_token = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev", "");
  CHECK(no_token.status == 401);
  CHECK(core::get_string(*json(no_token.body), "message") == "Token missing");
  auto malformed = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev", "not.a.jwt");
  CHECK(malformed.status == 403);
  CHECK(core::get_string(*json(malformed.body), "error") == "TokenError");
  // An identity that is not a member of the project is refused.
  std::string other = api.login_universal("cid-other", "csecret-other");
  auto forbidden = api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev", other);
  CHECK(forbidden.status == 403);
  CHECK(api.get("/v2/workspace/demo-project", other).status == 403);
  CHECK(api.get("/v2/workspace/no-such-project", token).status == 404);
}

TEST_CASE("ETag: unchanged scope answers 304 with the same etag; a change through the admin endpoint is seen") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  std::string q = "/v3/secrets/raw?workspaceSlug=demo-project&environment=dev&secretPath=/&expandSecretReferences=true&include_imports=true";
  auto first = api.get(q, token);
  auto etag = first.header("etag");
  REQUIRE(etag.has_value());
  CHECK(etag->front() == '"');
  auto second = api.get(q, token, {{"If-None-Match", *etag}});
  CHECK(second.status == 304);
  CHECK(second.body.empty());
  CHECK(second.header("etag") == etag);

  auto set = api.admin_post("/sim/secrets", R"({"project":"demo-project","environment":"dev","path":"/","key":"DB_HOST","value":"db2.internal"})");
  REQUIRE(set.status == 200);
  CHECK(core::get_int(*json(set.body), "version") == 2);
  auto third = api.get(q, token, {{"If-None-Match", *etag}});
  REQUIRE(third.status == 200);
  CHECK(third.header("etag") != etag);
  auto v = values_of((*json(third.body))["secrets"]);
  CHECK(v["DB_HOST"] == "db2.internal");
  CHECK(v["DB_URL"] == "postgres://app:s3cr3t-pw@db2.internal:5432/app");  // references follow

  auto del = api.admin_post("/sim/secrets/delete", R"({"project":"demo-project","environment":"dev","path":"/","key":"MISSING_REF"})");
  CHECK(del.status == 200);
  CHECK(values_of((*json(api.get(q, token).body))["secrets"]).count("MISSING_REF") == 0);

  auto imp = api.admin_post("/sim/imports", R"({"project":"demo-project","environment":"dev","path":"/","importEnvironment":"prod","importPath":"/"})");
  CHECK(imp.status == 200);
  CHECK((*json(api.get(q, token).body))["imports"].Size() == 1);
}

TEST_CASE("tokens: renew returns the same token, TTL expiry and max TTL are enforced (simulated clock)") {
  auto s = start_sim();
  Api api(*s);
  auto login = json(api.post("/v1/auth/universal-auth/login", R"({"clientId":"cid","clientSecret":"csecret"})").body);
  std::string token = core::string_or(*login, "accessToken", "");
  std::string q = "/v3/secrets/raw?workspaceSlug=demo-project&environment=dev";

  s->advance_clock(50);
  auto renew = api.post("/v1/auth/token/renew", R"({"accessToken":")" + token + R"("})");
  REQUIRE(renew.status == 200);
  CHECK(core::get_string(*json(renew.body), "accessToken") == token);
  CHECK(core::get_int(*json(renew.body), "expiresIn") == 60);
  s->advance_clock(50);  // 100 s after login but 50 s after the renewal: still valid
  CHECK(api.get(q, token).status == 200);

  s->advance_clock(61);  // TTL passed since the renewal
  auto expired = api.get(q, token);
  CHECK(expired.status == 401);
  CHECK(core::get_string(*json(expired.body), "message") == "Failed to renew MI access token due to TTL expiration");

  // A fresh token renewed until the max TTL (300 s) would be passed is refused.
  std::string t2 = api.login_universal("cid", "csecret");
  for (int i = 0; i < 4; ++i) {
    s->advance_clock(55);
    REQUIRE(api.post("/v1/auth/token/renew", R"({"accessToken":")" + t2 + R"("})").status == 200);
  }
  s->advance_clock(55);  // 275 s: renewing would extend to 335 s > 300 s
  auto past = api.post("/v1/auth/token/renew", R"({"accessToken":")" + t2 + R"("})");
  CHECK(past.status == 401);
  CHECK(core::get_string(*json(past.body), "message") == "Failed to renew MI access token past its Max TTL expiration");
  CHECK(api.get(q, t2).status == 401);  // and the token is gone
}

TEST_CASE("rate limiting: 429 with Retry-After per route and IP, or 500 as the older server answers") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  REQUIRE(api.admin_post("/sim/rate-limit", R"({"mode":"429","limits":{"secrets":3}})").status == 200);
  std::string q = "/v3/secrets/raw?workspaceSlug=demo-project&environment=dev";
  for (int i = 0; i < 3; ++i) CHECK(api.get(q, token).status == 200);
  auto limited = api.get(q, token);
  CHECK(limited.status == 429);
  auto retry = limited.header("retry-after");
  REQUIRE(retry.has_value());
  CHECK(std::stoi(*retry) >= 1);
  CHECK(std::stoi(*retry) <= 60);
  CHECK(limited.header("x-ratelimit-limit") == "3");
  // Another client address (X-Forwarded-For, trustProxy) has its own budget; other routes too.
  CHECK(api.get(q, token, {{"X-Forwarded-For", "127.0.0.2"}}).status == 200);
  CHECK(api.get("/v2/workspace/demo-project", token).status == 200);
  // The window resets after a minute.
  s->advance_clock(61);
  token = api.login_universal("cid", "csecret");  // the 60 s TTL passed too
  CHECK(api.get(q, token).status == 200);

  REQUIRE(api.admin_post("/sim/rate-limit", R"({"mode":"500","limits":{"secrets":1}})").status == 200);
  CHECK(api.get(q, token).status == 200);
  auto old = api.get(q, token);
  CHECK(old.status == 500);
  CHECK(old.body == R"({"statusCode":500,"message":"Something went wrong","error":"InternalServerError"})");
  // The generic 500 still carries what the limiter had set: that is how a client tells it apart.
  CHECK(old.header("retry-after").has_value());
  CHECK(old.header("x-ratelimit-remaining") == "0");
}

TEST_CASE("the self-hosted limiter: per route, a fixed one-minute window, its headers on every answer") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  REQUIRE(api.admin_post("/sim/rate-limit", R"({"mode":"500","limits":{"secrets":40}})").status == 200);
  const std::string q = "/v3/secrets/raw?workspaceSlug=demo-project&environment=dev";
  auto header_int = [](const net::Response& r, const char* name) {
    auto h = r.header(name);
    REQUIRE_MESSAGE(h.has_value(), name << " missing on a " << r.status);
    return std::stoll(*h);
  };

  // Counting down, on a 200 and on a 304 alike.
  auto first = api.get(q, token);
  REQUIRE(first.status == 200);
  CHECK(header_int(first, "x-ratelimit-limit") == 40);
  CHECK(header_int(first, "x-ratelimit-remaining") == 39);
  CHECK(header_int(first, "x-ratelimit-reset") >= 59);  // rounded up: 60 unless this machine crawls
  CHECK(header_int(first, "x-ratelimit-reset") <= 60);
  CHECK_FALSE(first.header("retry-after").has_value());
  auto etag = first.header("etag");
  REQUIRE(etag.has_value());
  auto revalidated = api.get(q, token, {{"If-None-Match", *etag}});
  CHECK(revalidated.status == 304);
  CHECK(header_int(revalidated, "x-ratelimit-remaining") == 38);

  // An error the handler sends (no token) is counted and carries them too.
  auto bad = api.get(q, "");
  CHECK(bad.status == 401);
  CHECK(header_int(bad, "x-ratelimit-remaining") == 37);

  // Fixed, not sliding: half a minute later the same window has half a minute left.
  s->advance_clock(30);
  auto later = api.get(q, token);
  CHECK(header_int(later, "x-ratelimit-remaining") == 36);
  const int64_t later_reset = header_int(later, "x-ratelimit-reset");
  CHECK(later_reset <= 30);
  CHECK(later_reset >= 25);

  // Another route has its own window and limit (reads: 60).
  auto lookup = api.get("/v2/workspace/demo-project", token);
  CHECK(header_int(lookup, "x-ratelimit-limit") == 60);
  CHECK(header_int(lookup, "x-ratelimit-remaining") == 59);

  // The 41st: the older server's 500 with the limiter's headers and retry-after; refused requests
  // count as well, so asking again changes nothing.
  for (int i = 0; i < 36; ++i) REQUIRE(api.get(q, token).status == 200);
  for (int i = 0; i < 2; ++i) {
    auto refused = api.get(q, token);
    CHECK(refused.status == 500);
    CHECK(header_int(refused, "x-ratelimit-limit") == 40);
    CHECK(header_int(refused, "x-ratelimit-remaining") == 0);
    CHECK(header_int(refused, "x-ratelimit-reset") <= later_reset);
    CHECK(header_int(refused, "retry-after") == header_int(refused, "x-ratelimit-reset"));
  }
  auto c = s->counters();
  CHECK(c.by_route_status["GET /api/v3/secrets/raw 500"] == 2);
  CHECK(c.by_route_status["GET /api/v3/secrets/raw 200"] == 38);

  // When the window ends the next request opens a new one with the whole limit.
  s->advance_clock(30);
  token = api.login_universal("cid", "csecret");  // the sim's 60 s token TTL passed too
  auto fresh = api.get(q, token);
  CHECK(fresh.status == 200);
  CHECK(header_int(fresh, "x-ratelimit-remaining") == 39);
  CHECK(header_int(fresh, "x-ratelimit-reset") >= 59);
}

TEST_CASE("counters by route and identity, reset through the admin endpoint") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev", token);
  api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev", token);
  api.post("/v1/auth/universal-auth/login", R"({"clientId":"cid","clientSecret":"bad"})");
  auto c = api.admin_get("/sim/counters");
  REQUIRE(c.status == 200);
  auto doc = json(c.body);
  CHECK((*doc)["byRoute"]["GET /api/v3/secrets/raw"].GetInt() == 2);
  CHECK((*doc)["byRoute"]["POST /api/v1/auth/universal-auth/login"].GetInt() == 2);
  CHECK((*doc)["byIdentity"]["id-ua"]["POST /api/v1/auth/universal-auth/login"].GetInt() == 2);
  CHECK((*doc)["byIdentity"]["id-ua"]["GET /api/v3/secrets/raw"].GetInt() == 2);
  CHECK(s->counters().total == 4);
  CHECK(api.admin_post("/sim/counters/reset", "{}").status == 200);
  CHECK(s->counters().total == 0);
  CHECK(api.admin_get("/sim/counters", "wrong-token").status == 401);
}

TEST_CASE("fault injection: a counted number of errors, then normal answers; latency makes a client time out") {
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  std::string q = "/v3/secrets/raw?workspaceSlug=demo-project&environment=dev";
  REQUIRE(api.admin_post("/sim/errors", R"({"route":"GET /api/v3/secrets/raw","status":503,"count":2,"message":"maintenance"})").status == 200);
  CHECK(api.get(q, token).status == 503);
  CHECK(api.get(q, token).status == 503);
  CHECK(api.get(q, token).status == 200);

  REQUIRE(api.admin_post("/sim/latency", R"({"route":"GET /api/v3/secrets/raw","ms":3000})").status == 200);
  net::Request r;
  r.url = s->api_url() + q;
  r.headers = {{"Authorization", "Bearer " + token}};
  r.total_timeout = std::chrono::milliseconds(300);
  bool timed_out = false;
  try {
    api.http.perform(r);
  } catch (const net::TransportError& e) {
    timed_out = e.is_timeout();
  }
  CHECK(timed_out);
  REQUIRE(api.admin_post("/sim/latency", R"({"route":"GET /api/v3/secrets/raw","ms":0})").status == 200);
  CHECK(api.get(q, token).status == 200);
  // Bad admin input is a 400 naming the field, never a crash.
  auto bad = api.admin_post("/sim/errors", R"({"route":"x","status":42})");
  CHECK(bad.status == 400);
  CHECK(core::string_or(*json(bad.body), "message", "").find("status") != std::string::npos);
}

TEST_CASE("many clients at once: sixteen connections are served together, as the real server serves them") {
  // The real server (Node.js behind a load balancer) takes as many connections as clients open; a
  // simulator serving eight at a time (httplib's default pool on a small machine, each keep-alive
  // connection holding a thread) would make a client that asks for many scopes at once look no
  // faster than one that asks eight at a time.
  auto s = start_sim();
  Api api(*s);
  std::string token = api.login_universal("cid", "csecret");
  // Long enough for the last client's connection to arrive while the first request is still held,
  // on a loaded CI machine too (at 600 ms one of sixteen once came too late).
  REQUIRE(api.admin_post("/sim/latency", R"({"route":"GET /api/v3/secrets/raw","ms":3000})").status == 200);
  constexpr int kClients = 16;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&] {
      if (api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev", token).status == 200) ++ok;
    });
  for (auto& c : clients) c.join();
  CHECK(ok.load() == kClients);
  auto c = api.admin_get("/sim/counters");
  REQUIRE(c.status == 200);
  CHECK((*json(c.body))["maxInFlight"].GetInt() == kClients);
}

TEST_CASE("service tokens: GET /v2/service-token describes the token; secrets are read within its scopes only") {
  auto s = start_sim();
  Api api(*s);
  auto desc = api.get("/v2/service-token", "st.st1.stsecret");
  REQUIRE(desc.status == 200);
  auto d = json(desc.body);
  auto ws = json(api.get("/v2/workspace/demo-project", api.login_universal("cid", "csecret")).body);
  CHECK(core::get_string(*d, "workspace") == core::get_string(*ws, "id"));
  CHECK(core::get_string(*d, "environment") == "dev");
  // The single non-glob scope overrides what the query asks for.
  auto r = api.get("/v3/secrets/raw?environment=prod&secretPath=/app", "st.st1.stsecret.key");
  REQUIRE(r.status == 200);
  CHECK(values_of((*json(r.body))["secrets"]).count("DB_HOST") == 1);
  // Several scopes: the query must fall inside one of them.
  CHECK(api.get("/v3/secrets/raw?environment=dev&secretPath=/app/deeper", "st.st2.stsecret2.k").status == 200);
  CHECK(api.get("/v3/secrets/raw?environment=staging&secretPath=/nested", "st.st2.stsecret2.k").status == 403);
  CHECK(api.get("/v2/service-token", "st.st1.wrong").status == 401);
  CHECK(api.get("/v2/service-token", "st.nope.stsecret").status == 404);
}

TEST_CASE("kubernetes auth: the sim asks the configured API server's TokenReview and checks the service account") {
  // A TokenReview stub standing in for kube-sim: it knows two tokens and checks the reviewer's bearer.
  httplib::Server kube;
  std::atomic<int> reviews{0};
  std::string reviewer_seen;
  kube.Post("/apis/authentication.k8s.io/v1/tokenreviews", [&](const httplib::Request& req, httplib::Response& res) {
    reviews++;
    reviewer_seen = req.get_header_value("Authorization");
    if (reviewer_seen != "Bearer reviewer-token") {
      res.status = 401;
      res.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})", "application/json");
      return;
    }
    auto doc = core::parse_json(req.body);
    std::string token = doc ? (**doc)["spec"]["token"].GetString() : "";
    std::string user = token == "good-sa-jwt" ? "system:serviceaccount:infra:operator"
                       : token == "other-ns-jwt" ? "system:serviceaccount:default:operator" : "";
    std::string status = user.empty() ? R"({"authenticated":false,"error":"invalid bearer token"})"
                                      : R"({"authenticated":true,"user":{"username":")" + user + R"("},"audiences":["infisical"]})";
    res.set_content(R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":)" + status + "}", "application/json");
  });
  int kube_port = kube.bind_to_any_port("127.0.0.1");
  std::thread kube_thread([&] { kube.listen_after_bind(); });

  auto s = start_sim();
  s->set_kubernetes("http://127.0.0.1:" + std::to_string(kube_port), "", "reviewer-token");
  Api api(*s);
  auto ok = api.post("/v1/auth/kubernetes-auth/login", R"({"identityId":"id-k8s","jwt":"good-sa-jwt"})");
  CHECK(ok.status == 200);
  CHECK(reviewer_seen == "Bearer reviewer-token");
  std::string token = core::string_or(*json(ok.body), "accessToken", "");
  CHECK(api.get("/v3/secrets/raw?workspaceSlug=demo-project&environment=dev", token).status == 200);

  auto bad_ns = api.post("/v1/auth/kubernetes-auth/login", R"({"identityId":"id-k8s","jwt":"other-ns-jwt"})");
  CHECK(bad_ns.status == 401);
  CHECK(core::get_string(*json(bad_ns.body), "message") == "Access denied: K8s namespace not allowed.");
  auto bad_token = api.post("/v1/auth/kubernetes-auth/login", R"({"identityId":"id-k8s","jwt":"garbage"})");
  CHECK(bad_token.status == 401);
  CHECK(core::get_string(*json(bad_token.body), "message") == "invalid bearer token");
  auto unknown = api.post("/v1/auth/kubernetes-auth/login", R"({"identityId":"id-ua","jwt":"good-sa-jwt"})");
  CHECK(unknown.status == 404);
  s->set_kubernetes("http://127.0.0.1:" + std::to_string(kube_port), "", "wrong-reviewer");
  auto bad_reviewer = api.post("/v1/auth/kubernetes-auth/login", R"({"identityId":"id-k8s","jwt":"good-sa-jwt"})");
  CHECK(bad_reviewer.status == 401);
  CHECK(core::get_string(*json(bad_reviewer.body), "error") == "KubernetesTokenReviewRequestError");
  CHECK(reviews.load() == 4);  // the 404 never reached the API server
  kube.stop();
  kube_thread.join();
}

TEST_CASE("HTTPS mode: a client trusting the generated CA connects; one without it fails the TLS handshake") {
  auto s = start_sim(true);
  REQUIRE(s->api_url().rfind("https://127.0.0.1:", 0) == 0);
  REQUIRE(s->ca_pem().find("BEGIN CERTIFICATE") != std::string::npos);
  net::TlsOptions tls;
  tls.ca_pem = s->ca_pem();
  net::HttpClient trusted(tls);
  net::Request r;
  r.method = "POST";
  r.url = s->api_url() + "/v1/auth/universal-auth/login";
  r.headers = {{"Content-Type", "application/json"}};
  r.body = R"({"clientId":"cid","clientSecret":"csecret"})";
  CHECK(trusted.perform(r).status == 200);

  net::HttpClient untrusted;
  bool tls_error = false;
  try {
    untrusted.perform(r);
  } catch (const net::TransportError& e) {
    tls_error = e.kind() == net::TransportError::Kind::kTls;
  }
  CHECK(tls_error);
}

TEST_CASE("a bad seed is refused with the JSON path of the problem") {
  sim::SimOptions o;
  o.seed_json = R"({"projects":[{"slug":"p","secrets":[{"environment":"nope","key":"K"}]}]})";
  try {
    sim::InfisicalSim::start(o);
    FAIL("a bad seed was accepted");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()) == "seed: $.projects[0].secrets[0].environment: unknown environment \"nope\" in project \"p\"");
  }
  o.seed_json = "{";
  CHECK_THROWS(sim::InfisicalSim::start(o));
}

TEST_CASE("infisical-sim executable: --help, a wrong flag exits 2 with one line, ports file for scripts") {
  const char* build = std::getenv("IFO_BUILD_ROOT");
  REQUIRE(build != nullptr);
  std::string exe = std::string(build) + "/tests/sim/infisical/infisical-sim";
  auto run = [](const std::string& cmd, std::string& out) {
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[512];
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  std::string help;
  CHECK(run(exe + " --help", help) == 0);
  CHECK(help.find("--ports-file") != std::string::npos);
  std::string wrong;
  CHECK(run(exe + " --bogus", wrong) == 2);
  CHECK(wrong ==
        "infisical-sim: unknown flag --bogus (see --help)\n");  // the binaries' wording (core/flag_set.h)
  std::string bad_port;
  CHECK(run(exe + " --port x", bad_port) == 2);
  CHECK(bad_port == "infisical-sim: flag --port: \"x\" is not a port number (0-65535)\n");
  std::string equals;  // --flag=value, as every binary takes it
  CHECK(run(exe + " --port=70000", equals) == 2);
  CHECK(equals.find("\"70000\"") != std::string::npos);
  std::string missing_seed;
  CHECK(run(exe + " --seed /nonexistent/seed.json", missing_seed) == 2);
  CHECK(missing_seed == "infisical-sim: --seed: cannot read \"/nonexistent/seed.json\"\n");
}

TEST_CASE("infisical-sim executable: serves the seed, writes its ports file, stops on SIGTERM") {
  const char* build = std::getenv("IFO_BUILD_ROOT");
  const char* source = std::getenv("IFO_SOURCE_ROOT");
  REQUIRE(build != nullptr);
  REQUIRE(source != nullptr);
  std::string exe = std::string(build) + "/tests/sim/infisical/infisical-sim";
  std::string seed = std::string(source) + "/tests/sim/infisical/example-seed.json";
  char dir_template[] = "/tmp/infisical-sim-test-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  std::string ports = std::string(dir_template) + "/ports.json";
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execl(exe.c_str(), exe.c_str(), "--seed", seed.c_str(), "--ports-file", ports.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string text;
  for (int i = 0; i < 300 && text.empty(); ++i) {  // up to 30 s on a loaded machine
    std::ifstream in(ports);
    if (in) text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (text.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE_FALSE(text.empty());
  auto p = json(text);
  std::string api_url = core::string_or(*p, "apiUrl", "");
  CHECK(api_url.rfind("http://127.0.0.1:", 0) == 0);
  net::HttpClient http;
  net::Request r;
  r.method = "POST";
  r.url = api_url + "/v1/auth/universal-auth/login";
  r.headers = {{"Content-Type", "application/json"}};
  r.body = R"({"clientId":"demo-client-id","clientSecret":"demo-client-secret"})";
  CHECK(http.perform(r).status == 200);
  net::Request c;
  c.url = api_url.substr(0, api_url.size() - 4) + "/sim/counters";
  c.headers = {{"Authorization", "Bearer " + core::string_or(*p, "adminToken", "")}};
  CHECK(http.perform(c).status == 200);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::remove(ports.c_str());
  rmdir(dir_template);
}
