// Serving certificate generation with OpenSSL 3.
#include "sim/kube/tls.h"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ifo::kubesim {

namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

void add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) throw std::runtime_error("kube-sim: cannot build certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

void fill_pems(ServingCert& sc) {
  std::unique_ptr<BIO, BioDeleter> cb(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cb.get(), sc.cert.get());
  sc.cert_pem = bio_text(cb.get());
  std::unique_ptr<BIO, BioDeleter> kb(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(kb.get(), sc.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  sc.key_pem = bio_text(kb.get());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

ServingCert make_self_signed_cert() {
  ServingCert sc;
  sc.key.reset(EVP_EC_gen("P-256"));
  if (!sc.key) throw std::runtime_error("kube-sim: cannot generate an EC key");
  sc.cert.reset(X509_new());
  X509* x = sc.cert.get();
  X509_set_version(x, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
  X509_set_pubkey(x, sc.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("kube-sim"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign");
  add_ext(x, NID_ext_key_usage, "serverAuth");
  add_ext(x, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  add_ext(x, NID_subject_key_identifier, "hash");
  if (X509_sign(x, sc.key.get(), EVP_sha256()) == 0) throw std::runtime_error("kube-sim: cannot sign the certificate");
  fill_pems(sc);
  return sc;
}

ServingCert load_cert(const std::string& cert_file, const std::string& key_file) {
  ServingCert sc;
  std::string cert = read_file(cert_file);
  std::string key = read_file(key_file);
  std::unique_ptr<BIO, BioDeleter> cb(BIO_new_mem_buf(cert.data(), static_cast<int>(cert.size())));
  sc.cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!sc.cert) throw std::runtime_error(cert_file + ": not a PEM certificate");
  std::unique_ptr<BIO, BioDeleter> kb(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())));
  sc.key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!sc.key) throw std::runtime_error(key_file + ": not a PEM private key");
  fill_pems(sc);
  return sc;
}

}  // namespace ifo::kubesim
