// The kube client against a small in-test HTTP server: verbs and their URLs, content types, typed
// errors from Status bodies, Retry-After, paging, watch streaming and cancel, token re-reads,
// connection reuse, TokenRequest and SubjectAccessReview.
#include <doctest/doctest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "kube/client.h"
#include "kube/meta.h"
#include "test_tls.h"

using namespace std::chrono_literals;
namespace kube = ifo::kube;
namespace core = ifo::core;

namespace {

std::string status_json(int code, const std::string& reason, const std::string& message) {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" + message +
         R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + "}";
}

// An httplib server on an ephemeral loopback port, stopped on destruction.
struct TestServer {
  httplib::Server svr;
  int port = 0;
  std::thread thread;
  std::mutex mu;
  std::vector<std::string> log;  // "METHOD path?query content-type"
  std::set<int> client_ports;
  std::string last_auth;
  std::string last_body;

  // Records the request before the handler answers, so the client never sees the answer first.
  void record(const httplib::Request& req) {
    std::lock_guard lock(mu);
    std::string q;
    for (const auto& [k, v] : req.params) q += (q.empty() ? "?" : "&") + k + "=" + v;
    log.push_back(req.method + " " + req.path + q + " " + req.get_header_value("Content-Type"));
    client_ports.insert(req.remote_port);
    last_auth = req.get_header_value("Authorization");
    last_body = req.body;
  }
  httplib::Server::Handler wrap(httplib::Server::Handler h) {
    return [this, h](const httplib::Request& req, httplib::Response& res) {
      record(req);
      h(req, res);
    };
  }
  void Get(const std::string& p, httplib::Server::Handler h) { svr.Get(p, wrap(std::move(h))); }
  void Post(const std::string& p, httplib::Server::Handler h) { svr.Post(p, wrap(std::move(h))); }
  void Put(const std::string& p, httplib::Server::Handler h) { svr.Put(p, wrap(std::move(h))); }
  void Patch(const std::string& p, httplib::Server::Handler h) { svr.Patch(p, wrap(std::move(h))); }
  void Delete(const std::string& p, httplib::Server::Handler h) { svr.Delete(p, wrap(std::move(h))); }

  void start() {
    svr.set_keep_alive_max_count(1000);
    port = svr.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { svr.listen_after_bind(); });
  }
  ~TestServer() {
    svr.stop();
    if (thread.joinable()) thread.join();
  }
  kube::Config config() const {
    kube::Config c;
    c.server = "http://127.0.0.1:" + std::to_string(port);
    c.token = "test-token";
    c.qps = 0;
    c.source = "test";
    return c;
  }
  std::string last() {
    std::lock_guard lock(mu);
    return log.empty() ? std::string() : log.back();
  }
};

const char* kSecretA =
    R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"ns","resourceVersion":"7"},"data":{}})";

