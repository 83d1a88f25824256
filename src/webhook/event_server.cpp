// EventServer: epoll loops over non-blocking OpenSSL connections (see event_server.h).
#include "webhook/event_server.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iterator>
#include <mutex>
#include <utility>

#include "webhook/listen_socket.h"

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

std::string errno_text() { return std::strerror(errno); }

epoll_data_t tag(uint64_t value) {
  epoll_data_t d{};
  d.u64 = value;
  return d;
}

epoll_data_t pointer(void* value) {
  epoll_data_t d{};
  d.ptr = value;
  return d;
}

// epoll_ctl for one descriptor; false (errno set) when it fails.
bool epoll_change(int epoll_fd, int op, int fd, uint32_t events, epoll_data_t data) {
  epoll_event e{};
  e.events = events;
  e.data = data;
  return epoll_ctl(epoll_fd, op, fd, &e) == 0;
}

std::shared_ptr<spdlog::logger> null_logger() {
  return std::make_shared<spdlog::logger>("event_server", std::make_shared<spdlog::sinks::null_sink_mt>());
}


}  // namespace

// A connection's place in the open-connection counts (in all and for its address), given back when
// the connection, or the accepted descriptor not yet adopted by its loop, goes.
class EventServer::Slot {
 public:
  Slot(EventServer& server, std::string peer) : server_(&server), peer_(std::move(peer)) {}
  ~Slot() {
    if (server_) server_->release_slot(peer_);
  }
  Slot(Slot&& other) noexcept : server_(std::exchange(other.server_, nullptr)), peer_(std::move(other.peer_)) {}
  Slot& operator=(Slot&&) = delete;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  const std::string& peer() const { return peer_; }

 private:
  EventServer* server_;
  std::string peer_;
};

// A connection accepted by one loop for another (or itself) to serve.
struct EventServer::Accepted {
  UniqueFd fd;
  Slot slot;
};

struct EventServer::Connection {
  Connection(Accepted accepted, SslPtr tls)
      : fd(std::move(accepted.fd)), slot(std::move(accepted.slot)), ssl(std::move(tls)) {}
  // Destroyed in reverse: the SSL before the descriptor it uses.
  UniqueFd fd;
  Slot slot;
  SslPtr ssl;
  std::string in;
  size_t scanned = 0;  // bytes of `in` already searched for the end of the head
  bool head_done = false;
  RequestHead head;
  size_t body_start = 0;
  size_t reserved = 0;  // bytes of the buffered-bytes budget the current request holds
  std::string out;
  size_t out_off = 0;
  bool close_after = false;  // close once `out` is written
  bool lingering = false;    // answered and shut down; reading and dropping what the client still sends
  bool read_wants_write = false;
  uint64_t deferred = 0;        // the request whose answer a DeferredReply gives (0: none); not read meanwhile
  bool deferred_close = false;  // close once that answer is written
  uint32_t events = 0;
  Clock::time_point deadline;
  bool writing() const { return out_off < out.size(); }
  bool idle() const { return in.empty() && !head_done && !writing() && deferred == 0; }
};

struct EventServer::Loop {
  UniqueFd epoll_fd;
  std::shared_ptr<ReplyMailbox> mailbox;  // its eventfd wakes the loop; shared with DeferredReplies
  uint64_t deferred_requests = 0;
  std::thread thread;
  std::unordered_map<int, std::unique_ptr<Connection>> conns;
  std::mutex inbox_mu;
  std::vector<Accepted> inbox;  // accepted by another loop, handed to this one
  Clock::time_point now;
  Clock::time_point last_sweep;
  Clock::time_point accept_paused_until;
  bool accept_paused = false;
  bool draining = false;
  Clock::time_point stop_deadline;
  std::vector<char> buf = std::vector<char>(kReadChunk);
};

EventServer::EventServer(EventServerOptions options, SSL_CTX* tls, RequestHandler handler, RefusalHandler refusal,
                         std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)), handler_(std::move(handler)), refusal_(std::move(refusal)),
      log_(log ? std::move(log) : null_logger()) {
  SSL_CTX_up_ref(tls);
  tls_.reset(tls);
  SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One read takes every record the socket holds, not a record header and then its body.
  SSL_CTX_set_read_ahead(tls, 1);
  if (options_.threads < 1) options_.threads = 1;
}

