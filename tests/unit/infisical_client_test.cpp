// The client's logic against a fake transport and a fake clock: one login per identity, renewal and
// re-login timing, single flight, failure backoff, 401 handling, ETags, project cache, service tokens.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/json.h"
#include "infisical/client.h"
#include "infisical_fake_transport.h"

using namespace ifo::infisical;
using ifo::net::Request;
using ifo::net::Response;
using namespace ifo::infisical::testing;

namespace {

constexpr const char* kLogin = "POST /api/v1/auth/universal-auth/login";
constexpr const char* kRenew = "POST /api/v1/auth/token/renew";
constexpr const char* kSecrets = "GET /api/v3/secrets/raw";
constexpr const char* kWorkspace = "GET /api/v2/workspace/my-project";

std::string login_body(const std::string& token, int ttl, int max_ttl) {
  return fmt::format(R"({{"accessToken":"{}","expiresIn":{},"accessTokenMaxTTL":{},"tokenType":"Bearer"}})", token, ttl,
                     max_ttl);
}

struct Fixture {
  ifo::core::FakeClock clock;
  std::shared_ptr<FakeTransport> http = std::make_shared<FakeTransport>();
  std::ostringstream log_text;
  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<Client> client;
  HostConfig host{"https://infisical.test/api/", ""};
  UniversalAuth ua{"client-1", "client-secret-value-1"};
  std::atomic<int> logins{0};

  Fixture() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
    logger = std::make_shared<spdlog::logger>("infisical-test", sink);
    logger->set_level(spdlog::level::trace);
    client = std::make_unique<Client>(
        ClientOptions{}, clock, CloudEnv{}, logger,
        [this](const std::string&, const std::string&) { return std::static_pointer_cast<Transport>(http); }, http);
    http->on(kLogin, [this](const Request& r) {
      auto doc = ifo::core::parse_json(r.body);
      if (ifo::core::string_or(**doc, "clientSecret", "") != "client-secret-value-1")
        return json(401, R"({"statusCode":401,"message":"Invalid credentials","error":"UnauthorizedError"})");
      return json(200, login_body("access-token-" + std::to_string(++logins), 100, 1000));
    });
    http->on(kRenew, [](const Request& r) {
      auto doc = ifo::core::parse_json(r.body);
      return json(200, login_body(ifo::core::string_or(**doc, "accessToken", ""), 100, 1000));
    });
    http->on(kWorkspace, [](const Request&) {
      return json(200, R"({"id":"proj-id-1","slug":"my-project","environments":[]})");
    });
  }
  std::string logs() {
    logger->flush();
    return log_text.str();
  }
};

const SecretsScope kScope{"", "my-project", "dev", "/", false};

}  // namespace

TEST_CASE("token cache: one login, then hits; renew near expiry; re-login when the max TTL is near") {
  Fixture f;
  CHECK(f.client->token(f.host, f.ua).access_token == "access-token-1");
  for (int i = 0; i < 5; ++i) CHECK(f.client->token(f.host, f.ua).access_token == "access-token-1");
  CHECK(f.http->count(kLogin) == 1);
  CHECK(f.client->metrics().token_cache_hits == 5);

  f.clock.step(std::chrono::seconds(79));  // renewal starts when a fifth of the 100 s TTL is left
  f.client->token(f.host, f.ua);
  CHECK(f.http->count(kRenew) == 0);
  f.clock.step(std::chrono::seconds(2));
  CHECK(f.client->token(f.host, f.ua).access_token == "access-token-1");
  REQUIRE(f.http->count(kRenew) == 1);
  CHECK(f.http->requests(kRenew)[0].body == R"({"accessToken":"access-token-1"})");
  CHECK(f.http->count(kLogin) == 1);

  // Renewals continue until less than one TTL of the 1000 s max TTL is left; then a fresh login.
  for (int i = 0; i < 20 && f.http->count(kLogin) == 1; ++i) {
    f.clock.step(std::chrono::seconds(81));
    f.client->token(f.host, f.ua);
  }
  CHECK(f.http->count(kLogin) == 2);
  CHECK(f.client->token(f.host, f.ua).access_token == "access-token-2");
  CHECK(f.http->count(kRenew) >= 9);
  CHECK(f.http->count(kRenew) <= 11);
}

