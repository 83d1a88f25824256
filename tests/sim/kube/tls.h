// A self-signed ECDSA P-256 serving certificate for 127.0.0.1 and localhost, made at start-up.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace ifo::kubesim {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

struct ServingCert {
  std::unique_ptr<X509, X509Deleter> cert;
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key;
  std::string cert_pem;
  std::string key_pem;
};

// Self-signed (CA:TRUE, serverAuth, SAN IP:127.0.0.1, DNS:localhost), valid one year from an hour ago.
ServingCert make_self_signed_cert();
// Loads PEM files; throws std::runtime_error naming the file on failure.
ServingCert load_cert(const std::string& cert_file, const std::string& key_file);

}  // namespace ifo::kubesim
