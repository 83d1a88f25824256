// An event-driven HTTPS/1.1 server: a fixed set of epoll loop threads, each serving many keep-alive
// TLS connections with non-blocking OpenSSL and answering every request on the thread that read it.
// No thread per connection and no hand-off per request: the AdmissionReview handlers are in-memory
// work of a few microseconds, so the cost that matters is the TLS and socket work around them. A
// handler that must wait (a SubjectAccessReview) defers its answer (HttpRequest::defer); it comes
// back to the same loop through that loop's mailbox (deferred_reply.h) and the loop never blocks.
//
// What it enforces on its own (the framing rules live in http_framing.h): a request-head size limit
// (431), a body limit checked against Content-Length before the body is read (413), Content-Length
// framing only (chunked bodies get 411), `Expect: 100-continue`, HTTP/1.1 keep-alive and pipelining,
// HTTP/1.0 one request per connection, timeouts for the handshake and each request (read), each
// answer (write) and idle connections. Against hostile load: a cap on connections in all and per
// peer address (an extra one is closed at accept), and a budget of request bytes buffered across
// all connections (a request that would pass it is answered 503 before its body is read).
// Connections refused for bad framing are answered, then closed gracefully (TLS close_notify,
// then the rest of what the client sends is read and dropped for a moment, so the answer is not
// lost to a TCP reset).
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "webhook/deferred_reply.h"
#include "webhook/http_framing.h"
#include "webhook/unique_fd.h"

namespace spdlog {
class logger;
}

namespace ifo::webhook {

struct HttpRequest {
  std::string_view method;
  std::string_view path;  // the target without its query string
  std::string_view content_type;
  std::string_view body;  // valid only while the handler runs: a deferring handler copies what it needs
  Deferral* deferral = nullptr;

  // Makes this request's answer the one the returned DeferredReply gives later (the HttpResponse the
  // handler fills is then ignored). The connection reads nothing more until that answer is written;
  // it is closed if none comes before the read timeout. Outside a server: a DeferredReply that
  // answers nothing.
  DeferredReply defer() const {
    if (deferral == nullptr) return {};
    deferral->taken = true;
    return DeferredReply(deferral->mailbox, deferral->request, deferral->fd);
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Answers one complete request on the loop thread that read it: it must not block for long (other
// connections of that loop wait meanwhile); what must wait is deferred (HttpRequest::defer). An
// exception escaping it is answered with a plain 500.
using RequestHandler = std::function<void(const HttpRequest&, HttpResponse&)>;
// Fills the answer to a request refused before it reached the handler (400 malformed, 411, 413,
// 431, 505). `path` is empty when the request line could not be read.
using RefusalHandler = std::function<void(std::string_view path, int status, std::string_view message, HttpResponse&)>;

struct EventServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 0;  // 0: an ephemeral port
  int threads = 2;
  // The API server sends at most 3 MiB (its own request body limit), so a larger body is no
  // AdmissionReview it could have sent.
  size_t max_body_bytes = 3 * 1024 * 1024;
  size_t max_head_bytes = 64 * 1024;
  size_t max_connections = 1024;
  // Connections from one source address; the API server's replicas each keep a handful.
  size_t max_connections_per_peer = 64;
  // Request bytes (head and declared body) buffered across all connections, reserved when a head is
  // read. Requests over kSmallRequestBytes may fill only three quarters of it, so small ones (every
  // ordinary AdmissionReview) still find room while large declared bodies hold the rest.
  size_t max_buffered_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{10000};   // for the handshake and for each request once begun
  std::chrono::milliseconds write_timeout{10000};  // for each answer
  // An idle keep-alive connection is closed after this. Longer than Go's default idle timeout for
  // client connections (90 s), so the API server closes first and never sends into a closing one.
  std::chrono::milliseconds idle_timeout{120000};
};

// A request of at most this many bytes (head and body) may use the whole buffered-bytes budget.
inline constexpr size_t kSmallRequestBytes = 256 * 1024;

// What the server turned away, for tests and metrics.
struct EventServerStats {
  uint64_t refused_peer_limit = 0;        // connections closed at accept: their address had its cap
  uint64_t refused_connection_limit = 0;  // connections closed at accept: the server had max_connections
  uint64_t refused_over_budget = 0;       // requests answered 503: the buffered-bytes budget was full
  size_t buffered_bytes = 0;              // request bytes reserved now
};

class EventServer {
 public:
  // `tls` is shared (reference counted) and must be fully configured (certificate callback,
  // protocol versions); the server adds the modes non-blocking I/O needs.
  // `log` (optional) gets system-call failures and refusals; none: they are counted only.
  EventServer(EventServerOptions options, SSL_CTX* tls, RequestHandler handler, RefusalHandler refusal,
              std::shared_ptr<spdlog::logger> log = nullptr);
  ~EventServer();
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  // Binds and listens; the port (the ephemeral one when options.port is 0).
  core::Result<int> listen();
  // Creates the loops and starts their threads (after listen()).
  core::Result<bool> start();
  // Stops accepting, lets the answers in progress finish (at most a few seconds), closes every
  // connection and joins the threads. Idempotent.
  void stop();

  // Open connections (for tests and metrics).
  size_t connections() const { return open_connections_.load(); }
  EventServerStats stats() const;

 private:
  struct Connection;
  struct Loop;
  class Slot;
  struct Accepted;
  void run(Loop& loop);
  void begin_draining(Loop& loop);
  void accept_ready(Loop& loop);
  void pause_accepting(Loop& loop);
  void hand_off(Loop& loop, Accepted accepted);
  void adopt(Loop& loop, Accepted accepted);
  bool admit(const std::string& peer);
  void release_slot(const std::string& peer);
  bool reserve(size_t bytes);
  void release_reservation(Connection& c);
  void wake(Loop& loop);
  void drive(Loop& loop, Connection& c, bool readable, bool writable);
  bool answer_buffered(Loop& loop, Connection& c);
  void answer_deferred(Loop& loop, ReplyMailbox::Letter& letter);
  void refuse(Loop& loop, Connection& c, std::string_view path, int status, std::string_view message);
  void queue_response(Loop& loop, Connection& c, const HttpResponse& r, bool close);
  void begin_lingering_close(Loop& loop, Connection& c);
  void drain_lingering(Loop& loop, Connection& c);
  // Waits for `events` on the connection; when epoll refuses, closes it (it is gone then).
  void set_interest(Loop& loop, Connection& c, uint32_t events);
  static void close_notify(Connection& c);  // TLS close_notify
  void close_connection(Loop& loop, int fd);
  void sweep_deadlines(Loop& loop);

  EventServerOptions options_;
  SslCtxPtr tls_;
  RequestHandler handler_;
  RefusalHandler refusal_;
  std::shared_ptr<spdlog::logger> log_;
  UniqueFd listen_fd_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<size_t> next_loop_{0};
  std::atomic<size_t> open_connections_{0};
  std::atomic<size_t> buffered_bytes_{0};
  std::atomic<uint64_t> refused_peer_limit_{0};
  std::atomic<uint64_t> refused_connection_limit_{0};
  std::atomic<uint64_t> refused_over_budget_{0};
  std::mutex peers_mu_;
  std::unordered_map<std::string, size_t> peers_;  // open connections by source address (raw bytes)
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace ifo::webhook
