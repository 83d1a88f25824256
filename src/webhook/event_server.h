// An event-driven HTTPS/1.1 server: a fixed set of epoll loop threads, each serving many keep-alive
// TLS connections with non-blocking OpenSSL and answering every request on the thread that read it.
// No thread per connection and no hand-off per request: the AdmissionReview handlers are in-memory
// work of a few microseconds, so the cost that matters is the TLS and socket work around them.
//
// What it enforces on its own: a request-head size limit (431), a body limit checked against
// Content-Length before the body is read (413), Content-Length framing only (chunked bodies get 411),
// `Expect: 100-continue`, HTTP/1.1 keep-alive and pipelining, HTTP/1.0 one request per connection,
// timeouts for the handshake and each request (read), each answer (write) and idle connections.
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
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/result.h"

namespace ifo::webhook {

struct HttpRequest {
  std::string_view method;
  std::string_view path;  // the target without its query string
  std::string_view content_type;
  std::string_view body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Answers one complete request on the loop thread that read it: it must not block for long (other
// connections of that loop wait meanwhile). An exception escaping it is answered with a plain 500.
using RequestHandler = std::function<void(const HttpRequest&, HttpResponse&)>;
// Fills the answer to a request refused before it reached the handler (400 malformed, 411, 413,
// 431, 505). `path` is empty when the request line could not be read.
using RefusalHandler = std::function<void(std::string_view path, int status, std::string_view message, HttpResponse&)>;

struct EventServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 0;  // 0: an ephemeral port
  int threads = 2;
  size_t max_body_bytes = 7 * 1024 * 1024;
  size_t max_head_bytes = 64 * 1024;
  size_t max_connections = 1024;
  std::chrono::milliseconds read_timeout{10000};   // for the handshake and for each request once begun
  std::chrono::milliseconds write_timeout{10000};  // for each answer
  // An idle keep-alive connection is closed after this. Longer than Go's default idle timeout for
  // client connections (90 s), so the API server closes first and never sends into a closing one.
  std::chrono::milliseconds idle_timeout{120000};
};

// Reason phrase of an HTTP status code ("Unknown" for codes it does not know).
std::string_view reason_phrase(int status);

class EventServer {
 public:
  // `tls` is shared (reference counted) and must be fully configured (certificate callback,
  // protocol versions); the server adds the modes non-blocking I/O needs.
  EventServer(EventServerOptions options, SSL_CTX* tls, RequestHandler handler, RefusalHandler refusal);
  ~EventServer();
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  // Binds and listens; the port (the ephemeral one when options.port is 0).
  core::Result<int> listen();
  // Starts the loop threads (after listen()).
  void start();
  // Stops accepting, lets the answers in progress finish (at most a few seconds), closes every
  // connection and joins the threads. Idempotent.
  void stop();

  // Open connections (for tests and metrics).
  size_t connections() const { return open_connections_.load(); }

 private:
  struct Connection;
  struct Loop;
  void run(Loop& loop);
  void accept_ready(Loop& loop);
  void adopt(Loop& loop, int fd);
  void drive(Loop& loop, Connection& c, bool readable, bool writable);
  bool answer_buffered(Loop& loop, Connection& c);
  void refuse(Loop& loop, Connection& c, std::string_view path, int status, std::string_view message);
  void queue_response(Loop& loop, Connection& c, const HttpResponse& r, bool close);
  void begin_lingering_close(Loop& loop, Connection& c);
  void drain_lingering(Loop& loop, Connection& c);
  void set_interest(Loop& loop, Connection& c, uint32_t events);
  static void close_notify(Connection& c);  // TLS close_notify
  void close_connection(Loop& loop, int fd);
  void sweep_deadlines(Loop& loop);

  EventServerOptions options_;
  SSL_CTX* tls_;
  RequestHandler handler_;
  RefusalHandler refusal_;
  int listen_fd_ = -1;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<size_t> next_loop_{0};
  std::atomic<size_t> open_connections_{0};
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace ifo::webhook
