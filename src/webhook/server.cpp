// WebhookServer: the HTTPS event server and the plain-HTTP probe listener, wired to the admission
// handler, metrics and the cert store.
#include "webhook/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "core/constants.h"
#include "core/text.h"

namespace ifo::webhook {
namespace {

// The media type, parameters (charset) ignored; media types compare case-insensitively.
bool is_json_content_type(std::string_view value) {
  return core::iequals_ascii(core::trim(value.substr(0, value.find(';')), " \t"), "application/json");
}

std::string_view route_label(std::string_view path) {
  if (path == core::kValidatePath || path == core::kMutatePath) return path;
  return "other";
}

}  // namespace

WebhookServer::WebhookServer(ServerOptions options, const AdmissionHandler& handler, CertStore& certs,
                             Metrics& metrics, std::function<std::string()> readiness,
                             std::shared_ptr<spdlog::logger> log, AsyncAuthorizer* authorizer,
                             AsyncTrustLookup* trust)
    : options_(std::move(options)), handler_(handler), certs_(certs), metrics_(metrics),
      readiness_(std::move(readiness)), log_(std::move(log)) {
  if (authorizer) deferred_.emplace(handler_, *authorizer, trust);
}

WebhookServer::~WebhookServer() { stop(); }

template <typename Attempt>
Reply WebhookServer::guarded(std::string_view path, Attempt&& attempt) const {
  try {
    Reply reply = attempt();
    if (reply.pending) throw std::logic_error("the admission handler did not decide (an authorizer did not answer)");
    return reply;
  } catch (const std::exception& e) {
    log_->error("admission handler failed path={} error={}", path, e.what());
    return Reply{500, status_body(500, fmt::format("internal error: {}", e.what())), "error"};
  } catch (...) {
    return Reply{500, status_body(500, "internal error"), "error"};
  }
}

void WebhookServer::answer(const HttpRequest& req, HttpResponse& res) {
  const auto started = std::chrono::steady_clock::now();
  const bool validate = req.path == core::kValidatePath;
  Reply reply;
  if (!validate && req.path != core::kMutatePath) {
    reply = Reply{404, status_body(404, fmt::format("no such path {:?}", req.path.substr(0, 256))), ""};
  } else if (req.method != "POST") {
    reply = Reply{405, status_body(405, fmt::format("{} takes POST only", req.path)), ""};
  } else if (!is_json_content_type(req.content_type)) {
    reply = Reply{400,
                  status_body(400, fmt::format("Content-Type must be application/json (got {:?})",
                                               req.content_type.substr(0, 256))),
                  "bad_request"};
  } else if (validate && deferred_) {
    // SubjectAccessReviews not cached, and trust lookups not in memory, are asked off the loop; the
    // answer then comes through `later`.
    // (The lambda captures one reference, so std::function keeps it without an allocation.)
    struct Context {
      WebhookServer* self;
      const HttpRequest* req;
      std::chrono::steady_clock::time_point started;
    } context{this, &req, started};
    auto defer = [&context]() -> DeferredValidation::Resume {
      return [self = context.self, later = context.req->defer(), started = context.started](
                 std::function<Reply()> second_attempt) {
        later.complete([self, second_attempt = std::move(second_attempt), started](HttpResponse& res) {
          self->finish(core::kValidatePath, self->guarded(core::kValidatePath, second_attempt), res, started);
        });
      };
    };
    std::optional<Reply> now;
    reply = guarded(req.path, [&] {
      now = deferred_->validate(req.body, defer);
      return now ? std::move(*now) : Reply{};
    });
    if (reply.status == 200 && !now) return;  // deferred
  } else {
    reply = guarded(req.path, [&] { return validate ? handler_.validate(req.body) : handler_.mutate(req.body); });
  }
  finish(req.path, std::move(reply), res, started);
}

void WebhookServer::finish(std::string_view path, Reply reply, HttpResponse& res,
                           std::chrono::steady_clock::time_point started) const {
  res.status = reply.status;
  res.body = std::move(reply.body);
  const std::string result = reply.result.empty() ? fmt::format("http_{}", reply.status) : std::move(reply.result);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.record(route_label(path), result, seconds);
  if (log_->should_log(spdlog::level::debug))
    log_->debug("request path={} status={} result={} seconds={:.6f}", path, res.status, result, seconds);
}

void WebhookServer::refuse(std::string_view path, int status, std::string_view message, HttpResponse& res) {
  res.content_type = "application/json";
  res.body = status_body(status, message);
  metrics_.record(route_label(path), fmt::format("http_{}", status), 0);
  log_->debug("request refused path={} status={} reason={}", path, status, message);
}

void WebhookServer::install_routes() {
  auto& h = *health_;
  h.new_task_queue = [] { return new httplib::ThreadPool(2); };
  h.set_read_timeout(std::chrono::seconds(5));
  h.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  h.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    std::string why = draining_.load()     ? std::string("shutting down")
                      : certs_.loaded() ? std::string()
                                        : std::string("no serving certificate loaded");
    if (why.empty() && readiness_) why = readiness_();
    if (why.empty()) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(why + "\n", "text/plain");
    }
  });
  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });
}

