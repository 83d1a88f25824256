// The webhook's TLS server on a loopback ephemeral port: bad input gets the right status and the
// process stays up; TLS below 1.2 is refused; replaced certificate files are served to new
// connections with no failed request; health, readiness and metrics answer on the plain port.
#include <doctest/doctest.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "certs-gen/crypto.h"
#include "certs-gen/files.h"
#include "core/base64.h"
#include "core/json.h"
#include "net/http_client.h"
#include "webhook/admission.h"
#include "webhook/digest_cache.h"
#include "webhook/server.h"

using namespace ifo;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

struct Pki {
  std::string ca;
  certsgen::KeyCert ca_pair;
  certsgen::KeyCert leaf;
};

Pki make_pki() {
  auto now = time_point_cast<seconds>(system_clock::now());
  auto ca = certsgen::generate_ca("test-ca", now - minutes(5), hours(24));
  REQUIRE(ca.ok());
  certsgen::ServingRequest req;
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1"};
  req.not_before = now - minutes(5);
  req.validity = hours(2);
  auto leaf = certsgen::issue_serving(*ca, req);
  REQUIRE(leaf.ok());
  return Pki{ca->cert_pem, *ca, *leaf};
}

class Fixture {
 public:
  Fixture() : dir_(fs::temp_directory_path() / ("webhook-http-" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    pki = make_pki();
    write(pki.leaf);
    certs = std::make_unique<webhook::CertStore>((dir_ / "tls.crt").string(), (dir_ / "tls.key").string());
    handler = std::make_unique<webhook::AdmissionHandler>(webhook::CrossNamespacePolicy::kAllow, nullptr, &cache);
    webhook::ServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.health_port = 0;
    o.workers = 4;
    o.read_timeout = seconds(2);
    o.cert_poll_interval = milliseconds(100);
    auto log = std::make_shared<spdlog::logger>("webhook-test", std::make_shared<spdlog::sinks::null_sink_mt>());
    server = std::make_unique<webhook::WebhookServer>(o, *handler, *certs, metrics,
                                                      [this] { return cache.synced() ? "" : "digest cache not synced"; }, log);
    auto started = server->start();
    REQUIRE_MESSAGE(started.ok(), (started.ok() ? "" : started.error()));
  }
  ~Fixture() {
    server->stop();
    fs::remove_all(dir_);
  }
  void write(const certsgen::KeyCert& pair) {
    certsgen::Material m{pki.ca, "", pair.cert_pem, pair.key_pem};
    REQUIRE(certsgen::write_material(dir_.string(), m, false).ok());
  }
  std::string url(const std::string& path) const { return "https://127.0.0.1:" + std::to_string(server->port()) + path; }
  std::string health(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server->health_port()) + path;
  }
  net::Response post(net::HttpClient& client, const std::string& path, std::string body,
                     std::string content_type = "application/json") {
    net::Request r;
    r.method = "POST";
    r.url = url(path);
    r.body = std::move(body);
    if (!content_type.empty()) r.headers.push_back({"Content-Type", content_type});
    r.total_timeout = milliseconds(10000);
    return client.perform(r);
  }

  fs::path dir_;
  Pki pki;
  webhook::DigestCache cache;
  webhook::Metrics metrics;
  std::unique_ptr<webhook::CertStore> certs;
  std::unique_ptr<webhook::AdmissionHandler> handler;
  std::unique_ptr<webhook::WebhookServer> server;
};

const std::string kValidReview =
    R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"abc-1",
    "kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"CREATE","namespace":"apps",
    "object":{"metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[]}}}}}})";

// Completes a TLS handshake with raw OpenSSL and returns the server certificate's PEM ("" on failure).
std::string handshake(int port, int max_version = 0) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (max_version) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_security_level(ctx, 0);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string pem;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      X509* peer = SSL_get1_peer_certificate(ssl);
      BIO* bio = BIO_new(BIO_s_mem());
      PEM_write_bio_X509(bio, peer);
      char* data = nullptr;
      long n = BIO_get_mem_data(bio, &data);
      pem.assign(data, static_cast<size_t>(n));
      BIO_free(bio);
      X509_free(peer);
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  ERR_clear_error();
  ::close(fd);
  SSL_CTX_free(ctx);
  return pem;
}

}  // namespace

TEST_CASE("bad input gets the right status code and the server keeps serving") {
  Fixture f;
  net::TlsOptions tls;
  tls.ca_pem = f.pki.ca;
  net::HttpClient client(tls);
  struct Case {
    std::string name;
    std::string body;
    std::string content_type;
    long status;
    std::string fragment;
  };
  std::string truncated = kValidReview.substr(0, kValidReview.size() / 2);
  std::vector<Case> cases = {
      {"empty body", "", "application/json", 400, "empty request body"},
      {"not JSON", "hello", "application/json", 400, "not JSON"},
      {"wrong content type", kValidReview, "text/plain", 400, "Content-Type must be application/json"},
      {"form content type", kValidReview, "application/x-www-form-urlencoded", 400, "Content-Type"},
      {"truncated JSON", truncated, "application/json", 400, "not JSON"},
      {"wrong kind", R"({"apiVersion":"admission.k8s.io/v1","kind":"Status","request":{"uid":"x"}})", "application/json",
       400, "kind must be AdmissionReview"},
      {"wrong apiVersion", R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}})",
       "application/json", 400, "admission.k8s.io/v1"},
      {"8 MiB body", std::string(8 * 1024 * 1024, ' '), "application/json", 413, "larger than"},
      {"charset parameter is fine", kValidReview, "application/json; charset=utf-8", 200, "abc-1"},
  };
  for (std::string path : {"/validate-infisicalsecret", "/mutate-workload"}) {
    for (const auto& c : cases) {
      CAPTURE(c.name);
      CAPTURE(path);
      auto r = f.post(client, path, c.body, c.content_type);
      CHECK(r.status == c.status);
      CHECK(r.body.find(c.fragment) != std::string::npos);
      // Still up: a valid request right after each bad one.
      auto ok = f.post(client, "/mutate-workload", kValidReview);
      CHECK(ok.status == 200);
      CHECK(ok.body.find(R"("uid":"abc-1")") != std::string::npos);
    }
  }
  // Unknown paths are 404 and counted apart.
  CHECK(f.post(client, "/elsewhere", kValidReview).status == 404);
  // The metrics are recorded just after the response is written: wait for the last one.
  auto deadline = steady_clock::now() + seconds(5);
  while (f.metrics.count("other", "http_404") < 1 && steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(2));
  CHECK(f.metrics.count("/mutate-workload", "bad_request") == 7);
  CHECK(f.metrics.count("/mutate-workload", "http_413") == 1);
  CHECK(f.metrics.count("other", "http_404") == 1);
}

