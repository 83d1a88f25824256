// Plain-HTTP endpoints of the syncer: Prometheus /metrics, and /healthz and /readyz probes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "syncer/config.h"
#include "syncer/metrics.h"

namespace httplib {
class Server;
}

namespace ifo::syncer {

// One listening server; the paths it serves are chosen at construction. Binding port 0 picks a free
// port, read back with port().
class EndpointServer {
 public:
  struct Handlers {
    const Metrics* metrics = nullptr;       // serves /metrics when set
    std::function<bool()> healthy;          // serves /healthz when set
    std::function<bool()> ready;            // serves /readyz when set
  };
  EndpointServer(const BindAddress& address, Handlers handlers);  // throws std::runtime_error if it cannot bind
  ~EndpointServer();
  EndpointServer(const EndpointServer&) = delete;
  EndpointServer& operator=(const EndpointServer&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return host_; }
  void stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
};

}  // namespace ifo::syncer
