// infisical-sim's serving certificate, from the shared test certificate helper.
#include "tls_cert.h"

#include <vector>

namespace ifo::sim {

TlsMaterial make_self_signed_tls(const std::string& host) {
  std::vector<std::string> dns{"localhost"};
  std::vector<std::string> ips{"127.0.0.1"};
  if (host != "127.0.0.1" && !host.empty()) {
    (host.find_first_not_of("0123456789.") == std::string::npos ? ips : dns).push_back(host);
  }
  return testing::make_test_certificate(dns, ips, "infisical-sim test CA");
}

}  // namespace ifo::sim