void add_routes(TestServer& s) {
  s.Get("/api/v1/namespaces/ns/secrets/a", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kSecretA, "application/json");
  });
  s.Get("/api/v1/namespaces/ns/secrets/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(status_json(404, "NotFound", "secrets \\\"missing\\\" not found"), "application/json");
  });
  s.Put("/api/v1/namespaces/ns/secrets/a", [](const httplib::Request&, httplib::Response& res) {
    res.status = 409;
    res.set_content(status_json(409, "Conflict", "the object has been modified"), "application/json");
  });
  s.Put("/apis/secrets.infisical.com/v1alpha1/namespaces/ns/infisicalsecrets/x/status",
            [](const httplib::Request& req, httplib::Response& res) { res.set_content(req.body, "application/json"); });
  s.Post("/api/v1/namespaces/ns/secrets", [](const httplib::Request&, httplib::Response& res) {
    res.status = 409;
    res.set_content(status_json(409, "AlreadyExists", "secrets \\\"a\\\" already exists"), "application/json");
  });
  s.Patch(R"(/apis/apps/v1/namespaces/ns/deployments/web(/status)?)",
              [](const httplib::Request&, httplib::Response& res) {
                res.set_content(R"({"kind":"Deployment","metadata":{"name":"web"}})", "application/json");
              });
  s.Delete("/api/v1/namespaces/ns/configmaps/gone", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"kind":"Status","status":"Success"})", "application/json");
  });
  s.Get("/api/v1/namespaces/ns/configmaps", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("continue") == "expired") {
      res.status = 410;
      res.set_content(status_json(410, "Expired", "continue token expired"), "application/json");
      return;
    }
    if (req.get_param_value("limit") == "2" && !req.has_param("continue")) {
      res.set_content(R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"100","continue":"p2"},
        "items":[{"metadata":{"name":"c1","namespace":"ns"}},{"metadata":{"name":"c2","namespace":"ns"}}]})",
                      "application/json");
      return;
    }
    if (req.get_param_value("continue") == "p2") {
      res.set_content(R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"100"},
        "items":[{"metadata":{"name":"c3","namespace":"ns"}}]})",
                      "application/json");
      return;
    }
    res.set_content(R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"101"},
      "items":[{"metadata":{"name":"all","namespace":"ns"}}]})",
                    "application/json");
  });
}

}  // namespace

TEST_CASE("get sends the bearer token and returns the object") {
  TestServer s;
  add_routes(s);
  s.start();
  kube::Client c(s.config());
  auto obj = c.get(kube::kSecrets, "ns", "a");
  REQUIRE(obj);
  CHECK(kube::meta_name(*obj) == "a");
  CHECK(kube::meta_resource_version(*obj) == "7");
  CHECK(s.last_auth == "Bearer test-token");
}

TEST_CASE("errors are typed from the Status body") {
  TestServer s;
  add_routes(s);
  s.start();
  kube::Client c(s.config());
  try {
    c.get(kube::kSecrets, "ns", "missing");
    FAIL("expected ApiError");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_not_found());
    CHECK_FALSE(e.is_conflict());
    CHECK(e.code() == 404);
    CHECK(e.message() == "secrets \"missing\" not found");
    CHECK(std::string(e.what()) == "GET /api/v1/namespaces/ns/secrets/missing: secrets \"missing\" not found (404 NotFound)");
  }
  try {
    ifo::core::JsonDoc d;
    d.Parse(kSecretA);
    c.update(kube::kSecrets, "ns", d);
    FAIL("expected ApiError");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_conflict());
    CHECK_FALSE(e.is_already_exists());
  }
  try {
    ifo::core::JsonDoc d;
    d.Parse(kSecretA);
    c.create(kube::kSecrets, "ns", d);
    FAIL("expected ApiError");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_already_exists());
    CHECK_FALSE(e.is_conflict());
  }
}

TEST_CASE("a non-Status error body gives a reason from the code and is not echoed") {
  TestServer s;
  s.Get("/api/v1/namespaces/ns/secrets/boom", [](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("<html>password=hunter2</html>", "text/html");
  });
  s.start();
  kube::Client c(s.config());
  try {
    c.get(kube::kSecrets, "ns", "boom");
    FAIL("expected ApiError");
  } catch (const kube::ApiError& e) {
    CHECK(e.code() == 500);
    CHECK(e.reason() == "InternalError");
    CHECK(e.is_server_error());
    CHECK(std::string(e.what()).find("hunter2") == std::string::npos);
  }
}

