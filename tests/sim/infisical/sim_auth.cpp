// infisical-sim's machine-identity login verifiers (Kubernetes, AWS IAM, Azure, GCP) and the cloud
// endpoints the client reads its credentials from (STS, EC2 IMDSv2, ECS, Azure IMDS, GCE metadata,
// OAuth2 token, IAM Credentials signJwt), all on loopback.
#include <algorithm>
#include <stdexcept>

#include "net/http_client.h"
#include "sim_impl.h"

namespace ifo::sim {

// ---------------------------------------------------------------------------------------------
// Kubernetes auth: the real server POSTs a TokenReview with the reviewer JWT and checks the answer.

void InfisicalSim::Impl::login_kubernetes(const httplib::Request& req, httplib::Response& res, Ctx& ctx) {
  auto login = read_jwt_login(req, res);
  if (!login) return;
  KubernetesAuthConfig cfg;
  {
    std::lock_guard<std::mutex> lock(mu);
    Identity* id = model.identity_by_id(login->identity_id);
    if (id == nullptr || !id->kubernetes)
      return send_error(res, 404, "Kubernetes auth method not found for identity, did you configure Kubernetes auth?", "NotFound");
    ctx.identity = id->id;
    cfg = *id->kubernetes;
    if (cfg.kubernetes_host.empty()) cfg.kubernetes_host = model.kubernetes.host;
    if (cfg.ca_cert.empty()) cfg.ca_cert = model.kubernetes.ca_cert;
    if (cfg.token_reviewer_jwt.empty()) cfg.token_reviewer_jwt = model.kubernetes.token_reviewer_jwt;
  }
  if (cfg.kubernetes_host.empty())
    return send_error(res, 500, "Something went wrong", "InternalServerError");

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("apiVersion");
  w.String("authentication.k8s.io/v1");
  w.Key("kind");
  w.String("TokenReview");
  w.Key("spec");
  w.StartObject();
  w.Key("token");
  w.String(login->jwt.c_str(), static_cast<rapidjson::SizeType>(login->jwt.size()));
  // Newer servers pass the allowed audience, so the API server checks the token against it (a
  // TokenReview without audiences checks the API server's own audiences instead).
  if (!cfg.allowed_audience.empty()) {
    w.Key("audiences");
    w.StartArray();
    w.String(cfg.allowed_audience.c_str());
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();

  net::TlsOptions tls;
  tls.ca_pem = cfg.ca_cert;
  net::HttpClient client(tls, "infisical-sim");
  net::Request r;
  r.method = "POST";
  std::string host = cfg.kubernetes_host;
  while (!host.empty() && host.back() == '/') host.pop_back();
  r.url = host + "/apis/authentication.k8s.io/v1/tokenreviews";
  r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + cfg.token_reviewer_jwt}};
  r.body = std::string(buf.GetString(), buf.GetSize());
  r.total_timeout = std::chrono::milliseconds(10000);
  net::Response resp;
  try {
    resp = client.perform(r);
  } catch (const net::TransportError&) {
    // axios without a response: the error handler answers a generic 500.
    return send_error(res, 500, "Something went wrong", "InternalServerError");
  }
  auto doc = core::parse_json(resp.body);
  if (resp.status < 200 || resp.status >= 300) {
    std::string message = doc ? core::string_or(**doc, "message", "") : "";
    if (!message.empty()) return send_error(res, 401, message, "KubernetesTokenReviewRequestError");
    return send_error(res, 500, "Something went wrong", "InternalServerError");
  }
  if (!doc) return send_error(res, 500, "Something went wrong", "InternalServerError");
  const core::JsonValue* status = core::member(**doc, "status");
  if (status == nullptr || !status->IsObject())
    return send_error(res, 401, "Kubernetes token not authenticated", "KubernetesTokenReviewError");
  if (auto err = core::get_string(*status, "error"); err && !err->empty())
    return send_error(res, 401, *err, "KubernetesTokenReviewError");
  if (core::get_bool(*status, "authenticated") != true)
    return send_error(res, 401, "Kubernetes token not authenticated", "KubernetesTokenReviewError");
  const core::JsonValue* user = core::member(*status, "user");
  std::string username = user != nullptr ? core::string_or(*user, "username", "") : "";
  // system:serviceaccount:<namespace>:<name>
  std::string ns, name;
  const std::string prefix = "system:serviceaccount:";
  if (username.rfind(prefix, 0) == 0) {
    auto rest = username.substr(prefix.size());
    auto colon = rest.find(':');
    if (colon != std::string::npos) {
      ns = rest.substr(0, colon);
      name = rest.substr(colon + 1);
    }
  }
  if (!cfg.allowed_namespaces.empty() && !csv_contains(cfg.allowed_namespaces, ns))
    return send_error(res, 401, "Access denied: K8s namespace not allowed.", "UnauthorizedError");
  if (!cfg.allowed_names.empty() && !csv_contains(cfg.allowed_names, name))
    return send_error(res, 401, "Access denied: K8s name not allowed.", "UnauthorizedError");
  if (!cfg.allowed_audience.empty()) {
    bool ok = false;
    if (const auto* auds = core::member(*status, "audiences"); auds != nullptr && auds->IsArray())
      for (const auto& a : auds->GetArray())
        if (a.IsString() && a.GetString() == cfg.allowed_audience) ok = true;
    if (!ok) return send_error(res, 401, "Access denied: K8s audience not allowed.", "UnauthorizedError");
  }
  std::lock_guard<std::mutex> lock(mu);
  Identity* id = model.identity_by_id(login->identity_id);
  if (id == nullptr) return send_error(res, 404, "Kubernetes auth method not found for identity, did you configure Kubernetes auth?", "NotFound");
  send_json(res, 200, issue_token(*id, "kubernetes-auth"));
}

}  // namespace ifo::sim
