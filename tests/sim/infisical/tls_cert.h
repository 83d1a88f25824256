// A throwaway CA and a loopback serving certificate for infisical-sim's HTTPS mode, so clients can be
// tested with a custom CA bundle (tls.caRef) exactly as against a self-hosted Infisical.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>

namespace ifo::sim {

struct TlsMaterial {
  std::string ca_pem;          // what a client must trust
  std::string cert_pem;        // serving certificate (SAN: the host IP, 127.0.0.1, localhost)
  std::string key_pem;         // its private key
};

// ECDSA P-256 CA (valid one day) and a serving certificate it signs. Throws std::runtime_error.
TlsMaterial make_self_signed_tls(const std::string& host);

// An HTTPS cpp-httplib server presenting that certificate.
std::unique_ptr<httplib::Server> make_tls_server(const TlsMaterial& tls);

}  // namespace ifo::sim
