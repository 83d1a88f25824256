// Certificate generation over OpenSSL 3: every handle owned by a unique_ptr.
#include "tls_cert.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace ifo::sim {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("TLS material: ") + what + " failed");
}

PkeyPtr ec_key() {
  PkeyPtr k(EVP_EC_gen("P-256"));
  check(k != nullptr, "EC key generation");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509Ptr make_cert(EVP_PKEY* subject_key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, bool is_ca,
                  const std::string& san) {
  X509Ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 3600);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer != nullptr ? issuer : cert.get();
  if (is_ca) {
    add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(cert.get(), iss, NID_subject_key_identifier, "hash");
  } else {
    add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), iss, NID_ext_key_usage, "serverAuth");
    add_ext(cert.get(), iss, NID_subject_alt_name, san);
    add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always");
  }
  check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "certificate signing");
  return cert;
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM encoding");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM encoding");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

TlsMaterial make_self_signed_tls(const std::string& host) {
  PkeyPtr ca_key = ec_key();
  X509Ptr ca = make_cert(ca_key.get(), "infisical-sim test CA", nullptr, ca_key.get(), true, "");
  PkeyPtr key = ec_key();
  std::string san = "IP:127.0.0.1,DNS:localhost";
  if (host != "127.0.0.1" && !host.empty()) san += (host.find_first_not_of("0123456789.") == std::string::npos ? ",IP:" : ",DNS:") + host;
  X509Ptr cert = make_cert(key.get(), "infisical-sim", ca.get(), ca_key.get(), false, san);
  return TlsMaterial{pem_of(ca.get()), pem_of(cert.get()), pem_of(key.get())};
}

std::unique_ptr<httplib::Server> make_tls_server(const TlsMaterial& tls) {
  BioPtr cert_bio(BIO_new_mem_buf(tls.cert_pem.data(), static_cast<int>(tls.cert_pem.size())));
  BioPtr key_bio(BIO_new_mem_buf(tls.key_pem.data(), static_cast<int>(tls.key_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  check(cert && key, "reading the serving certificate");
  // SSLServer takes its own references (SSL_CTX_use_certificate/PrivateKey), so ours are freed here.
  auto server = std::make_unique<httplib::SSLServer>(cert.get(), key.get());
  check(server->is_valid(), "creating the HTTPS server");
  return server;
}

}  // namespace ifo::sim