core::Result<bool> WebhookServer::start() {
  using R = core::Result<bool>;
  auto loaded = certs_.reload();
  if (!loaded) return R::fail(loaded.error());
  SSL_CTX* tls = SSL_CTX_new(TLS_server_method());
  if (tls == nullptr || !certs_.configure(*tls)) {
    if (tls) SSL_CTX_free(tls);
    return R::fail("could not set up the TLS context");
  }
  EventServerOptions eo;
  eo.bind_address = options_.bind_address;
  eo.port = options_.port;
  eo.threads = options_.workers;
  eo.max_body_bytes = kMaxBodyBytes;
  eo.read_timeout = options_.read_timeout;
  eo.write_timeout = options_.write_timeout;
  eo.idle_timeout = options_.idle_timeout;
  eo.max_connections_per_peer = options_.max_connections_per_peer;
  eo.max_buffered_bytes = options_.max_buffered_bytes;
  https_ = std::make_unique<EventServer>(
      eo, tls, [this](const HttpRequest& q, HttpResponse& r) { answer(q, r); },
      [this](std::string_view path, int status, std::string_view message, HttpResponse& r) {
        refuse(path, status, message, r);
      },
      log_);
  SSL_CTX_free(tls);  // the server holds its own reference
  health_ = std::make_unique<httplib::Server>();
  install_routes();
  auto bound = https_->listen();
  if (!bound) return R::fail(bound.error());
  port_ = *bound;
  if (options_.health_port >= 0) {
    if (options_.health_port == 0) {
      health_port_ = health_->bind_to_any_port(options_.bind_address);
      if (health_port_ <= 0) return R::fail(fmt::format("cannot listen on {} (any port)", options_.bind_address));
    } else {
      if (!health_->bind_to_port(options_.bind_address, options_.health_port))
        return R::fail(fmt::format("cannot listen on {}:{}", options_.bind_address, options_.health_port));
      health_port_ = options_.health_port;
    }
    health_thread_ = std::thread([this] { health_->listen_after_bind(); });
  }
  if (auto loops = https_->start(); !loops) return R::fail(loops.error());
  poll_thread_ = std::thread([this] { poll_certificates(); });
  // httplib's stop() is a no-op until listen has begun, so start() returns only once it listens.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (health_thread_.joinable() && !health_->is_running()) {
    if (std::chrono::steady_clock::now() > deadline) return R::fail("the listeners did not start within 10s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  log_->info("listening address={} port={} health_port={} workers={} cert_expiry={}", options_.bind_address, port_,
             health_port_, options_.workers, certs_.not_after());
  return true;
}

void WebhookServer::poll_certificates() {
  std::unique_lock lock(poll_mu_);
  while (!stopping_) {
    poll_cv_.wait_for(lock, options_.cert_poll_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    auto r = certs_.reload();
    if (!r) log_->warn("serving certificate not reloaded, keeping the current one: {}", r.error());
    else if (*r) log_->info("serving certificate reloaded generation={} expiry={}", certs_.generation(), certs_.not_after());
    lock.lock();
  }
}

void WebhookServer::stop() {
  {
    std::lock_guard lock(poll_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  poll_cv_.notify_all();
  draining_.store(true);
  if (https_ && options_.shutdown_grace.count() > 0) {
    log_->info("not ready, serving for the shutdown grace grace_ms={}", options_.shutdown_grace.count());
    std::this_thread::sleep_for(options_.shutdown_grace);
  }
  if (https_) https_->stop();
  if (health_) health_->stop();
  if (health_thread_.joinable()) health_thread_.join();
  if (poll_thread_.joinable()) poll_thread_.join();
}

}  // namespace ifo::webhook
