// The Infisical client against infisical-sim (real verification of every login) over loopback HTTP(S):
// auth methods, shared tokens, renewal, ETags, merge determinism, error values, and clean logs.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/json.h"
#include "infisical/client.h"
#include "infisical_sim.h"
#include "sim/kube/modules.h"
#include "sim/kube/server.h"
#include "sim_test_support.h"

using namespace ifo::infisical;
using ifo::sim::InfisicalSim;

namespace {

constexpr const char* kUaClientId = "ua-client-id";
constexpr const char* kUaClientSecret = "ua-client-secret-8f3e2d1c0b9a";
constexpr const char* kUaIdentity = "6b2f8a0e-0000-4000-8000-0000000000a1";
constexpr const char* kK8sIdentity = "6b2f8a0e-0000-4000-8000-0000000000a2";
constexpr const char* kLdapIdentity = "6b2f8a0e-0000-4000-8000-0000000000a3";
constexpr const char* kLdapPassword = "ldap-pw-5e4d3c2b1a";
constexpr const char* kServiceToken = "st.64f1a2b3c4d5e6f7a8b9c0d1.0123456789abcdef0123456789abcdef.fedcba9876543210";
// Values that must never appear in a log line.
const std::vector<std::string> kSecretValues = {"s3cr3t-pw", "db.internal", "from-staging", "root-dup-value",
                                                "app-dup-value", "dev-api-key", kUaClientSecret, kLdapPassword,
                                                "0123456789abcdef0123456789abcdef"};

std::string seed() {
  return fmt::format(R"({{
  "projects": [{{
    "slug": "demo-project", "name": "Demo",
    "environments": [{{"slug": "dev", "name": "Development"}}, {{"slug": "staging", "name": "Staging"}}],
    "secrets": [
      {{"environment": "dev", "path": "/", "key": "DB_HOST", "value": "db.internal"}},
      {{"environment": "dev", "path": "/", "key": "DB_PASSWORD", "value": "s3cr3t-pw"}},
      {{"environment": "dev", "path": "/", "key": "DB_URL", "value": "postgres://app:${{DB_PASSWORD}}@${{DB_HOST}}:5432/app"}},
      {{"environment": "dev", "path": "/", "key": "DUP", "value": "root-dup-value"}},
      {{"environment": "dev", "path": "/app", "key": "DUP", "value": "app-dup-value"}},
      {{"environment": "dev", "path": "/app", "key": "API_KEY", "value": "dev-api-key"}},
      {{"environment": "dev", "path": "/app", "key": "HOST_REF", "value": "${{dev.DB_HOST}}"}},
      {{"environment": "staging", "path": "/", "key": "SHARED_FLAG", "value": "from-staging"}},
      {{"environment": "staging", "path": "/", "key": "DB_HOST", "value": "staging-host"}}
    ],
    "imports": [{{"environment": "dev", "path": "/", "importEnvironment": "staging", "importPath": "/"}}]
  }}],
  "identities": [
    {{"id": "{}", "name": "ua", "projects": ["demo-project"], "accessTokenTTL": 100, "accessTokenMaxTTL": 250,
      "universalAuth": {{"clientId": "{}", "clientSecret": "{}"}}}},
    {{"id": "{}", "name": "k8s", "projects": ["demo-project"], "accessTokenTTL": 100, "accessTokenMaxTTL": 100,
      "kubernetesAuth": {{"allowedNamespaces": "team-a", "allowedNames": "app"}}}},
    {{"id": "{}", "name": "ldap", "projects": ["demo-project"],
      "ldapAuth": {{"username": "svc-infisical", "password": "{}"}}}}
  ],
  "serviceTokens": [
    {{"id": "64f1a2b3c4d5e6f7a8b9c0d1", "secret": "0123456789abcdef0123456789abcdef", "key": "fedcba9876543210",
      "name": "legacy", "project": "demo-project", "scopes": [{{"environment": "dev", "secretPath": "/"}}]}}
  ]
}})",
                     kUaIdentity, kUaClientId, kUaClientSecret, kK8sIdentity, kLdapIdentity, kLdapPassword);
}

