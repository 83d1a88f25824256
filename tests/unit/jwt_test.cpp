// Unit tests for base64url and RS256 JWTs: round trips verify, any tampering or wrong key is refused with a message.
#include <doctest/doctest.h>

#include <string>

#include "core/json.h"
#include "core/jwt.h"

using namespace ifo::core;

namespace {

// One key pair per process: RSA generation takes tens of milliseconds.
const RsaKeyPair& key_a() {
  static const RsaKeyPair k = generate_rsa_keypair();
  return k;
}
const RsaKeyPair& key_b() {
  static const RsaKeyPair k = generate_rsa_keypair();
  return k;
}

std::string replace_part(const std::string& token, int index, const std::string& replacement) {
  auto p1 = token.find('.');
  auto p2 = token.find('.', p1 + 1);
  if (index == 0) return replacement + token.substr(p1);
  if (index == 1) return token.substr(0, p1 + 1) + replacement + token.substr(p2);
  return token.substr(0, p2 + 1) + replacement;
}

}  // namespace

TEST_CASE("base64url encodes without padding using the URL-safe alphabet") {
  CHECK(base64url_encode("") == "");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("foob") == "Zm9vYg");
  CHECK(base64url_encode(std::string("\xfb\xff\xbf", 3)) == "-_-_");
}

TEST_CASE("base64url decodes with or without padding and refuses foreign characters") {
  CHECK(base64url_decode("Zm9vYg").value() == "foob");
  CHECK(base64url_decode("Zm9vYg==").value() == "foob");
  CHECK(base64url_decode("-_-_").value() == std::string("\xfb\xff\xbf", 3));
  auto bad = base64url_decode("Zm9+Yg");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("offset 3") != std::string::npos);
  CHECK_FALSE(base64url_decode("Zm9vY").ok());  // length 1 mod 4 cannot come from any input
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  CHECK(base64url_decode(base64url_encode(all)).value() == all);
}

TEST_CASE("a signed token verifies with the matching public key and carries claims and kid") {
  auto token = jwt_sign_rs256(R"({"sub":"alice","aud":"x","exp":2000000000})", key_a().private_pem, "key-1");
  REQUIRE(token.ok());
  auto parts = jwt_verify_rs256(*token, key_a().public_pem);
  REQUIRE(parts.ok());
  auto claims = parse_json(parts->claims_json);
  REQUIRE(claims.ok());
  CHECK(get_string(**claims, "sub") == "alice");
  CHECK(get_int(**claims, "exp") == 2000000000);
  auto header = parse_json(parts->header_json);
  REQUIRE(header.ok());
  CHECK(get_string(**header, "alg") == "RS256");
  CHECK(get_string(**header, "kid") == "key-1");
  // The unverified decode reads the same claims.
  auto unverified = jwt_decode_unverified(*token);
  REQUIRE(unverified.ok());
  CHECK(unverified->claims_json == parts->claims_json);
}

TEST_CASE("a tampered payload is rejected") {
  auto token = jwt_sign_rs256(R"({"sub":"alice"})", key_a().private_pem);
  REQUIRE(token.ok());
  auto forged = replace_part(*token, 1, base64url_encode(R"({"sub":"admin"})"));
  auto r = jwt_verify_rs256(forged, key_a().public_pem);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "JWT signature does not verify");
  // A flipped signature byte is refused too.
  auto sig = base64url_decode(token->substr(token->rfind('.') + 1)).value();
  sig[10] = static_cast<char>(sig[10] ^ 1);
  CHECK_FALSE(jwt_verify_rs256(replace_part(*token, 2, base64url_encode(sig)), key_a().public_pem).ok());
}

TEST_CASE("a token signed by another key is rejected") {
  auto token = jwt_sign_rs256(R"({"sub":"alice"})", key_b().private_pem);
  REQUIRE(token.ok());
  auto r = jwt_verify_rs256(*token, key_a().public_pem);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "JWT signature does not verify");
}

TEST_CASE("alg none and HS256 headers are refused even with a valid-looking shape") {
  auto token = jwt_sign_rs256(R"({"sub":"alice"})", key_a().private_pem).value();
  auto none = replace_part(token, 0, base64url_encode(R"({"alg":"none","typ":"JWT"})"));
  auto r = jwt_verify_rs256(none, key_a().public_pem);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "JWT algorithm \"none\" is not RS256");
  auto hs = replace_part(token, 0, base64url_encode(R"({"alg":"HS256"})"));
  CHECK_FALSE(jwt_verify_rs256(hs, key_a().public_pem).ok());
}

TEST_CASE("malformed tokens are rejected with a message saying what is wrong") {
  const auto& pub = key_a().public_pem;
  auto check = [&](const std::string& token, const std::string& expected_prefix) {
    auto r = jwt_verify_rs256(token, pub);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.error().rfind(expected_prefix, 0) == 0, r.error());
    CHECK_FALSE(jwt_decode_unverified(token).ok());
  };
  check("", "malformed JWT: empty token");
  check("abc", "malformed JWT: expected 3 dot-separated parts, found 1");
  check("a.b", "malformed JWT: expected 3 dot-separated parts, found 2");
  check("a.b.c.d", "malformed JWT: expected 3 dot-separated parts, found more");
  check("a*b.e30.AA", "malformed JWT header: invalid base64url");
  check(base64url_encode("not json") + ".e30.AA", "malformed JWT header: not a JSON object");
  check(base64url_encode(R"({"alg":"RS256"})") + "." + base64url_encode("[1]") + ".AA",
        "malformed JWT claims: not a JSON object");
  check(base64url_encode(R"({"alg":"RS256"})") + ".e30.%%", "malformed JWT signature: invalid base64url");
}

TEST_CASE("an empty signature is refused") {
  auto token = jwt_sign_rs256(R"({"sub":"alice"})", key_a().private_pem).value();
  auto r = jwt_verify_rs256(token.substr(0, token.rfind('.') + 1), key_a().public_pem);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "JWT signature is empty");
}

TEST_CASE("bad keys and bad claims give errors instead of crashing") {
  auto r = jwt_sign_rs256(R"({"sub":"a"})", "not a key");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "private key is not a readable PEM private key");
  auto c = jwt_sign_rs256("[1,2]", key_a().private_pem);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error() == "JWT claims must be a JSON object");
  CHECK_FALSE(jwt_sign_rs256("{", key_a().private_pem).ok());
  auto token = jwt_sign_rs256(R"({"sub":"a"})", key_a().private_pem).value();
  auto v = jwt_verify_rs256(token, "garbage");
  REQUIRE_FALSE(v.ok());
  CHECK(v.error() == "public key is not a readable PEM public key or certificate");
  // A private key is not accepted where a public key is expected.
  CHECK_FALSE(jwt_verify_rs256(token, key_a().private_pem).ok());
}

TEST_CASE("generated key pairs are fresh PEM RSA keys") {
  CHECK(key_a().private_pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
  CHECK(key_a().public_pem.rfind("-----BEGIN PUBLIC KEY-----", 0) == 0);
  CHECK(key_a().private_pem != key_b().private_pem);
}
