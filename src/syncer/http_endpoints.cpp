// cpp-httplib server for metrics and probes.
#include "syncer/http_endpoints.h"

#include <httplib.h>

#include <stdexcept>

namespace ifo::syncer {

EndpointServer::EndpointServer(const BindAddress& address, Handlers handlers)
    : server_(std::make_unique<httplib::Server>()), host_(address.host) {
  if (handlers.metrics) {
    const Metrics* m = handlers.metrics;
    // Streamed piece by piece (chunked): the whole text at 10,000 resources is about 2 MiB, and
    // rendering it into one string first added 4-7 MiB to the syncer's peak RSS at a scrape.
    server_->Get("/metrics", [m](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "text/plain; version=0.0.4; charset=utf-8", [m](size_t, httplib::DataSink& sink) {
            const bool sent = m->render_to(
                [&sink](std::string_view piece) { return sink.write(piece.data(), piece.size()); });
            if (sent) sink.done();
            return sent;
          });
    });
  }
  auto probe = [](std::function<bool()> check) {
    return [check = std::move(check)](const httplib::Request&, httplib::Response& res) {
      bool ok = check();
      res.status = ok ? 200 : 503;
      res.set_content(ok ? "ok\n" : "not ready\n", "text/plain");
    };
  };
  if (handlers.healthy) server_->Get("/healthz", probe(handlers.healthy));
  if (handlers.ready) server_->Get("/readyz", probe(handlers.ready));
  if (address.port == 0) {
    port_ = server_->bind_to_any_port(address.host);
  } else {
    port_ = server_->bind_to_port(address.host, address.port) ? address.port : -1;
  }
  if (port_ <= 0)
    throw std::runtime_error("cannot listen on " + address.host + ":" + std::to_string(address.port));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

EndpointServer::~EndpointServer() { stop(); }

void EndpointServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ifo::syncer
