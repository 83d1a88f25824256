// The cloud credential sources of the AWS, Azure and GCP auth methods, against fake metadata services and
// a fake Infisical that verifies what it receives (SigV4 recomputed, JWT signatures checked).
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base64.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/jwt.h"
#include "infisical/client.h"
#include "infisical_fake_transport.h"

using namespace ifo::infisical;
using namespace ifo::infisical::testing;
namespace core = ifo::core;

namespace {

constexpr const char* kAwsLogin = "POST /api/v1/auth/aws-auth/login";

std::string login_ok(const std::string& token) {
  return R"({"accessToken":")" + token + R"(","expiresIn":600,"accessTokenMaxTTL":3600,"tokenType":"Bearer"})";
}

std::string query_param(const std::string& url, const std::string& name) {
  auto q = url.find('?');
  if (q == std::string::npos) return "";
  std::string query = url.substr(q + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    auto amp = query.find('&', pos);
    std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (kv.rfind(name + "=", 0) == 0) return kv.substr(name.size() + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static int n = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("ifo-infisical-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

struct Cloud {
  core::FakeClock clock;
  std::shared_ptr<FakeTransport> infisical = std::make_shared<FakeTransport>();
  std::shared_ptr<FakeTransport> cloud = std::make_shared<FakeTransport>();
  std::ostringstream log_text;
  std::shared_ptr<spdlog::logger> logger;
  HostConfig host{"https://infisical.test/api", ""};

  Cloud() {
    logger = std::make_shared<spdlog::logger>("infisical", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
    logger->set_level(spdlog::level::trace);
  }
  std::unique_ptr<Client> client(CloudEnv env) {
    return std::make_unique<Client>(
        ClientOptions{}, clock, std::move(env), logger,
        [this](const std::string&, const std::string&) { return std::static_pointer_cast<Transport>(infisical); }, cloud);
  }
  std::string logs() {
    logger->flush();
    return log_text.str();
  }
};

// What infisical-sim and the real server do: recompute the SigV4 signature of the forwarded request
// with the secret key they know for the access key id in the Authorization header.
std::string verify_aws_login(const Request& r, const std::map<std::string, AwsCredentials>& known) {
  auto doc = core::parse_json(r.body);
  const auto& b = **doc;
  if (core::string_or(b, "iamHttpRequestMethod", "") != "POST") return "method";
  auto body = core::base64_decode(core::string_or(b, "iamRequestBody", ""));
  auto headers_text = core::base64_decode(core::string_or(b, "iamRequestHeaders", ""));
  if (!body.ok() || !headers_text.ok()) return "base64";
  if (*body != "Action=GetCallerIdentity&Version=2011-06-15") return "body";
  auto headers = core::parse_json(*headers_text);
  std::string auth = core::string_or(**headers, "Authorization", "");
  auto cred_at = auth.find("Credential=");
  auto slash = auth.find('/', cred_at);
  std::string akid = auth.substr(cred_at + 11, slash - cred_at - 11);
  auto it = known.find(akid);
  if (it == known.end()) return "unknown key " + akid;
  std::string scope = auth.substr(slash + 1, auth.find(',', slash) - slash - 1);  // date/region/sts/aws4_request
  std::string region = scope.substr(9, scope.find('/', 9) - 9);
  auto sh = auth.find("SignedHeaders=") + 14;
  std::string signed_list = auth.substr(sh, auth.find(',', sh) - sh);
  SigV4Request req;
  req.method = "POST";
  for (auto m = (*headers)->MemberBegin(); m != (*headers)->MemberEnd(); ++m) {
    std::string name = m->name.GetString();
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "authorization") continue;
    if ((";" + signed_list + ";").find(";" + lower + ";") == std::string::npos) continue;
    req.headers.emplace_back(name, m->value.GetString());
  }
  req.payload_sha256_hex = sha256_hex(*body);
  auto sig = sigv4_sign(req, it->second, region, "sts", core::string_or(**headers, "X-Amz-Date", ""));
  if (sig.authorization != auth) return "signature mismatch";
  if (!it->second.session_token.empty() &&
      core::string_or(**headers, "X-Amz-Security-Token", "") != it->second.session_token)
    return "session token";
  return "";
}

}  // namespace

TEST_CASE("aws-auth: static keys from the environment; Infisical recomputes the signature") {
  Cloud c;
  CloudEnv env;
  env.aws_access_key_id = "AKIAENVEXAMPLE";
  env.aws_secret_access_key = "env-secret-access-key-value";
  env.aws_region = "eu-west-1";
  env.aws_imds_disabled = true;
  std::map<std::string, AwsCredentials> known{{"AKIAENVEXAMPLE", {"AKIAENVEXAMPLE", "env-secret-access-key-value", "", {}, ""}}};
  std::vector<std::string> problems;
  c.infisical->on(kAwsLogin, [&](const Request& r) {
    std::string problem = verify_aws_login(r, known);
    problems.push_back(problem);
    auto doc = core::parse_json(r.body);
    CHECK(core::string_or(**doc, "identityId", "") == "aws-identity");
    return problem.empty() ? json(200, login_ok("aws-token")) : json(401, R"({"message":"bad signature"})");
  });
  auto client = c.client(env);
  CHECK(client->token(c.host, AwsIamAuth{"aws-identity"}).access_token == "aws-token");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "");
  CHECK(c.cloud->count("PUT /latest/api/token") == 0);  // region and keys came from the environment

  // A wrong secret key: the signature no longer matches and the error names the method and the reason.
  CloudEnv bad = env;
  bad.aws_secret_access_key = "not-the-right-secret";
  auto other = c.client(bad);
  try {
    other->token(c.host, AwsIamAuth{"aws-identity"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kUnauthorized);
    CHECK(std::string(e.what()).find("aws-auth") != std::string::npos);
    CHECK(std::string(e.what()).find("bad signature") != std::string::npos);
  }
  REQUIRE(problems.size() == 2);
  CHECK(problems[1] == "signature mismatch");
  CHECK(c.logs().find("env-secret-access-key-value") == std::string::npos);
}

TEST_CASE("aws-auth: web identity token file -> AssumeRoleWithWebIdentity at AWS_ENDPOINT_URL_STS") {
  Cloud c;
  TempFile token_file("web-identity-jwt-abc\n");
  CloudEnv env;
  env.aws_web_identity_token_file = token_file.path();
  env.aws_role_arn = "arn:aws:iam::123456789012:role/irsa";
  env.aws_role_session_name = "operator";
  env.aws_region = "us-east-2";
  env.aws_endpoint_url_sts = "http://sts.loopback.test/";
  env.aws_imds_disabled = true;
  c.cloud->on("POST /", [&](const Request& r) {
    CHECK(r.url == "http://sts.loopback.test/");
    CHECK(r.body.find("Action=AssumeRoleWithWebIdentity") != std::string::npos);
    CHECK(r.body.find("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Firsa") != std::string::npos);
    CHECK(r.body.find("WebIdentityToken=web-identity-jwt-abc") != std::string::npos);
    CHECK(r.body.find("RoleSessionName=operator") != std::string::npos);
    return json(200, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
                     "<SessionToken>irsa-session-token</SessionToken><SecretAccessKey>irsa-secret</SecretAccessKey>"
                     "<Expiration>2026-01-01T01:00:00Z</Expiration>"
                     "<AccessKeyId>ASIAIRSA</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>"
                     "</AssumeRoleWithWebIdentityResponse>");
  });
  std::map<std::string, AwsCredentials> known{{"ASIAIRSA", {"ASIAIRSA", "irsa-secret", "irsa-session-token", {}, ""}}};
  c.infisical->on(kAwsLogin, [&](const Request& r) {
    std::string problem = verify_aws_login(r, known);
    CHECK(problem == "");
    return json(200, login_ok("irsa-token"));
  });
  auto client = c.client(env);
  CHECK(client->token(c.host, AwsIamAuth{"aws-identity"}).access_token == "irsa-token");
  CHECK(c.cloud->count("POST /") == 1);
  CHECK(c.logs().find("irsa-secret") == std::string::npos);
  CHECK(c.logs().find("web-identity-jwt-abc") == std::string::npos);
}

TEST_CASE("aws-auth: ECS container credentials with the authorization token file") {
  Cloud c;
  TempFile auth_file("ecs-auth-token\n");
  CloudEnv env;
  env.aws_container_full_uri = "http://127.0.0.1:9/creds";
  env.aws_container_auth_token_file = auth_file.path();
  env.aws_region = "us-east-1";
  env.aws_imds_disabled = true;
  c.cloud->on("GET /creds", [&](const Request& r) {
    CHECK(header(r, "Authorization") == "ecs-auth-token");
    return json(200, R"({"AccessKeyId":"ASIAECS","SecretAccessKey":"ecs-secret","Token":"ecs-session","Expiration":"2026-01-01T06:00:00Z"})");
  });
  std::map<std::string, AwsCredentials> known{{"ASIAECS", {"ASIAECS", "ecs-secret", "ecs-session", {}, ""}}};
  c.infisical->on(kAwsLogin, [&](const Request& r) {
    CHECK(verify_aws_login(r, known) == "");
    return json(200, login_ok("ecs-token"));
  });
  CHECK(c.client(env)->token(c.host, AwsIamAuth{"aws-identity"}).access_token == "ecs-token");

  CloudEnv remote = env;
  remote.aws_container_full_uri = "http://169.254.1.1/creds";  // neither loopback nor https: refused
  try {
    c.client(remote)->token(c.host, AwsIamAuth{"aws-identity"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kCredentialSource);
    CHECK(std::string(e.what()).find("AWS_CONTAINER_CREDENTIALS_FULL_URI") != std::string::npos);
  }
}

TEST_CASE("aws-auth: EC2 IMDSv2 credentials and region, cached until shortly before they expire") {
  Cloud c;
  CloudEnv env;
  env.aws_imds_endpoint = "http://imds.loopback.test";
  c.cloud->on("PUT /latest/api/token", [](const Request& r) {
    CHECK(header(r, "X-aws-ec2-metadata-token-ttl-seconds") == "21600");
    return json(200, "imds-session-token");
  });
  c.cloud->on("GET /latest/meta-data/iam/security-credentials/", [](const Request& r) {
    CHECK(header(r, "X-aws-ec2-metadata-token") == "imds-session-token");
    return json(200, "ec2-role\n");
  });
  c.cloud->on("GET /latest/meta-data/iam/security-credentials/ec2-role", [](const Request& r) {
    CHECK(header(r, "X-aws-ec2-metadata-token") == "imds-session-token");
    return json(200, R"({"Code":"Success","AccessKeyId":"ASIAEC2","SecretAccessKey":"ec2-secret","Token":"ec2-session","Expiration":"2026-01-01T01:00:00Z"})");
  });
  c.cloud->on("GET /latest/dynamic/instance-identity/document", [](const Request&) {
    return json(200, R"({"region":"ap-southeast-2","instanceId":"i-1"})");
  });
  std::map<std::string, AwsCredentials> known{{"ASIAEC2", {"ASIAEC2", "ec2-secret", "ec2-session", {}, ""}}};
  std::string region_seen;
  c.infisical->on(kAwsLogin, [&](const Request& r) {
    CHECK(verify_aws_login(r, known) == "");
    auto doc = core::parse_json(r.body);
    auto headers = core::parse_json(*core::base64_decode(core::string_or(**doc, "iamRequestHeaders", "")));
    region_seen = core::string_or(**headers, "Host", "");
    return json(200, R"({"accessToken":"ec2-token","expiresIn":60,"accessTokenMaxTTL":60})");
  });
  auto client = c.client(env);
  client->token(c.host, AwsIamAuth{"aws-identity"});
  CHECK(region_seen == "sts.ap-southeast-2.amazonaws.com");
  CHECK(c.cloud->count("GET /latest/meta-data/iam/security-credentials/ec2-role") == 1);
  c.clock.step(std::chrono::minutes(2));  // the Infisical token expired; AWS credentials still fresh
  client->token(c.host, AwsIamAuth{"aws-identity"});
  CHECK(c.infisical->count(kAwsLogin) == 2);
  CHECK(c.cloud->count("GET /latest/meta-data/iam/security-credentials/ec2-role") == 1);
  c.clock.step(std::chrono::minutes(54));  // within 5 minutes of the credentials' expiry: fetched again
  client->token(c.host, AwsIamAuth{"aws-identity"});
  CHECK(c.cloud->count("GET /latest/meta-data/iam/security-credentials/ec2-role") == 2);
}

TEST_CASE("aws-auth: no credentials anywhere gives one clear error") {
  Cloud c;
  CloudEnv env;
  env.aws_imds_disabled = true;
  env.aws_region = "us-east-1";
  try {
    c.client(env)->token(c.host, AwsIamAuth{"aws-identity"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kCredentialSource);
    std::string msg = e.what();
    CHECK(msg.find("aws-auth login for identity aws-identity") != std::string::npos);
    CHECK(msg.find("AWS_ACCESS_KEY_ID") != std::string::npos);
    CHECK(msg.find("AWS_WEB_IDENTITY_TOKEN_FILE") != std::string::npos);
  }
  CHECK(c.infisical->count(kAwsLogin) == 0);
}

TEST_CASE("azure-auth: IMDS token for the resource (and a user-assigned identity), sent as jwt") {
  Cloud c;
  CloudEnv env;
  env.azure_imds_endpoint = "http://azure-imds.loopback.test";
  c.cloud->on("GET /metadata/identity/oauth2/token", [](const Request& r) {
    CHECK(header(r, "Metadata") == "true");
    CHECK(query_param(r.url, "api-version") == "2018-02-01");
    CHECK(query_param(r.url, "resource") == "https%3A%2F%2Fmanagement.azure.com%2F");
    std::string client_id = query_param(r.url, "client_id");
    return json(200, R"({"access_token":"azure-jwt-)" + (client_id.empty() ? std::string("system") : client_id) +
                         R"(","expires_in":"3599","resource":"https://management.azure.com/","token_type":"Bearer"})");
  });
  std::vector<std::string> jwts;
  c.infisical->on("POST /api/v1/auth/azure-auth/login", [&](const Request& r) {
    auto doc = core::parse_json(r.body);
    jwts.push_back(core::string_or(**doc, "jwt", ""));
    CHECK(core::string_or(**doc, "identityId", "") == "azure-identity");
    return json(200, login_ok("azure-token"));
  });
  auto client = c.client(env);
  CHECK(client->token(c.host, AzureAuth{"azure-identity", "https://management.azure.com/", ""}).access_token == "azure-token");
  client->token(c.host, AzureAuth{"azure-identity", "https://management.azure.com/", "user-mi-1"});
  // The legacy way of naming a user-assigned identity inside the resource still works.
  client->token(c.host, AzureAuth{"azure-identity", "https://management.azure.com/&client_id=user-mi-2", ""});
  REQUIRE(jwts.size() == 3);
  CHECK(jwts[0] == "azure-jwt-system");
  CHECK(jwts[1] == "azure-jwt-user-mi-1");
  CHECK(jwts[2] == "azure-jwt-user-mi-2");
  CHECK(c.logs().find("azure-jwt-") == std::string::npos);

  c.cloud->on("GET /metadata/identity/oauth2/token", [](const Request&) {
    return json(400, R"({"error":"invalid_request","error_description":"Identity not found"})");
  });
  try {
    c.client(env)->token(c.host, AzureAuth{"azure-identity", "", "missing-mi"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kCredentialSource);
    CHECK(std::string(e.what()).find("azure-auth") != std::string::npos);
    CHECK(std::string(e.what()).find("HTTP 400") != std::string::npos);
  }
}

TEST_CASE("gcp-id-token-auth: the metadata identity token with the identity id as audience") {
  Cloud c;
  CloudEnv env;
  env.gce_metadata_host = "metadata.loopback.test:8080";
  c.cloud->on("GET /computeMetadata/v1/instance/service-accounts/default/identity", [](const Request& r) {
    CHECK(r.url.rfind("http://metadata.loopback.test:8080/", 0) == 0);
    CHECK(header(r, "Metadata-Flavor") == "Google");
    CHECK(query_param(r.url, "audience") == "gcp-identity");
    CHECK(query_param(r.url, "format") == "full");
    return json(200, "gce-identity-jwt");
  });
  c.infisical->on("POST /api/v1/auth/gcp-auth/login", [](const Request& r) {
    auto doc = core::parse_json(r.body);
    CHECK(core::string_or(**doc, "jwt", "") == "gce-identity-jwt");
    return json(200, login_ok("gce-token"));
  });
  CHECK(c.client(env)->token(c.host, GcpIdTokenAuth{"gcp-identity"}).access_token == "gce-token");
}

TEST_CASE("gcp-iam-auth: JWT-bearer grant signed with the key file, then signJwt for the identity") {
  Cloud c;
  auto keys = core::generate_rsa_keypair();
  core::JsonDoc key(rapidjson::kObjectType);
  auto& a = key.GetAllocator();
  core::set_string(key, "type", "service_account", a);
  core::set_string(key, "client_email", "operator@proj.iam.gserviceaccount.com", a);
  core::set_string(key, "private_key", keys.private_pem, a);
  core::set_string(key, "private_key_id", "key-id-1", a);
  core::set_string(key, "token_uri", "http://oauth.loopback.test/token", a);
  TempFile key_file(core::to_json(key));
  CloudEnv env;
  env.gcp_iam_endpoint = "http://iam.loopback.test";
  c.cloud->on("POST /token", [&](const Request& r) {
    CHECK(r.body.find("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") != std::string::npos);
    auto assertion = r.body.substr(r.body.find("assertion=") + 10);
    auto parts = core::jwt_verify_rs256(assertion, keys.public_pem);
    REQUIRE(parts.ok());
    auto claims = core::parse_json(parts->claims_json);
    CHECK(core::string_or(**claims, "iss", "") == "operator@proj.iam.gserviceaccount.com");
    CHECK(core::string_or(**claims, "aud", "") == "http://oauth.loopback.test/token");
    CHECK(parts->header_json.find("key-id-1") != std::string::npos);
    return json(200, R"({"access_token":"google-access-token","expires_in":3599,"token_type":"Bearer"})");
  });
  c.cloud->on("POST /v1/projects/-/serviceAccounts/operator@proj.iam.gserviceaccount.com:signJwt", [](const Request& r) {
    CHECK(header(r, "Authorization") == "Bearer google-access-token");
    auto doc = core::parse_json(r.body);
    auto payload = core::parse_json(core::string_or(**doc, "payload", ""));
    CHECK(core::string_or(**payload, "sub", "") == "operator@proj.iam.gserviceaccount.com");
    CHECK(core::string_or(**payload, "aud", "") == "gcp-iam-identity");
    CHECK(core::get_int(**payload, "exp").has_value());
    return json(200, R"({"keyId":"k","signedJwt":"google-signed-jwt"})");
  });
  c.infisical->on("POST /api/v1/auth/gcp-auth/login", [](const Request& r) {
    auto doc = core::parse_json(r.body);
    CHECK(core::string_or(**doc, "jwt", "") == "google-signed-jwt");
    CHECK(core::string_or(**doc, "identityId", "") == "gcp-iam-identity");
    return json(200, login_ok("gcp-iam-token"));
  });
  CHECK(c.client(env)->token(c.host, GcpIamAuth{"gcp-iam-identity", key_file.path()}).access_token == "gcp-iam-token");
  CHECK(c.logs().find("google-access-token") == std::string::npos);
  CHECK(c.logs().find("PRIVATE KEY") == std::string::npos);

  try {
    c.client(env)->token(c.host, GcpIamAuth{"gcp-iam-identity", "/nonexistent/key.json"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kCredentialSource);
    CHECK(std::string(e.what()).find("gcp-iam-auth") != std::string::npos);
    CHECK(std::string(e.what()).find("/nonexistent/key.json") != std::string::npos);
  }
}
