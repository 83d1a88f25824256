// OpenSSL 3 certificate generation for tests and the simulators' HTTPS modes: every handle owned by a unique_ptr.
#include "test_tls.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace ifo::testing {

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
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Bio = std::unique_ptr<BIO, BioFree>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificate: ") + what);
}

Pkey new_key() {
  Pkey k(EVP_EC_gen("P-256"));
  check(k != nullptr, "EC key generation failed");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

Cert new_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key) {
  Cert c(X509_new());
  check(c != nullptr, "X509_new");
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 24 * 3600);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
  (void)issuer_key;
  return c;
}

std::string cert_pem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string key_pem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

TestCertificate make_test_certificate(const std::vector<std::string>& dns_names, const std::vector<std::string>& ips,
                                      std::string_view ca_name_prefix) {
  Pkey ca_key = new_key();
  // A unique CA name, so that two test CAs are never mistaken for each other by name.
  unsigned char nonce[6];
  RAND_bytes(nonce, sizeof nonce);
  std::string ca_name = std::string(ca_name_prefix) + " ";
  for (unsigned char c : nonce) ca_name += "0123456789abcdef"[c >> 4], ca_name += "0123456789abcdef"[c & 15];
  Cert ca = new_cert(ca_key.get(), ca_name, nullptr, nullptr);
  add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  check(X509_sign(ca.get(), ca_key.get(), EVP_sha256()) > 0, "CA signature");

  Pkey key = new_key();
  Cert leaf = new_cert(key.get(), dns_names.empty() ? "localhost" : dns_names.front(), ca.get(), ca_key.get());
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : ips) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  add_ext(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  if (!san.empty()) add_ext(leaf.get(), ca.get(), NID_subject_alt_name, san);
  add_ext(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  check(X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) > 0, "leaf signature");

  return TestCertificate{cert_pem(ca.get()), cert_pem(leaf.get()), key_pem(key.get())};
}

std::unique_ptr<httplib::SSLServer> make_tls_server(const TestCertificate& cert) {
  Bio cb(BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size())));
  Cert x(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  Bio kb(BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size())));
  Pkey k(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  check(x && k, "cannot load the serving certificate");
  auto server = std::make_unique<httplib::SSLServer>(x.get(), k.get());
  check(server->is_valid(), "SSLServer is not valid");
  return server;
}

}  // namespace ifo::testing