// kube-sim with its service-account modules: TokenRequest mints the JWTs, and infisical-sim verifies
// them through kube-sim's TokenReview, as a real Infisical does against a real cluster.
class Kube {
 public:
  Kube() {
    ifo::kubesim::Options o;
    sim_ = std::make_unique<ifo::kubesim::KubeSim>(o);
    modules_ = ifo::kubesim::install_modules(*sim_, ifo::kubesim::ModulesOptions{});
    sim_->start();
    ifo::net::TlsOptions tls;
    tls.ca_pem = sim_->ca_pem();
    http_ = std::make_unique<ifo::net::HttpClient>(tls);
    post("/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}})");
    post("/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-b"}})");
    post("/api/v1/namespaces/team-a/serviceaccounts", R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"app"}})");
    post("/api/v1/namespaces/team-b/serviceaccounts", R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"app"}})");
  }
  ~Kube() { sim_->stop(); }
  // What the syncer does for every login: TokenRequest for the service account (10 minutes).
  std::string token_request(const std::string& ns, const std::string& name) {
    auto r = post("/api/v1/namespaces/" + ns + "/serviceaccounts/" + name + "/token",
                  R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}})");
    auto doc = ifo::core::parse_json(r.body);
    const auto* status = ifo::core::member(**doc, "status");
    return status == nullptr ? "" : ifo::core::string_or(*status, "token", "");
  }
  std::string url() const { return sim_->url(); }
  std::string ca_pem() const { return sim_->ca_pem(); }
  std::string reviewer_token() const { return sim_->token(); }

 private:
  ifo::net::Response post(const std::string& path, const std::string& body) {
    ifo::net::Request r;
    r.method = "POST";
    r.url = sim_->url() + path;
    r.headers = {{"Authorization", "Bearer " + sim_->token()}, {"Content-Type", "application/json"}};
    r.body = body;
    auto resp = http_->perform(r);
    REQUIRE_MESSAGE(resp.status < 300, path, " answered ", resp.status, ": ", resp.body);
    return resp;
  }
  std::unique_ptr<ifo::kubesim::KubeSim> sim_;
  std::unique_ptr<ifo::kubesim::Modules> modules_;
  std::unique_ptr<ifo::net::HttpClient> http_;
};

struct Env {
  std::unique_ptr<InfisicalSim> sim;
  ifo::core::FakeClock clock;
  std::ostringstream log_text;
  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<Client> client;
  HostConfig host;
  UniversalAuth ua{kUaClientId, kUaClientSecret};
  std::vector<std::string> tokens_seen;  // every access token handed out, to check the logs

  explicit Env(bool tls = false, ClientOptions options = {}) {
    ifo::sim::SimOptions so;
    so.seed_json = seed();
    so.tls = tls;
    sim = InfisicalSim::start(so);
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
    logger = std::make_shared<spdlog::logger>("infisical", sink);
    logger->set_level(spdlog::level::trace);
    client = std::make_unique<Client>(options, clock, CloudEnv{}, logger);
    host = HostConfig{sim->api_url(), sim->ca_pem()};
  }
  ~Env() { check_logs_clean(); }

  int64_t count(const std::string& route) {
    auto c = sim->counters();
    auto it = c.by_route.find(route);
    return it == c.by_route.end() ? 0 : it->second;
  }
  void admin(const std::string& path, const std::string& body) {
    ifo::sim::test::Api api(*sim);
    auto r = api.admin_post(path, body);
    REQUIRE_MESSAGE(r.status == 200, path, " answered ", r.status, ": ", r.body);
  }
  void advance(int seconds) {  // both clocks, so that the sim agrees on what has expired
    clock.step(std::chrono::seconds(seconds));
    sim->advance_clock(seconds);
  }
  std::string token(const AuthConfig& auth) {
    auto t = client->token(host, auth).access_token;
    tokens_seen.push_back(t);
    return t;
  }
  void check_logs_clean() {
    logger->flush();
    std::string text = log_text.str();
    CHECK_MESSAGE(!text.empty(), "the client logged nothing: the check below would prove nothing");
    for (const auto& s : kSecretValues) CHECK_MESSAGE(text.find(s) == std::string::npos, "log contains ", s);
    for (const auto& t : tokens_seen) CHECK_MESSAGE(text.find(t) == std::string::npos, "log contains an access token");
  }
};

