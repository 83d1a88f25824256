// libFuzzer target: arbitrary bytes as an answer of an Infisical server (any hostAPI, so hostile
// input) through every parser the client runs on one: the secrets list and single-secret answers
// and their merge, the login answer, the error body, Retry-After, and the AWS XML/ISO 8601 parsers.
// The first byte picks the parser, the rest is the body. Besides crashes and sanitizer reports:
//  - an error body's message never quotes a string the caller marked sensitive (it is redacted),
//    is at most a few hundred bytes, has no control characters (no forged log lines) and is UTF-8
//    when the body is;
//  - a parse error never quotes a secret value (it may name keys, paths and environments);
//  - merging one answer twice gives the same values (the order of imports and duplicates decided
//    by the data, never by chance), and every merged value is a string of the answer;
//  - a login answer that parses has a non-empty token and non-negative lifetimes;
//  - Retry-After is never negative;
//  - an ISO 8601 time that parses prints back (as YYYY-MM-DDTHH:MM:SSZ) to a text that parses to the
//    same instant, and an XML element's text is never longer than the document;
//  - AWS credentials JSON (ECS container endpoint and EC2 IMDS, through AwsCredentialProvider with a
//    fake transport): accepted exactly when it is an object with non-empty string AccessKeyId and
//    SecretAccessKey; the credentials are the answer's strings, both sources agree, the expiration is
//    the stated one; credentials stated to expire within 5 minutes are never served from the cache
//    (the next call fetches again), others are; errors never quote the answer; the signed
//    GetCallerIdentity headers carry the session token and the region's STS host unchanged;
//  - the EC2 instance identity document: the region is its "region" string, an error otherwise;
//  - STS AssumeRoleWithWebIdentity XML (through the provider): the credentials are the elements'
//    texts, and an error answer's message never quotes the web identity token.
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "core/base64.h"
#include "core/clock.h"
#include "fuzz_common.h"
#include "infisical/auth.h"
#include "infisical/aws.h"
#include "infisical/cloud_env.h"
#include "infisical/errors.h"
#include "infisical/http_call.h"
#include "infisical/metrics.h"
#include "infisical/secrets.h"
#include "infisical/transport.h"

