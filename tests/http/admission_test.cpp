// Admission webhooks called over real TLS by kube-sim's dispatcher: mutating patch, validating denial
// with the webhook's message, failurePolicy Ignore/Fail with the real server's error text, matching.
#include <doctest/doctest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "core/base64.h"
#include "core/json.h"
#include "sim/kube/admission.h"
#include "test_tls.h"

using namespace ifo;
using namespace ifo::kubesim;

namespace {

// A test webhook: /mutate adds a label with a JSON patch, /validate denies objects labelled deny=true,
// /nocode denies without a status code, /badid answers with the wrong uid, /slow blocks until released.
class TestWebhook {
 public:
  TestWebhook() : cert_(testing::make_test_certificate({"hooks.webhook-ns.svc"}, {"127.0.0.1"})) {
    server_ = testing::make_tls_server(cert_);
    server_->Post("/mutate", [this](const httplib::Request& req, httplib::Response& res) {
      auto review = record(req);
      std::string patch = R"([{"op":"add","path":"/metadata/labels/mutated","value":"yes"}])";
      res.set_content(answer(*review, true, core::base64_encode(patch), "", 0, R"(["mutated by the test webhook"])"),
                      "application/json");
    });
    server_->Post("/validate", [this](const httplib::Request& req, httplib::Response& res) {
      auto review = record(req);
      const core::JsonValue* labels = core::at_path(*review, {"request", "object", "metadata", "labels"});
      bool deny = labels && core::string_or(*labels, "deny", "") == "true";
      res.set_content(answer(*review, !deny, "", deny ? "label deny=true is not allowed here" : "", deny ? 403 : 0, "[]"),
                      "application/json");
    });
    server_->Post("/nocode", [this](const httplib::Request& req, httplib::Response& res) {
      auto review = record(req);
      res.set_content(answer(*review, false, "", "no reason given", 0, "[]"), "application/json");
    });
    server_->Post("/badid", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_content(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"nope","allowed":true}})",
                      "application/json");
    });
    server_->Post("/slow", [this](const httplib::Request& req, httplib::Response& res) {
      auto review = record(req);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
      res.set_content(answer(*review, true, "", "", 0, "[]"), "application/json");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  ~TestWebhook() {
    release();
    server_->stop();
    thread_.join();
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  int port() const { return port_; }
  std::string ca_bundle() const { return core::base64_encode(cert_.ca_pem); }
  std::vector<std::string> uids() {
    std::lock_guard<std::mutex> lock(mu_);
    return uids_;
  }
  std::vector<std::string> queries() {
    std::lock_guard<std::mutex> lock(mu_);
    return queries_;
  }
  std::shared_ptr<core::JsonDoc> last_review() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  std::shared_ptr<core::JsonDoc> record(const httplib::Request& req) {
    auto doc = core::parse_json(req.body);
    REQUIRE(doc.ok());
    std::lock_guard<std::mutex> lock(mu_);
    uids_.push_back(core::string_or(*core::member(**doc, "request"), "uid", ""));
    std::string q;
    for (const auto& [k, v] : req.params) q += k + "=" + v;
    queries_.push_back(q);
    last_ = *doc;
    return *doc;
  }
  static std::string answer(const core::JsonDoc& review, bool allowed, const std::string& patch_b64,
                            const std::string& message, int code, const std::string& warnings) {
    std::string uid = core::string_or(*core::member(review, "request"), "uid", "");
    std::string out = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":")" + uid +
                      R"(","allowed":)" + (allowed ? "true" : "false") + R"(,"warnings":)" + warnings;
    if (!patch_b64.empty()) out += R"(,"patchType":"JSONPatch","patch":")" + patch_b64 + "\"";
    if (!allowed) {
      out += R"(,"status":{"message":")" + message + "\"";
      if (code) out += ",\"code\":" + std::to_string(code);
      out += "}";
    }
    return out + "}}";
  }

  testing::TestCertificate cert_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<std::string> uids_;
  std::vector<std::string> queries_;
  std::shared_ptr<core::JsonDoc> last_;
};

std::shared_ptr<core::JsonDoc> parse(const std::string& text) {
  auto doc = core::parse_json(text);
  REQUIRE_MESSAGE(doc.ok(), text);
  return *doc;
}