const SecretsScope kRoot{"", "demo-project", "dev", "/", false};

template <typename F>
ApiError expect_error(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  FAIL("expected an ApiError");
  return ApiError(ErrorKind::kNetwork, "unreachable");
}

}  // namespace

TEST_CASE("universal auth: login and fetch with references expanded and imports merged") {
  Env env;
  auto r = env.client->fetch_secrets(env.host, env.ua, kRoot);
  CHECK(r.secrets.at("DB_URL") == "postgres://app:s3cr3t-pw@db.internal:5432/app");
  CHECK(r.secrets.at("DB_HOST") == "db.internal");  // own folder beats the staging import
  CHECK(r.secrets.at("SHARED_FLAG") == "from-staging");
  CHECK(r.secrets.count("API_KEY") == 0);  // /app is not read without recursive
  CHECK_FALSE(r.etag.empty());
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 1);
  CHECK(env.count("GET /api/v2/workspace/{slug}") == 1);
  env.token(env.ua);

  // Cross-path reference in /app.
  auto app = env.client->fetch_secrets(env.host, env.ua, SecretsScope{"", "demo-project", "dev", "/app", false});
  CHECK(app.secrets.at("HOST_REF") == "db.internal");
  CHECK(env.count("GET /api/v2/workspace/{slug}") == 1);  // slug -> id is cached
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 1);
}

TEST_CASE("universal auth: wrong credentials fail with the method and the reason") {
  Env env;
  auto wrong = expect_error([&] { env.client->token(env.host, UniversalAuth{kUaClientId, "not-the-secret-123"}); });
  CHECK(wrong.kind() == ErrorKind::kUnauthorized);
  std::string msg = wrong.what();
  CHECK(msg.find("universal-auth") != std::string::npos);
  CHECK(msg.find("Invalid credentials") != std::string::npos);
  CHECK(msg.find("not-the-secret-123") == std::string::npos);

  auto unknown = expect_error([&] { env.client->token(env.host, UniversalAuth{"no-such-client", "whatever-secret"}); });
  CHECK(unknown.kind() == ErrorKind::kNotFound);
  CHECK(std::string(unknown.what()).find("No identity with specified client ID") != std::string::npos);

  // Repeated attempts within a minute do not reach the server.
  for (int i = 0; i < 5; ++i) CHECK_THROWS_AS(env.client->token(env.host, UniversalAuth{kUaClientId, "not-the-secret-123"}), ApiError);
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 2);
  env.advance(61);
  CHECK_THROWS_AS(env.client->token(env.host, UniversalAuth{kUaClientId, "not-the-secret-123"}), ApiError);
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 3);
  env.token(env.ua);
}

TEST_CASE("ldap auth: the directory user logs in; a wrong password is a 401 naming the method, never the password") {
  Env env;
  LdapAuth ldap{kLdapIdentity, "svc-infisical", kLdapPassword};
  auto r = env.client->fetch_secrets(env.host, ldap, kRoot);
  CHECK(r.secrets.at("DB_PASSWORD") == "s3cr3t-pw");
  CHECK(env.count("POST /api/v1/auth/ldap-auth/login") == 1);
  CHECK(env.sim->counters().by_identity[kLdapIdentity]["GET /api/v3/secrets/raw"] == 1);
  env.token(ldap);
  CHECK(env.count("POST /api/v1/auth/ldap-auth/login") == 1);  // the token is shared

  auto wrong = expect_error([&] { env.client->token(env.host, LdapAuth{kLdapIdentity, "svc-infisical", "wrong-password-9"}); });
  CHECK(wrong.kind() == ErrorKind::kUnauthorized);
  CHECK(wrong.status() == 401);
  std::string msg = wrong.what();
  CHECK(msg.find("ldap-auth login for identity " + std::string(kLdapIdentity)) != std::string::npos);
  CHECK(msg.find("LDAP authentication failed") != std::string::npos);
  CHECK(msg.find("wrong-password-9") == std::string::npos);
  CHECK(env.count("POST /api/v1/auth/ldap-auth/login") == 2);  // another password is another identity key

  auto empty = expect_error([&] { env.client->token(env.host, LdapAuth{kLdapIdentity, "svc-infisical", ""}); });
  CHECK(empty.kind() == ErrorKind::kInvalidConfig);
  CHECK(env.count("POST /api/v1/auth/ldap-auth/login") == 2);
}

