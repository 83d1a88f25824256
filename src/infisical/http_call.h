// One HTTP exchange of the client: timeouts, request counters by endpoint and status, transport failures
// turned into ApiError. Internal to src/infisical.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "infisical/errors.h"
#include "infisical/metrics.h"
#include "infisical/transport.h"

namespace ifo::infisical {

struct HttpCall {
  Transport& transport;
  Metrics& metrics;
  const core::Clock& clock;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};
  std::size_t max_response_bytes = 0;  // 0: no limit (ClientOptions::max_response_bytes)

  // `endpoint` is the route template for the counters; `what` names the attempt in errors.
  net::Response send(net::Request request, const std::string& endpoint, std::string_view what) const {
    if (request.connect_timeout == net::Request{}.connect_timeout) request.connect_timeout = connect_timeout;
    if (request.total_timeout == net::Request{}.total_timeout) request.total_timeout = total_timeout;
    if (request.max_response_bytes == 0) request.max_response_bytes = max_response_bytes;
    try {
      net::Response r = transport.perform(request);
      metrics.requests.add(endpoint, static_cast<int>(r.status));
      return r;
    } catch (const net::TransportError& e) {
      metrics.requests.add(endpoint, 0);
      throw error_from_transport(what, e);
    }
  }
};

}  // namespace ifo::infisical