// A webhook configuration with one webhook on secrets CREATE/UPDATE, served by the test webhook's
// service "webhook-ns/hooks" port 443, at `path`.
std::string config(const std::string& config_name, const std::string& hook_name, const std::string& path,
                   const std::string& ca_bundle, const std::string& failure_policy, const std::string& extra = "") {
  return R"({"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingWebhookConfiguration",
    "metadata":{"name":")" + config_name + R"("},
    "webhooks":[{"name":")" + hook_name + R"(","admissionReviewVersions":["v1"],"sideEffects":"None",
      "failurePolicy":")" + failure_policy + R"(","timeoutSeconds":5,
      "clientConfig":{"service":{"namespace":"webhook-ns","name":"hooks","path":")" + path + R"(","port":443},
                      "caBundle":")" + ca_bundle + R"("},
      "rules":[{"apiGroups":[""],"apiVersions":["v1"],"resources":["secrets"],"operations":["CREATE","UPDATE"],"scope":"Namespaced"}])" +
         extra + "}]}";
}

ResourceType secrets_type() {
  ResourceType t;
  t.group = "";
  t.version = "v1";
  t.resource = "secrets";
  t.kind = "Secret";
  t.singular = "secret";
  return t;
}

struct Request {
  std::shared_ptr<core::JsonDoc> object;
  AdmissionAttributes attrs;
  explicit Request(const std::string& labels_json) {
    object = parse(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s1","namespace":"app","labels":)" +
                   labels_json + R"(},"data":{"k":"dg=="}})");
    attrs.operation = Operation::kCreate;
    attrs.type = secrets_type();
    attrs.ns = "app";
    attrs.name = "s1";
    attrs.object = object.get();
    attrs.user = UserInfo{"alice", "uid-alice", {"devs", "system:authenticated"}, {}};
  }
};

AdmissionOptions options_for(const TestWebhook& hook) {
  AdmissionOptions o;
  o.service_map["webhook-ns/hooks:443"] = "127.0.0.1:" + std::to_string(hook.port());
  return o;
}

NamespaceLabelsFn labels_fn(std::map<std::string, std::string> labels) {
  return [labels](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
    if (ns != "app") return std::nullopt;
    return labels;
  };
}

// A loopback port nothing listens on (bound, read back, closed).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE("a mutating webhook's JSON patch is applied and its warning returned") {
  TestWebhook hook;
  AdmissionDispatcher d(options_for(hook));
  auto cfg = parse(config("m", "mutate.test.io", "/mutate", hook.ca_bundle(), "Fail"));
  Request r(R"({"app":"x"})");
  AdmissionResult res = d.mutate({cfg.get()}, r.attrs, labels_fn({}));
  REQUIRE_FALSE(res.rejection.has_value());
  CHECK(res.mutated);
  CHECK(core::string_or(*core::at_path(*r.object, {"metadata", "labels"}), "mutated", "") == "yes");
  CHECK(core::string_or(*core::at_path(*r.object, {"metadata", "labels"}), "app", "") == "x");
  REQUIRE(res.warnings.size() == 1);
  CHECK(res.warnings[0] == "mutated by the test webhook");
  // The AdmissionReview carried the request as the real server sends it.
  auto review = hook.last_review();
  CHECK(core::string_or(*review, "apiVersion", "") == "admission.k8s.io/v1");
  const core::JsonValue& req = *core::member(*review, "request");
  CHECK(core::string_or(req, "operation", "") == "CREATE");
  CHECK(core::string_or(req, "namespace", "") == "app");
  CHECK(core::string_or(*core::member(req, "resource"), "resource", "") == "secrets");
  CHECK(core::string_or(*core::member(req, "kind"), "kind", "") == "Secret");
  CHECK(core::string_or(*core::member(req, "userInfo"), "username", "") == "alice");
  CHECK(core::member(req, "oldObject")->IsNull());
  CHECK(core::get_bool(req, "dryRun") == false);
  CHECK(hook.queries().back() == "timeout=5s");
  // A fresh uid per call.
  d.mutate({cfg.get()}, r.attrs, labels_fn({}));
  auto uids = hook.uids();
  REQUIRE(uids.size() == 2);
  CHECK(uids[0] != uids[1]);
  CHECK(uids[0].size() == 36);
}