namespace {

using namespace ifo;
using fuzz::check;

void check_error_body(std::string_view body) {
  const std::string msg = infisical::server_message_of(body, {std::string(fuzz::kSecretMarker)});
  check(!fuzz::contains(msg, fuzz::kSecretMarker), "server message quotes a sensitive string", msg);
  check(msg.size() <= 512, "server message longer than 512 bytes", msg);
  for (unsigned char c : msg) check(c >= 0x20 && c != 0x7f, "control character in a server message", msg);
  if (fuzz::valid_utf8(body) && !fuzz::contains(body, "\\u"))
    check(fuzz::valid_utf8(msg), "server message is not UTF-8 although the body is", msg);
}

void check_secrets(std::string_view body, bool single) {
  // Errors and warnings name keys, paths and environments, never values: the marker may come back only
  // when it sits somewhere other than a secretValue.
  bool echo_allowed = false;
  if (auto doc = core::parse_json(body)) {
    fuzz::walk_strings(
        **doc, "",
        [&](std::string_view key, std::string_view value) {
          if (key != "secretValue" && fuzz::contains(value, fuzz::kSecretMarker)) echo_allowed = true;
        },
        [&](std::string_view key) {
          if (fuzz::contains(key, fuzz::kSecretMarker)) echo_allowed = true;
        });
  }
  auto parsed = single ? infisical::parse_single_secret_response(body) : infisical::parse_secrets_response(body);
  if (!parsed.ok()) {
    check(echo_allowed || !fuzz::contains(parsed.error(), fuzz::kSecretMarker), "parse error quotes a value",
          parsed.error());
    return;
  }
  const auto first = infisical::merge_secrets(*parsed);
  const auto again = infisical::merge_secrets(*parsed);
  check(first.values == again.values, "merging one answer twice gave different values");
  // A key that is no valid Kubernetes data key (the empty one included) is merged like any other:
  // core::check_storable_data refuses it when it is written, naming it, and a template can map it.
  for (const auto& [key, value] : first.values) {
    check(fuzz::contains(body, key) || fuzz::contains(body, "\\"), "merged a key the answer does not hold", key);
  }
  for (const auto& w : first.warnings)
    check(echo_allowed || !fuzz::contains(w, fuzz::kSecretMarker), "merge warning quotes a value", w);
}

void check_login(std::string_view body) {
  try {
    auto token = infisical::parse_login_response(body, "fuzz login");
    check(!token.access_token.empty(), "a login answer without token was accepted");
    check(token.expires_in >= 0 && token.max_ttl >= 0, "negative token lifetime accepted");
  } catch (const infisical::ApiError& e) {
    check(!fuzz::contains(e.what(), fuzz::kSecretMarker), "login parse error quotes the answer", e.what());
  }
}

void check_iso8601(std::string_view text) {
  auto t = infisical::parse_iso8601(text);
  if (!t) return;
  const std::time_t secs = std::chrono::system_clock::to_time_t(*t);
  std::tm tm{};
  check(gmtime_r(&secs, &tm) != nullptr, "a parsed time has no calendar date");
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  auto back = infisical::parse_iso8601(std::string_view(buf, n));
  check(back && *back == *t, "a parsed time does not print back to the same instant", std::string_view(buf, n));
}

// ISO 8601 and the XML element reader (STS answers).
void check_aws_xml(std::string_view body) {
  if (auto text = infisical::xml_text(body, "Expiration")) {
    check(fuzz::contains(body, "<Expiration>"), "an element found that the document does not open");
    check(text->size() <= body.size(), "element text longer than the document", *text);
    check_iso8601(*text);
  }
  check_iso8601(body);
}

// A metadata/STS server that answers every request from a table; counts requests.
class FakeAws final : public infisical::Transport {
 public:
  std::string imds_body;       // role credentials and instance identity document
  std::string container_body;  // ECS container credentials
  std::string sts_body;
  long sts_status = 200;
  int calls = 0;
  net::Response perform(const net::Request& req) override {
    ++calls;
    net::Response r;
    r.status = 200;
    r.url = req.url;
    const std::string& u = req.url;
    if (req.method == "PUT" && u.ends_with("/latest/api/token")) {
      r.body = "imds-session-token";
    } else if (u.ends_with("/latest/meta-data/iam/security-credentials/")) {
      r.body = "fuzz-role\n";
    } else if (u.ends_with("/latest/meta-data/iam/security-credentials/fuzz-role") ||
               u.ends_with("/latest/dynamic/instance-identity/document")) {
      r.body = imds_body;
    } else if (u.ends_with("/ecs-credentials")) {
      r.body = container_body;
    } else if (u.starts_with("https://sts.")) {
      r.status = sts_status;
      r.body = sts_body;
    } else {
      r.status = 404;
    }
    return r;
  }
};

struct AwsHarness {
  FakeAws transport;
  infisical::Metrics metrics;
  core::FakeClock clock;
  infisical::HttpCall http{transport, metrics, clock};
};

// The reference reading of a credentials JSON answer.
struct ExpectedCredentials {
  bool accepted = false;
  std::string access_key_id, secret_access_key, session_token;
  std::optional<std::chrono::system_clock::time_point> stated_expiration;
};

ExpectedCredentials expected_credentials(std::string_view body) {
  ExpectedCredentials e;
  auto doc = core::parse_json(body);
  if (!doc.ok() || !(*doc)->IsObject()) return e;
  auto str = [&](const char* name) {
    const auto* v = core::member(**doc, name);
    return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string();
  };
  e.access_key_id = str("AccessKeyId");
  e.secret_access_key = str("SecretAccessKey");
  e.session_token = str("Token");
  e.accepted = !e.access_key_id.empty() && !e.secret_access_key.empty();
  const auto* exp = core::member(**doc, "Expiration");
  if (exp != nullptr && exp->IsString())
    e.stated_expiration = infisical::parse_iso8601(std::string_view(exp->GetString(), exp->GetStringLength()));
  return e;
}

// Credentials stated to expire within 5 minutes of now must be fetched again on the next call;
// any others are served from the cache.
void check_cache(infisical::AwsCredentialProvider& provider, AwsHarness& h, const infisical::AwsCredentials& first,
                 const ExpectedCredentials& e) {
  const int before = h.transport.calls;
  auto again = provider.credentials(h.http);
  const bool fetched = h.transport.calls != before;
  const bool near_expiry = e.stated_expiration && *e.stated_expiration <= h.clock.wall_now() + std::chrono::minutes(5);
  check(fetched == near_expiry,
        near_expiry ? "credentials about to expire were served from the cache"
                    : "credentials valid for more than 5 minutes were fetched again");
  check(again.access_key_id == first.access_key_id && again.expiration == first.expiration,
        "the same answer gave different credentials");
}

// The epoch means "does not expire": a stated expiration is never read as that, and is the stated
// instant unless it was the epoch itself.
void check_expiration(const infisical::AwsCredentials& c, const ExpectedCredentials& e) {
  const auto epoch = std::chrono::system_clock::time_point{};
  if (!e.stated_expiration) {
    check(c.expiration == epoch, "credentials without a (valid) Expiration expire");
    return;
  }
  check(c.expiration != epoch, "a stated expiration was read as 'does not expire'");
  check(*e.stated_expiration == epoch || c.expiration == *e.stated_expiration, "credentials expiration is not the stated one");
}

// GetCallerIdentity headers signed with these credentials: the session token and the region's host
// come back unchanged from the base64 JSON sent to Infisical.
void check_login_fields(const infisical::AwsCredentials& c, const std::string& region) {
  auto fields = infisical::build_aws_login_fields(c, region, std::chrono::system_clock::time_point{});
  check(fields.iam_http_request_method == "POST", "AWS login method is not POST");
  auto body = core::base64_decode(fields.iam_request_body);
  check(body.ok() && *body == "Action=GetCallerIdentity&Version=2011-06-15", "AWS login body is not GetCallerIdentity");
  auto headers_json = core::base64_decode(fields.iam_request_headers);
  check(headers_json.ok(), "AWS login headers are not base64");
  if (!fuzz::valid_utf8(c.access_key_id) || !fuzz::valid_utf8(c.session_token) || !fuzz::valid_utf8(region)) return;  // JSON carries UTF-8 only
  auto headers = core::parse_json(*headers_json);
  check(headers.ok() && (*headers)->IsObject(), "AWS login headers are not a JSON object", *headers_json);
  check(core::string_or(**headers, "Host", "") == "sts." + region + ".amazonaws.com", "AWS login Host is not the region's STS host",
        *headers_json);
  auto token = core::get_string(**headers, "X-Amz-Security-Token");
  if (c.session_token.empty()) {
    check(!token, "AWS login headers carry a session token the credentials do not have", *headers_json);
  } else {
    check(token && *token == c.session_token, "AWS login headers changed the session token", *headers_json);
  }
  check(fuzz::contains(core::string_or(**headers, "Authorization", ""), "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/"),
        "AWS login Authorization does not name the access key", *headers_json);
}

// ECS and IMDS credentials JSON, and the IMDS instance identity document (region).
void check_aws_json(std::string_view body) {
  const ExpectedCredentials e = expected_credentials(body);
  std::optional<infisical::AwsCredentials> results[2];
  for (int source = 0; source < 2; ++source) {
    AwsHarness h;
    h.transport.imds_body = h.transport.container_body = std::string(body);
    infisical::CloudEnv env;
    env.aws_region = "us-east-1";
    if (source == 0) env.aws_container_full_uri = "http://127.0.0.1/ecs-credentials";
    infisical::AwsCredentialProvider provider(env, h.clock);
    try {
      auto c = provider.credentials(h.http);
      check(e.accepted, "credentials accepted without a non-empty AccessKeyId and SecretAccessKey", body);
      check(c.access_key_id == e.access_key_id && c.secret_access_key == e.secret_access_key &&
                c.session_token == e.session_token,
            "credentials differ from the answer's strings", body);
      check(c.source == (source == 0 ? "ecs" : "imds"), "credentials name the wrong source", c.source);
      check_expiration(c, e);
      check_cache(provider, h, c, e);
      results[source] = c;
    } catch (const infisical::ApiError& err) {
      check(!e.accepted, "valid credentials refused", err.what());
      check(!fuzz::contains(err.what(), fuzz::kSecretMarker), "AWS credentials error quotes the answer", err.what());
    }
  }
  check(results[0].has_value() == results[1].has_value(), "ECS and IMDS disagree about one answer");
  if (results[0]) {
    check(results[0]->access_key_id == results[1]->access_key_id &&
              results[0]->secret_access_key == results[1]->secret_access_key &&
              results[0]->session_token == results[1]->session_token && results[0]->expiration == results[1]->expiration,
          "ECS and IMDS read one answer differently");
  }

  // The region from the instance identity document.
  AwsHarness h;
  h.transport.imds_body = std::string(body);
  infisical::CloudEnv env;
  infisical::AwsCredentialProvider provider(env, h.clock);
  std::string expected_region;
  if (auto doc = core::parse_json(body); doc.ok()) expected_region = core::string_or(**doc, "region", "");
  std::string region = "us-east-1";
  try {
    region = provider.region(h.http);
    check(!region.empty() && region == expected_region, "region is not the document's region string", region);
  } catch (const infisical::ApiError& err) {
    check(expected_region.empty(), "a document with a region refused", err.what());
    check(!fuzz::contains(err.what(), fuzz::kSecretMarker), "region error quotes the answer", err.what());
  }
  if (results[0]) check_login_fields(*results[0], region);
}

// The web identity token the provider sends to STS; an STS error answer may quote it back.
constexpr std::string_view kWebIdentityToken = "eyJhbGciOiJSUzI1NiJ9.fuzz-s3cr3t-jwt.c2ln";

const std::string& web_identity_token_file() {
  static const std::string path = [] {
    char name[] = "/tmp/ifo-fuzz-jwt-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) std::abort();
    if (write(fd, kWebIdentityToken.data(), kWebIdentityToken.size()) != static_cast<ssize_t>(kWebIdentityToken.size()))
      std::abort();
    close(fd);
    static std::string keep = name;
    std::atexit([] { std::remove(keep.c_str()); });
    return keep;
  }();
  return path;
}

// STS AssumeRoleWithWebIdentity: an <ErrorResponse> is answered with HTTP 400, anything else with 200.
void check_aws_web_identity(std::string_view body) {
  AwsHarness h;
  h.transport.sts_body = std::string(body);
  h.transport.sts_status = fuzz::contains(body, "<ErrorResponse") ? 400 : 200;
  infisical::CloudEnv env;
  env.aws_region = "us-east-1";
  env.aws_web_identity_token_file = web_identity_token_file();
  env.aws_role_arn = "arn:aws:iam::123456789012:role/fuzz";
  env.aws_role_session_name = "fuzz";
  infisical::AwsCredentialProvider provider(env, h.clock);
  const std::string key = infisical::xml_text(body, "AccessKeyId").value_or("");
  const std::string secret = infisical::xml_text(body, "SecretAccessKey").value_or("");
  try {
    auto c = provider.credentials(h.http);
    check(h.transport.sts_status == 200, "an STS error answer gave credentials");
    check(!key.empty() && !secret.empty(), "credentials accepted without AccessKeyId and SecretAccessKey", body);
    check(c.access_key_id == key && c.secret_access_key == secret &&
              c.session_token == infisical::xml_text(body, "SessionToken").value_or(""),
          "credentials differ from the answer's elements", body);
    check(c.source == "web identity", "web identity credentials name the wrong source", c.source);
    ExpectedCredentials e;
    e.accepted = true;
    if (auto exp = infisical::xml_text(body, "Expiration")) e.stated_expiration = infisical::parse_iso8601(*exp);
    check_expiration(c, e);
    check_cache(provider, h, c, e);
  } catch (const infisical::ApiError& err) {
    check(h.transport.sts_status != 200 || key.empty() || secret.empty(), "valid STS credentials refused", err.what());
    check(!fuzz::contains(err.what(), kWebIdentityToken), "an STS error quotes the web identity token", err.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  // % 8 keeps the ASCII digits '0'..'7' (0x30 = 48, a multiple of 8) on parsers 0..7.
  switch (data[0] % 8) {
    case 0: check_secrets(body, false); break;
    case 1: check_secrets(body, true); break;
    case 2: check_login(body); break;
    case 3: check_error_body(body); break;
    case 4: {
      auto after = infisical::parse_retry_after(body, std::chrono::system_clock::time_point{});
      check(!after || after->count() >= 0, "negative Retry-After");
      break;
    }
    case 5: check_aws_xml(body); break;
    case 6: check_aws_json(body); break;
    default: check_aws_web_identity(body); break;
  }
  return 0;
}
