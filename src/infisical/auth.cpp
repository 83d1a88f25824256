// Login for each auth method, token renewal, and the cloud credential sources behind them.
#include "infisical/auth.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/json.h"
#include "core/jwt.h"

namespace ifo::infisical {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string short_hash(std::string_view s) { return sha256_hex(s).substr(0, 16); }

std::string json_object(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  core::JsonDoc d(rapidjson::kObjectType);
  for (const auto& [k, v] : fields) core::set_string(d, k, v, d.GetAllocator());
  return core::to_json(d);
}

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::move(fallback);
}

std::string strip_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string with_scheme(const std::string& host_or_url) {
  if (host_or_url.rfind("http://", 0) == 0 || host_or_url.rfind("https://", 0) == 0) return strip_slash(host_or_url);
  return "http://" + strip_slash(host_or_url);
}

// POSTs a machine-identity login body; maps errors with the method and identity in front.
Token post_login(const LoginContext& ctx, std::string_view route, const std::string& body, const std::string& what,
                 const std::vector<std::string>& sensitive) {
  net::Request req;
  req.method = "POST";
  req.url = ctx.base_url + std::string(route);
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  req.body = body;
  auto r = ctx.infisical.send(std::move(req), "POST " + std::string(route), what);
  if (r.status < 200 || r.status >= 300)
    throw error_from_response(what, r, false, ctx.clock.wall_now(), sensitive);
  return parse_login_response(r.body, what);
}

ApiError source_error(const std::string& what, std::string_view detail) {
  return ApiError(ErrorKind::kCredentialSource, fmt::format("{}: {}", what, detail));
}