TEST_CASE("single secret: one key from GET /v3/secrets/raw/{name}, no ETag, asked every time; missing is NotFound") {
  Env env;
  SecretsScope one{"", "demo-project", "dev", "/", false, "DB_URL"};
  auto r = env.client->fetch_secrets(env.host, env.ua, one);
  CHECK(r.secrets == std::map<std::string, std::string>{{"DB_URL", "postgres://app:s3cr3t-pw@db.internal:5432/app"}});
  CHECK(r.etag.empty());
  CHECK_FALSE(r.not_modified);
  // The whole folder of the same identity is another scope: its own request, and its own ETag.
  auto all = env.client->fetch_secrets(env.host, env.ua, kRoot);
  CHECK(all.secrets.size() > 1);
  CHECK_FALSE(all.etag.empty());
  // Read again: a plain GET (upstream sends no If-None-Match here), so never a 304.
  auto again = env.client->fetch_secrets(env.host, env.ua, one, FetchOptions{all.etag});
  CHECK_FALSE(again.not_modified);
  CHECK(again.secrets.size() == 1);
  auto c = env.sim->counters();
  CHECK(c.by_route_status["GET /api/v3/secrets/raw/{secretName} 200"] == 2);
  CHECK(c.by_route_status["GET /api/v3/secrets/raw/{secretName} 304"] == 0);
  // From the staging import, as the list would give it.
  SecretsScope imported{"", "demo-project", "dev", "/", false, "SHARED_FLAG"};
  CHECK(env.client->fetch_secrets(env.host, env.ua, imported).secrets.at("SHARED_FLAG") == "from-staging");

  SecretsScope missing{"", "demo-project", "dev", "/app", false, "NO_SUCH_SECRET"};
  auto e = expect_error([&] { env.client->fetch_secrets(env.host, env.ua, missing); });
  CHECK(e.kind() == ErrorKind::kNotFound);
  CHECK(e.status() == 404);
  std::string msg = e.what();
  CHECK(msg.find("secret NO_SUCH_SECRET") != std::string::npos);
  CHECK(msg.find("path /app") != std::string::npos);
  CHECK(msg.find("Secret not found") != std::string::npos);
  env.token(env.ua);
}

