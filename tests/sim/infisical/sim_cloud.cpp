// infisical-sim's AWS, Azure and GCP sides: SigV4 verification (shared by the fake STS and aws-auth
// login), EC2 IMDSv2, ECS credentials, AssumeRoleWithWebIdentity, Azure IMDS, GCE metadata, Google
// OAuth2 JWT-bearer and IAM Credentials signJwt, and the three login verifiers.
#include <algorithm>
#include <cctype>
#include <ctime>
#include <stdexcept>

#include "core/base64.h"
#include "sim_impl.h"

namespace ifo::sim {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim_collapse(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string uri_encode(const std::string& s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    std::string pair = body.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      out[url_decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return out;
}

std::string canonical_query(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& [k, v] : parse_form(query)) params.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) out += (out.empty() ? "" : "&") + k + "=" + v;
  return out;
}

// "20240101T000000Z" -> Unix seconds; -1 when malformed.
int64_t parse_amz_date(const std::string& s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
  std::tm tm{};
  if (strptime(s.c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr) return -1;
  return static_cast<int64_t>(timegm(&tm));
}

std::string amz_date(int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string iso_seconds(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out.push_back(c);
  }
  return out;
}

void send_sts_error(httplib::Response& res, int status, const std::string& code, const std::string& message,
                    const std::string& request_id) {
  res.status = status;
  res.set_content("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>" +
                      code + "</Code>\n    <Message>" + xml_escape(message) + "</Message>\n  </Error>\n  <RequestId>" +
                      request_id + "</RequestId>\n</ErrorResponse>\n",
                  "text/xml");
}

std::string account_of(const std::string& arn) {
  // arn:aws:iam::123456789012:user/ci
  size_t pos = 0;
  for (int i = 0; i < 4 && pos != std::string::npos; ++i) pos = arn.find(':', pos + 1);
  if (pos == std::string::npos) return {};
  auto end = arn.find(':', pos + 1);
  return arn.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
}

std::string role_name(const std::string& role_arn) {
  auto slash = role_arn.rfind('/');
  return slash == std::string::npos ? role_arn : role_arn.substr(slash + 1);
}

// The real server compares allowed ARNs with the principal's IAM form: an STS assumed-role session
// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION counts as arn:aws:iam::ACCOUNT:role/ROLE.
std::string principal_arn(const std::string& arn) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t c = arn.find(':', start);
    parts.push_back(arn.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos || parts.size() == 5) {
      if (c != std::string::npos) parts.push_back(arn.substr(c + 1));
      break;
    }
    start = c + 1;
  }
  if (parts.size() != 6) return arn;
  std::string resource = parts[5];
  auto slash = resource.find('/');
  if (slash == std::string::npos) return arn;
  std::string type = resource.substr(0, slash);
  std::string rest = resource.substr(slash + 1);
  std::string name = rest.substr(0, rest.find('/'));
  if (type == "assumed-role") type = "role";
  return "arn:aws:iam::" + parts[4] + ":" + type + "/" + name;
}

