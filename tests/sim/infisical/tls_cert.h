// A throwaway CA and a loopback serving certificate for infisical-sim's HTTPS mode, so clients can be
// tested with a custom CA bundle (tls.caRef) exactly as against a self-hosted Infisical.
#pragma once

#include "test_tls.h"

#include <string>

namespace ifo::sim {

// ca_pem: what a client must trust; cert_pem: the serving certificate; key_pem: its private key.
using TlsMaterial = testing::TestCertificate;

// ECDSA P-256 CA (valid one day) and a serving certificate it signs, with subjectAltNames 127.0.0.1,
// localhost and `host` (as an IP or DNS name). Throws std::runtime_error.
TlsMaterial make_self_signed_tls(const std::string& host);

}  // namespace ifo::sim
