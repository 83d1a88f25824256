// WebhookServer: cpp-httplib listeners wired to the admission handler, metrics and the cert store.
#include "webhook/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "core/constants.h"

namespace ifo::webhook {
namespace {

// Per-request bookkeeping between the pre-routing handler and the logger (same worker thread).
thread_local std::chrono::steady_clock::time_point t_start;
thread_local std::string t_result;

bool is_json_content_type(const std::string& value) {
  std::string media = value.substr(0, value.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  size_t i = 0;
  while (i < media.size() && (media[i] == ' ' || media[i] == '\t')) ++i;
  media = media.substr(i);
  for (auto& ch : media) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return media == "application/json";
}

std::string route_label(const std::string& path) {
  if (path == core::kValidatePath || path == core::kMutatePath) return path;
  return "other";
}

}  // namespace

WebhookServer::WebhookServer(ServerOptions options, const AdmissionHandler& handler, CertStore& certs,
                             Metrics& metrics, std::function<std::string()> readiness,
                             std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)), handler_(handler), certs_(certs), metrics_(metrics),
      readiness_(std::move(readiness)), log_(std::move(log)) {}

WebhookServer::~WebhookServer() { stop(); }

void WebhookServer::install_routes() {
  auto& s = *https_;
  const int workers = options_.workers;
  s.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<size_t>(workers)); };
  s.set_payload_max_length(kMaxBodyBytes);
  s.set_read_timeout(options_.read_timeout);
  s.set_write_timeout(options_.write_timeout);
  s.set_keep_alive_timeout(10);  // an idle keep-alive connection holds a worker this long
  s.set_keep_alive_max_count(10000);
  s.set_tcp_nodelay(true);
  s.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    t_start = std::chrono::steady_clock::now();
    t_result.clear();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto serve = [this](const httplib::Request& req, httplib::Response& res, bool validate) {
    Reply reply;
    const std::string content_type = req.get_header_value("Content-Type");
    if (!is_json_content_type(content_type)) {
      reply = Reply{400, status_body(400, fmt::format("Content-Type must be application/json (got {:?})", content_type)),
                    "bad_request"};
    } else {
      try {
        reply = validate ? handler_.validate(req.body) : handler_.mutate(req.body);
      } catch (const std::exception& e) {
        log_->error("admission handler failed path={} error={}", req.path, e.what());
        reply = Reply{500, status_body(500, fmt::format("internal error: {}", e.what())), "error"};
      } catch (...) {
        reply = Reply{500, status_body(500, "internal error"), "error"};
      }
    }
    res.status = reply.status;
    res.set_content(reply.body, "application/json");
    t_result = reply.result;
  };
  s.Post(std::string(core::kValidatePath), [serve](const httplib::Request& q, httplib::Response& r) { serve(q, r, true); });
  s.Post(std::string(core::kMutatePath), [serve](const httplib::Request& q, httplib::Response& r) { serve(q, r, false); });
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_->error("request failed path={} error={}", req.path, what);
    res.status = 500;
    res.set_content(status_body(500, what), "application/json");
    t_result = "error";
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = res.status == 413 ? fmt::format("request body larger than {} bytes", kMaxBodyBytes)
                                            : fmt::format("HTTP {}", res.status);
    res.set_content(status_body(res.status, message), "application/json");
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const double seconds =
        t_start.time_since_epoch().count() == 0
            ? 0
            : std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::string result = t_result.empty() ? fmt::format("http_{}", res.status) : t_result;
    metrics_.record(route_label(req.path), result, seconds);
    log_->debug("request path={} status={} result={} seconds={:.6f}", req.path, res.status, result, seconds);
    t_start = {};
    t_result.clear();
  });

  auto& h = *health_;
  h.new_task_queue = [] { return new httplib::ThreadPool(2); };
  h.set_read_timeout(std::chrono::seconds(5));
  h.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  h.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    std::string why = certs_.loaded() ? std::string() : std::string("no serving certificate loaded");
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
  https_ = std::make_unique<httplib::SSLServer>([this](SSL_CTX& ctx) { return certs_.configure(ctx); });
  if (!https_->is_valid()) return R::fail("could not set up the TLS context");
  health_ = std::make_unique<httplib::Server>();
  install_routes();
  if (options_.port == 0) {
    port_ = https_->bind_to_any_port(options_.bind_address);
    if (port_ <= 0) return R::fail(fmt::format("cannot listen on {} (any port)", options_.bind_address));
  } else {
    if (!https_->bind_to_port(options_.bind_address, options_.port))
      return R::fail(fmt::format("cannot listen on {}:{}", options_.bind_address, options_.port));
    port_ = options_.port;
  }
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
  https_thread_ = std::thread([this] { https_->listen_after_bind(); });
  poll_thread_ = std::thread([this] { poll_certificates(); });
  // httplib's stop() is a no-op until listen has begun, so start() returns only once both listen.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(https_->is_running() && (!health_thread_.joinable() || health_->is_running()))) {
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
  if (https_) https_->stop();
  if (health_) health_->stop();
  if (https_thread_.joinable()) https_thread_.join();
  if (health_thread_.joinable()) health_thread_.join();
  if (poll_thread_.joinable()) poll_thread_.join();
}

}  // namespace ifo::webhook
