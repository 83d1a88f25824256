// EventServer: epoll loops over non-blocking OpenSSL connections (see event_server.h).
#include "webhook/event_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/text.h"

namespace ifo::webhook {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenTag = 1;
constexpr uint64_t kWakeTag = 2;
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kKeepBufferBytes = 256 * 1024;  // larger input buffers are released after their request
constexpr auto kSweepInterval = std::chrono::milliseconds(250);
constexpr auto kLingerTime = std::chrono::milliseconds(2000);
constexpr auto kStopGrace = std::chrono::milliseconds(5000);
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

// A piece of the connection's input buffer (offsets survive the buffer growing).
struct Span {
  size_t off = 0;
  size_t len = 0;
  std::string_view in(const std::string& s) const { return std::string_view(s).substr(off, len); }
};

struct Head {
  Span method;
  Span path;
  Span content_type;
  bool close = false;
  bool expect_continue = false;
  uint64_t content_length = 0;
};

using core::iequals_ascii;

// HTTP's optional whitespace around header values and list items (RFC 9110 OWS).
std::string_view trim_ows(std::string_view s) { return core::trim(s, " \t"); }

// RFC 9110 tchar.
bool is_token_char(char ch) {
  static constexpr auto kToken = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = t[static_cast<size_t>(c - 'a' + 'A')] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  return kToken[static_cast<unsigned char>(ch)];
}

// Parses the request line and headers in text[0, end) (the head without its closing blank line).
// Returns 0 when well formed, else the status to refuse with and why in `why`.
int parse_head(std::string_view text, Head& h, std::string& why) {
  size_t line_end = text.find("\r\n");
  std::string_view line = text.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    why = "malformed request line";
    return 400;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), is_token_char)) {
    why = "malformed request method";
    return 400;
  }
  if (target.empty() || target.front() != '/') {
    why = "the request target must be a path";
    return 400;
  }
  if (version == "HTTP/1.0") {
    h.close = true;
  } else if (version != "HTTP/1.1") {
    why = fmt::format("HTTP version {:?} is not supported (HTTP/1.1 only)", version.substr(0, 16));
    return version.substr(0, 5) == "HTTP/" ? 505 : 400;
  }
  h.method = {0, sp1};
  h.path = {sp1 + 1, std::min(target.size(), target.find('?'))};

  std::optional<uint64_t> length;
  bool transfer_encoding = false;
  size_t pos = line_end == std::string_view::npos ? text.size() : line_end + 2;
  while (pos < text.size()) {
    size_t end = text.find("\r\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view header = text.substr(pos, end - pos);
    const size_t colon = header.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      why = "malformed header line";
      return 400;
    }
    std::string_view name = header.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) {
      why = fmt::format("malformed header name {:?}", name.substr(0, 64));
      return 400;
    }
    std::string_view value = trim_ows(header.substr(colon + 1));
    if (iequals_ascii(name, "content-length")) {
      if (value.empty() || value.size() > 18 || !std::all_of(value.begin(), value.end(), [](char ch) {
            return ch >= '0' && ch <= '9';
          })) {
        why = "Content-Length is not a number";
        return 400;
      }
      uint64_t n = 0;
      std::from_chars(value.data(), value.data() + value.size(), n);  // at most 18 digits: it fits
      if (length && *length != n) {
        why = "conflicting Content-Length headers";
        return 400;
      }
      length = n;
    } else if (iequals_ascii(name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (iequals_ascii(name, "connection")) {
      size_t from = 0;
      while (from <= value.size()) {
        size_t comma = value.find(',', from);
        if (comma == std::string_view::npos) comma = value.size();
        if (iequals_ascii(trim_ows(value.substr(from, comma - from)), "close")) h.close = true;
        from = comma + 1;
      }
    } else if (iequals_ascii(name, "expect")) {
      if (!iequals_ascii(value, "100-continue")) {
        why = fmt::format("Expect {:?} is not supported", value.substr(0, 64));
        return 417;
      }
      h.expect_continue = true;
    } else if (iequals_ascii(name, "content-type") && h.content_type.len == 0) {
      h.content_type = {static_cast<size_t>(value.data() - text.data()), value.size()};
    }
    pos = end + 2;
  }
  if (transfer_encoding) {
    why = length ? "both Transfer-Encoding and Content-Length are set"
                 : "request bodies must be sent with Content-Length (Transfer-Encoding is not accepted)";
    return length ? 400 : 411;
  }
  h.content_length = length.value_or(0);
  return 0;
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

struct EventServer::Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  std::string in;
  size_t scanned = 0;  // bytes of `in` already searched for the end of the head
  bool head_done = false;
  Head head;
  size_t body_start = 0;
  std::string out;
  size_t out_off = 0;
  bool close_after = false;  // close once `out` is written
  bool lingering = false;    // answered and shut down; reading and dropping what the client still sends
  bool read_wants_write = false;
  uint32_t events = 0;
  Clock::time_point deadline;
  bool writing() const { return out_off < out.size(); }
  bool idle() const { return in.empty() && !head_done && !writing(); }
};

