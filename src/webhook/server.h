// The webhook's two listeners: HTTPS for AdmissionReviews (an EventServer: a fixed set of event-loop
// threads, body limit, timeouts, certificate hot reload) and plain HTTP for /healthz, /readyz and
// /metrics (cpp-httplib: a handful of probe requests).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "core/result.h"
#include "webhook/admission.h"
#include "webhook/async_authorizer.h"
#include "webhook/async_trust_lookup.h"
#include "webhook/cert_store.h"
#include "webhook/deferred_validation.h"
#include "webhook/event_server.h"
#include "webhook/metrics.h"

namespace spdlog {
class logger;
}
namespace httplib {
class Server;
}  // namespace httplib

namespace ifo::webhook {

// The API server's own request body limit (3 MiB): no AdmissionReview it sends is larger.
inline constexpr size_t kMaxBodyBytes = 3 * 1024 * 1024;

struct ServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 9443;         // 0: an ephemeral port (read back with port())
  int health_port = 8081;  // 0: ephemeral; -1: no health listener
  // Event-loop threads serving HTTPS; each serves many keep-alive connections. No request holds its
  // loop for an API call: SubjectAccessReviews and trust lookups are asked off the loops (see the
  // constructor).
  int workers = 4;
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds write_timeout{10};
  std::chrono::seconds idle_timeout{120};  // longer than Go's 90 s, so the API server closes first
  std::chrono::milliseconds cert_poll_interval{2000};
  // Against hostile load (see EventServerOptions): connections from one address, and request bytes
  // buffered across all connections (the chart's memory limit is 128 MiB).
  size_t max_connections_per_peer = 64;
  size_t max_buffered_bytes = 64 * 1024 * 1024;
  // On stop(), /readyz answers 503 and HTTPS keeps serving this long before the listener closes, so
  // the endpoint leaves the Service before connections are refused. 0: close at once.
  std::chrono::milliseconds shutdown_grace{0};
};

class WebhookServer {
 public:
  // `readiness` returns "" when ready, else why not (served by /readyz with 503). With an
  // `authorizer`, /validate asks it the requesting user's rights without blocking (DeferredValidation)
  // instead of the handler's own blocking Authorizer; with `trust` as well, the trust lookups memory
  // does not hold are made off the loops too, instead of by the handler's own TrustLookup.
  WebhookServer(ServerOptions options, const AdmissionHandler& handler, CertStore& certs, Metrics& metrics,
                std::function<std::string()> readiness, std::shared_ptr<spdlog::logger> log,
                AsyncAuthorizer* authorizer = nullptr, AsyncTrustLookup* trust = nullptr);
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Loads the certificate, binds both ports and starts serving on background threads.
  core::Result<bool> start();
  // Marks the server not ready and keeps serving for the shutdown grace, then stops accepting, lets
  // in-flight requests finish and joins the threads. Idempotent.
  void stop();

  int port() const { return port_; }
  int health_port() const { return health_port_; }
  // What the HTTPS listener turned away and holds now (zeros before start()).
  EventServerStats https_stats() const { return https_ ? https_->stats() : EventServerStats{}; }
  size_t https_connections() const { return https_ ? https_->connections() : 0; }

 private:
  void poll_certificates();
  void install_routes();
  void answer(const HttpRequest& req, HttpResponse& res);
  // Runs one attempt at an admission reply; an exception becomes a 500 reply.
  template <typename Attempt>
  Reply guarded(std::string_view path, Attempt&& attempt) const;
  // Fills the HTTP answer from the reply and records it in the metrics.
  void finish(std::string_view path, Reply reply, HttpResponse& res, std::chrono::steady_clock::time_point started) const;
  void refuse(std::string_view path, int status, std::string_view message, HttpResponse& res);

  ServerOptions options_;
  const AdmissionHandler& handler_;
  std::optional<DeferredValidation> deferred_;
  CertStore& certs_;
  Metrics& metrics_;
  std::function<std::string()> readiness_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<EventServer> https_;
  std::unique_ptr<httplib::Server> health_;
  std::thread health_thread_;
  std::thread poll_thread_;
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stopping_ = false;
  std::atomic<bool> draining_{false};  // stop() has begun: /readyz answers 503
  int port_ = 0;
  int health_port_ = 0;
};

}  // namespace ifo::webhook
