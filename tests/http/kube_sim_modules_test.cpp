// kube-sim's admission webhooks, service-account auth, rollout simulator and garbage collection seen
// through its HTTPS API, as kubectl, the syncer and the webhook see them.
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "core/base64.h"
#include "core/json.h"
#include "net/http_client.h"
#include "sim/kube/modules.h"
#include "sim/kube/server.h"
#include "test_tls.h"

using namespace ifo;
using namespace ifo::kubesim;

namespace {

// A TLS webhook on loopback: /mutate labels every object mutated=yes (JSON patch) with a warning;
// /validate denies objects labelled deny=true.
class Webhook {
 public:
  Webhook() : cert_(testing::make_test_certificate({"hooks.webhook-ns.svc"}, {})) {
    server_ = testing::make_tls_server(cert_);
    server_->Post("/mutate", [](const httplib::Request& req, httplib::Response& res) {
      auto review = core::parse_json(req.body);
      std::string uid = core::string_or(*core::member(**review, "request"), "uid", "");
      std::string patch = core::base64_encode(R"([{"op":"add","path":"/metadata/labels/mutated","value":"yes"}])");
      res.set_content(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":")" + uid +
                          R"(","allowed":true,"patchType":"JSONPatch","patch":")" + patch +
                          R"(","warnings":["labelled by the test webhook"]}})",
                      "application/json");
    });
    server_->Post("/validate", [](const httplib::Request& req, httplib::Response& res) {
      auto review = core::parse_json(req.body);
      const core::JsonValue& r = *core::member(**review, "request");
      std::string uid = core::string_or(r, "uid", "");
      const core::JsonValue* labels = core::at_path(r, {"object", "metadata", "labels"});
      bool deny = labels && core::string_or(*labels, "deny", "") == "true";
      res.set_content(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":")" + uid +
                          R"(","allowed":)" + (deny ? std::string(R"(false,"status":{"code":403,"message":"deny=true is refused by policy"})") : "true") +
                          "}}",
                      "application/json");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  ~Webhook() { stop(); }
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string ca_bundle() const { return core::base64_encode(cert_.ca_pem); }

 private:
  testing::TestCertificate cert_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  bool stopped_ = false;
};

struct Cluster {
  explicit Cluster(ModulesOptions mo = {}) : sim(Options{}) {
    modules = install_modules(sim, std::move(mo));
    sim.start();
    client = std::make_unique<net::HttpClient>(net::TlsOptions{sim.ca_pem(), "", "", false});
    REQUIRE(call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"app"}})").status == 201);
  }
  net::Response call(const std::string& method, const std::string& path, const std::string& body = "",
                     const std::string& token = "<admin>", const std::string& ctype = "application/json") {
    net::Request r;
    r.method = method;
    r.url = sim.url() + path;
    r.body = body;
    if (!body.empty()) r.headers.push_back({"Content-Type", ctype});
    std::string t = token == "<admin>" ? sim.token() : token;
    if (!t.empty()) r.headers.push_back({"Authorization", "Bearer " + t});
    return client->perform(r);
  }
  // Polls GET path until pred(status, body) holds or 5 s passed.
  template <typename Pred>
  net::Response await(const std::string& path, Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    net::Response r;
    do {
      r = call("GET", path);
      if (pred(r)) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (std::chrono::steady_clock::now() < deadline);
    return r;
  }
  KubeSim sim;
  std::unique_ptr<Modules> modules;
  std::unique_ptr<net::HttpClient> client;
};

std::shared_ptr<core::JsonDoc> json(const net::Response& r) {
  auto d = core::parse_json(r.body);
  REQUIRE_MESSAGE(d.ok(), r.body);
  return *d;
}

std::string str_at(const core::JsonValue& v, std::initializer_list<std::string_view> path) {
  const core::JsonValue* p = core::at_path(v, path);
  return p && p->IsString() ? p->GetString() : "";
}

std::string webhook_config(const std::string& kind, const std::string& hook, const std::string& path,
                           const std::string& ca, const std::string& policy) {
  std::string resource = kind == "MutatingWebhookConfiguration" ? "mutatingwebhookconfigurations" : "validatingwebhookconfigurations";
  return R"({"apiVersion":"admissionregistration.k8s.io/v1","kind":")" + kind + R"(","metadata":{"name":")" + hook +
         R"("},"webhooks":[{"name":")" + hook + R"(","admissionReviewVersions":["v1"],"sideEffects":"None","failurePolicy":")" +
         policy + R"(","timeoutSeconds":5,"clientConfig":{"service":{"namespace":"webhook-ns","name":"hooks","path":")" + path +
         R"(","port":443},"caBundle":")" + ca +
         R"("},"rules":[{"apiGroups":[""],"apiVersions":["v1"],"resources":["configmaps"],"operations":["CREATE","UPDATE"]}]}]})";
}