struct EventServer::Loop {
  int epoll_fd = -1;
  int wake_fd = -1;
  std::thread thread;
  std::unordered_map<int, std::unique_ptr<Connection>> conns;
  std::mutex inbox_mu;
  std::vector<int> inbox;  // accepted by another loop, handed to this one
  Clock::time_point now;
  Clock::time_point last_sweep;
  Clock::time_point accept_paused_until;
  bool accept_paused = false;
  bool draining = false;
  Clock::time_point stop_deadline;
  std::vector<char> buf = std::vector<char>(kReadChunk);
};

EventServer::EventServer(EventServerOptions options, SSL_CTX* tls, RequestHandler handler, RefusalHandler refusal)
    : options_(std::move(options)), tls_(tls), handler_(std::move(handler)), refusal_(std::move(refusal)) {
  SSL_CTX_up_ref(tls_);
  SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One read takes every record the socket holds, not a record header and then its body.
  SSL_CTX_set_read_ahead(tls_, 1);
  if (options_.threads < 1) options_.threads = 1;
}

EventServer::~EventServer() {
  stop();
  SSL_CTX_free(tls_);
}

core::Result<int> EventServer::listen() {
  using R = core::Result<int>;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  const char* host = options_.bind_address.empty() ? nullptr : options_.bind_address.c_str();
  if (int rc = getaddrinfo(host, port.c_str(), &hints, &found); rc != 0)
    return R::fail(fmt::format("cannot listen on {}:{}: {}", options_.bind_address, port, gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, &freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return R::fail(fmt::format("cannot create a socket: {}", std::strerror(errno)));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
    const int err = errno;
    ::close(fd);
    return R::fail(fmt::format("cannot listen on {}:{}: {}", options_.bind_address, port, std::strerror(err)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  listen_fd_ = fd;
  if (bound.ss_family == AF_INET6) return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port));
  return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
}

void EventServer::start() {
  if (started_ || listen_fd_ < 0) return;
  started_ = true;
  for (int i = 0; i < options_.threads; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.u64 = kWakeTag;
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &wake);
    // Every loop waits on the listening socket; EPOLLEXCLUSIVE wakes one of them per connection.
    epoll_event accept{};
    accept.events = EPOLLIN | EPOLLEXCLUSIVE;
    accept.data.u64 = kListenTag;
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, listen_fd_, &accept);
    loops_.push_back(std::move(loop));
  }
  for (auto& loop : loops_) loop->thread = std::thread([this, l = loop.get()] { run(*l); });
}

void EventServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  for (auto& loop : loops_) {
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(loop->wake_fd, &one, sizeof one);
  }
  // All loops end before any inbox is emptied: a loop still accepting may hand a connection to a
  // loop that has already ended.
  for (auto& loop : loops_)
    if (loop->thread.joinable()) loop->thread.join();
  for (auto& loop : loops_) {
    for (int fd : loop->inbox) ::close(fd);
    loop->inbox.clear();
    ::close(loop->epoll_fd);
    ::close(loop->wake_fd);
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void EventServer::run(Loop& loop) {
  // A write to a connection the peer closed fails with EPIPE instead of killing the process.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

  std::array<epoll_event, 128> events{};
  loop.now = loop.last_sweep = Clock::now();
  for (;;) {
    const int n = epoll_wait(loop.epoll_fd, events.data(), static_cast<int>(events.size()), 250);
    if (n < 0 && errno != EINTR) break;
    loop.now = Clock::now();
    for (int i = 0; i < n; ++i) {
      const epoll_event& e = events[static_cast<size_t>(i)];
      if (e.data.u64 == kListenTag) {
        if (!stopping_.load(std::memory_order_relaxed)) accept_ready(loop);
      } else if (e.data.u64 == kWakeTag) {
        uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(loop.wake_fd, &count, sizeof count);
        std::vector<int> fds;
        {
          std::lock_guard lock(loop.inbox_mu);
          fds.swap(loop.inbox);
        }
        for (int fd : fds) adopt(loop, fd);
      } else {
        auto* c = static_cast<Connection*>(e.data.ptr);
        if (c->lingering) {
          drain_lingering(loop, *c);
        } else {
          const bool failed = (e.events & (EPOLLERR | EPOLLHUP)) != 0;
          drive(loop, *c, failed || (e.events & EPOLLIN) != 0, failed || (e.events & EPOLLOUT) != 0);
        }
      }
    }
    if (stopping_.load(std::memory_order_relaxed)) {
      if (!loop.draining) {
        loop.draining = true;
        loop.stop_deadline = loop.now + kStopGrace;
        epoll_ctl(loop.epoll_fd, EPOLL_CTL_DEL, listen_fd_, nullptr);
        std::vector<int> close_now;
        for (auto& [fd, c] : loop.conns) {
          if (c->idle() && !c->lingering) close_notify(*c);
          if (c->idle() || c->lingering) close_now.push_back(fd);
          else c->close_after = true;  // a request in progress is answered, then the connection closes
        }
        for (int fd : close_now) close_connection(loop, fd);
      }
      if (loop.conns.empty() || loop.now >= loop.stop_deadline) break;
    }
    if (loop.now - loop.last_sweep >= kSweepInterval) sweep_deadlines(loop);
  }
  std::vector<int> all;
  for (auto& [fd, c] : loop.conns) all.push_back(fd);
  for (int fd : all) close_connection(loop, fd);
}

void EventServer::accept_ready(Loop& loop) {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop waiting on the listener for a moment instead of spinning on it.
        epoll_ctl(loop.epoll_fd, EPOLL_CTL_DEL, listen_fd_, nullptr);
        loop.accept_paused = true;
        loop.accept_paused_until = loop.now + kAcceptPause;
      }
      return;
    }
    if (open_connections_.load() >= options_.max_connections) {
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    open_connections_.fetch_add(1);
    // Round robin over the loops, so both cores serve whatever the order of wake-ups.
    Loop& target = *loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
    if (&target == &loop) {
      adopt(loop, fd);
    } else {
      {
        std::lock_guard lock(target.inbox_mu);
        target.inbox.push_back(fd);
      }
      const uint64_t one_event = 1;
      [[maybe_unused]] auto w = ::write(target.wake_fd, &one_event, sizeof one_event);
    }
  }
}

void EventServer::adopt(Loop& loop, int fd) {
  if (loop.draining) {
    ::close(fd);
    open_connections_.fetch_sub(1);
    return;
  }
  SSL* ssl = SSL_new(tls_);
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    ERR_clear_error();
    if (ssl) SSL_free(ssl);
    ::close(fd);
    open_connections_.fetch_sub(1);
    return;
  }
  SSL_set_accept_state(ssl);
  auto c = std::make_unique<Connection>();
  c->fd = fd;
  c->ssl = ssl;
  c->deadline = loop.now + options_.read_timeout;
  c->events = EPOLLIN;
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.ptr = c.get();
  if (epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, fd, &e) != 0) {
    SSL_free(ssl);
    ::close(fd);
    open_connections_.fetch_sub(1);
    return;
  }
  loop.conns.emplace(fd, std::move(c));
}

