// infisical-sim's cloud auth methods end to end over HTTP: AWS (static keys, IMDSv2, ECS, web identity)
// with SigV4 recomputed by the sim, Azure IMDS tokens, GCE ID tokens and GCP IAM (JWT-bearer + signJwt).
#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <string>

#include "core/base64.h"
#include "core/json.h"
#include "core/jwt.h"
#include "infisical_sim.h"
#include "net/http_client.h"
#include "sim_http.h"
#include "sim_test_support.h"

using namespace ifo;
using ifo::sim::test::Api;
using ifo::sim::test::json;

namespace {

constexpr const char* kAkid = "AKIASIMTEST000000001";
constexpr const char* kSecret = "simTestSecretAccessKey000000000000000001";

struct CloudFixture {
  core::RsaKeyPair sa_key = core::generate_rsa_keypair();
  std::unique_ptr<sim::InfisicalSim> sim;
  std::unique_ptr<Api> api;

  CloudFixture() {
    std::string pem = sa_key.public_pem;
    std::string escaped;
    for (char c : pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    std::string seed = R"({
      "projects": [{"slug": "demo", "secrets": [{"environment": "dev", "key": "K", "value": "v"}]}],
      "identities": [
        {"id": "id-aws", "projects": ["demo"], "awsAuth": {"allowedPrincipalArns": "arn:aws:iam::123456789012:user/ci,arn:aws:iam::123456789012:role/*", "allowedAccountIds": "123456789012"}},
        {"id": "id-aws-strict", "projects": ["demo"], "awsAuth": {"allowedPrincipalArns": "arn:aws:iam::123456789012:user/someone-else"}},
        {"id": "id-azure", "projects": ["demo"], "azureAuth": {"resource": "https://management.azure.com/", "allowedServicePrincipalIds": "obj-system,obj-user"}},
        {"id": "id-azure-vault", "projects": ["demo"], "azureAuth": {"resource": "https://vault.azure.net"}},
        {"id": "id-gce", "projects": ["demo"], "gcpAuth": {"type": "gce", "allowedServiceAccounts": "op@sim.iam.gserviceaccount.com", "allowedZones": "us-central1-a"}},
        {"id": "id-gce-zone", "projects": ["demo"], "gcpAuth": {"type": "gce", "allowedZones": "europe-west1-b"}},
        {"id": "id-gcp-iam", "projects": ["demo"], "gcpAuth": {"type": "iam", "allowedServiceAccounts": "op@sim.iam.gserviceaccount.com"}}
      ],
      "aws": {"region": "eu-west-1",
              "users": [{"accessKeyId": ")" + std::string(kAkid) + R"(", "secretAccessKey": ")" + kSecret + R"(", "arn": "arn:aws:iam::123456789012:user/ci"}],
              "instanceRole": {"arn": "arn:aws:iam::123456789012:role/ec2-op"},
              "ecsRole": {"arn": "arn:aws:iam::123456789012:role/ecs-op"}, "ecsAuthorizationToken": "ecs-auth",
              "webIdentityRoles": [{"arn": "arn:aws:iam::123456789012:role/irsa-op"}]},
      "azure": {"tenantId": "tenant-1", "systemIdentity": {"clientId": "cli-system", "objectId": "obj-system"},
                "userIdentities": [{"clientId": "cli-user", "objectId": "obj-user"}, {"clientId": "cli-other", "objectId": "obj-other"}]},
      "gcp": {"projectId": "sim-proj", "zone": "us-central1-a",
              "serviceAccounts": [{"email": "op@sim.iam.gserviceaccount.com", "publicKeyPem": ")" + escaped + R"("}]},
      "rateLimits": {"mode": "off"}
    })";
    sim::SimOptions o;
    o.seed_json = seed;
    sim = sim::InfisicalSim::start(o);
    api = std::make_unique<Api>(*sim);
  }

  net::Response cloud(const std::string& method, const std::string& path, const net::Headers& headers = {},
                      const std::string& body = "") {
    net::Request r;
    r.method = method;
    r.url = sim->cloud_url() + path;
    r.headers = headers;
    r.body = body;
    return api->http.perform(r);
  }
};

