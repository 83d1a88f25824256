// The cloud auth methods end to end: the client reads credentials from infisical-sim's loopback cloud
// endpoints (EC2 IMDSv2, ECS, Azure IMDS, GCE metadata, OAuth2 + signJwt) and logs in; the sim verifies
// for real (SigV4 recomputed, RS256 JWTs with audience/issuer/expiry checks). Then a fetch.
#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/clock.h"
#include "core/json.h"
#include "core/jwt.h"
#include "infisical/client.h"
#include "infisical_sim.h"

using namespace ifo::infisical;
namespace core = ifo::core;

namespace {

constexpr const char* kAkid = "AKIACLIENTTEST000001";
constexpr const char* kSecretKey = "clientTestSecretAccessKey0000000000000001";
constexpr const char* kEmail = "op@sim.iam.gserviceaccount.com";

struct CloudSim {
  core::RsaKeyPair sa_key = core::generate_rsa_keypair();
  std::unique_ptr<ifo::sim::InfisicalSim> sim;
  core::FakeClock clock{std::chrono::system_clock::now()};  // SigV4 dates and JWTs must match the sim's time
  std::ostringstream log_text;
  std::shared_ptr<spdlog::logger> logger;
  std::filesystem::path key_file;

  CloudSim() {
    std::string escaped;
    for (char c : sa_key.public_pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    std::string seed = R"({
      "projects": [{"slug": "demo", "secrets": [{"environment": "dev", "key": "K", "value": "cloud-secret-value"}]}],
      "identities": [
        {"id": "id-aws", "projects": ["demo"], "awsAuth": {"allowedPrincipalArns": "arn:aws:iam::123456789012:user/ci,arn:aws:iam::123456789012:role/*", "allowedAccountIds": "123456789012"}},
        {"id": "id-aws-strict", "projects": ["demo"], "awsAuth": {"allowedPrincipalArns": "arn:aws:iam::123456789012:user/someone-else"}},
        {"id": "id-azure", "projects": ["demo"], "azureAuth": {"resource": "https://management.azure.com/", "allowedServicePrincipalIds": "obj-system,obj-user"}},
        {"id": "id-gce", "projects": ["demo"], "gcpAuth": {"type": "gce", "allowedServiceAccounts": "op@sim.iam.gserviceaccount.com"}},
        {"id": "id-gcp-iam", "projects": ["demo"], "gcpAuth": {"type": "iam", "allowedServiceAccounts": "op@sim.iam.gserviceaccount.com"}}
      ],
      "aws": {"region": "eu-west-1",
              "users": [{"accessKeyId": ")" + std::string(kAkid) + R"(", "secretAccessKey": ")" + kSecretKey + R"(", "arn": "arn:aws:iam::123456789012:user/ci"}],
              "instanceRole": {"arn": "arn:aws:iam::123456789012:role/ec2-op"},
              "ecsRole": {"arn": "arn:aws:iam::123456789012:role/ecs-op"}, "ecsAuthorizationToken": "ecs-auth"},
      "azure": {"tenantId": "tenant-1", "systemIdentity": {"clientId": "cli-system", "objectId": "obj-system"},
                "userIdentities": [{"clientId": "cli-user", "objectId": "obj-user"}, {"clientId": "cli-other", "objectId": "obj-other"}]},
      "gcp": {"projectId": "sim-proj", "zone": "us-central1-a",
              "serviceAccounts": [{"email": "op@sim.iam.gserviceaccount.com", "publicKeyPem": ")" + escaped + R"("}]},
      "rateLimits": {"mode": "off"}
    })";
    ifo::sim::SimOptions o;
    o.seed_json = seed;
    sim = ifo::sim::InfisicalSim::start(o);
    logger = std::make_shared<spdlog::logger>("infisical", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
    logger->set_level(spdlog::level::trace);
  }
  ~CloudSim() {
    if (!key_file.empty()) std::filesystem::remove(key_file);
    logger->flush();
    std::string logs = log_text.str();
    CHECK(logs.find("cloud-secret-value") == std::string::npos);
    CHECK(logs.find(kSecretKey) == std::string::npos);
    CHECK(logs.find("PRIVATE KEY") == std::string::npos);
  }
  CloudEnv base_env() {
    CloudEnv e;
    e.aws_imds_disabled = true;
    e.aws_imds_endpoint = sim->cloud_url();
    e.aws_endpoint_url_sts = sim->cloud_url();
    e.azure_imds_endpoint = sim->cloud_url();
    e.gce_metadata_host = sim->cloud_url();
    e.gcp_iam_endpoint = sim->cloud_url();
    return e;
  }
  std::unique_ptr<Client> client(CloudEnv env) {
    return std::make_unique<Client>(ClientOptions{}, clock, std::move(env), logger);
  }
  HostConfig host() const { return HostConfig{sim->api_url(), ""}; }
  int64_t count(const std::string& route) {
    auto c = sim->counters();
    auto it = c.by_route.find(route);
    return it == c.by_route.end() ? 0 : it->second;
  }
};

const SecretsScope kScope{"", "demo", "dev", "/", false};

}  // namespace

