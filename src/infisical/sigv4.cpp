// AWS Signature Version 4 (header form) over OpenSSL HMAC/SHA-256.
#include "infisical/sigv4.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <stdexcept>

namespace ifo::infisical {

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return hex(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), out, &len) == nullptr)
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string aws_uri_encode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Trims and collapses runs of spaces and tabs to one space (SigV4 canonical header values).
std::string canonical_value(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

SigV4Signature sigv4_sign(const SigV4Request& request, const AwsCredentials& credentials, std::string_view region,
                          std::string_view service, std::string_view amz_date_value) {
  SigV4Signature sig;

  std::string path = request.path.empty() ? "/" : request.path;
  if (path.front() != '/') path.insert(path.begin(), '/');
  std::string canonical_uri = aws_uri_encode(path, true);

  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [k, v] : request.query) query.emplace_back(aws_uri_encode(k, false), aws_uri_encode(v, false));
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [k, v] : query) {
    if (!canonical_query.empty()) canonical_query.push_back('&');
    canonical_query += k + "=" + v;
  }

  std::map<std::string, std::vector<std::string>> headers;  // sorted by lower-cased name
  for (const auto& [k, v] : request.headers) headers[lower(k)].push_back(canonical_value(v));
  std::string canonical_headers;
  for (const auto& [k, values] : headers) {
    canonical_headers += k + ":";
    for (size_t i = 0; i < values.size(); ++i) canonical_headers += (i == 0 ? "" : ",") + values[i];
    canonical_headers += "\n";
    if (!sig.signed_headers.empty()) sig.signed_headers.push_back(';');
    sig.signed_headers += k;
  }

  sig.canonical_request = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, canonical_uri, canonical_query,
                                      canonical_headers, sig.signed_headers, request.payload_sha256_hex);

  std::string date(amz_date_value.substr(0, 8));
  std::string scope = fmt::format("{}/{}/{}/aws4_request", date, region, service);
  sig.string_to_sign =
      fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", amz_date_value, scope, sha256_hex(sig.canonical_request));

  std::string k_date = hmac_sha256("AWS4" + credentials.secret_access_key, date);
  std::string k_region = hmac_sha256(k_date, region);
  std::string k_service = hmac_sha256(k_region, service);
  std::string k_signing = hmac_sha256(k_service, "aws4_request");
  sig.signature = hex(hmac_sha256(k_signing, sig.string_to_sign));
  sig.authorization = fmt::format("AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
                                  credentials.access_key_id, scope, sig.signed_headers, sig.signature);
  return sig;
}

}  // namespace ifo::infisical