const char* kMutatingPath = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
const char* kValidatingPath = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";

}  // namespace

TEST_CASE("webhooks registered through the API mutate and deny writes; failurePolicy decides when they are down") {
  Webhook hook;
  ModulesOptions mo;
  mo.admission.service_map["webhook-ns/hooks:443"] = "127.0.0.1:" + std::to_string(hook.port());
  Cluster c(mo);
  REQUIRE(c.call("POST", kMutatingPath, webhook_config("MutatingWebhookConfiguration", "label.test.io", "/mutate", hook.ca_bundle(), "Fail")).status == 201);
  REQUIRE(c.call("POST", kValidatingPath, webhook_config("ValidatingWebhookConfiguration", "deny.test.io", "/validate", hook.ca_bundle(), "Fail")).status == 201);

  net::Response created = c.call("POST", "/api/v1/namespaces/app/configmaps", R"({"metadata":{"name":"ok","labels":{"app":"x"}},"data":{"a":"b"}})");
  REQUIRE_MESSAGE(created.status == 201, created.body);
  CHECK(str_at(*json(created), {"metadata", "labels", "mutated"}) == "yes");
  CHECK(str_at(*json(c.call("GET", "/api/v1/namespaces/app/configmaps/ok")), {"metadata", "labels", "mutated"}) == "yes");
  auto warning = created.header("warning");
  REQUIRE(warning.has_value());
  CHECK(warning->find("labelled by the test webhook") != std::string::npos);

  net::Response denied = c.call("POST", "/api/v1/namespaces/app/configmaps", R"({"metadata":{"name":"bad","labels":{"deny":"true"}}})");
  CHECK(denied.status == 403);
  CHECK(str_at(*json(denied), {"message"}) == "admission webhook \"deny.test.io\" denied the request: deny=true is refused by policy");
  CHECK(c.call("GET", "/api/v1/namespaces/app/configmaps/bad").status == 404);

  // The webhooks go away: the Ignore policy admits, Fail rejects with the real server's text.
  hook.stop();
  REQUIRE(c.call("DELETE", std::string(kMutatingPath) + "/label.test.io").status == 200);
  REQUIRE(c.call("DELETE", std::string(kValidatingPath) + "/deny.test.io").status == 200);
  REQUIRE(c.call("POST", kValidatingPath, webhook_config("ValidatingWebhookConfiguration", "ignore.test.io", "/validate", hook.ca_bundle(), "Ignore")).status == 201);
  CHECK(c.call("POST", "/api/v1/namespaces/app/configmaps", R"({"metadata":{"name":"while-down"}})").status == 201);
  REQUIRE(c.call("POST", kValidatingPath, webhook_config("ValidatingWebhookConfiguration", "fail.test.io", "/validate", hook.ca_bundle(), "Fail")).status == 201);
  net::Response failed = c.call("POST", "/api/v1/namespaces/app/configmaps", R"({"metadata":{"name":"rejected"}})");
  CHECK(failed.status == 500);
  std::string msg = str_at(*json(failed), {"message"});
  CHECK(msg.rfind("Internal error occurred: failed calling webhook \"fail.test.io\": failed to call webhook: Post "
                  "\"https://hooks.webhook-ns.svc:443/validate?timeout=5s\": dial tcp 127.0.0.1:",
                  0) == 0);
  CHECK(msg.find("connect: connection refused") != std::string::npos);
  CHECK(str_at(*json(failed), {"reason"}) == "InternalError");
  CHECK(c.modules->counters().at("admission_webhook_calls") >= 4);
}

