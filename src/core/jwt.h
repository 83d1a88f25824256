// RS256 JSON Web Tokens and base64url: signing and verification over OpenSSL 3 EVP, for the
// cloud-identity auth methods and the simulators that issue their tokens.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace ifo::core {

// URL-safe alphabet, no padding (RFC 7515 §2).
std::string base64url_encode(std::string_view bytes);
// Accepts text with or without '=' padding; refuses characters outside the URL-safe alphabet.
Result<std::string> base64url_decode(std::string_view text);

// RS256 JWT over the given claims JSON object text; key is a PEM RSA private key.
// The header is {"alg":"RS256","typ":"JWT"} plus "kid" when one is given.
Result<std::string> jwt_sign_rs256(std::string_view claims_json, std::string_view private_key_pem,
                                   std::string_view kid = "");

struct JwtParts {
  std::string header_json;
  std::string claims_json;
};

// Verifies the RS256 signature against a PEM public key (or certificate); does not check claims.
// Refuses any header whose "alg" is not RS256 (no "none", no HMAC confusion).
Result<JwtParts> jwt_verify_rs256(std::string_view token, std::string_view public_key_pem);

// Decodes without verifying (for reading exp/aud on the client side).
Result<JwtParts> jwt_decode_unverified(std::string_view token);

// A fresh RSA-2048 key pair as PEM (private PKCS#8, public SubjectPublicKeyInfo), for simulators and tests.
struct RsaKeyPair {
  std::string private_pem;
  std::string public_pem;
};
RsaKeyPair generate_rsa_keypair();

}  // namespace ifo::core