TEST_CASE("patch sends the content type of its kind; status verbs address the subresource") {
  TestServer s;
  add_routes(s);
  s.start();
  kube::Client c(s.config());
  kube::WriteOptions wo;
  wo.field_manager = "infisical-syncer";
  c.patch(kube::kDeployments, "ns", "web", kube::PatchType::kMerge, R"({"metadata":{}})", wo);
  CHECK(s.last() == "PATCH /apis/apps/v1/namespaces/ns/deployments/web?fieldManager=infisical-syncer application/merge-patch+json");
  c.patch(kube::kDeployments, "ns", "web", kube::PatchType::kJson, R"([])");
  CHECK(s.last() == "PATCH /apis/apps/v1/namespaces/ns/deployments/web application/json-patch+json");
  c.patch(kube::kDeployments, "ns", "web", kube::PatchType::kStrategicMerge, R"({})");
  CHECK(s.last() == "PATCH /apis/apps/v1/namespaces/ns/deployments/web application/strategic-merge-patch+json");
  c.patch_status(kube::kDeployments, "ns", "web", kube::PatchType::kMerge, R"({"status":{}})");
  CHECK(s.last() == "PATCH /apis/apps/v1/namespaces/ns/deployments/web/status application/merge-patch+json");

  ifo::core::JsonDoc cr;
  cr.Parse(R"({"metadata":{"name":"x","resourceVersion":"3"},"status":{"conditions":[]}})");
  auto out = c.update_status(kube::kInfisicalSecrets, "ns", cr);
  CHECK(s.last() == "PUT /apis/secrets.infisical.com/v1alpha1/namespaces/ns/infisicalsecrets/x/status application/json");
  REQUIRE(out);
  CHECK(ifo::core::at_path(*out, {"status", "conditions"}) != nullptr);
}

TEST_CASE("delete sends DeleteOptions with the propagation policy and preconditions") {
  TestServer s;
  add_routes(s);
  s.start();
  kube::Client c(s.config());
  kube::DeleteOptions o;
  o.propagation = kube::Propagation::kForeground;
  o.precondition_uid = "u-1";
  c.remove(kube::kConfigMaps, "ns", "gone", o);
  CHECK(s.last().rfind("DELETE /api/v1/namespaces/ns/configmaps/gone", 0) == 0);
  auto body = ifo::core::parse_json(s.last_body);
  REQUIRE(body.ok());
  CHECK(ifo::core::string_or(**body, "propagationPolicy", "") == "Foreground");
  CHECK(ifo::core::at_path(**body, {"preconditions", "uid"})->GetString() == std::string("u-1"));
}

TEST_CASE("list fills apiVersion/kind into items; list_all follows continue tokens and falls back on 410") {
  TestServer s;
  add_routes(s);
  s.start();
  kube::Client c(s.config());
  kube::ListOptions o;
  o.limit = 2;
  o.label_selector = "app=x,tier!=db";
  auto page = c.list(kube::kConfigMaps, "ns", o);
  CHECK(page.items.size() == 2);
  CHECK(page.continue_token == "p2");
  CHECK(ifo::core::string_or(*page.items[0], "kind", "") == "ConfigMap");
  CHECK(ifo::core::string_or(*page.items[0], "apiVersion", "") == "v1");
  CHECK(s.last().find("labelSelector=app=x,tier!=db") != std::string::npos);

  auto all = c.list_all(kube::kConfigMaps, "ns", o);
  REQUIRE(all.items.size() == 3);
  CHECK(kube::meta_name(*all.items[2]) == "c3");
  CHECK(all.resource_version == "100");
  CHECK(all.continue_token.empty());

  kube::ListOptions expired;
  expired.limit = 2;
  expired.continue_token = "expired";
  auto fallback = c.list_all(kube::kConfigMaps, "ns", expired);
  REQUIRE(fallback.items.size() == 1);
  CHECK(kube::meta_name(*fallback.items[0]) == "all");
}

TEST_CASE("429 with Retry-After is retried; the retry limit gives up with a typed error") {
  TestServer s;
  std::atomic<int> calls{0};
  s.Get("/api/v1/namespaces/ns/secrets/busy", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls <= 2) {
      res.status = 429;
      res.set_header("Retry-After", "0");
      res.set_content(status_json(429, "TooManyRequests", "slow down"), "application/json");
      return;
    }
    res.set_content(kSecretA, "application/json");
  });
  s.Get("/api/v1/namespaces/ns/secrets/always-busy", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "0");
    res.set_content(status_json(429, "TooManyRequests", "slow down"), "application/json");
  });
  s.start();
  kube::Client c(s.config());
  CHECK(c.get(kube::kSecrets, "ns", "busy"));
  CHECK(calls == 3);
  const auto before = c.requests_sent();
  try {
    c.get(kube::kSecrets, "ns", "always-busy");
    FAIL("expected ApiError");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_too_many_requests());
    REQUIRE(e.retry_after());
    CHECK(e.retry_after()->count() == 0);
  }
  CHECK(c.requests_sent() - before == 4);  // 1 + max_retries (3)
}