TEST_CASE("token cache: a token unused past its expiry is replaced by a login, not renewed") {
  Fixture f;
  f.client->token(f.host, f.ua);
  f.clock.step(std::chrono::seconds(101));
  CHECK(f.client->token(f.host, f.ua).access_token == "access-token-2");
  CHECK(f.http->count(kRenew) == 0);
}

TEST_CASE("token cache: 50 concurrent callers for one identity cause exactly one login") {
  Fixture f;
  std::atomic<bool> release{false};
  f.http->on(kLogin, [&](const Request&) {
    // Hold the login until all 50 callers are inside the cache (the leader and 49 waiters).
    for (int i = 0; i < 5000 && f.client->metrics().token_cache_misses < 50; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    release = true;
    return json(200, login_body("shared-token", 100, 1000));
  });
  std::vector<std::thread> threads;
  std::atomic<int> same{0};
  for (int i = 0; i < 50; ++i)
    threads.emplace_back([&] {
      if (f.client->token(f.host, f.ua).access_token == "shared-token") ++same;
    });
  for (auto& t : threads) t.join();
  CHECK(release);
  CHECK(same == 50);
  CHECK(f.http->count(kLogin) == 1);
  CHECK(f.client->metrics().token_cache_misses == 50);
}

TEST_CASE("token cache: repeated failures allow one login attempt per minute; callers get the cached error") {
  Fixture f;
  UniversalAuth wrong{"client-1", "wrong-secret-value"};
  for (int i = 0; i < 10; ++i) {
    try {
      f.client->token(f.host, wrong);
      FAIL("login should fail");
    } catch (const ApiError& e) {
      CHECK(e.kind() == ErrorKind::kUnauthorized);
      CHECK(std::string(e.what()).find("universal-auth") != std::string::npos);
      CHECK(std::string(e.what()).find("Invalid credentials") != std::string::npos);
      CHECK(std::string(e.what()).find("wrong-secret-value") == std::string::npos);
    }
  }
  CHECK(f.http->count(kLogin) == 1);
  f.clock.step(std::chrono::seconds(59));
  CHECK_THROWS_AS(f.client->token(f.host, wrong), ApiError);
  CHECK(f.http->count(kLogin) == 1);
  f.clock.step(std::chrono::seconds(2));
  CHECK_THROWS_AS(f.client->token(f.host, wrong), ApiError);
  CHECK(f.http->count(kLogin) == 2);
  // The right secret is another cache key: it logs in at once and never borrows from the wrong one.
  CHECK(f.client->token(f.host, f.ua).access_token == "access-token-1");
  CHECK(f.logs().find("wrong-secret-value") == std::string::npos);
}

TEST_CASE("token cache: a 429 on login waits for Retry-After when it is longer than the backoff") {
  Fixture f;
  f.http->on(kLogin, [](const Request&) {
    return json(429, R"({"message":"Too many requests"})", {{"retry-after", "150"}});
  });
  auto err = [&] {
    try {
      f.client->token(f.host, f.ua);
    } catch (const ApiError& e) {
      return e;
    }
    FAIL("no error");
    return ApiError(ErrorKind::kNetwork, "");
  }();
  CHECK(err.kind() == ErrorKind::kRateLimited);
  CHECK(err.retry_after()->count() == 150);
  f.clock.step(std::chrono::seconds(149));
  CHECK_THROWS_AS(f.client->token(f.host, f.ua), ApiError);
  CHECK(f.http->count(kLogin) == 1);
  f.clock.step(std::chrono::seconds(2));
  CHECK_THROWS_AS(f.client->token(f.host, f.ua), ApiError);
  CHECK(f.http->count(kLogin) == 2);
}

TEST_CASE("kubernetes auth: the callback is asked for a fresh JWT on every login") {
  Fixture f;
  std::atomic<int> minted{0};
  KubernetesAuth k{"identity-k8s", "ns1/sa1", [&] { return "sa-jwt-" + std::to_string(++minted); }};
  std::vector<std::string> seen;
  f.http->on("POST /api/v1/auth/kubernetes-auth/login", [&](const Request& r) {
    auto doc = ifo::core::parse_json(r.body);
    seen.push_back(ifo::core::string_or(**doc, "jwt", ""));
    CHECK(ifo::core::string_or(**doc, "identityId", "") == "identity-k8s");
    return json(200, login_body("k8s-token-" + std::to_string(seen.size()), 100, 100));
  });
  f.client->token(f.host, k);
  f.client->token(f.host, k);
  f.clock.step(std::chrono::seconds(95));  // max TTL == TTL: no renewal possible, a new login
  f.client->token(f.host, k);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == "sa-jwt-1");
  CHECK(seen[1] == "sa-jwt-2");
  CHECK(f.http->count(kRenew) == 0);
  CHECK(f.logs().find("sa-jwt-") == std::string::npos);

  KubernetesAuth broken{"identity-k8s", "ns1/sa2", [] () -> std::string { throw std::runtime_error("TokenRequest forbidden"); }};
  try {
    f.client->token(f.host, broken);
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kCredentialSource);
    CHECK(std::string(e.what()).find("kubernetes-auth") != std::string::npos);
    CHECK(std::string(e.what()).find("TokenRequest forbidden") != std::string::npos);
  }
}