EventServer::~EventServer() { stop(); }

core::Result<int> EventServer::listen() {
  auto bound = listen_tcp(options_.bind_address, options_.port);
  if (!bound) return core::Result<int>::fail(bound.error());
  listen_fd_ = std::move(bound->fd);
  return bound->port;
}

core::Result<bool> EventServer::start() {
  using R = core::Result<bool>;
  if (started_) return true;
  if (!listen_fd_) return R::fail("the event server must listen before it starts");
  auto failed = [this](const char* what) {
    std::string message = fmt::format("cannot start the event loops: {}: {}", what, errno_text());
    loops_.clear();
    return R::fail(std::move(message));
  };
  for (int i = 0; i < options_.threads; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->epoll_fd.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!loop->epoll_fd) return failed("epoll_create1");
    UniqueFd wake_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake_fd) return failed("eventfd");
    loop->mailbox = std::make_shared<ReplyMailbox>(std::move(wake_fd));
    if (!epoll_change(loop->epoll_fd.get(), EPOLL_CTL_ADD, loop->mailbox->wake_fd(), EPOLLIN, tag(kWakeTag)))
      return failed("epoll_ctl (wake-up descriptor)");
    // Every loop waits on the listening socket; EPOLLEXCLUSIVE wakes one of them per connection.
    if (!epoll_change(loop->epoll_fd.get(), EPOLL_CTL_ADD, listen_fd_.get(), EPOLLIN | EPOLLEXCLUSIVE, tag(kListenTag)))
      return failed("epoll_ctl (listening socket)");
    loops_.push_back(std::move(loop));
  }
  started_ = true;
  for (auto& loop : loops_) loop->thread = std::thread([this, l = loop.get()] { run(*l); });
  return true;
}

void EventServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  for (auto& loop : loops_) wake(*loop);
  // All loops end before any is destroyed: a loop still accepting may hand a connection to a loop
  // that has already ended (it waits in that loop's inbox, released with it).
  for (auto& loop : loops_)
    if (loop->thread.joinable()) loop->thread.join();
  loops_.clear();
  listen_fd_.reset();
}

EventServerStats EventServer::stats() const {
  return {refused_peer_limit_.load(), refused_connection_limit_.load(), refused_over_budget_.load(),
          buffered_bytes_.load()};
}

void EventServer::wake(Loop& loop) {
  if (!loop.mailbox->wake()) log_->error("cannot wake an event loop: {}", errno_text());
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
    const int n = epoll_wait(loop.epoll_fd.get(), events.data(), static_cast<int>(events.size()), 250);
    if (n < 0 && errno != EINTR) {
      log_->error("epoll_wait failed, the loop ends: {}", errno_text());
      break;
    }
    loop.now = Clock::now();
    for (int i = 0; i < n; ++i) {
      const epoll_event& e = events[static_cast<size_t>(i)];
      if (e.data.u64 == kListenTag) {
        if (!stopping_.load(std::memory_order_relaxed)) accept_ready(loop);
      } else if (e.data.u64 == kWakeTag) {
        uint64_t count = 0;
        if (::read(loop.mailbox->wake_fd(), &count, sizeof count) < 0 && errno != EAGAIN && errno != EINTR)
          log_->error("cannot read an event loop's wake-up descriptor: {}", errno_text());
        std::vector<Accepted> accepted;
        {
          std::lock_guard lock(loop.inbox_mu);
          accepted.swap(loop.inbox);
        }
        for (auto& a : accepted) adopt(loop, std::move(a));
        for (auto& letter : loop.mailbox->take()) answer_deferred(loop, letter);
      } else {
        auto* c = static_cast<Connection*>(e.data.ptr);
        if (c->deferred != 0) {
          close_connection(loop, c->fd.get());  // it waits for nothing, so this is an error or hang-up
        } else if (c->lingering) {
          drain_lingering(loop, *c);
        } else {
          const bool failed = (e.events & (EPOLLERR | EPOLLHUP)) != 0;
          drive(loop, *c, failed || (e.events & EPOLLIN) != 0, failed || (e.events & EPOLLOUT) != 0);
        }
      }
    }
    if (stopping_.load(std::memory_order_relaxed)) {
      if (!loop.draining) begin_draining(loop);
      if (loop.conns.empty() || loop.now >= loop.stop_deadline) break;
    }
    if (loop.now - loop.last_sweep >= kSweepInterval) sweep_deadlines(loop);
  }
  loop.mailbox->close();  // deferred answers that come later are dropped
  std::vector<int> all;
  for (auto& [fd, c] : loop.conns) all.push_back(fd);
  for (int fd : all) close_connection(loop, fd);
}