TEST_CASE("kubernetes auth: a TokenRequest JWT verified through kube-sim's TokenReview; a fresh one per login") {
  Env env;
  Kube kube;
  env.sim->set_kubernetes(kube.url(), kube.ca_pem(), kube.reviewer_token());
  std::vector<std::string> minted;
  std::mutex mu;
  KubernetesAuth k{kK8sIdentity, "team-a/app", [&] {
                     auto jwt = kube.token_request("team-a", "app");
                     std::lock_guard lock(mu);
                     minted.push_back(jwt);
                     return jwt;
                   }};
  auto r = env.client->fetch_secrets(env.host, k, kRoot);
  CHECK(r.secrets.at("DB_PASSWORD") == "s3cr3t-pw");
  env.token(k);
  CHECK(minted.size() == 1);
  env.advance(95);  // TTL == max TTL: the token cannot be renewed, so the client logs in again
  env.token(k);
  REQUIRE(minted.size() == 2);
  CHECK(minted[0] != minted[1]);
  CHECK_FALSE(minted[0].empty());
  CHECK(env.count("POST /api/v1/auth/kubernetes-auth/login") == 2);
  env.tokens_seen.insert(env.tokens_seen.end(), minted.begin(), minted.end());

  // A service account outside the allowed namespace is refused, and the message says why.
  KubernetesAuth other{kK8sIdentity, "team-b/app", [&] { return kube.token_request("team-b", "app"); }};
  auto err = expect_error([&] { env.client->token(env.host, other); });
  CHECK(err.kind() == ErrorKind::kUnauthorized);
  CHECK(std::string(err.what()).find("kubernetes-auth") != std::string::npos);
  CHECK(std::string(err.what()).find("namespace not allowed") != std::string::npos);

  // A token kube-sim did not issue fails TokenReview.
  KubernetesAuth forged{kK8sIdentity, "team-a/forged", [] { return std::string("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"); }};
  auto bad = expect_error([&] { env.client->token(env.host, forged); });
  CHECK(bad.kind() == ErrorKind::kUnauthorized);
  CHECK(std::string(bad.what()).find("kubernetes-auth") != std::string::npos);
}

TEST_CASE("service token: project from the token, secrets fetched") {
  Env env;
  auto r = env.client->fetch_secrets(env.host, ServiceTokenAuth{kServiceToken}, SecretsScope{"", "", "dev", "/", false});
  CHECK(r.secrets.at("DB_PASSWORD") == "s3cr3t-pw");
  CHECK(env.count("GET /api/v2/service-token") == 1);
  auto bad = expect_error([&] { env.client->token(env.host, ServiceTokenAuth{"st.64f1a2b3c4d5e6f7a8b9c0d1.wrongsecret.k"}); });
  CHECK(bad.kind() == ErrorKind::kUnauthorized);
  CHECK(std::string(bad.what()).find("service-token") != std::string::npos);
  CHECK(std::string(bad.what()).find("wrongsecret") == std::string::npos);
}

TEST_CASE("50 concurrent callers for one identity cause exactly one login") {
  Env env;
  env.admin("/sim/latency", R"({"route":"POST /api/v1/auth/universal-auth/login","ms":300})");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::mutex mu;
  std::set<std::string> tokens;
  for (int i = 0; i < 50; ++i)
    threads.emplace_back([&] {
      auto t = env.client->token(env.host, env.ua).access_token;
      std::lock_guard lock(mu);
      tokens.insert(t);
      ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 50);
  CHECK(tokens.size() == 1);
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 1);
  CHECK(env.client->metrics().token_cache_misses >= 2);  // callers really waited for the one login
  env.tokens_seen.insert(env.tokens_seen.end(), tokens.begin(), tokens.end());
  env.client->fetch_secrets(env.host, env.ua, kRoot);
}

TEST_CASE("a token near expiry is renewed; past the max TTL the client logs in again") {
  Env env;
  auto first = env.token(env.ua);
  env.advance(85);  // TTL 100: inside the renewal window
  CHECK(env.token(env.ua) == first);  // the server renews the same token string
  CHECK(env.count("POST /api/v1/auth/token/renew") == 1);
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 1);
  auto r = env.client->fetch_secrets(env.host, env.ua, kRoot);  // the renewed token works
  CHECK(r.secrets.at("DB_HOST") == "db.internal");
  env.advance(85);  // 170 s since login: less than one TTL left of the 250 s max TTL -> login
  auto second = env.token(env.ua);
  CHECK(second != first);
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 2);
  CHECK(env.count("POST /api/v1/auth/token/renew") == 1);
  env.client->fetch_secrets(env.host, env.ua, kRoot);
}

TEST_CASE("a 401 on a fetch (token expired on the server) re-logs in once") {
  Env env;
  env.token(env.ua);
  env.sim->advance_clock(120);  // only the server's clock: the client still believes its token is fresh
  auto r = env.client->fetch_secrets(env.host, env.ua, kRoot);
  CHECK(r.secrets.at("DB_HOST") == "db.internal");
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 2);
  CHECK(env.count("GET /api/v2/workspace/{slug}") == 2);  // the lookup met the 401 and was retried
}

