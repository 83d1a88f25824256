// The serving certificate and key, read from files and swapped atomically when the files change, so
// new TLS connections get the new certificate without a restart and in-flight ones are unaffected.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "core/result.h"

namespace ifo::webhook {

class CertStore {
 public:
  struct Loaded;

  CertStore(std::string cert_path, std::string key_path);
  ~CertStore();
  CertStore(const CertStore&) = delete;
  CertStore& operator=(const CertStore&) = delete;

  // Loads the files if they changed since the last successful load (path, inode, size, mtime). A
  // pair that does not parse or whose key does not match the certificate is refused and the
  // current one kept (a writer may be between the two files). Returns an error only when nothing
  // has ever been loaded or the new pair is unusable; `changed` tells whether a new pair went live.
  core::Result<bool> reload();

  bool loaded() const;
  // NotAfter of the current certificate, seconds since the epoch (0 before the first load).
  int64_t not_after() const;
  // Number of successful loads (1 after start, +1 per hot reload).
  uint64_t generation() const;

  // TLS 1.2+ only; the certificate is chosen per handshake from the current pair.
  bool configure(SSL_CTX& ctx);

  const std::string& cert_path() const { return cert_path_; }
  const std::string& key_path() const { return key_path_; }

 private:
  static int on_handshake(SSL* ssl, void* arg);
  std::shared_ptr<const Loaded> current() const;

  std::string cert_path_;
  std::string key_path_;
  mutable std::mutex mu_;
  std::shared_ptr<const Loaded> current_;
  std::string identity_;  // of the files last loaded
  uint64_t generation_ = 0;
};

}  // namespace ifo::webhook
