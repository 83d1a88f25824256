// The connect-time address guard and the no-redirect rule (DESIGN.md §8), against loopback listeners: a
// guarded client never opens a connection to a refused address (the listener's accept queue stays empty),
// an allowed range admits it, and a redirect is never followed, through net::HttpClient and through
// infisical::Client, which turns both into a clear kHostNotAllowed error.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "core/address_range.h"
#include "core/clock.h"
#include "infisical/client.h"
#include "net/http_client.h"

using namespace ifo;

namespace {

// A listening socket on 127.0.0.1 that never accepts on its own: a connection made to it waits in the
// accept queue, so connections() sees every connection any client ever opened, without a race.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int port() const { return port_; }

  // Connections queued so far (each is accepted and closed).
  int connections() {
    int n = 0;
    for (;;) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        REQUIRE_MESSAGE((errno == EAGAIN || errno == EWOULDBLOCK), "accept failed, errno ", errno);
        return n;
      }
      close(c);
      ++n;
    }
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// An HTTP server on 127.0.0.1 that counts requests; every path answers with `answer`.
struct Server {
  httplib::Server svr;
  std::thread thread;
  std::atomic<int> requests{0};
  int port = 0;

  explicit Server(std::function<void(const httplib::Request&, httplib::Response&)> answer) {
    auto h = [this, answer](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      answer(req, res);
    };
    svr.Get(".*", h);
    svr.Post(".*", h);
    port = svr.bind_to_any_port("127.0.0.1");  // listening from here on: no readiness wait needed
    REQUIRE(port > 0);
    thread = std::thread([this] { svr.listen_after_bind(); });
  }
  ~Server() {
    svr.stop();
    thread.join();
  }
};

void answer_ok(const httplib::Request&, httplib::Response& res) {
  res.set_content(R"({"ok":true})", "application/json");
}

net::AddressPolicy guarded(const std::vector<std::string>& allowed = {}) {
  auto ranges = core::parse_address_ranges(allowed);
  REQUIRE(ranges.ok());
  return net::AddressPolicy{true, *ranges};
}

net::Request get(const std::string& url) {
  net::Request r;
  r.url = url;
  // Short: were the guard gone, a listener that never answers would hold the request this long.
  r.connect_timeout = std::chrono::seconds(2);
  r.total_timeout = std::chrono::seconds(5);
  r.headers.emplace_back("Authorization", "Bearer token-that-must-not-leak");
  return r;
}

}  // namespace

TEST_CASE("a guarded client refuses a loopback address before connecting: the listener sees no connection") {
  Listener listener;
  net::HttpClient client({}, net::HttpClient::default_user_agent(), guarded());
  const std::string url =
      fmt::format("http://127.0.0.1:{}/api/v1/auth/universal-auth/login?secret=q", listener.port());
  try {
    client.perform(get(url));
    FAIL("the request went through");
  } catch (const net::AddressRefusedError& e) {
    CHECK(e.kind() == net::TransportError::Kind::kConnect);
    CHECK(e.host() == "127.0.0.1");
    CHECK(e.address() == "127.0.0.1");
    CHECK(e.range().to_string() == "127.0.0.0/8");
    CHECK(std::string(e.what()) ==
          "connection to 127.0.0.1 refused: its address 127.0.0.1 is in 127.0.0.0/8 (loopback), which the "
          "operator "
          "does not connect to; an admin may allow the range with --allowed-address-ranges");
    CHECK(std::string(e.what()).find("token-that-must-not-leak") == std::string::npos);
  }
  CHECK(listener.connections() == 0);
}

TEST_CASE("a name resolving to loopback is refused the same way, every address of it") {
  // "localhost" resolves to 127.0.0.1 and ::1: both are refused, so nothing is connected.
  Listener listener;
  net::HttpClient client({}, net::HttpClient::default_user_agent(), guarded());
  try {
    client.perform(get(fmt::format("http://localhost:{}/", listener.port())));
    FAIL("the request went through");
  } catch (const net::AddressRefusedError& e) {
    CHECK(e.host() == "localhost");
    CHECK(std::string(e.what()).rfind("connection to localhost refused: its address ", 0) == 0);
    CHECK(std::string(e.what()).find("(loopback)") != std::string::npos);
  }
  CHECK(listener.connections() == 0);
}