TEST_CASE("TokenRequest -> TokenReview round trip and service-account bearer tokens over HTTPS") {
  Cluster c;
  REQUIRE(c.call("POST", "/api/v1/namespaces/app/serviceaccounts", R"({"metadata":{"name":"syncer"}})").status == 201);
  net::Response tr = c.call("POST", "/api/v1/namespaces/app/serviceaccounts/syncer/token",
                            R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["infisical"],"expirationSeconds":600}})");
  REQUIRE_MESSAGE(tr.status == 201, tr.body);
  std::string token = str_at(*json(tr), {"status", "token"});
  REQUIRE_FALSE(token.empty());
  CHECK(c.call("POST", "/api/v1/namespaces/app/serviceaccounts/ghost/token", "{}").status == 404);

  auto review = [&](const std::string& t, const std::string& audiences) {
    net::Response r = c.call("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                             R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":")" + t +
                                 R"(","audiences":)" + audiences + "}}");
    REQUIRE_MESSAGE(r.status == 201, r.body);
    return json(r);
  };
  auto ok = review(token, R"(["infisical"])");
  CHECK(core::at_path(*ok, {"status", "authenticated"})->GetBool());
  CHECK(str_at(*ok, {"status", "user", "username"}) == "system:serviceaccount:app:syncer");
  auto wrong = review(token, R"(["vault"])");
  CHECK(core::at_path(*wrong, {"status", "authenticated"}) == nullptr);
  CHECK(str_at(*wrong, {"status", "error"}).find("is invalid for the target audiences [\"vault\"]") != std::string::npos);

  // A token for the API audience authenticates API requests as the service account.
  net::Response api_tr = c.call("POST", "/api/v1/namespaces/app/serviceaccounts/syncer/token", "{}");
  std::string api_token = str_at(*json(api_tr), {"status", "token"});
  CHECK(c.call("GET", "/api/v1/namespaces/app/configmaps", "", api_token).status == 200);
  CHECK(c.call("GET", "/api/v1/namespaces/app/configmaps", "", token).status == 401);  // audience "infisical" only

  REQUIRE(c.call("DELETE", "/api/v1/namespaces/app/serviceaccounts/syncer").status == 200);
  auto gone = review(token, R"(["infisical"])");
  CHECK(core::at_path(*gone, {"status", "authenticated"}) == nullptr);
  CHECK(str_at(*gone, {"status", "error"}) == "[invalid bearer token, serviceaccounts \"syncer\" not found]");
  CHECK(c.call("GET", "/api/v1/namespaces/app/configmaps", "", api_token).status == 401);

  net::Response sar = c.call("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                             R"({"spec":{"user":"x","resourceAttributes":{"verb":"get","resource":"secrets","namespace":"app"}}})");
  REQUIRE(sar.status == 201);
  CHECK(core::at_path(*json(sar), {"status", "allowed"})->GetBool());
}

TEST_CASE("a Deployment's template change is revision 2 and an owner's deletion collects its Secret") {
  Cluster c;
  std::string dep = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2,
    "selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}}})";
  REQUIRE(c.call("POST", "/apis/apps/v1/namespaces/app/deployments", dep).status == 201);
  auto rev = [](const net::Response& r) {
    auto d = core::parse_json(r.body);
    if (!d.ok()) return std::string();
    return str_at(**d, {"metadata", "annotations", "deployment.kubernetes.io/revision"});
  };
  net::Response d1 = c.await("/apis/apps/v1/namespaces/app/deployments/web", [&](const net::Response& r) { return rev(r) == "1"; });
  CHECK(rev(d1) == "1");
  CHECK(core::get_int(*core::member(*json(d1), "status"), "availableReplicas") == 2);

  net::Response patched = c.call("PATCH", "/apis/apps/v1/namespaces/app/deployments/web",
                                 R"({"spec":{"template":{"metadata":{"annotations":{"secrets.infisical.com/rollout-hash":"abc"}}}}})",
                                 "<admin>", "application/merge-patch+json");
  REQUIRE_MESSAGE(patched.status == 200, patched.body);
  net::Response d2 = c.await("/apis/apps/v1/namespaces/app/deployments/web", [&](const net::Response& r) { return rev(r) == "2"; });
  CHECK(rev(d2) == "2");
  CHECK(c.modules->rollout->rollouts_of("deployments", "app", "web") == 2);
  net::Response rs = c.call("GET", "/apis/apps/v1/namespaces/app/replicasets?labelSelector=app%3Dweb");
  CHECK(core::member(*json(rs), "items")->Size() == 2);

  // GC: a Secret owned by a ConfigMap goes with it.
  net::Response owner = c.call("POST", "/api/v1/namespaces/app/configmaps", R"({"metadata":{"name":"owner"}})");
  std::string uid = str_at(*json(owner), {"metadata", "uid"});
  REQUIRE(c.call("POST", "/api/v1/namespaces/app/secrets",
                 R"({"metadata":{"name":"owned","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":")" +
                     uid + R"("}]},"stringData":{"k":"v"}})")
              .status == 201);
  REQUIRE(c.call("DELETE", "/api/v1/namespaces/app/configmaps/owner", R"({"propagationPolicy":"Background"})").status == 200);
  net::Response after = c.await("/api/v1/namespaces/app/secrets/owned", [](const net::Response& r) { return r.status == 404; });
  CHECK(after.status == 404);
  CHECK(c.modules->counters().at("gc_collected") >= 1);
}