void EventServer::set_interest(Loop& loop, Connection& c, uint32_t events) {
  if (c.events == events) return;
  epoll_event e{};
  e.events = events;
  e.data.ptr = &c;
  epoll_ctl(loop.epoll_fd, EPOLL_CTL_MOD, c.fd, &e);
  c.events = events;
}

void EventServer::drive(Loop& loop, Connection& c, bool readable, bool writable) {
  bool try_read = readable || (c.read_wants_write && writable);
  for (;;) {
    if (c.writing()) {
      size_t written = 0;
      const int rc = SSL_write_ex(c.ssl, c.out.data() + c.out_off, c.out.size() - c.out_off, &written);
      if (rc == 1) {
        c.out_off += written;
        if (c.writing()) continue;
        c.out.clear();
        c.out_off = 0;
        if (c.close_after) {
          begin_lingering_close(loop, c);
          return;
        }
        c.deadline = loop.now + (c.in.empty() ? options_.idle_timeout : options_.read_timeout);
        continue;
      }
      const int err = SSL_get_error(c.ssl, rc);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        set_interest(loop, c, err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
        return;
      }
      close_connection(loop, c.fd);
      return;
    }
    if (answer_buffered(loop, c)) continue;
    if (!try_read && SSL_has_pending(c.ssl) == 0) break;
    try_read = false;
    size_t got = 0;
    const int rc = SSL_read_ex(c.ssl, loop.buf.data(), loop.buf.size(), &got);
    if (rc == 1) {
      if (c.in.empty() && !c.head_done) c.deadline = loop.now + options_.read_timeout;  // a request begins
      c.in.append(loop.buf.data(), got);
      c.read_wants_write = false;
      continue;
    }
    const int err = SSL_get_error(c.ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      c.read_wants_write = err == SSL_ERROR_WANT_WRITE;
      break;
    }
    // The peer closed (with or without close_notify), reset, or broke the TLS protocol.
    close_connection(loop, c.fd);
    return;
  }
  set_interest(loop, c, c.read_wants_write ? EPOLLOUT : EPOLLIN);
}

bool EventServer::answer_buffered(Loop& loop, Connection& c) {
  if (!c.head_done) {
    if (c.in.empty()) return false;
    const size_t from = c.scanned > 3 ? c.scanned - 3 : 0;
    const size_t end = c.in.find("\r\n\r\n", from);
    if (end == std::string::npos || end + 4 > options_.max_head_bytes) {
      c.scanned = c.in.size();
      if (c.in.size() <= options_.max_head_bytes) return false;
      refuse(loop, c, "", 431, fmt::format("request head larger than {} bytes", options_.max_head_bytes));
      return true;
    }
    Head h;
    std::string why;
    if (const int status = parse_head(std::string_view(c.in).substr(0, end), h, why); status != 0) {
      refuse(loop, c, h.path.in(c.in), status, why);
      return true;
    }
    if (h.content_length > options_.max_body_bytes) {
      refuse(loop, c, h.path.in(c.in), 413,
             fmt::format("request body of {} bytes is larger than the limit of {} bytes", h.content_length,
                         options_.max_body_bytes));
      return true;
    }
    c.head = h;
    c.head_done = true;
    c.body_start = end + 4;
    if (h.expect_continue && c.in.size() < c.body_start + h.content_length) {
      c.out.append("HTTP/1.1 100 Continue\r\n\r\n");
      return true;
    }
  }
  const size_t used = c.body_start + c.head.content_length;
  if (c.in.size() < used) return false;

  HttpRequest request{c.head.method.in(c.in), c.head.path.in(c.in), c.head.content_type.in(c.in),
                      std::string_view(c.in).substr(c.body_start, c.head.content_length)};
  HttpResponse response;
  try {
    handler_(request, response);
  } catch (...) {
    response = HttpResponse{500, "text/plain", "internal error\n"};
  }
  // SSL_get_error() reads this thread's error queue: whatever the handler left there (a TLS client
  // of its own, say) must not be mistaken for this connection's failure. Every failed SSL call here
  // ends in close_connection(), which clears the queue too, so no clear is needed before each call.
  ERR_clear_error();
  const bool close = c.head.close || c.close_after || stopping_.load(std::memory_order_relaxed);
  if (used == c.in.size()) {
    c.in.clear();
    if (c.in.capacity() > kKeepBufferBytes) std::string().swap(c.in);
  } else {
    c.in.erase(0, used);  // pipelined requests follow
  }
  c.head_done = false;
  c.scanned = 0;
  queue_response(loop, c, response, close);
  return true;
}