TEST_CASE("ETag: an unchanged scope answers 304 and the caller gets 'not modified'; a change is seen") {
  Env env;
  auto first = env.client->fetch_secrets(env.host, env.ua, kRoot);
  auto again = env.client->fetch_secrets(env.host, env.ua, kRoot, FetchOptions{first.etag, std::chrono::seconds(0)});
  CHECK(again.not_modified);
  CHECK(again.secrets == first.secrets);
  CHECK(env.client->metrics().secrets_not_modified == 1);
  CHECK(env.client->metrics().requests.get("GET /v3/secrets/raw", 304) == 1);

  env.sim->set_secret("demo-project", "dev", "/", "DB_PASSWORD", "rotated-pw-2");
  auto changed = env.client->fetch_secrets(env.host, env.ua, kRoot, FetchOptions{first.etag, std::chrono::seconds(0)});
  CHECK_FALSE(changed.not_modified);
  CHECK(changed.secrets.at("DB_PASSWORD") == "rotated-pw-2");
  CHECK(changed.secrets.at("DB_URL") == "postgres://app:rotated-pw-2@db.internal:5432/app");
  CHECK(changed.etag != first.etag);
  CHECK(env.count("GET /api/v3/secrets/raw") == 3);
}

TEST_CASE("recursive fetch: duplicate keys resolve the same way whatever the server's order") {
  Env env;
  SecretsScope rec{"", "demo-project", "dev", "/", true};
  std::map<std::string, std::string> expected;
  for (int round = 0; round < 8; ++round) {
    env.admin("/sim/reshuffle", "{}");  // new random ids: a new order of secrets[]
    auto r = env.client->fetch_secrets(env.host, env.ua, rec);
    CHECK(r.secrets.at("DUP") == "root-dup-value");
    CHECK(r.secrets.at("API_KEY") == "dev-api-key");
    CHECK(r.secrets.at("DB_HOST") == "db.internal");
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("DUP") != std::string::npos);
    CHECK(r.warnings[0].find("/app") != std::string::npos);
    if (round == 0) expected = r.secrets;
    CHECK(r.secrets == expected);
  }
  // The warning was logged, naming the key only.
  env.logger->flush();
  CHECK(env.log_text.str().find("secret DUP is defined in several folders") != std::string::npos);
}

TEST_CASE("concurrent fetches of one scope share one HTTP request") {
  Env env;
  env.token(env.ua);
  env.client->fetch_secrets(env.host, env.ua, kRoot);  // slug resolved, token cached
  env.sim->reset_counters();
  env.admin("/sim/latency", R"({"route":"GET /api/v3/secrets/raw","ms":300})");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&] {
      if (env.client->fetch_secrets(env.host, env.ua, kRoot).secrets.at("DB_HOST") == "db.internal") ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 20);
  CHECK(env.count("GET /api/v3/secrets/raw") == 1);
}

TEST_CASE("429, and the older server's 500 with the limiter's headers, are rate limits; nothing retries") {
  Env env;
  env.client->fetch_secrets(env.host, env.ua, kRoot);
  env.admin("/sim/rate-limit", R"({"mode":"429","limits":{"GET /api/v3/secrets/raw":2}})");
  env.sim->reset_counters();
  env.client->fetch_secrets(env.host, env.ua, kRoot);
  env.client->fetch_secrets(env.host, env.ua, kRoot);
  auto limited = expect_error([&] { env.client->fetch_secrets(env.host, env.ua, kRoot); });
  CHECK(limited.kind() == ErrorKind::kRateLimited);
  CHECK(limited.status() == 429);
  REQUIRE(limited.retry_after().has_value());
  CHECK(limited.retry_after()->count() > 0);
  CHECK(limited.retry_after()->count() <= 60);
  CHECK(env.count("GET /api/v3/secrets/raw") == 3);

  env.admin("/sim/rate-limit", R"({"mode":"500","limits":{"GET /api/v3/secrets/raw":2}})");  // new window
  env.client->fetch_secrets(env.host, env.ua, kRoot);
  env.client->fetch_secrets(env.host, env.ua, kRoot);
  auto old = expect_error([&] { env.client->fetch_secrets(env.host, env.ua, kRoot); });
  CHECK(old.kind() == ErrorKind::kRateLimited);
  CHECK(old.status() == 500);
  REQUIRE(old.retry_after().has_value());
  CHECK(old.retry_after()->count() > 0);
  REQUIRE(old.rate_limit().has_value());  // attributed to the route that refused
  CHECK(old.rate_limit()->endpoint == "GET /v3/secrets/raw");
  CHECK(old.rate_limit()->limit == 2);
  CHECK(old.rate_limit()->remaining == 0);
  CHECK(env.count("GET /api/v3/secrets/raw") == 6);
  CHECK(env.count("POST /api/v1/auth/universal-auth/login") == 0);  // an error on secrets is not a reason to log in
}

