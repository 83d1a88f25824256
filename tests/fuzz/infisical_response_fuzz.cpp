// libFuzzer target: arbitrary bytes as an answer of an Infisical server (any hostAPI, so hostile
// input) through every parser the client runs on one: the secrets list and single-secret answers
// and their merge, the login answer, the error body, Retry-After, and the AWS XML/ISO 8601 parsers.
// The first byte picks the parser, the rest is the body. Besides crashes and sanitizer reports:
//  - an error body's message never quotes a string the caller marked sensitive (it is redacted),
//    is at most a few hundred bytes, has no control characters (no forged log lines) and is UTF-8
//    when the body is;
//  - a parse error never quotes the body (the marker never comes back);
//  - merging one answer twice gives the same values (the order of imports and duplicates decided
//    by the data, never by chance), and every merged value is a string of the answer;
//  - a login answer that parses has a non-empty token and non-negative lifetimes;
//  - Retry-After is never negative.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "infisical/auth.h"
#include "infisical/aws.h"
#include "infisical/errors.h"
#include "infisical/secrets.h"

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
  auto parsed = single ? infisical::parse_single_secret_response(body) : infisical::parse_secrets_response(body);
  if (!parsed.ok()) {
    check(!fuzz::contains(parsed.error(), fuzz::kSecretMarker), "parse error quotes the answer", parsed.error());
    return;
  }
  const auto first = infisical::merge_secrets(*parsed);
  const auto again = infisical::merge_secrets(*parsed);
  check(first.values == again.values, "merging one answer twice gave different values");
  for (const auto& [key, value] : first.values) {
    check(!key.empty(), "merged an empty key");
    check(fuzz::contains(body, key) || fuzz::contains(body, "\\"), "merged a key the answer does not hold", key);
  }
  // Warnings name keys, paths and environments, never values: the marker may come back only when it
  // sits somewhere other than a secretValue.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: check_secrets(body, false); break;
    case 1: check_secrets(body, true); break;
    case 2: check_login(body); break;
    case 3: check_error_body(body); break;
    case 4: {
      auto after = infisical::parse_retry_after(body, std::chrono::system_clock::time_point{});
      check(!after || after->count() >= 0, "negative Retry-After");
      break;
    }
    default: {
      // AWS answers: STS/IMDS XML elements and their ISO 8601 expirations.
      if (auto text = infisical::xml_text(body, "Expiration")) (void)infisical::parse_iso8601(*text);
      (void)infisical::parse_iso8601(body);
      break;
    }
  }
  return 0;
}