bool wildcard_match(const std::string& pattern, const std::string& s) {
  // '*' matches any run; iterative with backtracking to the last star (bounded by |p|*|s|).
  size_t p = 0, i = 0, star = std::string::npos, mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pattern.size() && pattern[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string upper_alnum(IdSource& ids, size_t n) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  for (size_t i = 0; i < n; ++i) out.push_back(kChars[ids.engine()() % 32]);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SigV4

std::variant<CallerIdentity, StsError> InfisicalSim::Impl::verify_sigv4(const std::string& method, const std::string& path,
                                                                        const std::string& query,
                                                                        const std::map<std::string, std::string>& headers,
                                                                        const std::string& body) {
  auto header = [&](const std::string& name) -> std::string {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  };
  std::string auth = header("authorization");
  if (auth.empty()) return StsError{403, "MissingAuthenticationToken", "Request is missing Authentication Token"};
  const std::string algo = "AWS4-HMAC-SHA256 ";
  if (auth.rfind(algo, 0) != 0) return StsError{400, "IncompleteSignature", "Unsupported AWS 'algorithm'"};
  std::string credential, signed_headers, signature;
  for (const auto& part : split_csv(auth.substr(algo.size()))) {
    auto eq = part.find('=');
    if (eq == std::string::npos) continue;
    std::string k = part.substr(0, eq), v = part.substr(eq + 1);
    if (k == "Credential") credential = v;
    if (k == "SignedHeaders") signed_headers = v;
    if (k == "Signature") signature = v;
  }
  if (credential.empty() || signed_headers.empty() || signature.empty())
    return StsError{400, "IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."};
  // AKID/DATE/REGION/SERVICE/aws4_request
  std::vector<std::string> scope;
  size_t start = 0;
  while (true) {
    size_t s = credential.find('/', start);
    scope.push_back(credential.substr(start, s == std::string::npos ? std::string::npos : s - start));
    if (s == std::string::npos) break;
    start = s + 1;
  }
  if (scope.size() != 5 || scope[4] != "aws4_request")
    return StsError{400, "IncompleteSignature", "Credential should be scoped to a valid region."};
  const std::string& akid = scope[0];
  if (scope[3] != "sts")
    return StsError{403, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'."};
  std::string date_header = header("x-amz-date");
  int64_t signed_at = parse_amz_date(date_header);
  if (signed_at < 0) return StsError{400, "IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."};
  int64_t now = now_ms() / 1000;
  if (signed_at < now - 15 * 60)
    return StsError{403, "SignatureDoesNotMatch", "Signature expired: " + date_header + " is now earlier than " +
                                                     amz_date(now - 15 * 60) + " (" + amz_date(now) + " - 15 min.)"};
  if (signed_at > now + 15 * 60)
    return StsError{403, "SignatureDoesNotMatch", "Signature not yet current: " + date_header + " is still later than " +
                                                     amz_date(now + 15 * 60) + " (" + amz_date(now) + " + 15 min.)"};
  if (scope[1] != date_header.substr(0, 8))
    return StsError{403, "SignatureDoesNotMatch", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + scope[1] + "' != '" + date_header.substr(0, 8) + "', from '" + date_header + "'."};

  const AwsPrincipal* principal = nullptr;
  for (const auto& u : model.aws.users)
    if (u.access_key_id == akid) principal = &u;
  if (auto it = aws_sessions.find(akid); it != aws_sessions.end()) principal = &it->second;
  if (principal == nullptr) return StsError{403, "InvalidClientTokenId", "The security token included in the request is invalid."};
  if (!principal->session_token.empty()) {
    if (header("x-amz-security-token") != principal->session_token)
      return StsError{403, "InvalidClientTokenId", "The security token included in the request is invalid."};
    if (principal->expires_at_ms != 0 && now_ms() > principal->expires_at_ms)
      return StsError{403, "ExpiredToken", "The security token included in the request is expired"};
  }

  std::vector<std::string> names = [&] {
    std::vector<std::string> v;
    size_t st = 0;
    while (true) {
      size_t sc = signed_headers.find(';', st);
      v.push_back(signed_headers.substr(st, sc == std::string::npos ? std::string::npos : sc - st));
      if (sc == std::string::npos) break;
      st = sc + 1;
    }
    return v;
  }();
  if (std::find(names.begin(), names.end(), "host") == names.end())
    return StsError{403, "SignatureDoesNotMatch", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."};
  std::string canonical_headers;
  for (const auto& n : names) canonical_headers += n + ":" + trim_collapse(header(n)) + "\n";
  std::string canonical = method + "\n" + uri_encode(path.empty() ? "/" : path, true) + "\n" + canonical_query(query) + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + sha256_hex(body);
  std::string to_sign = "AWS4-HMAC-SHA256\n" + date_header + "\n" + scope[1] + "/" + scope[2] + "/" + scope[3] +
                        "/aws4_request\n" + sha256_hex(canonical);
  std::string k = hmac_sha256("AWS4" + principal->secret_access_key, scope[1]);
  k = hmac_sha256(k, scope[2]);
  k = hmac_sha256(k, scope[3]);
  k = hmac_sha256(k, "aws4_request");
  if (hex_encode(hmac_sha256(k, to_sign)) != signature)
    return StsError{403, "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
                    "Access Key and signing method. Consult the service documentation for details."};
  return CallerIdentity{principal->arn, account_of(principal->arn), principal->user_id};
}

AwsPrincipal InfisicalSim::Impl::issue_aws_session(const std::string& arn, const std::string& user_id) {
  AwsPrincipal p;
  p.access_key_id = "ASIA" + upper_alnum(ids, 16);
  p.secret_access_key = ids.hex(20);
  p.session_token = "IQoJb3JpZ2luX2VjE" + ids.hex(48);
  p.arn = arn;
  p.user_id = user_id;
  p.expires_at_ms = now_ms() + 3600 * 1000;
  aws_sessions[p.access_key_id] = p;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Cloud endpoints

void InfisicalSim::Impl::add_cloud_routes(httplib::Server& s) {
  // STS: GetCallerIdentity (SigV4) and AssumeRoleWithWebIdentity (unsigned), form-encoded POST /.
  route(s, "POST", "/", "POST sts /", "", [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
    auto form = parse_form(req.body);
    std::string action = form["Action"];
    std::string request_id = [&] {
      std::lock_guard<std::mutex> lock(mu);
      return ids.uuid();
    }();
    if (action == "GetCallerIdentity") {
      std::map<std::string, std::string> headers;
      for (const auto& [k, v] : req.headers) headers[lower(k)] = v;
      std::lock_guard<std::mutex> lock(mu);
      auto result = verify_sigv4(req.method, req.path, "", headers, req.body);
      if (auto* err = std::get_if<StsError>(&result)) return send_sts_error(res, err->status, err->code, err->message, request_id);
      const auto& who = std::get<CallerIdentity>(result);
      res.set_content("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>" +
                          who.arn + "</Arn>\n    <UserId>" + who.user_id + "</UserId>\n    <Account>" + who.account +
                          "</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>" + request_id +
                          "</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
                      "text/xml");
      return;
    }
    if (action == "AssumeRoleWithWebIdentity") {
      std::string role_arn = form["RoleArn"], session = form["RoleSessionName"], token = form["WebIdentityToken"];
      if (role_arn.empty() || session.empty() || token.empty())
        return send_sts_error(res, 400, "MissingParameter", "RoleArn, RoleSessionName and WebIdentityToken are required", request_id);
      std::lock_guard<std::mutex> lock(mu);
      auto verified = core::jwt_verify_rs256(token, key.public_pem);
      for (const auto& pem : web_identity_keys)
        if (!verified) verified = core::jwt_verify_rs256(token, pem);
      if (!verified)
        return send_sts_error(res, 400, "InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.", request_id);
      auto claims = core::parse_json(verified->claims_json);
      int64_t exp = claims ? core::get_int(**claims, "exp").value_or(0) : 0;
      if (exp * 1000 < now_ms())
        return send_sts_error(res, 400, "ExpiredTokenException", "Token expired: current date/time " + iso_seconds(now_ms()) + " must be before the expiration date/time " + iso_seconds(exp * 1000), request_id);
      bool aud_ok = false;
      if (claims) {
        const auto* aud = core::member(**claims, "aud");
        if (aud != nullptr && aud->IsString()) aud_ok = aud->GetString() == model.aws.web_identity_audience;
        if (aud != nullptr && aud->IsArray())
          for (const auto& a : aud->GetArray())
            if (a.IsString() && a.GetString() == model.aws.web_identity_audience) aud_ok = true;
      }
      if (!aud_ok) return send_sts_error(res, 400, "InvalidIdentityToken", "Incorrect token audience", request_id);
      bool role_ok = false;
      for (const auto& r : model.aws.web_identity_roles)
        if (r.arn == role_arn) role_ok = true;
      if (!role_ok) return send_sts_error(res, 403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", request_id);
      std::string account = account_of(role_arn);
      std::string arn = "arn:aws:sts::" + account + ":assumed-role/" + role_name(role_arn) + "/" + session;
      AwsPrincipal p = issue_aws_session(arn, "AROA" + upper_alnum(ids, 17) + ":" + session);
      std::string sub = claims ? core::string_or(**claims, "sub", "") : "";
      std::string iss = claims ? core::string_or(**claims, "iss", "") : "";
      res.set_content("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleWithWebIdentityResult>\n    <SubjectFromWebIdentityToken>" +
                          xml_escape(sub) + "</SubjectFromWebIdentityToken>\n    <Audience>" + model.aws.web_identity_audience +
                          "</Audience>\n    <AssumedRoleUser>\n      <Arn>" + arn + "</Arn>\n      <AssumedRoleId>" + p.user_id +
                          "</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <SessionToken>" + p.session_token +
                          "</SessionToken>\n      <SecretAccessKey>" + p.secret_access_key + "</SecretAccessKey>\n      <Expiration>" +
                          iso_seconds(p.expires_at_ms) + "</Expiration>\n      <AccessKeyId>" + p.access_key_id +
                          "</AccessKeyId>\n    </Credentials>\n    <Provider>" + xml_escape(iss) +
                          "</Provider>\n  </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    <RequestId>" + request_id +
                          "</RequestId>\n  </ResponseMetadata>\n</AssumeRoleWithWebIdentityResponse>\n",
                      "text/xml");
      return;
    }
    send_sts_error(res, 400, "InvalidAction", "Could not find operation " + action + " for version 2011-06-15", request_id);
  });

  // EC2 IMDSv2.
  route(s, "PUT", "/latest/api/token", "PUT imds /latest/api/token", "", [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
    std::string ttl_text = req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds");
    int64_t ttl = 0;
    try {
      ttl = ttl_text.empty() ? 0 : std::stoll(ttl_text);
    } catch (const std::exception&) {
      ttl = 0;
    }
    if (ttl < 1 || ttl > 21600) {
      res.status = 400;
      res.set_content("", "text/plain");
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    std::string token = "AQAEA" + ids.hex(24);
    cloud_grants[token] = BearerGrant{"imds", now_ms() + ttl * 1000};
    res.set_header("X-aws-ec2-metadata-token-ttl-seconds", std::to_string(ttl));
    res.set_content(token, "text/plain");
  });
  route(s, "GET", R"(/latest/(meta-data|dynamic)/(.*))", "GET imds /latest/...", "", [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cloud_grants.find(req.get_header_value("X-aws-ec2-metadata-token"));
    if (it == cloud_grants.end() || it->second.subject != "imds" || it->second.expires_ms < now_ms()) {
      res.status = 401;  // IMDSv2 required: no token or an expired one
      res.set_content("", "text/plain");
      return;
    }
    std::string path = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
    const auto& aws = model.aws;
    std::string account = aws.instance_role ? account_of(aws.instance_role->arn) : "123456789012";
    if (path == "meta-data/placement/region") return res.set_content(aws.region, "text/plain");
    if (path == "meta-data/placement/availability-zone") return res.set_content(aws.region + "a", "text/plain");
    if (path == "meta-data/instance-id") return res.set_content("i-0sim0000000000001", "text/plain");
    if (path == "dynamic/instance-identity/document")
      return send_json(res, 200, JsonObject().str("accountId", account).str("architecture", "x86_64")
                                     .str("availabilityZone", aws.region + "a").str("imageId", "ami-0sim").str("instanceId", "i-0sim0000000000001")
                                     .str("instanceType", "t3.micro").str("privateIp", "10.0.0.10").str("region", aws.region).str("version", "2017-09-30").done());
    if (path == "meta-data/iam/security-credentials/" || path == "meta-data/iam/security-credentials") {
      if (!aws.instance_role) return send_error(res, 404, "Not Found", "NotFound");
      return res.set_content(role_name(aws.instance_role->arn), "text/plain");
    }
    const std::string creds = "meta-data/iam/security-credentials/";
    if (path.rfind(creds, 0) == 0 && aws.instance_role && path.substr(creds.size()) == role_name(aws.instance_role->arn)) {
      std::string arn = "arn:aws:sts::" + account + ":assumed-role/" + role_name(aws.instance_role->arn) + "/i-0sim0000000000001";
      AwsPrincipal p = issue_aws_session(arn, "AROA" + upper_alnum(ids, 17) + ":i-0sim0000000000001");
      return send_json(res, 200, JsonObject().str("Code", "Success").str("LastUpdated", iso_seconds(now_ms())).str("Type", "AWS-HMAC")
                                     .str("AccessKeyId", p.access_key_id).str("SecretAccessKey", p.secret_access_key)
                                     .str("Token", p.session_token).str("Expiration", iso_seconds(p.expires_at_ms)).done());
    }
    res.status = 404;
    res.set_content("", "text/plain");
  });

  // ECS container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI=<cloud>/ecs/credentials).
  route(s, "GET", R"(/(ecs/credentials|v2/credentials/[^/]+))", "GET ecs credentials", "", [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
    std::lock_guard<std::mutex> lock(mu);
    if (!model.aws.ecs_role) return send_json(res, 404, R"({"code":"NoCredentials","message":"no task role configured"})");
    if (!model.aws.ecs_authorization_token.empty() && req.get_header_value("Authorization") != model.aws.ecs_authorization_token)
      return send_json(res, 401, R"({"code":"InvalidAuthorization","message":"Authorization header does not match"})");
    std::string arn = "arn:aws:sts::" + account_of(model.aws.ecs_role->arn) + ":assumed-role/" + role_name(model.aws.ecs_role->arn) + "/ecs-task";
    AwsPrincipal p = issue_aws_session(arn, "AROA" + upper_alnum(ids, 17) + ":ecs-task");
    send_json(res, 200, JsonObject().str("AccessKeyId", p.access_key_id).str("SecretAccessKey", p.secret_access_key)
                            .str("Token", p.session_token).str("Expiration", iso_seconds(p.expires_at_ms)).str("RoleArn", model.aws.ecs_role->arn).done());
  });

  // Azure IMDS managed identity token.
  route(s, "GET", "/metadata/identity/oauth2/token", "GET azure imds token", "", [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
    auto bad = [&](const std::string& desc) {
      send_json(res, 400, JsonObject().str("error", "invalid_request").str("error_description", desc).done());
    };
    if (req.get_header_value("Metadata") != "true") return bad("Required metadata header not specified");
    if (query(req, "api-version").empty()) return bad("Required query variable 'api-version' is missing");
    std::string resource = query(req, "resource");
    if (resource.empty()) return bad("Required audience parameter not specified");
    std::lock_guard<std::mutex> lock(mu);
    AzureManagedIdentity mi = model.azure.system_identity;
    std::string client_id = query(req, "client_id"), object_id = query(req, "object_id");
    if (!client_id.empty() || !object_id.empty()) {
      bool found = false;
      for (const auto& u : model.azure.user_identities)
        if ((!client_id.empty() && u.client_id == client_id) || (!object_id.empty() && u.object_id == object_id)) {
          mi = u;
          found = true;
        }
      if (!found) return bad("Identity not found");
    }
    int64_t now = now_ms() / 1000;
    std::string iss = "https://sts.windows.net/" + model.azure.tenant_id + "/";
    auto jwt = core::jwt_sign_rs256(JsonObject().str("aud", resource).str("iss", iss).num("iat", now).num("nbf", now)
                                        .num("exp", now + 86399).str("appid", mi.client_id).str("appidacr", "2").str("idp", iss)
                                        .str("oid", mi.object_id).str("sub", mi.object_id).str("tid", model.azure.tenant_id)
                                        .str("uti", ids.hex(11)).str("ver", "1.0")
                                        .str("xms_mirid", "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/sim/providers/Microsoft.Compute/virtualMachines/sim-vm")
                                        .done(),
                                    key.private_pem, kAzureKid);
    if (!jwt) return send_error(res, 500, "signing failed", "InternalServerError");
    send_json(res, 200, JsonObject().str("access_token", *jwt).str("client_id", mi.client_id).str("expires_in", "86399")
                            .str("expires_on", std::to_string(now + 86399)).str("ext_expires_in", "86399")
                            .str("not_before", std::to_string(now)).str("resource", resource).str("token_type", "Bearer").done());
  });

  // GCE metadata server.
  route(s, "GET", R"(/computeMetadata/v1/(.*))", "GET gce metadata", "", [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
    res.set_header("Metadata-Flavor", "Google");
    if (req.get_header_value("Metadata-Flavor") != "Google") {
      res.status = 403;
      res.set_content("Missing required header: Metadata-Flavor", "text/plain");
      return;
    }
    std::string path = req.matches[1];
    std::lock_guard<std::mutex> lock(mu);
    const auto& g = model.gcp;
    if (path == "project/project-id") return res.set_content(g.project_id, "application/text");
    if (path == "project/numeric-project-id") return res.set_content(g.project_number, "application/text");
    if (path == "instance/zone") return res.set_content("projects/" + g.project_number + "/zones/" + g.zone, "application/text");
    const std::string sa_prefix = "instance/service-accounts/";
    if (path.rfind(sa_prefix, 0) == 0) {
      std::string rest = path.substr(sa_prefix.size());
      auto slash = rest.find('/');
      std::string account = rest.substr(0, slash);
      std::string leaf = slash == std::string::npos ? "" : rest.substr(slash + 1);
      if (account == "default") account = g.default_service_account;
      const GcpServiceAccount* sa = nullptr;
      for (const auto& a : g.service_accounts)
        if (a.email == account) sa = &a;
      if (sa == nullptr || account != g.default_service_account) {
        res.status = 404;
        res.set_content("Not Found", "text/plain");
        return;
      }
      if (leaf == "email") return res.set_content(sa->email, "application/text");
      if (leaf == "identity") {
        std::string audience = query(req, "audience");
        if (audience.empty()) {
          res.status = 400;
          res.set_content("non-empty audience parameter required", "text/plain");
          return;
        }
        int64_t now = now_ms() / 1000;
        JsonObject claims;
        claims.str("aud", audience).str("azp", sa->unique_id).str("email", sa->email).boolean("email_verified", true)
            .num("exp", now + 3600).num("iat", now).str("iss", "https://accounts.google.com").str("sub", sa->unique_id);
        if (query(req, "format") == "full") {
          claims.raw("google", JsonObject().raw("compute_engine", JsonObject().num("instance_creation_timestamp", 1700000000)
                                                                      .str("instance_id", g.instance_id).str("instance_name", g.instance_name)
                                                                      .str("project_id", g.project_id).str("project_number", g.project_number)
                                                                      .str("zone", g.zone).done()).done());
        }
        auto jwt = core::jwt_sign_rs256(claims.done(), key.private_pem, kGoogleKid);
        if (!jwt) return send_error(res, 500, "signing failed", "InternalServerError");
        return res.set_content(*jwt, "text/html");
      }
    }
    res.status = 404;
    res.set_content("Not Found", "text/plain");
  });

  // Google OAuth2 token endpoint: the JWT-bearer grant a service-account key file makes.
  route(s, "POST", "/token", "POST google oauth2 token", "", [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
    auto form = parse_form(req.body);
    auto invalid = [&](const std::string& error, const std::string& desc) {
      send_json(res, 400, JsonObject().str("error", error).str("error_description", desc).done());
    };
    if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer")
      return invalid("unsupported_grant_type", "Invalid grant_type: " + form["grant_type"]);
    auto decoded = core::jwt_decode_unverified(form["assertion"]);
    if (!decoded) return invalid("invalid_grant", "Invalid JWT: " + decoded.error());
    auto claims = core::parse_json(decoded->claims_json);
    std::string iss = claims ? core::string_or(**claims, "iss", "") : "";
    std::lock_guard<std::mutex> lock(mu);
    const GcpServiceAccount* sa = nullptr;
    for (const auto& a : model.gcp.service_accounts)
      if (a.email == iss) sa = &a;
    if (sa == nullptr || sa->public_key_pem.empty()) return invalid("invalid_grant", "Invalid grant: account not found");
    if (!core::jwt_verify_rs256(form["assertion"], sa->public_key_pem)) return invalid("invalid_grant", "Invalid JWT Signature.");
    std::string aud = core::string_or(**claims, "aud", "");
    std::string own = "http://" + opts.host + ":" + std::to_string(cloud_port) + "/token";
    if (aud != own && aud != "https://oauth2.googleapis.com/token" && aud != "https://www.googleapis.com/oauth2/v4/token")
      return invalid("invalid_grant", "Invalid JWT: Failed audience check.");
    int64_t iat = core::get_int(**claims, "iat").value_or(0), exp = core::get_int(**claims, "exp").value_or(0);
    int64_t now = now_ms() / 1000;
    if (exp <= iat || exp - iat > 3600 || exp < now || iat > now + 300)
      return invalid("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
    std::string token = "ya29.sim-" + ids.hex(32);
    cloud_grants[token] = BearerGrant{sa->email, now_ms() + 3599 * 1000};
    send_json(res, 200, JsonObject().str("access_token", token).num("expires_in", 3599).str("token_type", "Bearer").done());
  });

  // IAM Service Account Credentials signJwt.
  route(s, "POST", R"(/v1/projects/([^/]+)/serviceAccounts/([^/:]+):signJwt)", "POST iamcredentials signJwt", "",
        [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
    auto google_error = [&](int status, const std::string& message, const std::string& st) {
      send_json(res, status, "{\"error\":" + JsonObject().num("code", status).str("message", message).str("status", st).done() + "}");
    };
    std::string auth = req.get_header_value("Authorization");
    std::string email = url_decode(req.matches[2]);
    std::lock_guard<std::mutex> lock(mu);
    auto grant = auth.rfind("Bearer ", 0) == 0 ? cloud_grants.find(auth.substr(7)) : cloud_grants.end();
    if (grant == cloud_grants.end() || grant->second.subject == "imds" || grant->second.expires_ms < now_ms())
      return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", "UNAUTHENTICATED");
    const GcpServiceAccount* sa = nullptr;
    for (const auto& a : model.gcp.service_accounts)
      if (a.email == email) sa = &a;
    // A service account may sign for itself (roles/iam.serviceAccountTokenCreator on itself).
    if (sa == nullptr || grant->second.subject != email)
      return google_error(403, "Permission 'iam.serviceAccounts.signJwt' denied on resource (or it may not exist).", "PERMISSION_DENIED");
    auto body = core::parse_json(req.body);
    std::string payload = body && (*body)->IsObject() ? core::string_or(**body, "payload", "") : "";
    auto claims = core::parse_json(payload);
    if (!claims || !(*claims)->IsObject()) return google_error(400, "Invalid JWT payload: not a JSON object", "INVALID_ARGUMENT");
    auto& doc = **claims;
    int64_t now = now_ms() / 1000;
    if (!core::get_int(doc, "iat")) core::set_member(doc, "iat", core::JsonValue(static_cast<int64_t>(now)), doc.GetAllocator());
    if (!core::get_int(doc, "exp")) core::set_member(doc, "exp", core::JsonValue(static_cast<int64_t>(now + 3600)), doc.GetAllocator());
    if (*core::get_int(doc, "exp") > now + 12 * 3600)
      return google_error(400, "The 'exp' claim must not be more than 12 hours in the future", "INVALID_ARGUMENT");
    auto jwt = core::jwt_sign_rs256(core::to_json(doc), key.private_pem, sa->key_id);
    if (!jwt) return google_error(500, "signing failed", "INTERNAL");
    send_json(res, 200, JsonObject().str("keyId", sa->key_id).str("signedJwt", *jwt).done());
  });
}

// ---------------------------------------------------------------------------------------------
// Logins

void InfisicalSim::Impl::login_aws(const httplib::Request& req, httplib::Response& res, Ctx& ctx) {
  auto body = json_body(req, res);
  if (!body) return;
  for (const char* f : {"identityId", "iamHttpRequestMethod", "iamRequestBody", "iamRequestHeaders"})
    if (!core::get_string(*body, f)) return send_validation_failure(res, f);
  std::string identity_id = *core::get_string(*body, "identityId");
  std::lock_guard<std::mutex> lock(mu);
  Identity* id = model.identity_by_id(identity_id);
  if (id == nullptr || !id->aws)
    return send_error(res, 404, "AWS auth method not found for identity, did you configure AWS auth?", "NotFound");
  ctx.identity = id->id;
  auto sts_body = core::base64_decode(*core::get_string(*body, "iamRequestBody"));
  auto headers_json = core::base64_decode(*core::get_string(*body, "iamRequestHeaders"));
  if (!sts_body || !headers_json) return send_error(res, 400, "iamRequestBody and iamRequestHeaders must be base64", "BadRequest");
  auto hdoc = core::parse_json(*headers_json);
  if (!hdoc || !(*hdoc)->IsObject()) return send_error(res, 400, "iamRequestHeaders must be a base64 JSON object", "BadRequest");
  std::map<std::string, std::string> headers;
  for (rapidjson::SizeType mi = 0; mi < (*hdoc)->MemberCount(); ++mi) {
      auto it = (*hdoc)->MemberBegin() + mi;
    std::string name = lower(it->name.GetString());
    if (it->value.IsString()) {
      headers[name] = it->value.GetString();
    } else if (it->value.IsArray()) {  // Go's http.Header marshals as name -> [values]
      std::string joined;
      for (const auto& v : it->value.GetArray())
        if (v.IsString()) joined += (joined.empty() ? "" : ",") + std::string(v.GetString());
      headers[name] = joined;
    }
  }
  std::string path = "/", query_string;
  if (auto url_b64 = core::get_string(*body, "iamRequestUrl")) {
    auto url = core::base64_decode(*url_b64);
    if (!url) return send_error(res, 400, "iamRequestUrl must be base64", "BadRequest");
    auto scheme = url->find("://");
    auto slash = url->find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (slash != std::string::npos) {
      std::string rest = url->substr(slash);
      auto q = rest.find('?');
      path = rest.substr(0, q);
      if (q != std::string::npos) query_string = rest.substr(q + 1);
    }
  }
  auto form = parse_form(*sts_body);
  if (form["Action"] != "GetCallerIdentity")
    return send_error(res, 401, "Access denied: the signed request is not sts:GetCallerIdentity", "UnauthorizedError");
  auto result = verify_sigv4(*core::get_string(*body, "iamHttpRequestMethod"), path, query_string, headers, *sts_body);
  if (auto* err = std::get_if<StsError>(&result))
    return send_error(res, 401, "AWS STS rejected the request: " + err->code + ": " + err->message, "UnauthorizedError");
  const auto& who = std::get<CallerIdentity>(result);
  const AwsAuthConfig& cfg = *id->aws;
  if (!cfg.allowed_principal_arns.empty()) {
    std::string principal = principal_arn(who.arn);
    bool ok = false;
    for (const auto& pattern : split_csv(cfg.allowed_principal_arns))
      if (wildcard_match(pattern, principal)) ok = true;
    if (!ok) return send_error(res, 401, "Access denied: AWS principal ARN not allowed. [principal-arn=" + principal + "]", "UnauthorizedError");
  }
  if (!cfg.allowed_account_ids.empty()) {
    if (!csv_contains(cfg.allowed_account_ids, who.account))
      return send_error(res, 401, "Access denied: AWS account ID not allowed.", "UnauthorizedError");
  }
  send_json(res, 200, issue_token(*id, "aws-auth"));
}

void InfisicalSim::Impl::login_azure(const httplib::Request& req, httplib::Response& res, Ctx& ctx) {
  auto login = read_jwt_login(req, res);
  if (!login) return;
  std::lock_guard<std::mutex> lock(mu);
  Identity* id = model.identity_by_id(login->identity_id);
  if (id == nullptr || !id->azure)
    return send_error(res, 404, "Azure auth method not found for identity, did you configure Azure auth?", "NotFound");
  ctx.identity = id->id;
  const AzureAuthConfig& cfg = *id->azure;
  // The real server verifies with the tenant's JWKS; the sim's key plays Microsoft's signing key.
  auto verified = core::jwt_verify_rs256(login->jwt, key.public_pem);
  if (!verified) return send_error(res, 401, "invalid signature", "UnauthorizedError");
  auto hdr = core::parse_json(verified->header_json);
  if (core::string_or(**hdr, "kid", "") != kAzureKid) return send_error(res, 401, "Unauthorized", "UnauthorizedError");
  auto claims = core::parse_json(verified->claims_json);
  const auto& c = **claims;
  int64_t now = now_ms() / 1000;
  if (core::get_int(c, "exp").value_or(0) <= now) return send_error(res, 401, "jwt expired", "UnauthorizedError");
  if (core::get_int(c, "nbf").value_or(0) > now) return send_error(res, 401, "jwt not active", "UnauthorizedError");
  if (core::string_or(c, "aud", "") != cfg.resource)
    return send_error(res, 401, "jwt audience invalid. expected: " + cfg.resource, "UnauthorizedError");
  if (core::string_or(c, "iss", "") != "https://sts.windows.net/" + cfg.tenant_id + "/")
    return send_error(res, 401, "jwt issuer invalid. expected: https://sts.windows.net/" + cfg.tenant_id + "/", "UnauthorizedError");
  if (core::string_or(c, "tid", "") != cfg.tenant_id) return send_error(res, 401, "Unauthorized", "UnauthorizedError");
  if (!cfg.allowed_service_principal_ids.empty()) {
    if (!csv_contains(cfg.allowed_service_principal_ids, core::string_or(c, "oid", "")))
      return send_error(res, 401, "Access denied: Azure service principal not allowed.", "UnauthorizedError");
  }
  send_json(res, 200, issue_token(*id, "azure-auth"));
}

void InfisicalSim::Impl::login_gcp(const httplib::Request& req, httplib::Response& res, Ctx& ctx) {
  auto login = read_jwt_login(req, res);
  if (!login) return;
  std::lock_guard<std::mutex> lock(mu);
  Identity* id = model.identity_by_id(login->identity_id);
  if (id == nullptr || !id->gcp)
    return send_error(res, 404, "GCP auth method not found for identity, did you configure GCP auth?", "NotFound");
  ctx.identity = id->id;
  const GcpAuthConfig& cfg = *id->gcp;
  auto verified = core::jwt_verify_rs256(login->jwt, key.public_pem);
  if (!verified) return send_error(res, 401, "Invalid token signature: " + verified.error(), "UnauthorizedError");
  auto hdr = core::parse_json(verified->header_json);
  std::string kid = core::string_or(**hdr, "kid", "");
  auto claims = core::parse_json(verified->claims_json);
  const auto& c = **claims;
  int64_t now = now_ms() / 1000;
  if (core::get_int(c, "exp").value_or(0) <= now) return send_error(res, 401, "Token used too late", "UnauthorizedError");
  if (core::string_or(c, "aud", "") != id->id)
    return send_error(res, 401, "Wrong recipient, payload audience != requiredAudience", "UnauthorizedError");
  std::string email;
  if (cfg.type == "gce") {
    // ID tokens are signed by Google's OAuth key; a signJwt token (a service-account key) is not one.
    if (kid != kGoogleKid) return send_error(res, 401, "No pem found for envelope: kid " + kid, "UnauthorizedError");
    email = core::string_or(c, "email", "");
  } else {
    // iam: the token must be signed by a key of the service account named in "sub".
    email = core::string_or(c, "sub", "");
    const GcpServiceAccount* sa = nullptr;
    for (const auto& a : model.gcp.service_accounts)
      if (a.email == email) sa = &a;
    if (sa == nullptr || sa->key_id != kid) return send_error(res, 401, "Unauthorized", "UnauthorizedError");
  }
  if (!cfg.allowed_service_accounts.empty()) {
    if (!csv_contains(cfg.allowed_service_accounts, email))
      return send_error(res, 401, "Access denied: GCP service account not allowed.", "UnauthorizedError");
  }
  if (cfg.type == "gce" && (!cfg.allowed_projects.empty() || !cfg.allowed_zones.empty())) {
    const auto* ce = core::at_path(c, {"google", "compute_engine"});
    if (ce == nullptr) return send_error(res, 401, "Access denied: the ID token has no compute_engine claims (format=full)", "UnauthorizedError");
    if (!cfg.allowed_projects.empty()) {
      if (!csv_contains(cfg.allowed_projects, core::string_or(*ce, "project_id", "")))
        return send_error(res, 401, "Access denied: GCP project not allowed.", "UnauthorizedError");
    }
    if (!cfg.allowed_zones.empty()) {
      if (!csv_contains(cfg.allowed_zones, core::string_or(*ce, "zone", "")))
        return send_error(res, 401, "Access denied: GCP zone not allowed.", "UnauthorizedError");
    }
  }
  send_json(res, 200, issue_token(*id, "gcp-auth"));
}

}  // namespace ifo::sim
