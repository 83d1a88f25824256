// AWS credential chain, region and the signed GetCallerIdentity request.
#include "infisical/aws.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "core/base64.h"
#include "core/json.h"
#include "core/text.h"

namespace ifo::infisical {

namespace {

constexpr const char* kStsBody = "Action=GetCallerIdentity&Version=2011-06-15";
constexpr const char* kFormContentType = "application/x-www-form-urlencoded; charset=utf-8";

ApiError source_error(std::string message) { return ApiError(ErrorKind::kCredentialSource, std::move(message)); }

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string strip_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// A stated expiration. The epoch means "does not expire" in AwsCredentials, so an answer stating
// 1970-01-01T00:00:00Z would be cached forever: it is read one second earlier, expired like any past time.
std::chrono::system_clock::time_point stated_expiration(std::chrono::system_clock::time_point t) {
  return t == std::chrono::system_clock::time_point{} ? t - std::chrono::seconds(1) : t;
}

// The credentials JSON of ECS and IMDS: {AccessKeyId, SecretAccessKey, Token, Expiration}.
AwsCredentials parse_credentials_json(std::string_view body, const std::string& source) {
  auto doc = core::parse_json(body);
  if (!doc.ok() || !(*doc)->IsObject()) throw source_error(fmt::format("AWS credentials from {}: not a JSON object", source));
  AwsCredentials c;
  c.access_key_id = core::string_or(**doc, "AccessKeyId", "");
  c.secret_access_key = core::string_or(**doc, "SecretAccessKey", "");
  c.session_token = core::string_or(**doc, "Token", "");
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    throw source_error(fmt::format("AWS credentials from {}: AccessKeyId or SecretAccessKey missing", source));
  if (auto exp = core::get_string(**doc, "Expiration")) {
    if (auto t = parse_iso8601(*exp)) c.expiration = stated_expiration(*t);
  }
  c.source = source;
  return c;
}

bool loopback_or_https(const std::string& url) {
  if (url.rfind("https://", 0) == 0) return true;
  for (const char* host : {"http://127.0.0.1", "http://localhost", "http://[::1]", "http://169.254.170.2",
                           "http://169.254.170.23"}) {
    std::string h(host);
    if (url.rfind(h, 0) == 0 && (url.size() == h.size() || url[h.size()] == ':' || url[h.size()] == '/')) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> xml_text(std::string_view xml, std::string_view tag) {
  std::string open = fmt::format("<{}>", tag), close = fmt::format("</{}>", tag);
  auto a = xml.find(open);
  if (a == std::string_view::npos) return std::nullopt;
  a += open.size();
  auto b = xml.find(close, a);
  if (b == std::string_view::npos) return std::nullopt;
  std::string_view raw = xml.substr(a, b - a);
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      out.push_back(raw[i]);
      continue;
    }
    static const std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool matched = false;
    for (const auto& [name, ch] : kEntities) {
      if (raw.substr(i, name.size()) == name) {
        out.push_back(ch);
        i += name.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out.push_back('&');
  }
  return out;
}

std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return std::nullopt;
  if (*end == '.') {
    ++end;
    while (std::isdigit(static_cast<unsigned char>(*end))) ++end;
  }
  if (*end != 'Z' && std::string_view(end) != "+00:00") return std::nullopt;
  // A time the clock cannot represent (its nanoseconds span about 292 years either side of 1970) is
  // no usable expiration; converting it would overflow.
  const std::time_t when = timegm(&tm);
  constexpr auto kLimit = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max()).count() - 1;
  if (when > kLimit || when < -kLimit) return std::nullopt;
  return std::chrono::system_clock::from_time_t(when);
}

std::string AwsCredentialProvider::sts_endpoint() {
  if (!env_.aws_endpoint_url_sts.empty()) return strip_slash(env_.aws_endpoint_url_sts);
  if (!env_.aws_region.empty()) return fmt::format("https://sts.{}.amazonaws.com", env_.aws_region);
  return "https://sts.amazonaws.com";
}

AwsCredentials AwsCredentialProvider::from_web_identity(const HttpCall& http) {
  auto jwt = read_file(env_.aws_web_identity_token_file);
  if (!jwt) throw source_error(fmt::format("AWS web identity: cannot read token file {}", env_.aws_web_identity_token_file));
  std::string session =
      env_.aws_role_session_name.empty()
          ? fmt::format("infisical-operator-{}", std::chrono::system_clock::to_time_t(clock_.wall_now()))
          : env_.aws_role_session_name;
  net::Request req;
  req.method = "POST";
  req.url = sts_endpoint() + "/";
  req.headers = {{"Content-Type", kFormContentType}, {"Accept", "application/xml"}};
  req.body = fmt::format("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName={}&WebIdentityToken={}",
                         net::url_encode(env_.aws_role_arn), net::url_encode(session), net::url_encode(core::trim(*jwt)));
  auto r = http.send(req, "POST sts:AssumeRoleWithWebIdentity", "AWS STS AssumeRoleWithWebIdentity");
  if (r.status != 200) {
    auto msg = xml_text(r.body, "Message").value_or("");
    throw source_error(fmt::format("AWS STS AssumeRoleWithWebIdentity for role {}: HTTP {} {}", env_.aws_role_arn,
                                   r.status, redact(msg, {std::string(core::trim(*jwt))})));
  }
  AwsCredentials c;
  c.access_key_id = xml_text(r.body, "AccessKeyId").value_or("");
  c.secret_access_key = xml_text(r.body, "SecretAccessKey").value_or("");
  c.session_token = xml_text(r.body, "SessionToken").value_or("");
  if (auto exp = xml_text(r.body, "Expiration")) {
    if (auto t = parse_iso8601(*exp)) c.expiration = stated_expiration(*t);
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    throw source_error("AWS STS AssumeRoleWithWebIdentity: no credentials in the response");
  c.source = "web identity";
  return c;
}

AwsCredentials AwsCredentialProvider::from_container(const HttpCall& http) {
  std::string url = !env_.aws_container_full_uri.empty()
                        ? env_.aws_container_full_uri
                        : strip_slash(env_.aws_ecs_host) + env_.aws_container_relative_uri;
  if (!env_.aws_container_full_uri.empty() && !loopback_or_https(url))
    throw source_error("AWS container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback/ECS address");
  net::Request req;
  req.url = url;
  req.connect_timeout = env_.metadata_timeout;
  req.total_timeout = env_.metadata_timeout;
  std::string auth = env_.aws_container_auth_token;
  if (!env_.aws_container_auth_token_file.empty()) {
    auto f = read_file(env_.aws_container_auth_token_file);
    if (!f) throw source_error(fmt::format("AWS container credentials: cannot read {}", env_.aws_container_auth_token_file));
    auth = std::string(core::trim(*f));
  }
  if (!auth.empty()) req.headers.emplace_back("Authorization", auth);
  auto r = http.send(req, "GET ecs:credentials", "AWS container credentials");
  if (r.status != 200) throw source_error(fmt::format("AWS container credentials: HTTP {}", r.status));
  return parse_credentials_json(r.body, "ecs");
}

std::string AwsCredentialProvider::imds_token(const HttpCall& http) {
  net::Request req;
  req.method = "PUT";
  req.url = strip_slash(env_.aws_imds_endpoint) + "/latest/api/token";
  req.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  req.connect_timeout = env_.metadata_timeout;
  req.total_timeout = env_.metadata_timeout;
  auto r = http.send(req, "PUT imds:/latest/api/token", "EC2 instance metadata (IMDSv2 token)");
  if (r.status != 200 || r.body.empty()) throw source_error(fmt::format("EC2 instance metadata: token request answered HTTP {}", r.status));
  return r.body;
}

AwsCredentials AwsCredentialProvider::from_imds(const HttpCall& http) {
  std::string token = imds_token(http);
  std::string base = strip_slash(env_.aws_imds_endpoint) + "/latest/meta-data/iam/security-credentials/";
  net::Request req;
  req.url = base;
  req.headers = {{"X-aws-ec2-metadata-token", token}};
  req.connect_timeout = env_.metadata_timeout;
  req.total_timeout = env_.metadata_timeout;
  auto r = http.send(req, "GET imds:security-credentials", "EC2 instance metadata (role name)");
  if (r.status != 200) throw source_error(fmt::format("EC2 instance metadata: no instance role (HTTP {})", r.status));
  std::string role(core::trim(std::string_view(r.body).substr(0, r.body.find('\n'))));
  if (role.empty()) throw source_error("EC2 instance metadata: no instance role attached");
  req.url = base + role;
  r = http.send(req, "GET imds:security-credentials", "EC2 instance metadata (role credentials)");
  if (r.status != 200) throw source_error(fmt::format("EC2 instance metadata: credentials of role {}: HTTP {}", role, r.status));
  return parse_credentials_json(r.body, "imds");
}

AwsCredentials AwsCredentialProvider::credentials(const HttpCall& http) {
  std::lock_guard lock(mu_);
  // The credentials' expiration is the wall time their source stated.
  const auto now = clock_.wall_now();
  if (cached_ && (cached_->expiration == std::chrono::system_clock::time_point{} ||
                  now + std::chrono::minutes(5) < cached_->expiration))
    return *cached_;
  if (!env_.aws_access_key_id.empty() && !env_.aws_secret_access_key.empty()) {
    AwsCredentials c{env_.aws_access_key_id, env_.aws_secret_access_key, env_.aws_session_token, {}, "environment"};
    return *(cached_ = c);
  }
  if (!env_.aws_web_identity_token_file.empty() && !env_.aws_role_arn.empty()) return *(cached_ = from_web_identity(http));
  if (!env_.aws_container_full_uri.empty() || !env_.aws_container_relative_uri.empty())
    return *(cached_ = from_container(http));
  if (env_.aws_imds_disabled)
    throw source_error(
        "no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), no web identity "
        "(AWS_WEB_IDENTITY_TOKEN_FILE+AWS_ROLE_ARN), no container credentials, and EC2 metadata is disabled");
  try {
    return *(cached_ = from_imds(http));
  } catch (const ApiError& e) {
    throw source_error(fmt::format(
        "no AWS credentials: none in the environment, no web identity, no container credentials, and EC2 instance "
        "metadata failed: {}",
        e.what()));
  }
}

std::string AwsCredentialProvider::region(const HttpCall& http) {
  std::lock_guard lock(mu_);
  if (!env_.aws_region.empty()) return env_.aws_region;
  if (!region_.empty()) return region_;
  if (env_.aws_imds_disabled) throw source_error("no AWS region: set AWS_REGION (EC2 metadata is disabled)");
  try {
    std::string token = imds_token(http);
    net::Request req;
    req.url = strip_slash(env_.aws_imds_endpoint) + "/latest/dynamic/instance-identity/document";
    req.headers = {{"X-aws-ec2-metadata-token", token}};
    req.connect_timeout = env_.metadata_timeout;
    req.total_timeout = env_.metadata_timeout;
    auto r = http.send(req, "GET imds:instance-identity", "EC2 instance identity document");
    auto doc = core::parse_json(r.body);
    if (r.status == 200 && doc.ok()) region_ = core::string_or(**doc, "region", "");
  } catch (const ApiError& e) {
    throw source_error(fmt::format("no AWS region: AWS_REGION is not set and EC2 metadata failed: {}", e.what()));
  }
  if (region_.empty()) throw source_error("no AWS region: AWS_REGION is not set and EC2 metadata has none");
  return region_;
}

AwsLoginFields build_aws_login_fields(const AwsCredentials& credentials, const std::string& region,
                                      std::chrono::system_clock::time_point now) {
  const std::string host = fmt::format("sts.{}.amazonaws.com", region);
  const std::string date = amz_date(now);
  const std::string body = kStsBody;
  SigV4Request req;
  req.method = "POST";
  req.path = "/";
  req.headers = {{"Host", host},
                 {"Content-Type", kFormContentType},
                 {"Content-Length", std::to_string(body.size())},
                 {"X-Amz-Date", date}};
  if (!credentials.session_token.empty()) req.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  req.payload_sha256_hex = sha256_hex(body);
  auto sig = sigv4_sign(req, credentials, region, "sts", date);

  core::JsonDoc headers(rapidjson::kObjectType);
  auto& a = headers.GetAllocator();
  for (const auto& [k, v] : req.headers) core::set_string(headers, k, v, a);
  core::set_string(headers, "Authorization", sig.authorization, a);
  return AwsLoginFields{"POST", core::base64_encode(body), core::base64_encode(core::to_json(headers))};
}

}  // namespace ifo::infisical