void EventServer::begin_draining(Loop& loop) {
  loop.draining = true;
  loop.stop_deadline = loop.now + kStopGrace;
  // Nothing is accepted while stopping in any case; leaving the set only saves wake-ups.
  if (!loop.accept_paused && !epoll_change(loop.epoll_fd.get(), EPOLL_CTL_DEL, listen_fd_.get(), 0, tag(kListenTag)))
    log_->warn("cannot stop watching the listening socket: {}", errno_text());
  std::vector<int> close_now;
  for (auto& [fd, c] : loop.conns) {
    if (c->idle() && !c->lingering) close_notify(*c);
    if (c->idle() || c->lingering) close_now.push_back(fd);
    else c->close_after = true;  // a request in progress is answered, then the connection closes
  }
  for (int fd : close_now) close_connection(loop, fd);
}

void EventServer::accept_ready(Loop& loop) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    UniqueFd fd(::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting(loop);
      else if (errno != EAGAIN && errno != EWOULDBLOCK) log_->warn("accept failed: {}", errno_text());
      return;
    }
    std::string address = peer_address(peer);
    if (!admit(address)) continue;  // closed here, counted by admit()
    const int one = 1;
    if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
      log_->debug("cannot set TCP_NODELAY peer={}: {}", address, errno_text());
    Accepted accepted{std::move(fd), Slot(*this, std::move(address))};
    // Round robin over the loops, so both cores serve whatever the order of wake-ups.
    Loop& target = *loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
    if (&target == &loop) adopt(loop, std::move(accepted));
    else hand_off(target, std::move(accepted));
  }
}

void EventServer::pause_accepting(Loop& loop) {
  // Out of descriptors or memory: stop waiting on the listener for a moment instead of spinning on it.
  const int cause = errno;
  if (!epoll_change(loop.epoll_fd.get(), EPOLL_CTL_DEL, listen_fd_.get(), 0, tag(kListenTag))) {
    log_->error("cannot pause accepting: {}", errno_text());
    return;
  }
  loop.accept_paused = true;
  loop.accept_paused_until = loop.now + kAcceptPause;
  log_->warn("not accepting connections for {}ms: {}", kAcceptPause.count(), std::strerror(cause));
}

void EventServer::hand_off(Loop& target, Accepted accepted) {
  {
    std::lock_guard lock(target.inbox_mu);
    target.inbox.push_back(std::move(accepted));
  }
  wake(target);
}

bool EventServer::admit(const std::string& peer) {
  std::lock_guard lock(peers_mu_);
  if (open_connections_.load() >= options_.max_connections) {
    refused_connection_limit_.fetch_add(1);
    log_->debug("connection refused at accept peer={} reason=server-limit limit={}", peer, options_.max_connections);
    return false;
  }
  auto [it, fresh] = peers_.try_emplace(peer, 0);
  if (it->second >= options_.max_connections_per_peer) {
    if (fresh) peers_.erase(it);
    refused_peer_limit_.fetch_add(1);
    log_->debug("connection refused at accept peer={} reason=peer-limit limit={}", peer,
                options_.max_connections_per_peer);
    return false;
  }
  ++it->second;
  open_connections_.fetch_add(1);
  return true;
}

void EventServer::release_slot(const std::string& peer) {
  std::lock_guard lock(peers_mu_);
  if (auto it = peers_.find(peer); it != peers_.end() && --it->second == 0) peers_.erase(it);
  open_connections_.fetch_sub(1);
}

bool EventServer::reserve(size_t bytes) {
  const size_t budget = options_.max_buffered_bytes;
  const size_t cap = bytes <= kSmallRequestBytes ? budget : budget - budget / 4;
  size_t held = buffered_bytes_.load();
  do {
    if (bytes > cap || held > cap - bytes) return false;
  } while (!buffered_bytes_.compare_exchange_weak(held, held + bytes));
  return true;
}