TEST_CASE("the cloud metadata address is refused before any connection attempt") {
  // Nothing can listen on 169.254.169.254 here; an unguarded client would try to connect and time out
  // (a plain TransportError), the guarded one refuses at once with the range named.
  net::HttpClient client({}, net::HttpClient::default_user_agent(), guarded());
  auto started = std::chrono::steady_clock::now();
  try {
    client.perform(get("http://169.254.169.254/latest/meta-data/iam/security-credentials/"));
    FAIL("the request went through");
  } catch (const net::AddressRefusedError& e) {
    CHECK(e.address() == "169.254.169.254");
    CHECK(e.range().to_string() == "169.254.0.0/16");
    CHECK(std::string(e.what()).find("cloud metadata") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
  // (Not tried with the range allowed: on a cloud machine something may really answer there.)
}

TEST_CASE("an allowed range admits the address; a refused address of the same name is still skipped") {
  Server server(answer_ok);
  net::HttpClient client({}, net::HttpClient::default_user_agent(), guarded({"127.0.0.0/8"}));
  auto r = client.perform(get(fmt::format("http://127.0.0.1:{}/ok", server.port)));
  CHECK(r.status == 200);
  CHECK(r.body == R"({"ok":true})");
  // localhost's ::1 stays refused; its 127.0.0.1 is allowed and answers.
  r = client.perform(get(fmt::format("http://localhost:{}/ok", server.port)));
  CHECK(r.status == 200);
  CHECK(server.requests == 2);
}

TEST_CASE("an unguarded client (the Kubernetes and cloud-metadata clients) connects to loopback as before") {
  Server server(answer_ok);
  net::HttpClient client;
  CHECK(client.perform(get(fmt::format("http://127.0.0.1:{}/ok", server.port))).status == 200);
  CHECK(server.requests == 1);
}

TEST_CASE("a redirect is returned, never followed: the second listener sees no connection") {
  Listener second;
  const std::string target = fmt::format("http://127.0.0.1:{}/stolen", second.port());
  Server first([&](const httplib::Request&, httplib::Response& res) { res.set_redirect(target, 302); });
  for (bool guard : {false, true}) {
    CAPTURE(guard);
    net::HttpClient client({}, net::HttpClient::default_user_agent(),
                           guard ? guarded({"127.0.0.0/8"}) : net::AddressPolicy{});
    auto r =
        client.perform(get(fmt::format("http://127.0.0.1:{}/api/v1/auth/universal-auth/login", first.port)));
    CHECK(r.status == 302);
    CHECK(r.header("location") == target);
  }
  CHECK(first.requests == 2);
  CHECK(second.connections() == 0);
}

TEST_CASE("url_origin resolves a Location against the request and names the host") {
  auto o = net::url_origin("https://Infisical.Example.com/api/x?q=1");
  REQUIRE(o);
  CHECK(o->host == "infisical.example.com");
  CHECK(o->port == 443);
  CHECK(o->display() == "infisical.example.com");
  o = net::url_origin("/elsewhere", "http://127.0.0.1:8080/api");
  REQUIRE(o);
  CHECK(o->display() == "127.0.0.1:8080");
  o = net::url_origin("https://other.example.com:8443/x", "http://127.0.0.1:8080/api");
  REQUIRE(o);
  CHECK(o->display() == "other.example.com:8443");
  CHECK_FALSE(net::url_origin("/relative-without-base"));
}

namespace {

// infisical::Client with the syncer's wiring: every Infisical host transport carries the policy.
struct GuardedInfisical {
  core::FakeClock clock;
  infisical::Client client;

  explicit GuardedInfisical(net::AddressPolicy policy)
      : client(infisical::ClientOptions{}, clock, infisical::CloudEnv{},
               std::make_shared<spdlog::logger>("test"),
               [policy](const std::string&, const std::string& ca_pem) {
                 net::TlsOptions tls;
                 tls.ca_pem = ca_pem;
                 return std::make_shared<infisical::CurlTransport>(tls, net::HttpClient::default_user_agent(),
                                                                   policy);
               }) {}

  // A universal-auth login against `base_url`; the error it ends with.
  infisical::ApiError login_error(const std::string& base_url) {
    try {
      client.token(infisical::HostConfig{base_url, ""},
                   infisical::UniversalAuth{"client-id-1", "client-secret-xyz"});
    } catch (const infisical::ApiError& e) {
      return e;
    }
    FAIL("the login succeeded");
    return infisical::ApiError(infisical::ErrorKind::kInvalidResponse, "unreachable");
  }
};

}  // namespace

TEST_CASE("infisical::Client: a refused host address is a kHostNotAllowed error, never a connection") {
  Listener listener;
  GuardedInfisical inf(guarded());
  auto e = inf.login_error(fmt::format("http://127.0.0.1:{}/api", listener.port()));
  CHECK(e.kind() == infisical::ErrorKind::kHostNotAllowed);
  CHECK(infisical::to_string(e.kind()) == "HostNotAllowed");
  CHECK_FALSE(e.retry_after().has_value());
  CHECK_FALSE(e.possible_rate_limit());
  const std::string what = e.what();
  CHECK(what.find("connection to 127.0.0.1 refused: its address 127.0.0.1 is in 127.0.0.0/8 (loopback)") !=
        std::string::npos);
  CHECK(what.find("--allowed-address-ranges") != std::string::npos);
  CHECK(what.find("client-secret-xyz") == std::string::npos);
  CHECK(listener.connections() == 0);
}

TEST_CASE("infisical::Client: a redirect to another host is not followed and says where it pointed") {
  Listener second;
  Server first([&](const httplib::Request&, httplib::Response& res) {
    res.set_header("Retry-After", "1");  // never read as a rate limit on a redirect
    res.set_redirect(fmt::format("http://localhost:{}/api/v1/auth/universal-auth/login?k=v", second.port()),
                     307);
  });
  GuardedInfisical inf(guarded({"127.0.0.0/8", "::1"}));
  auto e = inf.login_error(fmt::format("http://127.0.0.1:{}/api", first.port));
  CHECK(e.kind() == infisical::ErrorKind::kHostNotAllowed);
  CHECK(e.status() == 307);
  CHECK_FALSE(e.retry_after().has_value());
  CHECK_FALSE(e.possible_rate_limit());
  const std::string what = e.what();
  CHECK(what.find(fmt::format("HTTP 307: the redirect to localhost:{} was not followed", second.port())) !=
        std::string::npos);
  CHECK(what.find("k=v") == std::string::npos);  // only the host is named
  CHECK(first.requests == 1);
  CHECK(second.connections() == 0);
}

TEST_CASE("infisical::Client: a redirect on the same host is not followed either, a plain error") {
  Server server([](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/api/", 0) == 0) res.set_redirect("/elsewhere/login", 301);
  });
  GuardedInfisical inf(guarded({"127.0.0.0/8"}));
  auto e = inf.login_error(fmt::format("http://127.0.0.1:{}/api", server.port));
  CHECK(e.kind() == infisical::ErrorKind::kInvalidResponse);
  CHECK(e.status() == 301);
  CHECK(std::string(e.what()).find(
            fmt::format("the redirect to 127.0.0.1:{} was not followed", server.port)) != std::string::npos);
  CHECK(server.requests == 1);
}

TEST_CASE("error_from_response: a 3xx without the request URL or without a Location") {
  const auto now = std::chrono::system_clock::now();
  net::Response r;
  r.status = 302;
  r.headers = {{"location", "https://evil.example.net/steal?token=abc"}};
  // A transport that does not say which URL answered: an absolute Location counts as another host.
  auto e = infisical::error_from_response("login", r, false, now);
  CHECK(e.kind() == infisical::ErrorKind::kHostNotAllowed);
  CHECK(std::string(e.what()) ==
        "login: HTTP 302: the redirect to evil.example.net was not followed (the operator "
        "never follows redirects; hostAPI must name the server that answers)");
  r.url = "https://EVIL.example.net/api/v1/auth/universal-auth/login";
  CHECK(infisical::error_from_response("login", r, false, now).kind() ==
        infisical::ErrorKind::kInvalidResponse);
  r.headers.clear();
  e = infisical::error_from_response("login", r, true, now);
  CHECK(e.kind() == infisical::ErrorKind::kInvalidResponse);
  CHECK(std::string(e.what()) ==
        "login: HTTP 302 redirect without a usable Location; redirects are not followed");
  CHECK_FALSE(e.possible_rate_limit());
}
