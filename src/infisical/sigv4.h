// AWS Signature Version 4 (header form) over OpenSSL HMAC/SHA-256, for the STS requests of AWS IAM auth.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ifo::infisical {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
  std::chrono::system_clock::time_point expiration{};  // epoch: does not expire
  std::string source;  // where they came from ("environment", "web identity", "ecs", "imds"), for messages
};

struct SigV4Request {
  std::string method;
  std::string path = "/";  // not yet encoded
  std::vector<std::pair<std::string, std::string>> query;  // not yet encoded
  // Every header given here is signed (include Host and X-Amz-Date). Repeated names are joined with ','.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256_hex;  // hex SHA-256 of the body
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // hex
  std::string authorization;   // the Authorization header value
};

// `amz_date` is YYYYMMDD'T'HHMMSS'Z'. The session token, when any, must already be among the headers
// (X-Amz-Security-Token) if it is to be signed; this function does not add headers.
SigV4Signature sigv4_sign(const SigV4Request& request, const AwsCredentials& credentials, std::string_view region,
                          std::string_view service, std::string_view amz_date);

std::string amz_date(std::chrono::system_clock::time_point t);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw bytes
std::string hex(std::string_view bytes);
// RFC 3986 encoding of everything but unreserved characters ('/' too unless keep_slash).
std::string aws_uri_encode(std::string_view s, bool keep_slash);

}  // namespace ifo::infisical
