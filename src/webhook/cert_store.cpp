// CertStore: file identity polling, PEM loading, and the per-handshake certificate callback.
#include "webhook/cert_store.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <vector>

namespace ifo::webhook {

struct CertStore::Loaded {
  std::vector<X509*> chain;  // leaf first
  EVP_PKEY* key = nullptr;
  int64_t not_after = 0;
  ~Loaded() {
    for (X509* c : chain) X509_free(c);
    EVP_PKEY_free(key);
  }
};

namespace {

core::Result<std::string> identity_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return core::Result<std::string>::fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  return fmt::format("{}:{}:{}:{}.{}", st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

core::Result<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Result<std::string>::fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

core::Result<std::shared_ptr<CertStore::Loaded>> parse_pair(const std::string& cert_path, const std::string& cert_pem,
                                                             const std::string& key_path, const std::string& key_pem) {
  using R = core::Result<std::shared_ptr<CertStore::Loaded>>;
  auto loaded = std::make_shared<CertStore::Loaded>();
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  for (int i = 0; i < 16; ++i) {
    X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (!c) break;
    loaded->chain.push_back(c);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (loaded->chain.empty()) return R::fail(fmt::format("{}: no PEM certificate", cert_path));
  bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  loaded->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  if (!loaded->key) return R::fail(fmt::format("{}: no PEM private key", key_path));
  if (X509_check_private_key(loaded->chain.front(), loaded->key) != 1) {
    ERR_clear_error();
    return R::fail(fmt::format("{} does not match the certificate in {}", key_path, cert_path));
  }
  std::tm tm{};
  ASN1_TIME_to_tm(X509_get0_notAfter(loaded->chain.front()), &tm);
  loaded->not_after = static_cast<int64_t>(timegm(&tm));
  return std::shared_ptr<CertStore::Loaded>(std::move(loaded));
}
}  // namespace

CertStore::CertStore(std::string cert_path, std::string key_path)
    : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {}

CertStore::~CertStore() = default;

core::Result<bool> CertStore::reload() {
  using R = core::Result<bool>;
  auto id_cert = identity_of(cert_path_);
  auto id_key = identity_of(key_path_);
  if (!id_cert) return R::fail(id_cert.error());
  if (!id_key) return R::fail(id_key.error());
  const std::string identity = *id_cert + "|" + *id_key;
  {
    std::lock_guard lock(mu_);
    if (current_ && identity == identity_) return false;
  }
  auto cert_pem = slurp(cert_path_);
  if (!cert_pem) return R::fail(cert_pem.error());
  auto key_pem = slurp(key_path_);
  if (!key_pem) return R::fail(key_pem.error());
  auto pair = parse_pair(cert_path_, *cert_pem, key_path_, *key_pem);
  if (!pair) return R::fail(pair.error());
  std::lock_guard lock(mu_);
  current_ = std::move(*pair);
  identity_ = identity;
  ++generation_;
  return true;
}

bool CertStore::loaded() const { return current() != nullptr; }

int64_t CertStore::not_after() const {
  auto c = current();
  return c ? c->not_after : 0;
}

uint64_t CertStore::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

std::shared_ptr<const CertStore::Loaded> CertStore::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

int CertStore::on_handshake(SSL* ssl, void* arg) {
  auto* self = static_cast<CertStore*>(arg);
  auto pair = self->current();
  if (!pair) return 0;
  // SSL_use_* take their own references, so the pair may be replaced while this connection lives.
  if (SSL_use_certificate(ssl, pair->chain.front()) != 1 || SSL_use_PrivateKey(ssl, pair->key) != 1) return 0;
  SSL_clear_chain_certs(ssl);
  for (size_t i = 1; i < pair->chain.size(); ++i) SSL_add1_chain_cert(ssl, pair->chain[i]);
  return 1;
}

bool CertStore::configure(SSL_CTX& ctx) {
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1) return false;
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Forward-secret AEAD suites only for TLS 1.2 (TLS 1.3 suites are all fine).
  if (SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) return false;
  SSL_CTX_set_cert_cb(&ctx, &CertStore::on_handshake, this);
  return true;
}

}  // namespace ifo::webhook
