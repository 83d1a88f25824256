// The HTTP seam of the Infisical client: libcurl in production, a fake in unit tests.
#pragma once

#include <memory>
#include <string>

#include "net/http_client.h"

namespace ifo::infisical {

class Transport {
 public:
  virtual ~Transport() = default;
  // Throws net::TransportError when no HTTP response arrived.
  virtual net::Response perform(const net::Request& request) = 0;
  // Closes the idle pooled connections (net::HttpClient::close_idle); a no-op without a pool.
  virtual void close_idle() {}
};

// One pooled libcurl client (connections and TLS sessions reused across requests). With an enabled
// address policy, a host that resolves into a refused range fails with net::AddressRefusedError.
class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(net::TlsOptions tls = {}, std::string user_agent = net::HttpClient::default_user_agent(),
                         net::AddressPolicy policy = {})
      : client_(std::move(tls), std::move(user_agent), std::move(policy)) {}
  net::Response perform(const net::Request& request) override { return client_.perform(request); }
  void close_idle() override { client_.close_idle(); }

 private:
  net::HttpClient client_;
};

// Makes the transport for one Infisical host and CA bundle (ca_pem empty: system trust store).
using TransportFactory = std::function<std::shared_ptr<Transport>(const std::string& base_url, const std::string& ca_pem)>;

}  // namespace ifo::infisical