std::string read_file_or_throw(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw source_error(what, fmt::format("cannot read service account key file {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Token login_universal(const UniversalAuth& a, const LoginContext& ctx) {
  std::string what = fmt::format("universal-auth login for client id {}", a.client_id);
  if (a.client_id.empty() || a.client_secret.empty())
    throw ApiError(ErrorKind::kInvalidConfig, what + ": clientId and clientSecret must both be set");
  return post_login(ctx, "/v1/auth/universal-auth/login",
                    json_object({{"clientId", a.client_id}, {"clientSecret", a.client_secret}}), what,
                    {a.client_secret});
}

Token login_ldap(const LdapAuth& a, const LoginContext& ctx) {
  std::string what = fmt::format("ldap-auth login for identity {} (LDAP user {})", a.identity_id, a.username);
  if (a.username.empty() || a.password.empty())
    throw ApiError(ErrorKind::kInvalidConfig, what + ": username and password must both be set");
  return post_login(ctx, "/v1/auth/ldap-auth/login",
                    json_object({{"identityId", a.identity_id}, {"username", a.username}, {"password", a.password}}),
                    what, {a.password});
}

Token login_kubernetes(const KubernetesAuth& a, const LoginContext& ctx) {
  std::string what = fmt::format("kubernetes-auth login for identity {} (service account {})", a.identity_id,
                                 a.service_account);
  if (!a.service_account_jwt) throw ApiError(ErrorKind::kInvalidConfig, what + ": no service-account token source");
  std::string jwt;
  try {
    jwt = a.service_account_jwt();
  } catch (const std::exception& e) {
    throw source_error(what, fmt::format("could not obtain a service-account token: {}", e.what()));
  }
  if (jwt.empty()) throw source_error(what, "the service-account token source returned an empty token");
  return post_login(ctx, "/v1/auth/kubernetes-auth/login", json_object({{"identityId", a.identity_id}, {"jwt", jwt}}),
                    what, {jwt});
}

Token login_aws(const AwsIamAuth& a, const LoginContext& ctx) {
  std::string what = fmt::format("aws-auth login for identity {}", a.identity_id);
  AwsCredentials creds;
  std::string region;
  try {
    creds = ctx.aws.credentials(ctx.cloud);
    region = ctx.aws.region(ctx.cloud);
  } catch (const ApiError& e) {
    throw e.with_context(what);
  }
  auto f = build_aws_login_fields(creds, region, ctx.clock.wall_now());
  std::string body = json_object({{"identityId", a.identity_id},
                                  {"iamHttpRequestMethod", f.iam_http_request_method},
                                  {"iamRequestBody", f.iam_request_body},
                                  {"iamRequestHeaders", f.iam_request_headers}});
  return post_login(ctx, "/v1/auth/aws-auth/login", body, what,
                    {creds.secret_access_key, creds.session_token, f.iam_request_headers});
}

Token login_azure(const AzureAuth& a, const LoginContext& ctx) {
  std::string what = fmt::format("azure-auth login for identity {}", a.identity_id);
  std::string resource = a.resource.empty() ? "https://management.azure.com/" : a.resource;
  std::string client_id = a.managed_identity_client_id;
  // Older docs told users to append "&client_id=<id>" to the resource; keep that working.
  if (auto pos = resource.find("&client_id="); pos != std::string::npos) {
    if (client_id.empty()) client_id = resource.substr(pos + 11);
    resource.resize(pos);
  }
  net::Request req;
  req.url = fmt::format("{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
                        with_scheme(ctx.env.azure_imds_endpoint), net::url_encode(resource));
  if (!client_id.empty()) req.url += "&client_id=" + net::url_encode(client_id);
  req.headers = {{"Metadata", "true"}, {"Accept", "application/json"}};
  req.connect_timeout = ctx.env.metadata_timeout;
  req.total_timeout = ctx.env.metadata_timeout;
  auto r = ctx.cloud.send(req, "GET azure-imds:oauth2/token", what + ": Azure instance metadata");
  if (r.status != 200)
    throw source_error(what, fmt::format("Azure instance metadata answered HTTP {}: {}", r.status,
                                         server_message_of(r.body)));
  auto doc = core::parse_json(r.body);
  std::string jwt = doc.ok() ? core::string_or(**doc, "access_token", "") : "";
  if (jwt.empty()) throw source_error(what, "Azure instance metadata answered without access_token");
  return post_login(ctx, "/v1/auth/azure-auth/login", json_object({{"identityId", a.identity_id}, {"jwt", jwt}}), what,
                    {jwt});
}

Token login_gcp_id_token(const GcpIdTokenAuth& a, const LoginContext& ctx) {
  std::string what = fmt::format("gcp-id-token-auth login for identity {}", a.identity_id);
  net::Request req;
  req.url = fmt::format("{}/computeMetadata/v1/instance/service-accounts/default/identity?audience={}&format=full",
                        with_scheme(ctx.env.gce_metadata_host), net::url_encode(a.identity_id));
  req.headers = {{"Metadata-Flavor", "Google"}};
  req.connect_timeout = ctx.env.metadata_timeout;
  req.total_timeout = ctx.env.metadata_timeout;
  auto r = ctx.cloud.send(req, "GET gce-metadata:identity", what + ": GCE metadata");
  if (r.status != 200 || r.body.empty())
    throw source_error(what, fmt::format("GCE metadata identity token: HTTP {}", r.status));
  std::string jwt = r.body;
  while (!jwt.empty() && (jwt.back() == '\n' || jwt.back() == '\r')) jwt.pop_back();
  return post_login(ctx, "/v1/auth/gcp-auth/login", json_object({{"identityId", a.identity_id}, {"jwt", jwt}}), what,
                    {jwt});
}

Token login_gcp_iam(const GcpIamAuth& a, const LoginContext& ctx) {
  std::string what = fmt::format("gcp-iam-auth login for identity {}", a.identity_id);
  std::string key_text = read_file_or_throw(a.service_account_key_file, what);
  auto key = core::parse_json(key_text);
  if (!key.ok() || !(*key)->IsObject())
    throw source_error(what, fmt::format("service account key file {} is not a JSON object", a.service_account_key_file));
  std::string email = core::string_or(**key, "client_email", "");
  std::string private_key = core::string_or(**key, "private_key", "");
  std::string key_id = core::string_or(**key, "private_key_id", "");
  std::string token_uri = core::string_or(**key, "token_uri", "https://oauth2.googleapis.com/token");
  if (email.empty() || private_key.empty())
    throw source_error(what, fmt::format("service account key file {} lacks client_email or private_key",
                                         a.service_account_key_file));

  // 1. OAuth2 JWT-bearer grant: an access token for the service account itself.
  auto now = std::chrono::duration_cast<std::chrono::seconds>(ctx.clock.wall_now().time_since_epoch()).count();
  core::JsonDoc claims(rapidjson::kObjectType);
  auto& al = claims.GetAllocator();
  core::set_string(claims, "iss", email, al);
  core::set_string(claims, "scope", "https://www.googleapis.com/auth/cloud-platform", al);
  core::set_string(claims, "aud", token_uri, al);
  core::set_member(claims, "iat", core::JsonValue(static_cast<int64_t>(now)), al);
  core::set_member(claims, "exp", core::JsonValue(static_cast<int64_t>(now + 3600)), al);
  auto assertion = core::jwt_sign_rs256(core::to_json(claims), private_key, key_id);
  if (!assertion.ok()) throw source_error(what, "cannot sign with the key file's private_key: " + assertion.error());
  net::Request grant;
  grant.method = "POST";
  grant.url = token_uri;
  grant.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  grant.body = "grant_type=" + net::url_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
               "&assertion=" + net::url_encode(*assertion);
  auto r = ctx.cloud.send(grant, "POST google:oauth2/token", what + ": Google OAuth2 token");
  if (r.status != 200)
    throw source_error(what, fmt::format("Google OAuth2 token endpoint answered HTTP {}: {}", r.status,
                                         server_message_of(r.body, {*assertion})));
  auto grant_doc = core::parse_json(r.body);
  std::string access = grant_doc.ok() ? core::string_or(**grant_doc, "access_token", "") : "";
  if (access.empty()) throw source_error(what, "Google OAuth2 token endpoint answered without access_token");

  // 2. IAM Credentials signJwt: a JWT for Infisical (aud = the identity id), signed by Google.
  core::JsonDoc payload(rapidjson::kObjectType);
  auto& ap = payload.GetAllocator();
  core::set_string(payload, "sub", email, ap);
  core::set_string(payload, "aud", a.identity_id, ap);
  core::set_member(payload, "iat", core::JsonValue(static_cast<int64_t>(now)), ap);
  core::set_member(payload, "exp", core::JsonValue(static_cast<int64_t>(now + 900)), ap);
  net::Request sign;
  sign.method = "POST";
  // '@' is legal in a path segment; Google's own clients send the email as it is.
  std::string email_segment;
  for (char c : email) email_segment += (c == '@' || c == '.' || c == '-' || std::isalnum(static_cast<unsigned char>(c))) ? std::string(1, c) : net::url_encode(std::string(1, c));
  sign.url = fmt::format("{}/v1/projects/-/serviceAccounts/{}:signJwt", strip_slash(ctx.env.gcp_iam_endpoint),
                         email_segment);
  sign.headers = {{"Authorization", "Bearer " + access},
                  {"Content-Type", "application/json"},
                  {"Accept", "application/json"}};
  sign.body = json_object({{"payload", core::to_json(payload)}});
  r = ctx.cloud.send(sign, "POST google-iam:signJwt", what + ": IAM Credentials signJwt");
  if (r.status != 200)
    throw source_error(what, fmt::format("IAM Credentials signJwt for {} answered HTTP {}: {}", email, r.status,
                                         server_message_of(r.body, {access})));
  auto signed_doc = core::parse_json(r.body);
  std::string jwt = signed_doc.ok() ? core::string_or(**signed_doc, "signedJwt", "") : "";
  if (jwt.empty()) throw source_error(what, "IAM Credentials signJwt answered without signedJwt");
  return post_login(ctx, "/v1/auth/gcp-auth/login", json_object({{"identityId", a.identity_id}, {"jwt", jwt}}), what,
                    {jwt, access});
}

struct ServiceTokenParts {
  std::string id;
  std::string bearer;  // "st.<id>.<secret>": the decryption key part never leaves the process
};

ServiceTokenParts split_service_token(const std::string& token) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (parts.size() != 4 || parts[0] != "st" || parts[1].empty() || parts[2].empty())
    throw ApiError(ErrorKind::kInvalidConfig,
                   "service-token: invalid service token (expected the form st.<id>.<secret>.<key>)");
  return {parts[1], "st." + parts[1] + "." + parts[2]};
}

Token login_service_token(const ServiceTokenAuth& a, const LoginContext& ctx) {
  std::string token = a.token;
  token.erase(std::remove_if(token.begin(), token.end(), [](unsigned char c) { return std::isspace(c); }), token.end());
  auto parts = split_service_token(token);
  std::string what = fmt::format("service-token lookup for token st.{}", parts.id);
  net::Request req;
  req.url = ctx.base_url + "/v2/service-token";
  req.headers = {{"Authorization", "Bearer " + parts.bearer}, {"Accept", "application/json"}};
  auto r = ctx.infisical.send(req, "GET /v2/service-token", what);
  if (r.status != 200) throw error_from_response(what, r, false, ctx.clock.wall_now(), {token, parts.bearer});
  auto doc = core::parse_json(r.body);
  std::string project = doc.ok() ? core::string_or(**doc, "workspace", "") : "";
  if (project.empty()) throw ApiError(ErrorKind::kInvalidResponse, what + ": the answer names no workspace");
  Token t;
  t.access_token = parts.bearer;
  t.project_id = project;
  return t;
}

}  // namespace