std::string amz_now(int64_t offset_s = 0) {
  std::time_t t = std::time(nullptr) + offset_s;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// A client-side SigV4 signature of sts:GetCallerIdentity, as the AWS SDK makes it.
std::map<std::string, std::string> sign_sts(const std::string& akid, const std::string& secret, const std::string& session,
                                            const std::string& host, const std::string& body, const std::string& date) {
  std::map<std::string, std::string> h = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                                          {"host", host},
                                          {"x-amz-date", date}};
  if (!session.empty()) h["x-amz-security-token"] = session;
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : h) {
    canonical_headers += k + ":" + v + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }
  std::string region = "eu-west-1";
  std::string scope = date.substr(0, 8) + "/" + region + "/sts/aws4_request";
  std::string canonical = "POST\n/\n\n" + canonical_headers + "\n" + signed_headers + "\n" + sim::sha256_hex(body);
  std::string to_sign = "AWS4-HMAC-SHA256\n" + date + "\n" + scope + "\n" + sim::sha256_hex(canonical);
  std::string k = sim::hmac_sha256("AWS4" + secret, date.substr(0, 8));
  k = sim::hmac_sha256(k, region);
  k = sim::hmac_sha256(k, "sts");
  k = sim::hmac_sha256(k, "aws4_request");
  h["authorization"] = "AWS4-HMAC-SHA256 Credential=" + akid + "/" + scope + ", SignedHeaders=" + signed_headers +
                       ", Signature=" + sim::hex_encode(sim::hmac_sha256(k, to_sign));
  return h;
}

const std::string kStsBody = "Action=GetCallerIdentity&Version=2011-06-15";

std::string aws_login_body(const std::string& identity, const std::map<std::string, std::string>& signed_headers) {
  // Headers as the Go SDK marshals http.Header: canonical names, list values, plus Content-Length.
  std::string hjson = "{";
  for (const auto& [k, v] : signed_headers) {
    std::string name = k;
    bool up = true;
    for (auto& c : name) {
      if (up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      up = c == '-';
    }
    std::string value_json = sim::JsonObject().str("v", v).done();  // {"v":"..."}
    hjson += "\"" + name + "\":[" + value_json.substr(5, value_json.size() - 6) + "],";
  }
  hjson += "\"Content-Length\":[\"" + std::to_string(kStsBody.size()) + "\"]}";
  return sim::JsonObject()
      .str("identityId", identity)
      .str("iamHttpRequestMethod", "POST")
      .str("iamRequestUrl", core::base64_encode("https://sts.eu-west-1.amazonaws.com/"))
      .str("iamRequestBody", core::base64_encode(kStsBody))
      .str("iamRequestHeaders", core::base64_encode(hjson))
      .done();
}

std::string xml_field(const std::string& xml, const std::string& tag) {
  auto a = xml.find("<" + tag + ">");
  auto b = xml.find("</" + tag + ">");
  if (a == std::string::npos || b == std::string::npos) return {};
  return xml.substr(a + tag.size() + 2, b - a - tag.size() - 2);
}

std::string message_of(const net::Response& r) { return core::string_or(*json(r.body), "message", ""); }

}  // namespace

TEST_CASE("aws-auth: a SigV4-signed GetCallerIdentity with known keys logs in; tampering and wrong keys fail") {
  CloudFixture f;
  const std::string host = "sts.eu-west-1.amazonaws.com";
  auto ok = f.api->post("/v1/auth/aws-auth/login", aws_login_body("id-aws", sign_sts(kAkid, kSecret, "", host, kStsBody, amz_now())));
  REQUIRE_MESSAGE(ok.status == 200, ok.body);
  std::string token = core::string_or(*json(ok.body), "accessToken", "");
  CHECK(f.api->get("/v3/secrets/raw?workspaceSlug=demo&environment=dev", token).status == 200);

  auto wrong_secret = f.api->post("/v1/auth/aws-auth/login", aws_login_body("id-aws", sign_sts(kAkid, "not-the-secret", "", host, kStsBody, amz_now())));
  CHECK(wrong_secret.status == 401);
  CHECK(message_of(wrong_secret).find("SignatureDoesNotMatch") != std::string::npos);

  auto unknown_key = f.api->post("/v1/auth/aws-auth/login", aws_login_body("id-aws", sign_sts("AKIAUNKNOWN000000000", kSecret, "", host, kStsBody, amz_now())));
  CHECK(message_of(unknown_key).find("InvalidClientTokenId") != std::string::npos);

  auto stale = f.api->post("/v1/auth/aws-auth/login", aws_login_body("id-aws", sign_sts(kAkid, kSecret, "", host, kStsBody, amz_now(-20 * 60))));
  CHECK(stale.status == 401);
  CHECK(message_of(stale).find("Signature expired") != std::string::npos);

  // The signature covers the host: a request signed for another host does not verify with this one.
  auto headers = sign_sts(kAkid, kSecret, "", host, kStsBody, amz_now());
  headers["host"] = "sts.us-east-1.amazonaws.com";
  CHECK(f.api->post("/v1/auth/aws-auth/login", aws_login_body("id-aws", headers)).status == 401);

  auto not_allowed = f.api->post("/v1/auth/aws-auth/login", aws_login_body("id-aws-strict", sign_sts(kAkid, kSecret, "", host, kStsBody, amz_now())));
  CHECK(not_allowed.status == 401);
  CHECK(message_of(not_allowed) == "Access denied: AWS principal ARN not allowed. [principal-arn=arn:aws:iam::123456789012:user/ci]");

  auto no_method = f.api->post("/v1/auth/aws-auth/login", aws_login_body("id-azure", sign_sts(kAkid, kSecret, "", host, kStsBody, amz_now())));
  CHECK(no_method.status == 404);
  CHECK(message_of(no_method) == "AWS auth method not found for identity, did you configure AWS auth?");
}