void EventServer::release_reservation(Connection& c) {
  buffered_bytes_.fetch_sub(std::exchange(c.reserved, 0));
}

void EventServer::adopt(Loop& loop, Accepted accepted) {
  if (loop.draining) return;  // `accepted` closes the descriptor and gives its slot back
  SslPtr ssl(SSL_new(tls_.get()));
  if (!ssl || SSL_set_fd(ssl.get(), accepted.fd.get()) != 1) {
    ERR_clear_error();
    log_->warn("cannot set up TLS for a connection peer={}", accepted.slot.peer());
    return;
  }
  SSL_set_accept_state(ssl.get());
  const int fd = accepted.fd.get();
  auto c = std::make_unique<Connection>(std::move(accepted), std::move(ssl));
  c->deadline = loop.now + options_.read_timeout;
  c->events = EPOLLIN;
  if (!epoll_change(loop.epoll_fd.get(), EPOLL_CTL_ADD, fd, EPOLLIN, pointer(c.get()))) {
    log_->warn("cannot watch a connection peer={}: {}", c->slot.peer(), errno_text());
    return;
  }
  loop.conns.emplace(fd, std::move(c));
}

void EventServer::set_interest(Loop& loop, Connection& c, uint32_t events) {
  if (c.events == events) return;
  if (!epoll_change(loop.epoll_fd.get(), EPOLL_CTL_MOD, c.fd.get(), events, pointer(&c))) {
    log_->warn("cannot change what a connection waits for, closing it peer={}: {}", c.slot.peer(), errno_text());
    close_connection(loop, c.fd.get());
    return;
  }
  c.events = events;
}

void EventServer::drive(Loop& loop, Connection& c, bool readable, bool writable) {
  bool try_read = readable || (c.read_wants_write && writable);
  for (;;) {
    if (c.writing()) {
      size_t written = 0;
      const int rc = SSL_write_ex(c.ssl.get(), c.out.data() + c.out_off, c.out.size() - c.out_off, &written);
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
      const int err = SSL_get_error(c.ssl.get(), rc);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        set_interest(loop, c, err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
        return;
      }
      close_connection(loop, c.fd.get());
      return;
    }
    if (c.deferred != 0) {
      set_interest(loop, c, 0);  // nothing is read until its answer is written (errors and hang-ups still come)
      return;
    }
    if (answer_buffered(loop, c)) continue;
    if (!try_read && SSL_has_pending(c.ssl.get()) == 0) break;
    try_read = false;
    size_t got = 0;
    const int rc = SSL_read_ex(c.ssl.get(), loop.buf.data(), loop.buf.size(), &got);
    if (rc == 1) {
      if (c.in.empty() && !c.head_done) c.deadline = loop.now + options_.read_timeout;  // a request begins
      c.in.append(loop.buf.data(), got);
      c.read_wants_write = false;
      continue;
    }
    const int err = SSL_get_error(c.ssl.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      c.read_wants_write = err == SSL_ERROR_WANT_WRITE;
      break;
    }
    // The peer closed (with or without close_notify), reset, or broke the TLS protocol.
    close_connection(loop, c.fd.get());
    return;
  }
  set_interest(loop, c, c.read_wants_write ? EPOLLOUT : EPOLLIN);
}