TEST_CASE("secrets: slug resolved once, ETag sent, 304 is 'not modified' with the data kept") {
  Fixture f;
  std::atomic<int> version{1};
  f.http->on(kSecrets, [&](const Request& r) {
    std::string etag = "\"etag-v" + std::to_string(version) + "\"";
    if (header(r, "If-None-Match") == etag) return json(304, "", {{"etag", etag}});
    CHECK(r.url.find("workspaceId=proj-id-1") != std::string::npos);
    CHECK(r.url.find("environment=dev") != std::string::npos);
    CHECK(r.url.find("secretPath=%2F") != std::string::npos);
    CHECK(r.url.find("expandSecretReferences=true") != std::string::npos);
    CHECK(r.url.find("include_imports=true") != std::string::npos);
    CHECK(r.url.find("recursive=false") != std::string::npos);
    CHECK(header(r, "Authorization") == "Bearer access-token-1");
    return json(200,
                R"({"secrets":[{"id":"1","secretKey":"DB_PASSWORD","secretValue":"pw-)" + std::to_string(version) +
                    R"(","secretPath":"/","type":"shared"}],"imports":[]})",
                {{"etag", etag}});
  });
  auto first = f.client->fetch_secrets(f.host, f.ua, kScope);
  CHECK_FALSE(first.not_modified);
  CHECK(first.secrets.at("DB_PASSWORD") == "pw-1");
  CHECK(first.etag == "\"etag-v1\"");
  CHECK(first.project_id == "proj-id-1");

  auto second = f.client->fetch_secrets(f.host, f.ua, kScope, FetchOptions{first.etag, std::chrono::seconds(0)});
  CHECK(second.not_modified);
  CHECK(second.secrets.at("DB_PASSWORD") == "pw-1");
  CHECK(f.http->requests(kSecrets).back().headers.size() > 0);
  CHECK(header(f.http->requests(kSecrets).back(), "If-None-Match") == "\"etag-v1\"");
  CHECK(f.client->metrics().secrets_not_modified == 1);

  // Another caller that never saw the data gets it in full, even though the server answered 304.
  auto other = f.client->fetch_secrets(f.host, f.ua, kScope);
  CHECK_FALSE(other.not_modified);
  CHECK(other.secrets.at("DB_PASSWORD") == "pw-1");

  version = 2;
  auto changed = f.client->fetch_secrets(f.host, f.ua, kScope, FetchOptions{first.etag, std::chrono::seconds(0)});
  CHECK_FALSE(changed.not_modified);
  CHECK(changed.secrets.at("DB_PASSWORD") == "pw-2");
  CHECK(f.http->count(kWorkspace) == 1);
  CHECK(f.http->count(kLogin) == 1);

  // max_age serves a recent result without a request.
  int before = f.http->count(kSecrets);
  f.client->fetch_secrets(f.host, f.ua, kScope, FetchOptions{"", std::chrono::seconds(30)});
  CHECK(f.http->count(kSecrets) == before);
  CHECK(f.logs().find("pw-") == std::string::npos);
}

