// Kubernetes auth against kube-sim in process: a TokenRequest-minted service-account JWT logs in to
// infisical-sim, which reviews it with kube-sim's TokenReview over HTTPS (kube-sim's CA, a reviewer token).
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "core/json.h"
#include "infisical_sim.h"
#include "net/http_client.h"
#include "sim/kube/modules.h"
#include "sim/kube/server.h"
#include "sim_test_support.h"

using namespace ifo;
using ifo::sim::test::Api;
using ifo::sim::test::json;

TEST_CASE("kubernetes-auth with kube-sim: a minted token logs in; a deleted service account or wrong namespace fails") {
  kubesim::Options ko;
  kubesim::KubeSim kube(ko);
  auto modules = kubesim::install_modules(kube, {});
  kube.start();

  net::TlsOptions tls;
  tls.ca_pem = kube.ca_pem();
  net::HttpClient k8s(tls);
  auto call = [&](const std::string& method, const std::string& path, const std::string& body) {
    net::Request r;
    r.method = method;
    r.url = kube.url() + path;
    r.headers = {{"Authorization", "Bearer " + kube.token()}, {"Content-Type", "application/json"}};
    r.body = body;
    return k8s.perform(r);
  };
  for (const char* ns : {"infra", "default"}) {
    auto created = call("POST", "/api/v1/namespaces", std::string(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")") + ns + R"("}})");
    REQUIRE((created.status == 201 || created.status == 409));  // "default" already exists
    REQUIRE(call("POST", std::string("/api/v1/namespaces/") + ns + "/serviceaccounts",
                 R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"operator"}})").status == 201);
  }
  auto mint = [&](const std::string& ns) {
    auto r = call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts/operator/token",
                  R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["infisical"],"expirationSeconds":600}})");
    REQUIRE_MESSAGE(r.status == 201, r.body);
    return core::string_or(*core::at_path(*json(r.body), {"status"}), "token", "");
  };

  sim::SimOptions so;
  so.seed_json = R"({"projects":[{"slug":"demo"}],
    "identities":[{"id":"id-k8s","projects":["demo"],
      "kubernetesAuth":{"allowedNamespaces":"infra","allowedNames":"operator","allowedAudience":"infisical"}}]})";
  auto s = sim::InfisicalSim::start(so);
  s->set_kubernetes(kube.url(), kube.ca_pem(), kube.token());
  Api api(*s);

  auto ok = api.post("/v1/auth/kubernetes-auth/login", R"({"identityId":"id-k8s","jwt":")" + mint("infra") + R"("})");
  CHECK_MESSAGE(ok.status == 200, ok.body);

  auto other_ns = api.post("/v1/auth/kubernetes-auth/login", R"({"identityId":"id-k8s","jwt":")" + mint("default") + R"("})");
  CHECK(other_ns.status == 401);
  CHECK(core::string_or(*json(other_ns.body), "message", "") == "Access denied: K8s namespace not allowed.");

  std::string token = mint("infra");
  REQUIRE(call("DELETE", "/api/v1/namespaces/infra/serviceaccounts/operator", "").status == 200);
  auto gone = api.post("/v1/auth/kubernetes-auth/login", R"({"identityId":"id-k8s","jwt":")" + token + R"("})");
  CHECK(gone.status == 401);
  s->stop();
  kube.stop();
}