TEST_CASE("TLS 1.1 and older are refused; TLS 1.2 and 1.3 work") {
  Fixture f;
  CHECK(handshake(f.server->port(), TLS1_1_VERSION).empty());
  CHECK_FALSE(handshake(f.server->port(), TLS1_2_VERSION).empty());
  CHECK_FALSE(handshake(f.server->port()).empty());
}

TEST_CASE("replaced certificate files reach new connections without a restart or a failed request") {
  Fixture f;
  const std::string first = handshake(f.server->port());
  REQUIRE(first == certsgen::parse_certificates(f.pki.leaf.cert_pem).value().front().pem);
  // The replacement comes from a new CA; clients trust both during the switch.
  Pki next = make_pki();
  net::TlsOptions tls;
  tls.ca_pem = f.pki.ca + next.ca;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  auto load = [&](bool fresh_connections) {
    net::HttpClient shared(tls);
    for (int i = 0; i < 100000 && !stop; ++i) {
      try {
        std::unique_ptr<net::HttpClient> own;
        if (fresh_connections) own = std::make_unique<net::HttpClient>(tls);
        auto r = f.post(fresh_connections ? *own : shared, "/mutate-workload", kValidReview);
        (r.status == 200 ? ok : failed)++;
      } catch (const std::exception&) {
        failed++;
      }
    }
  };
  std::thread keepalive(load, false);
  std::thread fresh(load, true);
  auto deadline = steady_clock::now() + seconds(5);
  while (ok < 20 && steady_clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  f.pki.ca = next.ca;
  f.write(next.leaf);
  const std::string want = certsgen::parse_certificates(next.leaf.cert_pem).value().front().pem;
  std::string served;
  deadline = steady_clock::now() + seconds(10);
  while (steady_clock::now() < deadline) {
    served = handshake(f.server->port());
    if (served == want) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  const int ok_at_switch = ok;
  deadline = steady_clock::now() + seconds(5);
  while (ok < ok_at_switch + 20 && steady_clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  stop = true;
  keepalive.join();
  fresh.join();
  CHECK(served == want);
  CHECK(f.certs->generation() == 2);
  CHECK(ok > ok_at_switch);
  CHECK(failed == 0);
  MESSAGE("requests during the switch: ok=" << ok.load() << " failed=" << failed.load());
}

TEST_CASE("a half-written pair (key not matching) is not loaded; the old certificate keeps serving") {
  Fixture f;
  const std::string before = handshake(f.server->port());
  Pki other = make_pki();
  // Only the key changes: the pair no longer matches, so nothing new goes live.
  certsgen::write_file_atomic((f.dir_ / "tls.key").string(), other.leaf.key_pem, true);
  auto r = f.certs->reload();
  CHECK_FALSE(r.ok());
  CHECK(r.error().find("does not match") != std::string::npos);
  CHECK(handshake(f.server->port()) == before);
  CHECK(f.certs->generation() == 1);
}

TEST_CASE("health, readiness and metrics on the plain port") {
  Fixture f;
  net::HttpClient client;
  net::Request r;
  r.url = f.health("/healthz");
  CHECK(client.perform(r).status == 200);
  r.url = f.health("/readyz");
  auto not_ready = client.perform(r);
  CHECK(not_ready.status == 503);
  CHECK(not_ready.body.find("digest cache not synced") != std::string::npos);
  f.cache.replace({}, steady_clock::now());
  CHECK(client.perform(r).status == 200);
  net::TlsOptions tls;
  tls.ca_pem = f.pki.ca;
  net::HttpClient tls_client(tls);
  CHECK(f.post(tls_client, "/mutate-workload", kValidReview).status == 200);
  auto deadline = steady_clock::now() + seconds(5);
  while (f.metrics.count("/mutate-workload", "allowed") < 1 && steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(2));
  f.metrics.set_gauge_source([&] {
    return std::map<std::string, double>{{"infisical_webhook_serving_certificate_expiry_timestamp_seconds",
                                          static_cast<double>(f.certs->not_after())}};
  });
  r.url = f.health("/metrics");
  auto m = client.perform(r);
  CHECK(m.status == 200);
  CHECK(m.body.find(R"(infisical_webhook_requests_total{path="/mutate-workload",result="allowed"} 1)") !=
        std::string::npos);
  CHECK(m.body.find("infisical_webhook_request_duration_seconds_bucket{path=\"/mutate-workload\",le=\"+Inf\"} 1") !=
        std::string::npos);
  CHECK(m.body.find("infisical_webhook_serving_certificate_expiry_timestamp_seconds " +
                    std::to_string(f.certs->not_after())) != std::string::npos);
}