TEST_CASE("connection refused is a TransportError") {
  // A port that was just free: bind an ephemeral port, read it back, close it without listening.
  int port = 0;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  kube::Config cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(port);
  cfg.qps = 0;
  kube::Client c(cfg);
  try {
    c.get(kube::kSecrets, "ns", "a");
    FAIL("expected TransportError");
  } catch (const kube::TransportError& e) {
    CHECK(e.kind() == kube::TransportError::Kind::kConnect);
  }
}

TEST_CASE("sequential requests reuse one connection") {
  TestServer s;
  add_routes(s);
  s.start();
  kube::Client c(s.config());
  for (int i = 0; i < 10; ++i) c.get(kube::kSecrets, "ns", "a");
  std::lock_guard lock(s.mu);
  CHECK(s.log.size() == 10);
  CHECK(s.client_ports.size() == 1);
}

TEST_CASE("the token file is re-read after the refresh period and on a 401") {
  auto dir = std::filesystem::temp_directory_path() / ("kube-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto token_path = (dir / "token").string();
  std::ofstream(token_path) << "tok-1\n";
  TestServer s;
  std::atomic<bool> only_tok3{false};
  s.Get("/api/v1/namespaces/ns/secrets/a", [&](const httplib::Request& req, httplib::Response& res) {
    if (only_tok3 && req.get_header_value("Authorization") != "Bearer tok-3") {
      res.status = 401;
      res.set_content(status_json(401, "Unauthorized", "Unauthorized"), "application/json");
      return;
    }
    res.set_content(kSecretA, "application/json");
  });
  s.start();
  core::FakeClock clock;
  auto cfg = s.config();
  cfg.token.clear();
  cfg.token_file = token_path;
  kube::ClientOptions opts;
  opts.clock = &clock;
  kube::Client c(cfg, opts);
  c.get(kube::kSecrets, "ns", "a");
  CHECK(s.last_auth == "Bearer tok-1");
  std::ofstream(token_path) << "tok-2\n";
  clock.step(30s);
  c.get(kube::kSecrets, "ns", "a");
  CHECK(s.last_auth == "Bearer tok-1");  // cached within the minute
  clock.step(31s);
  c.get(kube::kSecrets, "ns", "a");
  CHECK(s.last_auth == "Bearer tok-2");
  // A 401 forces an immediate re-read once.
  std::ofstream(token_path) << "tok-3\n";
  only_tok3 = true;
  c.get(kube::kSecrets, "ns", "a");
  CHECK(s.last_auth == "Bearer tok-3");
  std::filesystem::remove_all(dir);
}

TEST_CASE("watch streams events split across chunks, with bookmarks and an ERROR 410") {
  TestServer s;
  std::string query;
  s.Get("/api/v1/namespaces/ns/secrets", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(s.mu);
      query = "rv=" + req.get_param_value("resourceVersion") + " bm=" + req.get_param_value("allowWatchBookmarks") +
              " to=" + req.get_param_value("timeoutSeconds") + " w=" + req.get_param_value("watch");
    }
    res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
      std::string ev1 = R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}})";
      std::string ev2 = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"15"}}})";
      std::string ev3 = R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}})";
      std::string all = ev1 + "\n" + ev2 + "\n" + ev3 + "\n";
      // Deliberately odd chunk boundaries.
      for (size_t i = 0; i < all.size(); i += 13) sink.write(all.data() + i, std::min<size_t>(13, all.size() - i));
      sink.done();
      return true;
    });
  });
  s.start();
  kube::Client c(s.config());
  std::vector<kube::WatchEvent> got;
  kube::WatchOptions o;
  o.resource_version = "10";
  o.timeout_seconds = 60;
  c.watch(kube::kSecrets, "ns", o, [&](kube::WatchEvent& ev) {
    got.push_back(ev);
    return true;
  });
  REQUIRE(got.size() == 3);
  CHECK(got[0].type == kube::WatchEvent::Type::kAdded);
  CHECK(got[1].type == kube::WatchEvent::Type::kBookmark);
  CHECK(got[1].resource_version() == "15");
  CHECK(got[2].is_gone_error());
  CHECK(query == "rv=10 bm=true to=60 w=true");
}