void EventServer::refuse(Loop& loop, Connection& c, std::string_view path, int status, std::string_view message) {
  HttpResponse r{status, "text/plain", std::string(message) + "\n"};
  if (refusal_) refusal_(path, status, message, r);
  c.in.clear();
  c.head_done = false;
  c.scanned = 0;
  queue_response(loop, c, r, true);
}

void EventServer::queue_response(Loop& loop, Connection& c, const HttpResponse& r, bool close) {
  char number[24];
  auto append_number = [&c, &number](size_t n) {
    auto end = std::to_chars(number, number + sizeof number, n).ptr;
    c.out.append(number, static_cast<size_t>(end - number));
  };
  const std::string_view reason = reason_phrase(r.status);
  c.out.reserve(c.out.size() + 96 + r.content_type.size() + r.body.size());
  c.out.append("HTTP/1.1 ");
  append_number(static_cast<size_t>(r.status));
  c.out.push_back(' ');
  c.out.append(reason);
  c.out.append("\r\nContent-Type: ");
  c.out.append(r.content_type);
  c.out.append("\r\nContent-Length: ");
  append_number(r.body.size());
  c.out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
  c.out.append(r.body);
  c.close_after = close;
  c.deadline = loop.now + options_.write_timeout;
}

void EventServer::begin_lingering_close(Loop& loop, Connection& c) {
  close_notify(c);
  ::shutdown(c.fd, SHUT_WR);
  c.lingering = true;
  c.deadline = loop.now + std::min<std::chrono::milliseconds>(kLingerTime, options_.read_timeout);
  set_interest(loop, c, EPOLLIN);
}

void EventServer::drain_lingering(Loop& loop, Connection& c) {
  for (int i = 0; i < 16; ++i) {  // bounded, so one client cannot hold the loop
    const ssize_t n = ::recv(c.fd, loop.buf.data(), loop.buf.size(), 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    close_connection(loop, c.fd);  // end of stream or an error: done
    return;
  }
}

void EventServer::close_notify(Connection& c) {
  ERR_clear_error();
  SSL_shutdown(c.ssl);  // best effort: the socket is non-blocking and the peer's answer is not awaited
  ERR_clear_error();
}

void EventServer::close_connection(Loop& loop, int fd) {
  auto it = loop.conns.find(fd);
  if (it == loop.conns.end()) return;
  SSL_free(it->second->ssl);
  ERR_clear_error();
  ::close(fd);
  loop.conns.erase(it);
  open_connections_.fetch_sub(1);
}

void EventServer::sweep_deadlines(Loop& loop) {
  loop.last_sweep = loop.now;
  if (loop.accept_paused && loop.now >= loop.accept_paused_until && !loop.draining) {
    epoll_event accept{};
    accept.events = EPOLLIN | EPOLLEXCLUSIVE;
    accept.data.u64 = kListenTag;
    epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, listen_fd_, &accept);
    loop.accept_paused = false;
  }
  std::vector<int> expired;
  for (auto& [fd, c] : loop.conns) {
    if (c->deadline > loop.now) continue;
    if (c->idle() && !c->lingering) close_notify(*c);  // a clean end for an idle keep-alive one
    expired.push_back(fd);
  }
  for (int fd : expired) close_connection(loop, fd);
}

}  // namespace ifo::webhook
