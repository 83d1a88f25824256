// RS256 JWTs over OpenSSL 3 EVP: every OpenSSL handle is owned by a unique_ptr with its free function.
#include "core/jwt.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "core/base64.h"
#include "core/json.h"

namespace ifo::core {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// OpenSSL keeps a per-thread error queue; clear it so a failure here does not leak into later calls.
void clear_openssl_errors() { ERR_clear_error(); }

Result<PkeyPtr> load_private_key(std::string_view pem) {
  auto bio = memory_bio(pem);
  if (!bio) return Result<PkeyPtr>::fail("cannot allocate a memory BIO");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  clear_openssl_errors();
  if (!key) return Result<PkeyPtr>::fail("private key is not a readable PEM private key");
  if (!EVP_PKEY_is_a(key.get(), "RSA")) return Result<PkeyPtr>::fail("private key is not an RSA key");
  return key;
}

// A PEM public key (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY") or an X.509 certificate.
Result<PkeyPtr> load_public_key(std::string_view pem) {
  PkeyPtr key;
  if (pem.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
    auto bio = memory_bio(pem);
    if (!bio) return Result<PkeyPtr>::fail("cannot allocate a memory BIO");
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert) key.reset(X509_get_pubkey(cert.get()));
  } else {
    auto bio = memory_bio(pem);
    if (!bio) return Result<PkeyPtr>::fail("cannot allocate a memory BIO");
    key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  }
  clear_openssl_errors();
  if (!key) return Result<PkeyPtr>::fail("public key is not a readable PEM public key or certificate");
  if (!EVP_PKEY_is_a(key.get(), "RSA")) return Result<PkeyPtr>::fail("public key is not an RSA key");
  return key;
}

Result<JwtParts> split_and_decode(std::string_view token, std::string_view* signing_input,
                                  std::string* signature) {
  if (token.empty()) return Result<JwtParts>::fail("malformed JWT: empty token");
  auto first = token.find('.');
  if (first == std::string_view::npos) return Result<JwtParts>::fail("malformed JWT: expected 3 dot-separated parts, found 1");
  auto second = token.find('.', first + 1);
  if (second == std::string_view::npos) return Result<JwtParts>::fail("malformed JWT: expected 3 dot-separated parts, found 2");
  if (token.find('.', second + 1) != std::string_view::npos)
    return Result<JwtParts>::fail("malformed JWT: expected 3 dot-separated parts, found more");
  auto header_b64 = token.substr(0, first);
  auto claims_b64 = token.substr(first + 1, second - first - 1);
  auto sig_b64 = token.substr(second + 1);

  auto header = base64url_decode(header_b64);
  if (!header) return Result<JwtParts>::fail("malformed JWT header: " + header.error());
  auto claims = base64url_decode(claims_b64);
  if (!claims) return Result<JwtParts>::fail("malformed JWT claims: " + claims.error());
  auto sig = base64url_decode(sig_b64);
  if (!sig) return Result<JwtParts>::fail("malformed JWT signature: " + sig.error());

  auto hdoc = parse_json(*header);
  if (!hdoc || !(*hdoc)->IsObject()) return Result<JwtParts>::fail("malformed JWT header: not a JSON object");
  auto cdoc = parse_json(*claims);
  if (!cdoc || !(*cdoc)->IsObject()) return Result<JwtParts>::fail("malformed JWT claims: not a JSON object");

  if (signing_input != nullptr) *signing_input = token.substr(0, second);
  if (signature != nullptr) *signature = std::move(sig).value();
  return JwtParts{std::move(header).value(), std::move(claims).value()};
}

}  // namespace

// The standard encoding re-spelt in the URL-safe alphabet (RFC 4648 section 5) without padding, as JWS wants.
std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

Result<std::string> base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return Result<std::string>::fail("invalid base64url: bad length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int v = b64url_value(text[i]);
    if (v < 0) return Result<std::string>::fail("invalid base64url: unexpected character at offset " + std::to_string(i));
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

Result<std::string> jwt_sign_rs256(std::string_view claims_json, std::string_view private_key_pem,
                                   std::string_view kid) {
  auto claims = parse_json(claims_json);
  if (!claims) return Result<std::string>::fail("JWT claims: " + claims.error());
  if (!(*claims)->IsObject()) return Result<std::string>::fail("JWT claims must be a JSON object");
  auto key = load_private_key(private_key_pem);
  if (!key) return Result<std::string>::fail(key.error());

  JsonDoc header(rapidjson::kObjectType);
  auto& a = header.GetAllocator();
  set_string(header, "alg", "RS256", a);
  set_string(header, "typ", "JWT", a);
  if (!kid.empty()) set_string(header, "kid", kid, a);

  std::string input = base64url_encode(to_json(header)) + "." + base64url_encode(claims_json);

  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key->get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    clear_openssl_errors();
    return Result<std::string>::fail("RS256 signing failed");
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    clear_openssl_errors();
    return Result<std::string>::fail("RS256 signing failed");
  }
  sig.resize(sig_len);
  return input + "." + base64url_encode(sig);
}

Result<JwtParts> jwt_verify_rs256(std::string_view token, std::string_view public_key_pem) {
  std::string_view signing_input;
  std::string signature;
  auto parts = split_and_decode(token, &signing_input, &signature);
  if (!parts) return parts;

  auto hdoc = parse_json(parts->header_json);
  auto alg = get_string(**hdoc, "alg");
  if (!alg) return Result<JwtParts>::fail("JWT header has no \"alg\"");
  if (*alg != "RS256") return Result<JwtParts>::fail("JWT algorithm \"" + *alg + "\" is not RS256");
  if (signature.empty()) return Result<JwtParts>::fail("JWT signature is empty");

  auto key = load_public_key(public_key_pem);
  if (!key) return Result<JwtParts>::fail(key.error());

  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key->get()) != 1) {
    clear_openssl_errors();
    return Result<JwtParts>::fail("RS256 verification could not start");
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  clear_openssl_errors();
  if (rc != 1) return Result<JwtParts>::fail("JWT signature does not verify");
  return parts;
}

Result<JwtParts> jwt_decode_unverified(std::string_view token) { return split_and_decode(token, nullptr, nullptr); }

RsaKeyPair generate_rsa_keypair() {
  PkeyPtr key(EVP_RSA_gen(2048));
  if (!key) {
    clear_openssl_errors();
    throw std::runtime_error("RSA-2048 key generation failed");
  }
  RsaKeyPair pair;
  BioPtr priv(BIO_new(BIO_s_mem()));
  BioPtr pub(BIO_new(BIO_s_mem()));
  if (!priv || !pub || PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1) {
    clear_openssl_errors();
    throw std::runtime_error("cannot write the RSA key pair as PEM");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(priv.get(), &data);
  pair.private_pem.assign(data, static_cast<size_t>(n));
  n = BIO_get_mem_data(pub.get(), &data);
  pair.public_pem.assign(data, static_cast<size_t>(n));
  return pair;
}

}  // namespace ifo::core