TEST_CASE("an answer past the size limit, or a scope past the key limit, fails the fetch naming the limit") {
  ClientOptions opts;
  opts.max_response_bytes = 64 * 1024;
  opts.max_keys_per_scope = 40;
  Env env(false, opts);
  CHECK(env.client->fetch_secrets(env.host, env.ua, kRoot).secrets.size() == 5);

  // One value of 100 KiB: the transfer stops at the limit; the error names it, never the value.
  const std::string big(100 * 1024, 'v');
  env.sim->set_secret("demo-project", "dev", "/", "HUGE", big);
  auto too_large = expect_error([&] { env.client->fetch_secrets(env.host, env.ua, kRoot); });
  CHECK(too_large.kind() == ErrorKind::kInvalidResponse);
  CHECK(std::string(too_large.what()).find("larger than the 65536-byte limit") != std::string::npos);
  CHECK(std::string(too_large.what()).find("vvvvvvvv") == std::string::npos);

  // 50 small keys: the answer fits, the count does not.
  REQUIRE(env.sim->delete_secret("demo-project", "dev", "/", "HUGE"));
  for (int i = 0; i < 50; ++i) env.sim->set_secret("demo-project", "dev", "/", fmt::format("K{}", i), "x");
  auto too_many = expect_error([&] { env.client->fetch_secrets(env.host, env.ua, kRoot); });
  CHECK(too_many.kind() == ErrorKind::kInvalidResponse);
  CHECK(std::string(too_many.what()).find("holds 55 secrets, more than the limit of 40") != std::string::npos);
}

TEST_CASE("a hung server gives a Timeout error after the configured timeout") {
  ClientOptions opts;
  opts.request_timeout = std::chrono::milliseconds(400);
  Env env(false, opts);
  env.client->fetch_secrets(env.host, env.ua, kRoot);
  env.admin("/sim/latency", R"({"route":"GET /api/v3/secrets/raw","ms":5000})");
  auto start = std::chrono::steady_clock::now();
  auto err = expect_error([&] { env.client->fetch_secrets(env.host, env.ua, kRoot); });
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(err.kind() == ErrorKind::kTimeout);
  CHECK(took < std::chrono::milliseconds(3000));
  CHECK(env.client->metrics().requests.get("GET /v3/secrets/raw", 0) == 1);
  env.admin("/sim/latency", R"({"route":"GET /api/v3/secrets/raw","ms":0})");
}

TEST_CASE("HTTPS: the host's CA bundle (tls.caRef) is trusted; without it the error is Tls") {
  Env env(true);
  REQUIRE(env.host.base_url.rfind("https://", 0) == 0);
  auto r = env.client->fetch_secrets(env.host, env.ua, kRoot);
  CHECK(r.secrets.at("DB_HOST") == "db.internal");
  Client plain(ClientOptions{}, env.clock, CloudEnv{}, env.logger);
  auto err = expect_error([&] { plain.token(HostConfig{env.sim->api_url(), ""}, env.ua); });
  CHECK(err.kind() == ErrorKind::kTls);
}
