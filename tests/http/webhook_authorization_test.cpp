// SubjectAccessReviews and trust lookups off the event loop: the webhook's TLS server with one
// event-loop thread, the SarAuthorizer and the TrustPool over an API whose SubjectAccessReviews and
// grant lists the test holds. A review or a lookup that does not come in time denies with "could not
// verify" by the deadline while requests needing none are answered meanwhile; identical checks share
// one review; a flood of forged users, or of requests needing lookups, is refused at once past the
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
#include <optional>
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
#include "webhook/trust_lookup.h"
#include "webhook/trust_pool.h"
#include "webhook/server.h"

using namespace ifo;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

// Holds every call that passes it until open(), counting them as they arrive.
class Gate {
 public:
  void pass() {
    std::unique_lock lock(mu_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  // A SubjectAccessReview held here, then allowed.
  kube::AccessReviewResult review() {
    pass();
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
  // With `trust`, the trust boundary is on (references into other namespaces need a grant, as by
  // default) and its lookups go through a TrustPool with these options; every list of grants passes
  // `lookups` first. Without, only the user's own rights are at stake.
  explicit Fixture(webhook::SarAuthorizerOptions sar, std::optional<webhook::TrustPoolOptions> trust = std::nullopt)
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
    api.on_call = [this](const test::MemoryApi::Call& call) {
      if (call.verb == "list" && call.resource.resource == kube::kInfisicalReferenceGrants.resource) lookups.pass();
    };
    authorizer = std::make_unique<webhook::SarAuthorizer>(api, sar);
    core::TrustPolicy policy;
    policy.cross_namespace_without_grant = !trust.has_value();
    if (trust) {
      lookup = std::make_unique<webhook::KubeTrustLookup>(api, "ops", seconds(60));
      pool = std::make_unique<webhook::TrustPool>(*lookup, *trust);
    }
    handler = std::make_unique<webhook::AdmissionHandler>(webhook::CrossNamespacePolicy::kAuthorize, nullptr,
                                                          &cache, policy, lookup.get());
    webhook::ServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.health_port = -1;
    o.workers = 1;  // one event loop: a request that blocked it would hold every other one
    auto log =
        std::make_shared<spdlog::logger>("webhook-test", std::make_shared<spdlog::sinks::null_sink_mt>());
    server = std::make_unique<webhook::WebhookServer>(
        o, *handler, *certs, metrics, [] { return std::string(); }, log, authorizer.get(), pool.get());
    auto started = server->start();
    REQUIRE_MESSAGE(started.ok(), (started.ok() ? "" : started.error()));
  }
  ~Fixture() {
    gate.open();
    lookups.open();
    server->stop();
    authorizer.reset();
    pool.reset();
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
  Gate gate;     // SubjectAccessReviews
  Gate lookups;  // lists of InfisicalReferenceGrants
  test::MemoryApi api;
  webhook::DigestCache cache;
  webhook::Metrics metrics;
  std::unique_ptr<webhook::KubeTrustLookup> lookup;
  std::unique_ptr<webhook::AdmissionHandler> handler;
  std::unique_ptr<webhook::TrustPool> pool;
  std::unique_ptr<webhook::SarAuthorizer> authorizer;
  std::unique_ptr<webhook::CertStore> certs;
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

struct Held {
  Verdict verdict;
  steady_clock::duration took;
};

// Sends review slow-1 (credentials in namespace shared) and, once its call to the API server waits at
// `held`, checks that requests needing nothing of the API server are answered meanwhile on the same
// single event loop, before the slow one; then the slow one's verdict and how long it took.
Held held_while_others_answered(Fixture& f, Gate& held) {
  std::atomic<bool> slow_done{false};
  net::Response slow;
  const auto sent = steady_clock::now();
  std::thread asker([&] {
    slow = f.post("/validate-infisicalsecret", review("slow-1", "tenant", "shared"));
    slow_done = true;
  });
  REQUIRE(held.wait_arrived(1));
  const auto fast_sent = steady_clock::now();
  auto mutated = f.post("/mutate-workload", kWorkload);
  auto validated = f.post("/validate-infisicalsecret", review("fast-1", "tenant", "apps"));
  const auto fast_took = steady_clock::now() - fast_sent;
  CHECK(mutated.status == 200);
  CHECK(verdict(validated).allowed);
  CHECK_FALSE(slow_done.load());  // answered while the slow one was still waiting
  CHECK(fast_took < milliseconds(1500));
  asker.join();
  return Held{verdict(slow), steady_clock::now() - sent};
}

}  // namespace

TEST_CASE(
    "a SubjectAccessReview not answered in time denies by the deadline; requests needing none are not held") {
  webhook::SarAuthorizerOptions sar;
  sar.deadline = milliseconds(1500);
  Fixture f(sar);
  // The review is with the API server (held there): the loop has parked the request.
  const auto [v, took] = held_while_others_answered(f, f.gate);
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

TEST_CASE("a trust lookup not answered in time denies by the deadline; requests needing none are not held") {
  webhook::TrustPoolOptions trust;
  trust.deadline = milliseconds(1500);
  Fixture f(webhook::SarAuthorizerOptions{}, trust);
  f.gate.open();  // the user's own rights are answered at once: the grants are what the API server sits on
  // The list of namespace shared's grants is with the API server (held there), on a pool thread.
  const auto [v, took] = held_while_others_answered(f, f.lookups);
  CHECK_FALSE(v.allowed);
  CHECK(v.message.find("could not verify that namespace shared grants the credentials Secret shared/creds to "
                       "namespace apps (reading its InfisicalReferenceGrants)") != std::string::npos);
  CHECK(v.message.find("the API server did not answer within 1500ms; retry") != std::string::npos);
  CHECK(took >= milliseconds(1400));
  CHECK(took < milliseconds(4500));  // well before the API server's own timeout (the chart's 5 s)
  CHECK(f.pool->timed_out() == 1);

  // The API server answers (no grant): the late answer is cached, not sent; the pool is free again.
  f.lookups.open();
  for (int i = 0; i < 2000 && f.pool->pending() > 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  REQUIRE(f.pool->pending() == 0);
  const int listed = f.lookups.arrived();  // the held list, and the fresh one that confirmed its refusal
  // A refusal from the cache is confirmed with a fresh list, off the loop: still no grant.
  const Verdict refused = verdict(f.post("/validate-infisicalsecret", review("again-1", "tenant", "shared")));
  CHECK_FALSE(refused.allowed);
  CHECK(refused.message.find("no InfisicalReferenceGrant in namespace shared lets InfisicalSecrets of namespace "
                             "apps refer to it") != std::string::npos);
  CHECK(f.lookups.arrived() == listed + 1);
  // Granted a moment ago: the cached "no grant" is not the last word, the fresh list is.
  f.api.put(kube::kInfisicalReferenceGrants, "shared",
            R"({"metadata":{"name":"from-apps","namespace":"shared"},
                "spec":{"from":[{"namespace":"apps"}],"to":[{"kind":"Secret","name":"creds"}]}})");
  CHECK(verdict(f.post("/validate-infisicalsecret", review("again-2", "tenant", "shared"))).allowed);
  CHECK(f.lookups.arrived() == listed + 2);
}

TEST_CASE("requests needing trust lookups are bounded: past the pending limit they are denied at once") {
  webhook::TrustPoolOptions trust;
  trust.deadline = milliseconds(20000);  // the test opens the gate itself
  trust.threads = 1;
  trust.max_pending = 1;
  Fixture f(webhook::SarAuthorizerOptions{}, trust);
  f.gate.open();
  net::Response held;
  std::thread asker([&] { held = f.post("/validate-infisicalsecret", review("held-1", "tenant", "shared")); });
  REQUIRE(f.lookups.wait_arrived(1));
  REQUIRE(f.pool->pending() == 1);
  // Another namespace's grants: a distinct lookup, but no room for it; the answer comes at once.
  const auto sent = steady_clock::now();
  const Verdict busy = verdict(f.post("/validate-infisicalsecret", review("busy-1", "tenant", "elsewhere")));
  CHECK(steady_clock::now() - sent < milliseconds(5000));
  CHECK_FALSE(busy.allowed);
  CHECK(busy.message.find("could not verify that namespace elsewhere grants the credentials Secret elsewhere/creds") !=
        std::string::npos);
  CHECK(busy.message.find("admission requests are already waiting for the API server") != std::string::npos);
  CHECK(f.pool->refused_busy() == 1);
  CHECK(f.lookups.arrived() == 1);  // the refused request asked the API server nothing
  // The held one holds no event loop either.
  CHECK(f.post("/mutate-workload", kWorkload).status == 200);
  f.lookups.open();
  asker.join();
  const Verdict v = verdict(held);
  CHECK_FALSE(v.allowed);  // answered by the API server now: no grant
  CHECK(v.message.find("no InfisicalReferenceGrant in namespace shared") != std::string::npos);
}