TEST_CASE("aws: IMDSv2 session credentials, the fake STS, ECS credentials and web identity all verify") {
  CloudFixture f;
  // IMDSv2: no token, no metadata.
  CHECK(f.cloud("GET", "/latest/meta-data/iam/security-credentials/").status == 401);
  CHECK(f.cloud("PUT", "/latest/api/token").status == 400);
  auto t = f.cloud("PUT", "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}});
  REQUIRE(t.status == 200);
  net::Headers md = {{"X-aws-ec2-metadata-token", t.body}};
  CHECK(f.cloud("GET", "/latest/meta-data/placement/region", md).body == "eu-west-1");
  auto role = f.cloud("GET", "/latest/meta-data/iam/security-credentials/", md);
  REQUIRE(role.body == "ec2-op");
  auto creds = json(f.cloud("GET", "/latest/meta-data/iam/security-credentials/ec2-op", md).body);
  std::string akid = core::string_or(*creds, "AccessKeyId", ""), secret = core::string_or(*creds, "SecretAccessKey", ""),
              session = core::string_or(*creds, "Token", "");
  CHECK(akid.rfind("ASIA", 0) == 0);

  // The fake STS answers GetCallerIdentity for a request signed for its own host.
  std::string cloud_host = f.sim->cloud_url().substr(7);
  auto h = sign_sts(akid, secret, session, cloud_host, kStsBody, amz_now());
  net::Headers sts_headers;
  for (const auto& [k, v] : h) sts_headers.emplace_back(k, v);
  auto who = f.cloud("POST", "/", sts_headers, kStsBody);
  REQUIRE_MESSAGE(who.status == 200, who.body);
  CHECK(xml_field(who.body, "Arn") == "arn:aws:sts::123456789012:assumed-role/ec2-op/i-0sim0000000000001");
  CHECK(xml_field(who.body, "Account") == "123456789012");
  // Without the session token the temporary key is refused.
  auto no_session = sign_sts(akid, secret, "", cloud_host, kStsBody, amz_now());
  net::Headers ns;
  for (const auto& [k, v] : no_session) ns.emplace_back(k, v);
  auto refused = f.cloud("POST", "/", ns, kStsBody);
  CHECK(refused.status == 403);
  CHECK(xml_field(refused.body, "Code") == "InvalidClientTokenId");

  // Login with the instance role: its assumed-role ARN matches arn:aws:iam::123456789012:role/*.
  const std::string host = "sts.eu-west-1.amazonaws.com";
  auto login = f.api->post("/v1/auth/aws-auth/login", aws_login_body("id-aws", sign_sts(akid, secret, session, host, kStsBody, amz_now())));
  CHECK_MESSAGE(login.status == 200, login.body);

  // ECS container credentials need the authorization token.
  CHECK(f.cloud("GET", "/ecs/credentials", {{"Authorization", "wrong"}}).status == 401);
  auto ecs = json(f.cloud("GET", "/ecs/credentials", {{"Authorization", "ecs-auth"}}).body);
  CHECK(core::get_string(*ecs, "RoleArn") == "arn:aws:iam::123456789012:role/ecs-op");
  auto ecs_login = f.api->post("/v1/auth/aws-auth/login",
                               aws_login_body("id-aws", sign_sts(core::string_or(*ecs, "AccessKeyId", ""), core::string_or(*ecs, "SecretAccessKey", ""),
                                                                 core::string_or(*ecs, "Token", ""), host, kStsBody, amz_now())));
  CHECK(ecs_login.status == 200);

  // AssumeRoleWithWebIdentity with a token signed by the sim's key (the cluster's OIDC issuer here).
  int64_t now = std::time(nullptr);
  auto web_token = core::jwt_sign_rs256(sim::JsonObject().str("iss", "https://oidc.sim").str("sub", "system:serviceaccount:ops:op")
                                            .str("aud", "sts.amazonaws.com").num("iat", now).num("exp", now + 600).done(),
                                        f.sim->signing_private_key_pem());
  REQUIRE(web_token.ok());
  auto assume = f.cloud("POST", "/", {{"Content-Type", "application/x-www-form-urlencoded"}},
                        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=op&RoleArn=" +
                            net::url_encode("arn:aws:iam::123456789012:role/irsa-op") + "&WebIdentityToken=" + *web_token);
  REQUIRE_MESSAGE(assume.status == 200, assume.body);
  CHECK(xml_field(assume.body, "Arn") == "arn:aws:sts::123456789012:assumed-role/irsa-op/op");
  auto web_login = f.api->post("/v1/auth/aws-auth/login",
                               aws_login_body("id-aws", sign_sts(xml_field(assume.body, "AccessKeyId"), xml_field(assume.body, "SecretAccessKey"),
                                                                 xml_field(assume.body, "SessionToken"), host, kStsBody, amz_now())));
  CHECK(web_login.status == 200);
  // A token for another audience, or for a role the sim does not trust, is refused.
  auto wrong_aud = core::jwt_sign_rs256(sim::JsonObject().str("aud", "other").num("exp", now + 600).done(), f.sim->signing_private_key_pem());
  auto bad = f.cloud("POST", "/", {}, "Action=AssumeRoleWithWebIdentity&RoleSessionName=op&RoleArn=" +
                                          net::url_encode("arn:aws:iam::123456789012:role/irsa-op") + "&WebIdentityToken=" + *wrong_aud);
  CHECK(xml_field(bad.body, "Code") == "InvalidIdentityToken");
  auto denied = f.cloud("POST", "/", {}, "Action=AssumeRoleWithWebIdentity&RoleSessionName=op&RoleArn=" +
                                             net::url_encode("arn:aws:iam::123456789012:role/admin") + "&WebIdentityToken=" + *web_token);
  CHECK(denied.status == 403);
}

TEST_CASE("azure-auth: an IMDS token for the identity's resource logs in; wrong resource, principal or key fail") {
  CloudFixture f;
  const std::string path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + net::url_encode("https://management.azure.com/");
  auto no_header = f.cloud("GET", path);
  CHECK(no_header.status == 400);
  CHECK(core::get_string(*json(no_header.body), "error_description") == "Required metadata header not specified");
  auto imds = f.cloud("GET", path, {{"Metadata", "true"}});
  REQUIRE(imds.status == 200);
  std::string jwt = core::string_or(*json(imds.body), "access_token", "");
  auto ok = f.api->post("/v1/auth/azure-auth/login", R"({"identityId":"id-azure","jwt":")" + jwt + R"("})");
  CHECK_MESSAGE(ok.status == 200, ok.body);

  auto wrong_resource = f.api->post("/v1/auth/azure-auth/login", R"({"identityId":"id-azure-vault","jwt":")" + jwt + R"("})");
  CHECK(wrong_resource.status == 401);
  CHECK(message_of(wrong_resource) == "jwt audience invalid. expected: https://vault.azure.net");

  // A user-assigned identity by client_id; one not on the allow list is refused.
  auto user = json(f.cloud("GET", path + "&client_id=cli-user", {{"Metadata", "true"}}).body);
  CHECK(f.api->post("/v1/auth/azure-auth/login", R"({"identityId":"id-azure","jwt":")" + core::string_or(*user, "access_token", "") + R"("})").status == 200);
  auto other = json(f.cloud("GET", path + "&client_id=cli-other", {{"Metadata", "true"}}).body);
  auto denied = f.api->post("/v1/auth/azure-auth/login", R"({"identityId":"id-azure","jwt":")" + core::string_or(*other, "access_token", "") + R"("})");
  CHECK(denied.status == 401);
  CHECK(message_of(denied) == "Access denied: Azure service principal not allowed.");
  CHECK(f.cloud("GET", path + "&client_id=nobody", {{"Metadata", "true"}}).status == 400);

  // Forged with another key, or expired.
  auto other_key = core::generate_rsa_keypair();
  auto decoded = core::jwt_decode_unverified(jwt);
  auto forged = core::jwt_sign_rs256(decoded->claims_json, other_key.private_pem, "sim-azure-key");
  auto bad_sig = f.api->post("/v1/auth/azure-auth/login", R"({"identityId":"id-azure","jwt":")" + *forged + R"("})");
  CHECK(bad_sig.status == 401);
  CHECK(message_of(bad_sig) == "invalid signature");
  f.sim->advance_clock(86400);
  auto expired = f.api->post("/v1/auth/azure-auth/login", R"({"identityId":"id-azure","jwt":")" + jwt + R"("})");
  CHECK(message_of(expired) == "jwt expired");
}

TEST_CASE("gcp-auth (gce): a metadata-server ID token with the identity id as audience logs in") {
  CloudFixture f;
  const std::string path = "/computeMetadata/v1/instance/service-accounts/default/identity?format=full&audience=";
  CHECK(f.cloud("GET", path + "id-gce").status == 403);  // Metadata-Flavor required
  auto id_token = f.cloud("GET", path + "id-gce", {{"Metadata-Flavor", "Google"}});
  REQUIRE(id_token.status == 200);
  auto ok = f.api->post("/v1/auth/gcp-auth/login", R"({"identityId":"id-gce","jwt":")" + id_token.body + R"("})");
  CHECK_MESSAGE(ok.status == 200, ok.body);
  auto wrong_aud = f.api->post("/v1/auth/gcp-auth/login", R"({"identityId":"id-gce-zone","jwt":")" + id_token.body + R"("})");
  CHECK(wrong_aud.status == 401);
  auto zone_token = f.cloud("GET", path + "id-gce-zone", {{"Metadata-Flavor", "Google"}});
  auto zone = f.api->post("/v1/auth/gcp-auth/login", R"({"identityId":"id-gce-zone","jwt":")" + zone_token.body + R"("})");
  CHECK(zone.status == 401);
  CHECK(message_of(zone) == "Access denied: GCP zone not allowed.");
  f.sim->advance_clock(3601);
  CHECK(f.api->post("/v1/auth/gcp-auth/login", R"({"identityId":"id-gce","jwt":")" + id_token.body + R"("})").status == 401);
}

TEST_CASE("gcp-auth (iam): key-file JWT-bearer grant, then signJwt, then login; forged assertions fail") {
  CloudFixture f;
  const std::string email = "op@sim.iam.gserviceaccount.com";
  int64_t now = std::time(nullptr);
  auto assertion = core::jwt_sign_rs256(sim::JsonObject().str("iss", email).str("scope", "https://www.googleapis.com/auth/cloud-platform")
                                            .str("aud", f.sim->cloud_url() + "/token").num("iat", now).num("exp", now + 3600).done(),
                                        f.sa_key.private_pem, "key-1");
  net::Headers form = {{"Content-Type", "application/x-www-form-urlencoded"}};
  auto grant = f.cloud("POST", "/token", form, "grant_type=" + net::url_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=" + *assertion);
  REQUIRE_MESSAGE(grant.status == 200, grant.body);
  std::string access = core::string_or(*json(grant.body), "access_token", "");

  std::string sign_path = "/v1/projects/-/serviceAccounts/" + email + ":signJwt";
  CHECK(f.cloud("POST", sign_path, {{"Content-Type", "application/json"}}, R"({"payload":"{}"})").status == 401);
  auto signed_jwt = f.cloud("POST", sign_path, {{"Authorization", "Bearer " + access}, {"Content-Type", "application/json"}},
                            sim::JsonObject().str("payload", R"({"sub":")" + email + R"(","aud":"id-gcp-iam"})").done());
  REQUIRE_MESSAGE(signed_jwt.status == 200, signed_jwt.body);
  std::string jwt = core::string_or(*json(signed_jwt.body), "signedJwt", "");
  auto ok = f.api->post("/v1/auth/gcp-auth/login", R"({"identityId":"id-gcp-iam","jwt":")" + jwt + R"("})");
  CHECK_MESSAGE(ok.status == 200, ok.body);
  // A gce-type identity does not take a signJwt token, even with the right audience.
  auto for_gce = f.cloud("POST", sign_path, {{"Authorization", "Bearer " + access}, {"Content-Type", "application/json"}},
                         sim::JsonObject().str("payload", R"({"sub":")" + email + R"(","aud":"id-gce"})").done());
  CHECK(f.api->post("/v1/auth/gcp-auth/login", R"({"identityId":"id-gce","jwt":")" + core::string_or(*json(for_gce.body), "signedJwt", "") + R"("})").status == 401);

  // An assertion signed with another key is refused by the token endpoint.
  auto other = core::generate_rsa_keypair();
  auto forged = core::jwt_sign_rs256(sim::JsonObject().str("iss", email).str("aud", f.sim->cloud_url() + "/token").num("iat", now).num("exp", now + 3600).done(),
                                     other.private_pem);
  auto refused = f.cloud("POST", "/token", form, "grant_type=" + net::url_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=" + *forged);
  CHECK(refused.status == 400);
  CHECK(core::get_string(*json(refused.body), "error_description") == "Invalid JWT Signature.");
}