TEST_CASE("a validating webhook's denial carries its message, code and the real wording") {
  TestWebhook hook;
  AdmissionDispatcher d(options_for(hook));
  auto cfg = parse(config("v", "deny.test.io", "/validate", hook.ca_bundle(), "Fail"));
  Request denied(R"({"deny":"true"})");
  AdmissionResult res = d.validate({cfg.get()}, denied.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->code == 403);
  CHECK(res.rejection->message == "admission webhook \"deny.test.io\" denied the request: label deny=true is not allowed here");
  Request allowed(R"({"deny":"false"})");
  CHECK_FALSE(d.validate({cfg.get()}, allowed.attrs, labels_fn({})).rejection.has_value());

  // No code in the result: kube-apiserver 1.32 answers 400 (codes below 400 are raised to 400).
  auto nocode = parse(config("v", "nocode.test.io", "/nocode", hook.ca_bundle(), "Fail"));
  res = d.validate({nocode.get()}, allowed.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->code == 400);
  CHECK(res.rejection->message == "admission webhook \"nocode.test.io\" denied the request: no reason given");
  CHECK(res.rejection->to_json().find("\"status\":\"Failure\"") != std::string::npos);
}

TEST_CASE("webhook down: Ignore admits, Fail rejects with the real server's error") {
  int port = free_port();
  AdmissionOptions o;
  o.service_map["webhook-ns/hooks:443"] = "127.0.0.1:" + std::to_string(port);
  AdmissionDispatcher d(o);
  auto ca = core::base64_encode(testing::make_test_certificate({"x"}, {}).ca_pem);
  Request r(R"({})");

  auto ignore = parse(config("v", "down.test.io", "/validate", ca, "Ignore"));
  CHECK_FALSE(d.validate({ignore.get()}, r.attrs, labels_fn({})).rejection.has_value());

  auto fail = parse(config("v", "down.test.io", "/validate", ca, "Fail"));
  AdmissionResult res = d.validate({fail.get()}, r.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->code == 500);
  CHECK(res.rejection->reason == "InternalError");
  CHECK(res.rejection->message ==
        "Internal error occurred: failed calling webhook \"down.test.io\": failed to call webhook: Post "
        "\"https://hooks.webhook-ns.svc:443/validate?timeout=5s\": dial tcp 127.0.0.1:" + std::to_string(port) +
            ": connect: connection refused");

  // An unmapped service is "not found", as for a Service missing from the cluster.
  AdmissionDispatcher unmapped(AdmissionOptions{});
  res = unmapped.validate({fail.get()}, r.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->message.find("service \"hooks\" not found") != std::string::npos);
}

TEST_CASE("the server certificate is verified against caBundle and the service host name") {
  TestWebhook hook;
  AdmissionDispatcher d(options_for(hook));
  Request r(R"({})");
  auto other_ca = core::base64_encode(testing::make_test_certificate({"x"}, {}).ca_pem);
  auto wrong_ca = parse(config("v", "ca.test.io", "/validate", other_ca, "Fail"));
  AdmissionResult res = d.validate({wrong_ca.get()}, r.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK_MESSAGE(res.rejection->message.find("x509: certificate signed by unknown authority") != std::string::npos,
                res.rejection->message);
  CHECK(hook.uids().empty());

  // Right CA, but a service whose DNS name is not in the certificate.
  std::string text = config("v", "name.test.io", "/validate", hook.ca_bundle(), "Fail");
  text.replace(text.find("\"name\":\"hooks\""), 14, "\"name\":\"other\"");
  auto wrong_name = parse(text);
  AdmissionOptions o = options_for(hook);
  o.service_map["webhook-ns/other:443"] = "127.0.0.1:" + std::to_string(hook.port());
  AdmissionDispatcher d2(o);
  res = d2.validate({wrong_name.get()}, r.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->message.find("x509: certificate is not valid for other.webhook-ns.svc") != std::string::npos);
}

TEST_CASE("rules, namespaceSelector and objectSelector decide which webhooks are called") {
  TestWebhook hook;
  AdmissionDispatcher d(options_for(hook));
  Request r(R"({"tier":"web","deny":"true"})");
  auto call = [&](const std::string& extra, const std::map<std::string, std::string>& ns_labels) {
    auto cfg = parse(config("v", "deny.test.io", "/validate", hook.ca_bundle(), "Fail", extra));
    return d.validate({cfg.get()}, r.attrs, labels_fn(ns_labels));
  };
  CHECK(call("", {}).rejection.has_value());  // matches: denied
  CHECK(call(R"(,"namespaceSelector":{"matchLabels":{"env":"prod"}})", {{"env", "prod"}}).rejection.has_value());
  CHECK_FALSE(call(R"(,"namespaceSelector":{"matchLabels":{"env":"prod"}})", {{"env", "dev"}}).rejection.has_value());
  CHECK_FALSE(call(R"(,"namespaceSelector":{"matchExpressions":[{"key":"skip","operator":"DoesNotExist"}]})",
                   {{"skip", "1"}})
                  .rejection.has_value());
  CHECK(call(R"(,"objectSelector":{"matchExpressions":[{"key":"tier","operator":"In","values":["web","db"]}]})", {})
            .rejection.has_value());
  CHECK_FALSE(call(R"(,"objectSelector":{"matchLabels":{"tier":"db"}})", {}).rejection.has_value());

  // Operation and resource rules.
  r.attrs.operation = Operation::kDelete;
  r.attrs.old_object = r.object.get();
  r.attrs.object = nullptr;
  CHECK_FALSE(call("", {}).rejection.has_value());
  r.attrs.operation = Operation::kUpdate;
  r.attrs.object = r.object.get();
  r.attrs.subresource = "status";
  CHECK_FALSE(call("", {}).rejection.has_value());  // "secrets" does not cover secrets/status
  auto status_cfg = parse(R"({"metadata":{"name":"s"},"webhooks":[{"name":"st.test.io","admissionReviewVersions":["v1"],
    "sideEffects":"None","clientConfig":{"service":{"namespace":"webhook-ns","name":"hooks","path":"/validate"},
    "caBundle":")" + hook.ca_bundle() + R"("},"rules":[{"apiGroups":["*"],"apiVersions":["*"],"resources":["*/status"],"operations":["*"]}]}]})");
  CHECK(d.validate({status_cfg.get()}, r.attrs, labels_fn({})).rejection.has_value());
  CHECK(hook.queries().back() == "timeout=10s");  // the default timeoutSeconds

  // A namespaceSelector on a namespace that does not exist: 404 as the real server answers.
  r.attrs.subresource = "";
  r.attrs.ns = "ghost";
  auto res = call(R"(,"namespaceSelector":{"matchLabels":{"env":"prod"}})", {});
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->code == 404);
  CHECK(res.rejection->message == "namespaces \"ghost\" not found");
}