TEST_CASE("ldap auth: identityId, username and password in the login body; the password is in no log or error") {
  Fixture f;
  f.http->on("POST /api/v1/auth/ldap-auth/login", [](const Request& r) {
    auto doc = ifo::core::parse_json(r.body);
    CHECK(ifo::core::string_or(**doc, "identityId", "") == "id-ldap");
    CHECK(ifo::core::string_or(**doc, "username", "") == "svc-user");
    CHECK(header(r, "Authorization").empty());
    if (ifo::core::string_or(**doc, "password", "") != "ldap-password-1")
      return json(401, R"({"statusCode":401,"message":"LDAP authentication failed","error":"UnauthorizedError"})");
    return json(200, login_body("ldap-access-token", 100, 1000));
  });
  CHECK(f.client->token(f.host, LdapAuth{"id-ldap", "svc-user", "ldap-password-1"}).access_token == "ldap-access-token");
  CHECK(method_name(AuthConfig{LdapAuth{}}) == "ldap-auth");
  CHECK(display_identity(LdapAuth{"id-ldap", "svc-user", "ldap-password-1"}) == "identity id-ldap (LDAP user svc-user)");
  CHECK(cache_identity(LdapAuth{"id-ldap", "svc-user", "ldap-password-1"}) !=
        cache_identity(LdapAuth{"id-ldap", "svc-user", "ldap-password-2"}));
  try {
    f.client->token(f.host, LdapAuth{"id-ldap", "svc-user", "ldap-password-2"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kUnauthorized);
    CHECK(std::string(e.what()) ==
          "ldap-auth login for identity id-ldap (LDAP user svc-user): LDAP authentication failed (HTTP 401)");
  }
  CHECK(f.logs().find("ldap-password") == std::string::npos);
}

TEST_CASE("secrets: a single secret is read as upstream reads it: its query, no If-None-Match, its ETag ignored") {
  Fixture f;
  constexpr const char* kSingle = "GET /api/v3/secrets/raw/DB%20URL";
  std::atomic<int> version{1};
  f.http->on(kSingle, [&](const Request& r) {
    CHECK(header(r, "If-None-Match").empty());
    for (const char* q : {"workspaceId=proj-id-1", "environment=dev", "secretPath=%2Fapp", "expandSecretReferences=true",
                          "include_imports=true", "type=shared"})
      CHECK_MESSAGE(r.url.find(q) != std::string::npos, q);
    CHECK(r.url.find("recursive") == std::string::npos);
    return json(200,
                R"({"secret":{"id":"7","secretKey":"DB URL","secretValue":"url-)" + std::to_string(version) +
                    R"(","secretPath":"/app","type":"shared","tags":[]}})",
                {{"etag", "\"etag-single\""}});
  });
  SecretsScope one{"", "my-project", "dev", "/app/", false, "DB URL"};
  auto first = f.client->fetch_secrets(f.host, f.ua, one);
  CHECK(first.secrets == std::map<std::string, std::string>{{"DB URL", "url-1"}});
  CHECK(first.etag.empty());
  // Even a caller that passes the server's ETag gets the full answer, never "not modified".
  auto second = f.client->fetch_secrets(f.host, f.ua, one, FetchOptions{"\"etag-single\"", std::chrono::seconds(0)});
  CHECK_FALSE(second.not_modified);
  version = 2;
  CHECK(f.client->fetch_secrets(f.host, f.ua, one).secrets.at("DB URL") == "url-2");
  CHECK(f.http->count(kSingle) == 3);
  CHECK(f.http->count(kSecrets) == 0);

  f.http->on(kSingle, [](const Request&) {
    return json(404, R"({"statusCode":404,"message":"Secret not found","error":"NotFound"})");
  });
  try {
    f.client->fetch_secrets(f.host, f.ua, one);
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kNotFound);
    CHECK(std::string(e.what()).starts_with("fetch of secret DB URL from project proj-id-1 environment dev path /app"));
    CHECK(std::string(e.what()).find("Secret not found (HTTP 404)") != std::string::npos);
  }
  f.http->on(kSingle, [](const Request&) { return json(200, R"({"secrets":[]})"); });
  CHECK_THROWS_AS(f.client->fetch_secrets(f.host, f.ua, one), ApiError);  // not the single-secret shape
  CHECK(f.logs().find("url-") == std::string::npos);
}