TEST_CASE("a watch that never ends stops promptly when cancelled") {
  TestServer s;
  std::atomic<bool> server_stop{false};
  s.Get("/api/v1/secrets", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      std::string ev = R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})" "\n";
      sink.write(ev.data(), ev.size());
      for (int i = 0; i < 3000 && !server_stop; ++i) std::this_thread::sleep_for(10ms);  // a silent, open watch
      sink.done();
      return true;
    });
  });
  s.start();
  kube::Client c(s.config());
  std::atomic<bool> cancel{false};
  std::atomic<int> events{0};
  kube::WatchOptions o;
  o.cancel = &cancel;
  std::atomic<bool> aborted{false};
  std::thread watcher([&] {
    try {
      c.watch(kube::kSecrets, "", o, [&](kube::WatchEvent&) {
        ++events;
        return true;
      });
    } catch (const kube::TransportError& e) {
      aborted = e.is_aborted();
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (events == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  REQUIRE(events == 1);
  const auto t0 = std::chrono::steady_clock::now();
  cancel = true;
  watcher.join();
  const auto took = std::chrono::steady_clock::now() - t0;
  server_stop = true;
  CHECK(aborted.load());
  CHECK(took < 3s);
}

TEST_CASE("an error status when a watch starts throws ApiError (410 means relist)") {
  TestServer s;
  s.Get("/api/v1/namespaces/ns/secrets", [](const httplib::Request&, httplib::Response& res) {
    res.status = 410;
    res.set_content(status_json(410, "Expired", "too old resource version"), "application/json");
  });
  s.start();
  kube::Client c(s.config());
  kube::WatchOptions o;
  o.resource_version = "1";
  try {
    c.watch(kube::kSecrets, "ns", o, [](kube::WatchEvent&) { return true; });
    FAIL("expected ApiError");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_gone());
  }
}

TEST_CASE("TokenRequest and SubjectAccessReview helpers build the API objects and read the status") {
  TestServer s;
  s.Post("/api/v1/namespaces/ns/serviceaccounts/sa/token", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 201;
    res.set_content(R"({"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","spec":{},
      "status":{"token":"minted.jwt","expirationTimestamp":"2026-01-01T01:00:00Z"}})",
                    "application/json");
  });
  s.Post("/apis/authorization.k8s.io/v1/subjectaccessreviews", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 201;
    res.set_content(R"({"kind":"SubjectAccessReview","status":{"allowed":false,"denied":true,"reason":"no RBAC"}})",
                    "application/json");
  });
  s.start();
  kube::Client c(s.config());
  kube::TokenRequestOptions tro;
  tro.audiences = {"infisical"};
  tro.expiration_seconds = 600;
  auto tok = c.create_token("ns", "sa", tro);
  CHECK(tok.token == "minted.jwt");
  REQUIRE(tok.expiration);
  CHECK(kube::format_time(*tok.expiration) == "2026-01-01T01:00:00Z");
  {
    auto body = ifo::core::parse_json(s.last_body);
    REQUIRE(body.ok());
    CHECK(ifo::core::string_or(**body, "kind", "") == "TokenRequest");
    CHECK(ifo::core::at_path(**body, {"spec", "expirationSeconds"})->GetInt64() == 600);
    CHECK(ifo::core::at_path(**body, {"spec", "audiences"})->Size() == 1);
  }
  kube::AccessReviewSubject who;
  who.user = "alice";
  who.groups = {"dev"};
  kube::ResourceAttributes what;
  what.namespace_ = "other";
  what.verb = "get";
  what.resource = "secrets";
  what.name = "creds";
  auto r = c.create_subject_access_review(who, what);
  CHECK_FALSE(r.allowed);
  CHECK(r.denied);
  CHECK(r.reason == "no RBAC");
  auto body = ifo::core::parse_json(s.last_body);
  REQUIRE(body.ok());
  CHECK(ifo::core::at_path(**body, {"spec", "resourceAttributes", "verb"})->GetString() == std::string("get"));
  CHECK(ifo::core::at_path(**body, {"spec", "user"})->GetString() == std::string("alice"));
}

