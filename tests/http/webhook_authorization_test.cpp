// SubjectAccessReviews off the event loop: the webhook's TLS server with one event-loop thread and the
// SarAuthorizer over an API whose SubjectAccessReviews the test holds. A review that does not come in
// time denies with "could not verify" by the deadline while requests needing none are answered
// meanwhile; identical checks share one review; a flood of forged users is refused at once past the
// pending limit.
#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "certs-gen/crypto.h"
#include "certs-gen/files.h"
#include "core/json.h"
#include "memory_api.h"
#include "net/http_client.h"
#include "webhook/admission.h"
#include "webhook/digest_cache.h"
#include "webhook/sar_authorizer.h"
#include "webhook/server.h"

using namespace ifo;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

// Holds every SubjectAccessReview until open() (answers: allowed), counting them as they arrive.
class Gate {
 public:
  kube::AccessReviewResult review() {
    std::unique_lock lock(mu_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    kube::AccessReviewResult r;
    r.allowed = true;
    return r;
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits (bounded) until `n` reviews have arrived; true if they did.
  bool wait_arrived(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, seconds(20), [&] { return arrived_ >= n; });
  }
  int arrived() {
    std::lock_guard lock(mu_);
    return arrived_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  bool open_ = false;
};

class Fixture {
 public:
  explicit Fixture(webhook::SarAuthorizerOptions sar)
      : dir_(fs::temp_directory_path() / ("webhook-authz-" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto now = time_point_cast<seconds>(system_clock::now());
    auto ca = certsgen::generate_ca("test-ca", now - minutes(5), hours(24));
    REQUIRE(ca.ok());
    certsgen::ServingRequest req;
    req.ip_addresses = {"127.0.0.1"};
    req.not_before = now - minutes(5);
    req.validity = hours(2);
    auto leaf = certsgen::issue_serving(*ca, req);
    REQUIRE(leaf.ok());
    ca_pem = ca->cert_pem;
    REQUIRE(certsgen::write_material(dir_.string(),
                                     certsgen::Material{ca_pem, "", leaf->cert_pem, leaf->key_pem}, false)
                .ok());
    certs = std::make_unique<webhook::CertStore>((dir_ / "tls.crt").string(), (dir_ / "tls.key").string());
    api.access_review = [this](const kube::AccessReviewSubject&, const kube::ResourceAttributes&) {
      return gate.review();
    };
    authorizer = std::make_unique<webhook::SarAuthorizer>(api, sar);
    // References into other namespaces need no grant here: only the user's own rights are at stake.
    core::TrustPolicy trust;
    trust.cross_namespace_without_grant = true;
    handler = std::make_unique<webhook::AdmissionHandler>(webhook::CrossNamespacePolicy::kAuthorize, nullptr,
                                                          &cache, trust);
    webhook::ServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.health_port = -1;
    o.workers = 1;  // one event loop: a request that blocked it would hold every other one
    auto log =
        std::make_shared<spdlog::logger>("webhook-test", std::make_shared<spdlog::sinks::null_sink_mt>());
    server = std::make_unique<webhook::WebhookServer>(
        o, *handler, *certs, metrics, [] { return std::string(); }, log, authorizer.get());
    auto started = server->start();
    REQUIRE_MESSAGE(started.ok(), (started.ok() ? "" : started.error()));
  }
  ~Fixture() {
    gate.open();
    server->stop();
    authorizer.reset();
    fs::remove_all(dir_);
  }

  // One POST on a client of its own (a connection of its own).
  net::Response post(const std::string& path, const std::string& body) {
    net::TlsOptions tls;
    tls.ca_pem = ca_pem;
    net::HttpClient client(tls);
    net::Request r;
    r.method = "POST";
    r.url = "https://127.0.0.1:" + std::to_string(server->port()) + path;
    r.body = body;
    r.headers.push_back({"Content-Type", "application/json"});
    r.total_timeout = milliseconds(30000);
    return client.perform(r);
  }

  fs::path dir_;
  std::string ca_pem;
  Gate gate;
  test::MemoryApi api;
  webhook::DigestCache cache;
  webhook::Metrics metrics;
  std::unique_ptr<webhook::SarAuthorizer> authorizer;
  std::unique_ptr<webhook::CertStore> certs;
  std::unique_ptr<webhook::AdmissionHandler> handler;
  std::unique_ptr<webhook::WebhookServer> server;
};

// An InfisicalSecret CREATE in namespace apps by `user`; with `creds_ns` other than apps its
// credentials Secret is in another namespace, which needs a SubjectAccessReview for that user.
std::string review(const std::string& uid, const std::string& user, const std::string& creds_ns) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" + uid +
         R"(","kind":{"group":"secrets.infisical.com","version":"v1alpha1","kind":"InfisicalSecret"},
    "operation":"CREATE","namespace":"apps","userInfo":{"username":")" +
         user + R"(","groups":["tenants"]},
    "object":{"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret",
      "metadata":{"name":"demo","namespace":"apps"},
      "spec":{"resyncInterval":60,
        "authentication":{"universalAuth":{"credentialsRef":{"secretName":"creds","secretNamespace":")" +
         creds_ns +
         R"("},"secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}}},
        "managedSecretReference":{"secretName":"managed","secretNamespace":"apps","secretType":"Opaque",
          "creationPolicy":"Orphan"}}}}})";
}

const std::string kWorkload =
    R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deploy-1",
    "kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"CREATE","namespace":"apps",
    "object":{"metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[]}}}}}})";

struct Verdict {
  bool allowed = false;
  std::string message;
};

Verdict verdict(const net::Response& r) {
  REQUIRE(r.status == 200);
  auto doc = core::parse_json(r.body);
  REQUIRE(doc.ok());
  const core::JsonValue& response = (**doc)["response"];
  Verdict v;
  v.allowed = response["allowed"].GetBool();
  if (auto* st = core::member(response, "status")) v.message = core::string_or(*st, "message", "");
  return v;
}

}  // namespace

TEST_CASE(
    "a SubjectAccessReview not answered in time denies by the deadline; requests needing none are not held") {
  webhook::SarAuthorizerOptions sar;
  sar.deadline = milliseconds(1500);
  Fixture f(sar);
  std::atomic<bool> slow_done{false};
  net::Response slow;
  const auto sent = steady_clock::now();
  std::thread asker([&] {
    slow = f.post("/validate-infisicalsecret", review("slow-1", "tenant", "shared"));
    slow_done = true;
  });
  // The review is with the API server (held there): the loop has parked the request.
  REQUIRE(f.gate.wait_arrived(1));
  // Meanwhile, on the same single event loop, requests that need no review are answered.
  const auto fast_sent = steady_clock::now();
  auto mutated = f.post("/mutate-workload", kWorkload);
  auto validated = f.post("/validate-infisicalsecret", review("fast-1", "tenant", "apps"));
  const auto fast_took = steady_clock::now() - fast_sent;
  CHECK(mutated.status == 200);
  CHECK(verdict(validated).allowed);
  CHECK_FALSE(slow_done.load());  // answered while the slow one was still waiting
  CHECK(fast_took < milliseconds(1500));
  asker.join();
  const auto took = steady_clock::now() - sent;
  const Verdict v = verdict(slow);
  CHECK_FALSE(v.allowed);
  CHECK(v.message.find(
            "could not verify whether user \"tenant\" may get secrets \"creds\" in namespace shared") !=
        std::string::npos);
  CHECK(v.message.find("did not answer the SubjectAccessReview within 1500ms") != std::string::npos);
  CHECK(took >= milliseconds(1400));
  CHECK(took < milliseconds(4500));  // well before the API server's own timeout (the chart's 5 s)
  CHECK(f.authorizer->timed_out() == 1);
}

TEST_CASE("identical checks in flight share one SubjectAccessReview, and its answer is cached") {
  webhook::SarAuthorizerOptions sar;
  sar.deadline = milliseconds(20000);  // the test opens the gate itself
  sar.cache_ttl = seconds(60);
  Fixture f(sar);
  std::vector<std::thread> askers;
  std::vector<net::Response> answers(3);
  for (size_t i = 0; i < answers.size(); ++i)
    askers.emplace_back([&, i] {
      answers[i] =
          f.post("/validate-infisicalsecret", review("same-" + std::to_string(i), "tenant", "shared"));
    });
  REQUIRE(f.gate.wait_arrived(1));
  // Every request waits for the one review before its answer is let out.
  for (int i = 0; i < 2000 && f.authorizer->waiting() < answers.size(); ++i)
    std::this_thread::sleep_for(milliseconds(10));
  CHECK(f.authorizer->waiting() == answers.size());
  CHECK(f.authorizer->pending() == 1);
  f.gate.open();
  for (auto& t : askers) t.join();
  for (auto& a : answers) CHECK(verdict(a).allowed);
  CHECK(f.gate.arrived() == 1);
  CHECK(f.authorizer->reviews_sent() == 1);
  // Answered from the cache: no new review.
  CHECK(verdict(f.post("/validate-infisicalsecret", review("same-4", "tenant", "shared"))).allowed);
  CHECK(f.authorizer->reviews_sent() == 1);
}

TEST_CASE("a flood of forged users is bounded: past the pending limit they are denied at once") {
  webhook::SarAuthorizerOptions sar;
  sar.deadline = milliseconds(20000);  // the test opens the gate itself
  sar.threads = 2;
  sar.max_pending = 4;
  Fixture f(sar);
  constexpr int kForged = 12;
  std::vector<std::thread> askers;
  std::vector<net::Response> answers(kForged);
  std::atomic<int> done{0};
  for (int i = 0; i < kForged; ++i)
    askers.emplace_back([&, i] {
      answers[static_cast<size_t>(i)] =
          f.post("/validate-infisicalsecret",
                 review("forged-" + std::to_string(i), "forged-" + std::to_string(i), "shared"));
      ++done;
    });
  // The gate is shut: only refusals can answer. Every request past the fourth is refused at once.
  for (int i = 0; i < 2000 && done.load() < kForged - 4; ++i) std::this_thread::sleep_for(milliseconds(10));
  CHECK(done.load() == kForged - 4);
  CHECK(f.authorizer->pending() == 4);
  CHECK(f.authorizer->refused_busy() == kForged - 4);
  CHECK(f.gate.arrived() <= 2);  // two sending threads
  // The flood holds no event loop: a request needing no review is answered meanwhile.
  CHECK(f.post("/mutate-workload", kWorkload).status == 200);
  f.gate.open();
  for (auto& t : askers) t.join();
  int allowed = 0;
  int busy = 0;
  for (auto& a : answers) {
    const Verdict v = verdict(a);
    if (v.allowed)
      ++allowed;
    else if (v.message.find("SubjectAccessReviews are already waiting for the API server") !=
             std::string::npos)
      ++busy;
  }
  CHECK(allowed == 4);
  CHECK(busy == kForged - 4);
  CHECK(f.authorizer->reviews_sent() == 4);
}