TEST_CASE("secrets: concurrent fetches of one scope share one HTTP request") {
  Fixture f;
  f.http->on(kSecrets, [&](const Request&) {
    for (int i = 0; i < 5000 && f.client->metrics().secrets_shared < 19; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return json(200, R"({"secrets":[{"id":"1","secretKey":"K","secretValue":"v","secretPath":"/"}],"imports":[]})");
  });
  f.client->token(f.host, f.ua);  // login first, so the threads meet at the fetch
  f.client->fetch_secrets(f.host, f.ua, SecretsScope{"proj-x", "", "prod", "/", false});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&] {
      if (f.client->fetch_secrets(f.host, f.ua, kScope).secrets.at("K") == "v") ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 20);
  CHECK(f.http->count(kSecrets) == 2);
  CHECK(f.client->metrics().secrets_shared == 19);
}

TEST_CASE("secrets: a 401 re-logs in once and retries once; a second 401 is an error, not a loop") {
  Fixture f;
  std::atomic<int> calls{0};
  f.http->on(kSecrets, [&](const Request& r) {
    ++calls;
    if (header(r, "Authorization") == "Bearer access-token-1") return json(401, R"({"message":"Token revoked"})");
    return json(200, R"({"secrets":[],"imports":[]})");
  });
  auto r = f.client->fetch_secrets(f.host, f.ua, kScope);
  CHECK(r.secrets.empty());
  CHECK(f.http->count(kLogin) == 2);
  CHECK(calls == 2);

  f.http->on(kSecrets, [](const Request&) { return json(401, R"({"message":"Token missing"})"); });
  CHECK_THROWS_AS(f.client->fetch_secrets(f.host, f.ua, kScope), ApiError);
  CHECK(f.http->count(kLogin) == 3);
  CHECK(f.http->count(kSecrets) == 4);
}

TEST_CASE("secrets: 429, 500 and a timeout give typed errors, one request each") {
  Fixture f;
  f.http->on(kSecrets, [](const Request&) { return json(429, R"({"message":"slow down"})", {{"retry-after", "30"}}); });
  try {
    f.client->fetch_secrets(f.host, f.ua, kScope);
    FAIL("expected 429");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kRateLimited);
    CHECK(e.retry_after()->count() == 30);
  }
  f.http->on(kSecrets, [](const Request&) {
    return json(500, R"({"statusCode":500,"message":"Something went wrong","error":"InternalServerError"})");
  });
  try {
    f.client->fetch_secrets(f.host, f.ua, kScope);
    FAIL("expected 500");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kServerError);
    CHECK(e.possible_rate_limit());
  }
  f.http->on(kSecrets, [](const Request&) -> Response {
    throw ifo::net::TransportError(ifo::net::TransportError::Kind::kTimeout, "GET https://infisical.test/api/v3/secrets/raw: timed out");
  });
  try {
    f.client->fetch_secrets(f.host, f.ua, kScope);
    FAIL("expected timeout");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kTimeout);
  }
  CHECK(f.http->count(kSecrets) == 3);
  CHECK(f.client->metrics().requests.get("GET /v3/secrets/raw", 429) == 1);
  CHECK(f.client->metrics().requests.get("GET /v3/secrets/raw", 500) == 1);
  CHECK(f.client->metrics().requests.get("GET /v3/secrets/raw", 0) == 1);
}

TEST_CASE("service token: project from /v2/service-token, Bearer without the key part; malformed tokens refused") {
  Fixture f;
  ServiceTokenAuth st{"st.tok-id.tok-secret.tok-key"};
  f.http->on("GET /api/v2/service-token", [](const Request& r) {
    CHECK(header(r, "Authorization") == "Bearer st.tok-id.tok-secret");
    return json(200, R"({"_id":"tok-id","workspace":"proj-st","environment":"dev","secretPath":"/"})");
  });
  f.http->on(kSecrets, [](const Request& r) {
    CHECK(r.url.find("workspaceId=proj-st") != std::string::npos);
    CHECK(header(r, "Authorization") == "Bearer st.tok-id.tok-secret");
    return json(200, R"({"secrets":[{"id":"1","secretKey":"A","secretValue":"b"}]})");
  });
  auto r = f.client->fetch_secrets(f.host, st, SecretsScope{"", "", "dev", "/", false});
  CHECK(r.secrets.at("A") == "b");
  CHECK(r.project_id == "proj-st");

  try {
    f.client->token(f.host, ServiceTokenAuth{"st.only-two-parts-secretish"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kInvalidConfig);
    CHECK(std::string(e.what()).find("only-two-parts-secretish") == std::string::npos);
  }
  CHECK(f.logs().find("tok-secret") == std::string::npos);
}
