// Test-only TLS material: a throwaway CA and a serving certificate for given DNS names / IPs, and an
// httplib::SSLServer built from them (for webhook and other HTTPS fixtures on loopback, and for
// infisical-sim's HTTPS mode).
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ifo::testing {

struct TestCertificate {
  std::string ca_pem;    // the CA certificate that signed cert_pem
  std::string cert_pem;  // leaf certificate with the requested subjectAltNames
  std::string key_pem;   // leaf private key (PKCS#8 PEM)
};

// A fresh ECDSA P-256 CA and leaf valid for one day; throws std::runtime_error on OpenSSL failure. The CA's
// name is ca_name_prefix plus a random suffix, so two test CAs are never mistaken for each other by name.
// The leaf's CN is the first DNS name ("localhost" when there is none).
TestCertificate make_test_certificate(const std::vector<std::string>& dns_names, const std::vector<std::string>& ips,
                                      std::string_view ca_name_prefix = "kube-sim test CA");

// An SSLServer serving `cert`; throws std::runtime_error when the PEM cannot be loaded.
std::unique_ptr<httplib::SSLServer> make_tls_server(const TestCertificate& cert);

}  // namespace ifo::testing