std::string_view method_name(const AuthConfig& auth) {
  return std::visit(Overloaded{
                        [](const UniversalAuth&) { return std::string_view("universal-auth"); },
                        [](const KubernetesAuth&) { return std::string_view("kubernetes-auth"); },
                        [](const AwsIamAuth&) { return std::string_view("aws-auth"); },
                        [](const AzureAuth&) { return std::string_view("azure-auth"); },
                        [](const GcpIdTokenAuth&) { return std::string_view("gcp-id-token-auth"); },
                        [](const GcpIamAuth&) { return std::string_view("gcp-iam-auth"); },
                        [](const ServiceTokenAuth&) { return std::string_view("service-token"); },
                        [](const LdapAuth&) { return std::string_view("ldap-auth"); },
                    },
                    auth);
}

std::string display_identity(const AuthConfig& auth) {
  return std::visit(Overloaded{
                        [](const UniversalAuth& a) { return "client id " + a.client_id; },
                        [](const KubernetesAuth& a) { return "identity " + a.identity_id + " (" + a.service_account + ")"; },
                        [](const AwsIamAuth& a) { return "identity " + a.identity_id; },
                        [](const AzureAuth& a) { return "identity " + a.identity_id; },
                        [](const GcpIdTokenAuth& a) { return "identity " + a.identity_id; },
                        [](const GcpIamAuth& a) { return "identity " + a.identity_id; },
                        [](const ServiceTokenAuth& a) {
                          auto first = a.token.find('.');
                          auto second = first == std::string::npos ? first : a.token.find('.', first + 1);
                          return second == std::string::npos ? std::string("service token (malformed)")
                                                             : "service token " + a.token.substr(0, second);
                        },
                        [](const LdapAuth& a) { return "identity " + a.identity_id + " (LDAP user " + a.username + ")"; },
                    },
                    auth);
}

