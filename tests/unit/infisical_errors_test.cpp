// Error mapping: HTTP statuses and transport failures become typed ApiErrors without secrets in them.
#include <doctest/doctest.h>

#include "infisical/errors.h"

using namespace ifo::infisical;

namespace {

ifo::net::Response response(long status, std::string body, ifo::net::Headers headers = {}) {
  ifo::net::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

const auto kNow = std::chrono::system_clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z

}  // namespace

TEST_CASE("errors: statuses map to kinds, with the server's message") {
  auto e401 = error_from_response("universal-auth login for client id abc",
                                  response(401, R"({"statusCode":401,"message":"Invalid credentials","error":"UnauthorizedError"})"),
                                  false, kNow);
  CHECK(e401.kind() == ErrorKind::kUnauthorized);
  CHECK(e401.status() == 401);
  CHECK(e401.server_message() == "Invalid credentials");
  CHECK(std::string(e401.what()) == "universal-auth login for client id abc: Invalid credentials (HTTP 401)");
  CHECK(e401.is_credentials_error());

  CHECK(error_from_response("x", response(403, R"({"message":"malformed"})"), false, kNow).kind() == ErrorKind::kForbidden);
  CHECK(error_from_response("x", response(404, R"({"message":"No identity"})"), false, kNow).kind() == ErrorKind::kNotFound);
  CHECK(error_from_response("x", response(400, R"({"message":"Missing"})"), false, kNow).kind() == ErrorKind::kBadRequest);
}

TEST_CASE("errors: 429 carries Retry-After (seconds or HTTP-date), default 60 s") {
  auto e = error_from_response("secrets fetch", response(429, R"({"message":"Too many"})", {{"retry-after", "17"}}), true, kNow);
  CHECK(e.kind() == ErrorKind::kRateLimited);
  REQUIRE(e.retry_after().has_value());
  CHECK(e.retry_after()->count() == 17);
  auto dated = error_from_response("x", response(429, "", {{"retry-after", "Thu, 01 Jan 2026 00:02:00 GMT"}}), true, kNow);
  CHECK(dated.retry_after()->count() == 120);
  auto none = error_from_response("x", response(429, ""), true, kNow);
  CHECK(none.retry_after()->count() == 60);
  CHECK_FALSE(parse_retry_after("soon", kNow).has_value());
  // A hostile server's date far in the future (found by fuzz_infisical_response: it overflowed the
  // clock's nanoseconds) is capped at a day like an absurd number of seconds (no overflow); one in the past is 0.
  CHECK(parse_retry_after("Sun, 06 Nov 9999 08:49:37 GMT", kNow)->count() == 86400);
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kNow)->count() == 0);
}

TEST_CASE("errors: a 500 from a secrets route is flagged as a possible rate limit, elsewhere not") {
  auto body = R"({"statusCode":500,"message":"Something went wrong","error":"InternalServerError"})";
  auto secrets = error_from_response("secrets fetch", response(500, body), true, kNow);
  CHECK(secrets.kind() == ErrorKind::kServerError);
  CHECK(secrets.possible_rate_limit());
  CHECK(std::string(secrets.what()).find("rate limited") != std::string::npos);
  auto login = error_from_response("login", response(500, body), false, kNow);
  CHECK_FALSE(login.possible_rate_limit());
}

TEST_CASE("errors: zod arrays are summarised; sensitive strings and control characters never pass") {
  auto zod = error_from_response(
      "login", response(401, R"({"statusCode":401,"message":[{"path":["clientSecret"],"message":"Required"}],"error":"ValidationFailure"})"),
      false, kNow);
  CHECK(zod.server_message() == "validation failed: clientSecret: Required");

  auto leaky = error_from_response("login", response(401, R"({"message":"bad secret s3cr3t-client-secret\nFAKE LOG LINE"})"),
                                   false, kNow, {"s3cr3t-client-secret"});
  CHECK(std::string(leaky.what()).find("s3cr3t-client-secret") == std::string::npos);
  CHECK(std::string(leaky.what()).find("[redacted]") != std::string::npos);
  CHECK(std::string(leaky.what()).find('\n') == std::string::npos);

  auto html = error_from_response("x", response(502, "<html>bad gateway</html>"), false, kNow);
  CHECK(html.kind() == ErrorKind::kServerError);
  CHECK(html.server_message() == "<html>bad gateway</html>");
}

TEST_CASE("errors: transport failures map to Timeout, Tls and Network") {
  using TE = ifo::net::TransportError;
  CHECK(error_from_transport("x", TE(TE::Kind::kTimeout, "GET http://h/p: timed out")).kind() == ErrorKind::kTimeout);
  CHECK(error_from_transport("x", TE(TE::Kind::kTls, "t")).kind() == ErrorKind::kTls);
  CHECK(error_from_transport("x", TE(TE::Kind::kConnect, "c")).kind() == ErrorKind::kNetwork);
  CHECK(error_from_transport("x", TE(TE::Kind::kOther, "o")).kind() == ErrorKind::kNetwork);
  CHECK(std::string(error_from_transport("secrets fetch", TE(TE::Kind::kTimeout, "GET http://h/p: timed out")).what()) ==
        "secrets fetch: GET http://h/p: timed out");
}
