// ECDSA P-256 CA and serving certificates: generation and inspection, pure OpenSSL (no API, no clock).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ifo::certsgen {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::sys_seconds;

struct KeyCert {
  std::string cert_pem;
  std::string key_pem;
};

// Generates a self-signed CA valid from `not_before` for `validity`.
core::Result<KeyCert> generate_ca(std::string_view common_name, TimePoint not_before,
                                  std::chrono::seconds validity);

struct ServingRequest {
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // IPv4 or IPv6 text
  TimePoint not_before;
  std::chrono::seconds validity{};
};

// Issues a serving (serverAuth) certificate signed by `ca`.
core::Result<KeyCert> issue_serving(const KeyCert& ca, const ServingRequest& request);

struct CertInfo {
  std::string subject;
  std::string issuer;
  TimePoint not_before;
  TimePoint not_after;
  bool is_ca = false;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // canonical text form
  std::string pem;  // this certificate alone
};

// Parses every certificate of a PEM bundle (at least one is required).
core::Result<std::vector<CertInfo>> parse_certificates(std::string_view pem);
// Parses a PEM private key; the error says why without echoing the key.
core::Result<bool> check_private_key(std::string_view key_pem);
// Does the private key belong to the (first) certificate?
bool key_matches(std::string_view cert_pem, std::string_view key_pem);
// Is `cert_pem` signed by `ca_pem` (signature verified, issuer name matches)?
bool issued_by(std::string_view cert_pem, std::string_view ca_pem);

// The DNS names a Service is reached under inside the cluster.
std::vector<std::string> service_dns_names(std::string_view service, std::string_view ns);

// Normalises an IP address text (so "::1" and "0:0::1" compare equal); empty when not an IP.
std::string canonical_ip(std::string_view text);

}  // namespace ifo::certsgen