std::string cache_identity(const AuthConfig& auth) {
  std::string m(method_name(auth));
  return m + "|" + std::visit(Overloaded{
                                  [](const UniversalAuth& a) { return a.client_id + "|" + short_hash(a.client_secret); },
                                  [](const KubernetesAuth& a) { return a.identity_id + "|" + a.service_account; },
                                  [](const AwsIamAuth& a) { return a.identity_id; },
                                  [](const AzureAuth& a) {
                                    return a.identity_id + "|" + a.resource + "|" + a.managed_identity_client_id;
                                  },
                                  [](const GcpIdTokenAuth& a) { return a.identity_id; },
                                  [](const GcpIamAuth& a) { return a.identity_id + "|" + a.service_account_key_file; },
                                  [](const ServiceTokenAuth& a) { return short_hash(a.token); },
                                  [](const LdapAuth& a) {
                                    return a.identity_id + "|" + a.username + "|" + short_hash(a.password);
                                  },
                              },
                              auth);
}

Token parse_login_response(std::string_view body, std::string_view what) {
  auto doc = core::parse_json(body);
  if (!doc.ok() || !(*doc)->IsObject())
    throw ApiError(ErrorKind::kInvalidResponse, fmt::format("{}: the answer is not a JSON object", what));
  Token t;
  t.access_token = core::string_or(**doc, "accessToken", "");
  if (t.access_token.empty())
    throw ApiError(ErrorKind::kInvalidResponse, fmt::format("{}: the answer has no accessToken", what));
  t.expires_in = core::get_int(**doc, "expiresIn").value_or(0);
  t.max_ttl = core::get_int(**doc, "accessTokenMaxTTL").value_or(0);
  if (t.expires_in < 0 || t.max_ttl < 0)
    throw ApiError(ErrorKind::kInvalidResponse, fmt::format("{}: negative expiresIn or accessTokenMaxTTL", what));
  return t;
}