TEST_CASE("aws-auth end to end: environment keys, EC2 IMDSv2, ECS; a principal not allowed is refused") {
  CloudSim s;
  CloudEnv env = s.base_env();
  env.aws_access_key_id = kAkid;
  env.aws_secret_access_key = kSecretKey;
  env.aws_region = "eu-west-1";
  CHECK(s.client(env)->fetch_secrets(s.host(), AwsIamAuth{"id-aws"}, kScope).secrets.at("K") == "cloud-secret-value");

  CloudEnv imds = s.base_env();
  imds.aws_imds_disabled = false;  // region and role credentials from the (loopback) instance metadata
  CHECK(s.client(imds)->fetch_secrets(s.host(), AwsIamAuth{"id-aws"}, kScope).secrets.at("K") == "cloud-secret-value");

  CloudEnv ecs = s.base_env();
  ecs.aws_container_full_uri = s.sim->cloud_url() + "/ecs/credentials";
  ecs.aws_container_auth_token = "ecs-auth";
  ecs.aws_region = "eu-west-1";
  CHECK(s.client(ecs)->fetch_secrets(s.host(), AwsIamAuth{"id-aws"}, kScope).secrets.at("K") == "cloud-secret-value");
  CHECK(s.count("POST /api/v1/auth/aws-auth/login") == 3);

  try {
    s.client(env)->token(s.host(), AwsIamAuth{"id-aws-strict"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.is_credentials_error());
    CHECK(std::string(e.what()).find("aws-auth login for identity id-aws-strict") != std::string::npos);
    MESSAGE(std::string(e.what()));
  }
  CloudEnv wrong = env;
  wrong.aws_secret_access_key = "wrongSecretAccessKey000000000000000000001";
  try {
    s.client(wrong)->token(s.host(), AwsIamAuth{"id-aws"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.is_credentials_error());
    CHECK(std::string(e.what()).find("aws-auth") != std::string::npos);
    MESSAGE(std::string(e.what()));
  }
}

TEST_CASE("azure-auth end to end: system and user-assigned managed identities") {
  CloudSim s;
  auto client = s.client(s.base_env());
  CHECK(client->fetch_secrets(s.host(), AzureAuth{"id-azure", "https://management.azure.com/", ""}, kScope).secrets.at("K") ==
        "cloud-secret-value");
  CHECK(client->fetch_secrets(s.host(), AzureAuth{"id-azure", "https://management.azure.com/", "cli-user"}, kScope).secrets.at("K") ==
        "cloud-secret-value");
  try {
    client->token(s.host(), AzureAuth{"id-azure", "https://management.azure.com/", "cli-other"});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.is_credentials_error());
    CHECK(std::string(e.what()).find("azure-auth") != std::string::npos);
    MESSAGE(std::string(e.what()));
  }
}

TEST_CASE("gcp-id-token-auth end to end: GCE metadata identity token with the identity id as audience") {
  CloudSim s;
  CHECK(s.client(s.base_env())->fetch_secrets(s.host(), GcpIdTokenAuth{"id-gce"}, kScope).secrets.at("K") == "cloud-secret-value");
  try {
    s.client(s.base_env())->token(s.host(), GcpIdTokenAuth{"id-gcp-iam"});  // an iam-type identity refuses gce tokens
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(std::string(e.what()).find("gcp-id-token-auth") != std::string::npos);
    MESSAGE(std::string(e.what()));
  }
}

TEST_CASE("gcp-iam-auth end to end: key file -> OAuth2 JWT-bearer -> signJwt -> login") {
  CloudSim s;
  core::JsonDoc key(rapidjson::kObjectType);
  auto& a = key.GetAllocator();
  core::set_string(key, "type", "service_account", a);
  core::set_string(key, "client_email", kEmail, a);
  core::set_string(key, "private_key", s.sa_key.private_pem, a);
  core::set_string(key, "private_key_id", "kid-1", a);
  core::set_string(key, "token_uri", s.sim->cloud_url() + "/token", a);
  s.key_file = std::filesystem::temp_directory_path() / ("ifo-gcp-key-" + std::to_string(::getpid()) + ".json");
  std::ofstream(s.key_file) << core::to_json(key);
  CHECK(s.client(s.base_env())->fetch_secrets(s.host(), GcpIamAuth{"id-gcp-iam", s.key_file.string()}, kScope).secrets.at("K") ==
        "cloud-secret-value");

  // A key the sim does not know: the OAuth2 grant is refused and the error says where it failed.
  auto other = core::generate_rsa_keypair();
  core::set_string(key, "private_key", other.private_pem, a);
  std::ofstream(s.key_file) << core::to_json(key);
  try {
    s.client(s.base_env())->token(s.host(), GcpIamAuth{"id-gcp-iam", s.key_file.string()});
    FAIL("expected an error");
  } catch (const ApiError& e) {
    CHECK(e.kind() == ErrorKind::kCredentialSource);
    CHECK(std::string(e.what()).find("gcp-iam-auth") != std::string::npos);
    CHECK(std::string(e.what()).find("OAuth2") != std::string::npos);
    MESSAGE(std::string(e.what()));
  }
}
