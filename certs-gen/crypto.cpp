// ECDSA P-256 certificates with OpenSSL 3: every handle is owned by a unique_ptr with its free function.
#include "crypto.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <fmt/format.h>
#include <memory>

namespace ifo::certsgen {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Fn(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;

std::string openssl_error(std::string_view what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(what);
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return fmt::format("{}: {}", what, buf);
}

BioPtr mem_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

X509Ptr read_cert(std::string_view pem) {
  auto bio = mem_bio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return cert;
}

PkeyPtr read_key(std::string_view pem) {
  auto bio = mem_bio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return key;
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_string(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(bio.get());
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return bio_string(bio.get());
}

TimePoint asn1_time(const ASN1_TIME* t) {
  std::tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return TimePoint(std::chrono::seconds(timegm(&tm)));
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

core::Result<X509Ptr> new_cert(EVP_PKEY* key, std::string_view cn, TimePoint not_before,
                               std::chrono::seconds validity) {
  X509Ptr cert(X509_new());
  if (!cert) return core::Result<X509Ptr>::fail(openssl_error("X509_new"));
  X509_set_version(cert.get(), 2);
  // A random positive 127-bit serial, as RFC 5280 asks for unpredictable serials.
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return core::Result<X509Ptr>::fail(openssl_error("RAND_bytes"));
  serial[0] &= 0x7f;
  BnPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  const time_t start = static_cast<time_t>(not_before.time_since_epoch().count());
  const time_t end = start + static_cast<time_t>(validity.count());
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), start);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), end);
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn_text(cn);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn_text.c_str()), -1, -1, 0);
  X509_set_pubkey(cert.get(), key);
  return cert;
}

PkeyPtr new_p256_key() { return PkeyPtr(EVP_EC_gen("P-256")); }

}  // namespace

std::string canonical_ip(std::string_view text) {
  std::string s(text);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return inet_ntop(AF_INET, buf, out, sizeof out);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return inet_ntop(AF_INET6, buf, out, sizeof out);
  return {};
}

core::Result<KeyCert> generate_ca(std::string_view common_name, TimePoint not_before,
                                  std::chrono::seconds validity) {
  using R = core::Result<KeyCert>;
  PkeyPtr key = new_p256_key();
  if (!key) return R::fail(openssl_error("generating the CA key"));
  auto cert = new_cert(key.get(), common_name, not_before, validity);
  if (!cert) return R::fail(cert.error());
  X509* c = cert->get();
  X509_set_issuer_name(c, X509_get_subject_name(c));
  if (!add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") ||
      !add_ext(c, c, NID_subject_key_identifier, "hash") ||
      !add_ext(c, c, NID_authority_key_identifier, "keyid:always"))
    return R::fail(openssl_error("adding CA extensions"));
  if (X509_sign(c, key.get(), EVP_sha256()) <= 0) return R::fail(openssl_error("signing the CA"));
  return KeyCert{cert_pem(c), key_pem(key.get())};
}

core::Result<KeyCert> issue_serving(const KeyCert& ca, const ServingRequest& request) {
  using R = core::Result<KeyCert>;
  X509Ptr ca_cert = read_cert(ca.cert_pem);
  PkeyPtr ca_key = read_key(ca.key_pem);
  if (!ca_cert || !ca_key) return R::fail("the CA certificate or key is not valid PEM");
  if (request.dns_names.empty() && request.ip_addresses.empty())
    return R::fail("a serving certificate needs at least one DNS name or IP address");
  PkeyPtr key = new_p256_key();
  if (!key) return R::fail(openssl_error("generating the serving key"));
  std::string cn = request.common_name.empty() ? (request.dns_names.empty() ? request.ip_addresses.front()
                                                                           : request.dns_names.front())
                                               : request.common_name;
  auto cert = new_cert(key.get(), cn, request.not_before, request.validity);
  if (!cert) return R::fail(cert.error());
  X509* c = cert->get();
  X509_set_issuer_name(c, X509_get_subject_name(ca_cert.get()));
  std::string san;
  for (const auto& d : request.dns_names) san += (san.empty() ? "" : ",") + ("DNS:" + d);
  for (const auto& ip : request.ip_addresses) {
    if (canonical_ip(ip).empty()) return R::fail(fmt::format("not an IP address: {:?}", ip));
    san += (san.empty() ? "" : ",") + ("IP:" + ip);
  }
  if (!add_ext(c, ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(c, ca_cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(c, ca_cert.get(), NID_ext_key_usage, "serverAuth") ||
      !add_ext(c, ca_cert.get(), NID_authority_key_identifier, "keyid:always") ||
      !add_ext(c, ca_cert.get(), NID_subject_alt_name, san))
    return R::fail(openssl_error("adding serving certificate extensions (a DNS name may be malformed)"));
  if (X509_sign(c, ca_key.get(), EVP_sha256()) <= 0) return R::fail(openssl_error("signing the serving certificate"));
  return KeyCert{cert_pem(c), key_pem(key.get())};
}

core::Result<std::vector<CertInfo>> parse_certificates(std::string_view pem) {
  using R = core::Result<std::vector<CertInfo>>;
  auto bio = mem_bio(pem);
  std::vector<CertInfo> out;
  for (int guard = 0; guard < 64; ++guard) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    CertInfo info;
    info.subject = name_text(X509_get_subject_name(cert.get()));
    info.issuer = name_text(X509_get_issuer_name(cert.get()));
    info.not_before = asn1_time(X509_get0_notBefore(cert.get()));
    info.not_after = asn1_time(X509_get0_notAfter(cert.get()));
    info.is_ca = X509_check_ca(cert.get()) != 0;
    GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
      if (gn->type == GEN_DNS) {
        const auto* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<size_t>(ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        const auto* s = gn->d.iPAddress;
        char buf[INET6_ADDRSTRLEN];
        int len = ASN1_STRING_length(s);
        int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
        if (family && inet_ntop(family, ASN1_STRING_get0_data(s), buf, sizeof buf))
          info.ip_addresses.emplace_back(buf);
      }
    }
    info.pem = cert_pem(cert.get());
    out.push_back(std::move(info));
  }
  ERR_clear_error();
  if (out.empty()) return R::fail("no PEM certificate found");
  return out;
}

core::Result<bool> check_private_key(std::string_view pem) {
  if (!read_key(pem)) return core::Result<bool>::fail("no readable PEM private key found");
  return true;
}

bool key_matches(std::string_view cert_pem_text, std::string_view key_pem_text) {
  X509Ptr cert = read_cert(cert_pem_text);
  PkeyPtr key = read_key(key_pem_text);
  if (!cert || !key) return false;
  bool ok = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

bool issued_by(std::string_view cert_pem_text, std::string_view ca_pem_text) {
  X509Ptr cert = read_cert(cert_pem_text);
  X509Ptr ca = read_cert(ca_pem_text);
  if (!cert || !ca) return false;
  if (X509_check_issued(ca.get(), cert.get()) != X509_V_OK) return false;
  EVP_PKEY* ca_pub = X509_get0_pubkey(ca.get());
  bool ok = ca_pub && X509_verify(cert.get(), ca_pub) == 1;
  ERR_clear_error();
  return ok;
}

std::vector<std::string> service_dns_names(std::string_view service, std::string_view ns) {
  return {std::string(service), fmt::format("{}.{}", service, ns), fmt::format("{}.{}.svc", service, ns),
          fmt::format("{}.{}.svc.cluster.local", service, ns)};
}

}  // namespace ifo::certsgen