Token login(const AuthConfig& auth, const LoginContext& ctx) {
  return std::visit(Overloaded{
                        [&](const UniversalAuth& a) { return login_universal(a, ctx); },
                        [&](const KubernetesAuth& a) { return login_kubernetes(a, ctx); },
                        [&](const AwsIamAuth& a) { return login_aws(a, ctx); },
                        [&](const AzureAuth& a) { return login_azure(a, ctx); },
                        [&](const GcpIdTokenAuth& a) { return login_gcp_id_token(a, ctx); },
                        [&](const GcpIamAuth& a) { return login_gcp_iam(a, ctx); },
                        [&](const ServiceTokenAuth& a) { return login_service_token(a, ctx); },
                        [&](const LdapAuth& a) { return login_ldap(a, ctx); },
                    },
                    auth);
}

Token renew_token(const LoginContext& ctx, const std::string& access_token, std::string_view display) {
  std::string what = fmt::format("token renewal for {}", display);
  return post_login(ctx, "/v1/auth/token/renew", json_object({{"accessToken", access_token}}), what, {access_token});
}

CloudEnv CloudEnv::from_environment() {
  CloudEnv e;
  e.aws_access_key_id = env_or(kEnvAwsAccessKeyId, "");
  e.aws_secret_access_key = env_or(kEnvAwsSecretAccessKey, "");
  e.aws_session_token = env_or(kEnvAwsSessionToken, "");
  e.aws_region = env_or(kEnvAwsRegion, env_or(kEnvAwsDefaultRegion, ""));
  e.aws_web_identity_token_file = env_or(kEnvAwsWebIdentityTokenFile, "");
  e.aws_role_arn = env_or(kEnvAwsRoleArn, "");
  e.aws_role_session_name = env_or(kEnvAwsRoleSessionName, "");
  e.aws_container_full_uri = env_or(kEnvAwsContainerFullUri, "");
  e.aws_container_relative_uri = env_or(kEnvAwsContainerRelativeUri, "");
  e.aws_container_auth_token = env_or(kEnvAwsContainerAuthToken, "");
  e.aws_container_auth_token_file = env_or(kEnvAwsContainerAuthTokenFile, "");
  e.aws_endpoint_url_sts = env_or(kEnvAwsEndpointUrlSts, env_or(kEnvAwsEndpointUrl, ""));
  e.aws_imds_endpoint = env_or(kEnvAwsImdsEndpoint, e.aws_imds_endpoint);
  std::string disabled = env_or(kEnvAwsImdsDisabled, "");
  e.aws_imds_disabled = disabled == "true" || disabled == "TRUE" || disabled == "1";
  e.gce_metadata_host = env_or(kEnvGceMetadataHost, e.gce_metadata_host);
  e.gcp_iam_endpoint = env_or(kEnvGcpIamEndpoint, e.gcp_iam_endpoint);
  e.azure_imds_endpoint = env_or(kEnvAzureImdsEndpoint, e.azure_imds_endpoint);
  if (std::string bundle = env_or(kEnvAwsCaBundle, ""); !bundle.empty()) {
    std::ifstream in(bundle, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    e.ca_pem = ss.str();
  }
  return e;
}

}  // namespace ifo::infisical