bool EventServer::answer_buffered(Loop& loop, Connection& c) {
  if (!c.head_done) {
    if (c.in.empty()) return false;
    HeadFrame frame = frame_request_head(c.in, c.scanned, {options_.max_head_bytes, options_.max_body_bytes});
    if (frame.state == HeadFrame::State::kIncomplete) {
      c.scanned = c.in.size();
      return false;
    }
    const std::string_view path = frame.head.path.in(c.in);
    if (frame.state == HeadFrame::State::kRefused) {
      refuse(loop, c, path, frame.status, frame.why);
      return true;
    }
    // The whole request is reserved before its body is read: a client that declares a large body and
    // sends it slowly holds its share from the start, so the budget bounds what it can make us buffer.
    const size_t request_bytes = frame.body_start + frame.head.content_length;
    if (!reserve(request_bytes)) {
      refused_over_budget_.fetch_add(1);
      refuse(loop, c, path, 503,
             fmt::format("too many request bytes are buffered: a request of {} bytes does not fit in the budget "
                         "of {} bytes now; retry",
                         request_bytes, options_.max_buffered_bytes));
      return true;
    }
    c.reserved = request_bytes;
    c.in.reserve(request_bytes);  // one allocation of the reserved size, not a doubling past it
    c.head = frame.head;
    c.head_done = true;
    c.body_start = frame.body_start;
    if (c.head.expect_continue && c.in.size() < c.body_start + c.head.content_length) {
      c.out.append("HTTP/1.1 100 Continue\r\n\r\n");
      return true;
    }
  }
  const size_t used = c.body_start + c.head.content_length;
  if (c.in.size() < used) return false;

  Deferral deferral{loop.mailbox, loop.deferred_requests + 1, c.fd.get()};
  HttpRequest request{c.head.method.in(c.in), c.head.path.in(c.in), c.head.content_type.in(c.in),
                      std::string_view(c.in).substr(c.body_start, c.head.content_length), &deferral};
  HttpResponse response;
  try {
    handler_(request, response);
  } catch (...) {
    deferral.taken = false;
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
  if (deferral.taken) {
    // The request's bytes stay reserved until its answer is queued: the handler keeps what it needs.
    c.deferred = ++loop.deferred_requests;
    c.deferred_close = close;
    c.deadline = loop.now + options_.read_timeout;
    return true;
  }
  release_reservation(c);
  queue_response(loop, c, response, close);
  return true;
}

void EventServer::answer_deferred(Loop& loop, ReplyMailbox::Letter& letter) {
  auto it = loop.conns.find(letter.fd);
  if (it == loop.conns.end() || it->second->deferred != letter.request) return;  // closed meanwhile
  Connection& c = *it->second;
  HttpResponse response;
  try {
    letter.fill(response);
  } catch (...) {
    response = HttpResponse{500, "text/plain", "internal error\n"};
  }
  ERR_clear_error();
  c.deferred = 0;
  release_reservation(c);
  queue_response(loop, c, response, c.deferred_close || c.close_after || stopping_.load(std::memory_order_relaxed));
  drive(loop, c, false, true);
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
  c.out.reserve(c.out.size() + 96 + r.content_type.size() + r.body.size());
  append_response_head(c.out, r.status, r.content_type, r.body.size(), close);
  c.out.append(r.body);
  c.close_after = close;
  c.deadline = loop.now + options_.write_timeout;
}

void EventServer::begin_lingering_close(Loop& loop, Connection& c) {
  close_notify(c);
  if (::shutdown(c.fd.get(), SHUT_WR) != 0) {  // the peer is gone already (ENOTCONN): nothing to linger for
    close_connection(loop, c.fd.get());
    return;
  }
  c.lingering = true;
  c.deadline = loop.now + std::min<std::chrono::milliseconds>(kLingerTime, options_.read_timeout);
  set_interest(loop, c, EPOLLIN);
}

void EventServer::drain_lingering(Loop& loop, Connection& c) {
  for (int i = 0; i < 16; ++i) {  // bounded, so one client cannot hold the loop
    const ssize_t n = ::recv(c.fd.get(), loop.buf.data(), loop.buf.size(), 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    close_connection(loop, c.fd.get());  // end of stream or an error: done
    return;
  }
}

void EventServer::close_notify(Connection& c) {
  ERR_clear_error();
  SSL_shutdown(c.ssl.get());  // best effort: the socket is non-blocking and the peer's answer is not awaited
  ERR_clear_error();
}

void EventServer::close_connection(Loop& loop, int fd) {
  auto it = loop.conns.find(fd);
  if (it == loop.conns.end()) return;
  release_reservation(*it->second);
  loop.conns.erase(it);  // frees the SSL, closes the descriptor, gives the slot back
  ERR_clear_error();
}

void EventServer::sweep_deadlines(Loop& loop) {
  loop.last_sweep = loop.now;
  for (auto& letter : loop.mailbox->take()) answer_deferred(loop, letter);  // in case a wake-up was lost
  if (loop.accept_paused && loop.now >= loop.accept_paused_until && !loop.draining) {
    if (epoll_change(loop.epoll_fd.get(), EPOLL_CTL_ADD, listen_fd_.get(), EPOLLIN | EPOLLEXCLUSIVE, tag(kListenTag)))
      loop.accept_paused = false;
    else  // tried again at the next sweep
      log_->error("cannot resume accepting: {}", errno_text());
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