TEST_CASE("invalid responses and timeouts are call failures") {
  TestWebhook hook;
  AdmissionDispatcher d(options_for(hook));
  Request r(R"({})");
  auto badid = parse(config("v", "badid.test.io", "/badid", hook.ca_bundle(), "Fail"));
  AdmissionResult res = d.validate({badid.get()}, r.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->message.find("failed calling webhook \"badid.test.io\": received invalid webhook response: "
                                    "expected response.uid=") != std::string::npos);

  std::string slow_text = config("v", "slow.test.io", "/slow", hook.ca_bundle(), "Fail");
  slow_text.replace(slow_text.find("\"timeoutSeconds\":5"), 18, "\"timeoutSeconds\":1");
  auto slow = parse(slow_text);
  auto start = std::chrono::steady_clock::now();
  res = d.validate({slow.get()}, r.attrs, labels_fn({}));
  auto took = std::chrono::steady_clock::now() - start;
  hook.release();
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->message ==
        "Internal error occurred: failed calling webhook \"slow.test.io\": failed to call webhook: Post "
        "\"https://hooks.webhook-ns.svc:443/slow?timeout=1s\": context deadline exceeded");
  CHECK(took < std::chrono::seconds(3));
}

TEST_CASE("dry run needs sideEffects None; configurations run in name order") {
  TestWebhook hook;
  AdmissionDispatcher d(options_for(hook));
  Request r(R"({"deny":"true"})");
  std::string text = config("v", "se.test.io", "/validate", hook.ca_bundle(), "Fail");
  text.replace(text.find("\"sideEffects\":\"None\""), 20, "\"sideEffects\":\"Some\"");
  auto cfg = parse(text);
  r.attrs.dry_run = true;
  AdmissionResult res = d.validate({cfg.get()}, r.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->code == 400);
  CHECK(res.rejection->message == "admission webhook \"se.test.io\" does not support dry run");

  r.attrs.dry_run = false;
  auto b = parse(config("b-config", "b.test.io", "/nocode", hook.ca_bundle(), "Fail"));
  auto a = parse(config("a-config", "a.test.io", "/validate", hook.ca_bundle(), "Fail"));
  res = d.validate({b.get(), a.get()}, r.attrs, labels_fn({}));
  REQUIRE(res.rejection.has_value());
  CHECK(res.rejection->message.find("\"a.test.io\"") != std::string::npos);
}
