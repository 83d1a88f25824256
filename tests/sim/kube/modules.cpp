// Wiring of the admission, auth, rollout and garbage-collection modules into a KubeSim.
#include "sim/kube/modules.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>
#include <sstream>

namespace ifo::kubesim {

core::Result<bool> parse_module_flag(const std::string& flag, const std::string& value, ModulesOptions& options) {
  using R = core::Result<bool>;
  if (flag == "--webhook-service") {
    auto m = parse_service_mapping(value);
    if (!m.ok()) return R::fail(m.error());
    options.admission.service_map[m->first] = m->second;
    return true;
  }
  if (flag == "--access-rules-file") {
    std::ifstream in(value);
    if (!in) return R::fail(fmt::format("--access-rules-file: cannot read \"{}\"", value));
    std::stringstream text;
    text << in.rdbuf();
    auto rules = parse_access_rules(text.str());
    if (!rules.ok()) return R::fail(fmt::format("--access-rules-file {}: {}", value, rules.error()));
    options.auth.rules = std::move(*rules);
    return true;
  }
  if (flag == "--authorization-mode") {
    if (value == "RBAC") {
      options.auth.rbac = true;
      options.auth.authorize_requests = true;
    } else if (value == "AlwaysAllow") {
      options.auth.rbac = false;
    } else {
      return R::fail(fmt::format("--authorization-mode wants RBAC or AlwaysAllow, got \"{}\"", value));
    }
    return true;
  }
  if (flag == "--service-account-issuer") {
    if (value.empty()) return R::fail("--service-account-issuer wants a URL");
    options.auth.issuer = value;
    return true;
  }
  if (flag == "--api-audiences") {
    options.auth.api_audiences.clear();
    std::stringstream in(value);
    std::string a;
    while (std::getline(in, a, ',')) {
      if (!a.empty()) options.auth.api_audiences.push_back(a);
    }
    if (options.auth.api_audiences.empty()) return R::fail("--api-audiences wants A[,B...]");
    return true;
  }
  if (flag == "--run-pods") return parse_run_pods(value, options.kubelet);
  if (flag == "--image-entrypoint") return parse_image_entrypoint(value, options.kubelet);
  if (flag == "--pod-dir") {
    if (value.empty()) return R::fail("--pod-dir wants a directory");
    options.kubelet.pod_dir = value;
    return true;
  }
  if (flag == "--daemonset-nodes") {
    int n = 0;
    try {
      size_t used = 0;
      n = std::stoi(value, &used);
      if (used != value.size()) n = -1;
    } catch (...) {
      n = -1;
    }
    if (n < 0 || n > 10000) return R::fail(fmt::format("--daemonset-nodes wants a number in [0, 10000], got \"{}\"", value));
    options.rollout.node_count = n;
    return true;
  }
  return false;
}

std::map<std::string, uint64_t> Modules::counters() const {
  return {
      {"admission_webhook_calls", admission ? admission->dispatcher().calls() : 0},
      {"rollouts", rollout ? rollout->rollouts() : 0},
      {"gc_collected", gc ? gc->collected() : 0},
      {"gc_orphaned", gc ? gc->orphaned() : 0},
      {"tokens_issued", auth ? auth->tokens_issued() : 0},
      {"containers_started", kubelet ? kubelet->containers_started() : 0},
  };
}

std::unique_ptr<Modules> install_modules(KubeSim& sim, ModulesOptions options) {
  auto m = std::make_unique<Modules>();
  Store& store = sim.store();
  if (options.kubelet.enabled()) {
    KubeSim* server = &sim;
    options.kubelet.api = [server] { return std::make_pair(server->url(), server->ca_pem()); };
    m->kubelet = std::make_shared<Kubelet>(store, std::move(options.kubelet));
    std::weak_ptr<Kubelet> kubelet = m->kubelet;
    options.admission.service_resolver = [kubelet](const std::string& ns, const std::string& name, int64_t port) {
      auto k = kubelet.lock();
      if (!k) return core::Result<std::string>::fail(fmt::format("service \"{}\" not found", name));
      return k->service_endpoint(ns, name, port);
    };
  }
  m->admission = std::make_shared<WebhookAdmissionHook>(store, std::move(options.admission));
  sim.add_admission(m->admission);
  if (options.auth.static_tokens.empty()) options.auth.static_tokens = sim.static_tokens();
  if (options.auth.rbac && !options.auth.rules.empty())
    throw std::invalid_argument("--access-rules-file and --authorization-mode=RBAC do not go together");
  const bool auth_requests = options.auth.authorize_requests || options.auth.rbac;
  m->auth = std::make_shared<ServiceAccountAuth>(store, std::move(options.auth));
  auto auth = m->auth;
  sim.add_authenticator([auth](std::string_view token) { return auth->authenticate(token); });
  sim.add_create_handler("", "serviceaccounts", "token", [auth](const CreateCall& c) { return auth->token_request(c); });
  sim.add_create_handler("authentication.k8s.io", "tokenreviews", "",
                         [auth](const CreateCall& c) { return auth->token_review(c); });
  sim.add_create_handler("authorization.k8s.io", "subjectaccessreviews", "",
                         [auth](const CreateCall& c) { return auth->subject_access_review(c); });
  sim.add_create_handler("authorization.k8s.io", "localsubjectaccessreviews", "",
                         [auth](const CreateCall& c) { return auth->local_subject_access_review(c); });
  sim.add_create_handler("authorization.k8s.io", "selfsubjectaccessreviews", "",
                         [auth](const CreateCall& c) { return auth->self_subject_access_review(c); });
  sim.add_create_handler("authorization.k8s.io", "selfsubjectrulesreviews", "",
                         [auth](const CreateCall& c) { return auth->self_subject_rules_review(c); });
  if (auth_requests) sim.set_authorizer([auth](const RequestAttributes& a) { return auth->authorize(a); });
  options.rollout.pods_decide_readiness = m->kubelet != nullptr;
  m->rollout = std::make_shared<RolloutSimulator>(store, options.rollout);
  m->rollout->install();
  m->gc = std::make_shared<GarbageCollector>(store);
  m->gc->install();
  if (m->kubelet) {
    // The Pods' tokens: a TokenRequest for the Pod's ServiceAccount, bound to the Pod, as the kubelet asks.
    std::weak_ptr<ServiceAccountAuth> weak_auth = m->auth;
    m->kubelet->set_token_source([weak_auth](const std::string& ns, const std::string& sa, const std::string& pod,
                                             const std::string& uid) -> std::string {
      auto a = weak_auth.lock();
      if (!a) throw std::runtime_error("no token issuer");
      core::JsonDoc body(rapidjson::kObjectType);
      auto& al = body.GetAllocator();
      core::JsonValue spec(rapidjson::kObjectType);
      spec.AddMember("expirationSeconds", core::JsonValue(int64_t{3607}), al);
      core::JsonValue ref(rapidjson::kObjectType);
      core::set_string(ref, "kind", "Pod", al);
      core::set_string(ref, "apiVersion", "v1", al);
      core::set_string(ref, "name", pod, al);
      core::set_string(ref, "uid", uid, al);
      spec.AddMember("boundObjectRef", std::move(ref), al);
      body.AddMember("spec", std::move(spec), al);
      CreateCall call;
      call.subresource = "token";
      call.ns = ns;
      call.name = sa;
      call.body = &body;
      core::JsonDoc answer = a->token_request(call);
      const core::JsonValue* token = core::at_path(answer, {"status", "token"});
      if (token == nullptr || !token->IsString()) throw std::runtime_error("TokenRequest gave no token");
      return token->GetString();
    });
    m->kubelet->start();
  }
  return m;
}

}  // namespace ifo::kubesim