TEST_CASE("TLS: a kubeconfig's CA data verifies the server; another CA is refused; the token travels only over TLS") {
  auto cert = ifo::testing::make_test_certificate({"localhost"}, {"127.0.0.1"});
  auto svr = ifo::testing::make_tls_server(cert);
  std::string auth;
  std::mutex mu;
  svr->Get("/api/v1/namespaces/ns/secrets/a", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    auth = req.get_header_value("Authorization");
    res.set_content(kSecretA, "application/json");
  });
  const int port = svr->bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread t([&] { svr->listen_after_bind(); });
  struct Stop {
    httplib::SSLServer& s;
    std::thread& t;
    ~Stop() {
      s.stop();
      t.join();
    }
  } stop{*svr, t};

  auto b64 = [](const std::string& s) {
    static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned buf = 0;
    int bits = 0;
    for (unsigned char ch : s) {
      buf = (buf << 8) | ch;
      bits += 8;
      while (bits >= 6) out += tbl[(buf >> (bits -= 6)) & 63];
    }
    if (bits > 0) out += tbl[(buf << (6 - bits)) & 63];
    while (out.size() % 4 != 0) out += '=';
    return out;
  };
  const std::string kubeconfig = "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
                                 "clusters:\n- name: sim\n  cluster:\n    server: https://127.0.0.1:" +
                                 std::to_string(port) + "\n    certificate-authority-data: " + b64(cert.ca_pem) +
                                 "\ncontexts:\n- name: sim\n  context: {cluster: sim, user: admin}\n"
                                 "users:\n- name: admin\n  user: {token: tls-token}\n";
  auto cfg = kube::parse_kubeconfig(kubeconfig, "/tmp/kc");
  cfg.qps = 0;
  kube::Client c(cfg);
  auto obj = c.get(kube::kSecrets, "ns", "a");
  REQUIRE(obj);
  {
    std::lock_guard lock(mu);
    CHECK(auth == "Bearer tls-token");
  }

  // A client trusting a different CA must refuse the server (and so never send it the token).
  auto other = ifo::testing::make_test_certificate({"localhost"}, {"127.0.0.1"});
  auto wrong = cfg;
  wrong.tls.ca_pem = other.ca_pem;
  wrong.token = "must-not-leak";
  kube::Client wc(wrong);
  try {
    wc.get(kube::kSecrets, "ns", "a");
    FAIL("expected a TLS error");
  } catch (const kube::TransportError& e) {
    CHECK(e.kind() == kube::TransportError::Kind::kTls);
    CHECK(std::string(e.what()).find("must-not-leak") == std::string::npos);
  }
  {
    std::lock_guard lock(mu);
    CHECK(auth == "Bearer tls-token");
  }
  // insecure-skip-tls-verify connects without a CA.
  auto insecure = cfg;
  insecure.tls.ca_pem.clear();
  insecure.tls.insecure_skip_verify = true;
  kube::Client ic(insecure);
  CHECK(ic.get(kube::kSecrets, "ns", "a"));
}
