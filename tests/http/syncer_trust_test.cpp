// The trust boundary in the reconciler (DESIGN.md section 8) against kube-sim and infisical-sim: a
// refused reference is never read, no token is minted without the ServiceAccount's opt-in, nothing is
// sent to a host off the allow-list, a managed Secret is written only by the InfisicalSecret it is
// bound to; and `infisical-syncer preflight` reports the same decisions.
#include <doctest/doctest.h>

#include <algorithm>

#include "core/clock.h"
#include "syncer/preflight.h"
#include "syncer_harness.h"

using namespace ifo;
using namespace ifo::syncer;
using namespace ifo::syncer::testing;

namespace {

constexpr const char* kKubeIdentity = "6b2f8a0e-0000-4000-8000-0000000000b2";

// quiet_seed() plus an identity that logs in with Kubernetes auth as ServiceAccount default/app-sa.
std::string trust_seed() {
  std::string seed = quiet_seed();
  const std::string anchor = R"("identities": [)";
  seed.insert(seed.find(anchor) + anchor.size(),
              std::string(R"({"id": ")") + kKubeIdentity + R"(", "name": "k8s-test", "projects": ["proj"],
    "kubernetesAuth": {"allowedNamespaces": "default", "allowedNames": "app-sa"}},)");
  return seed;
}

// An InfisicalSecret whose credentials Secret is universal-creds of namespace `creds_ns`.
std::string with_credentials_in(SyncerHarness& h, const std::string& name, const std::string& target,
                                const std::string& creds_ns) {
  std::string text = h.infisical_secret_json(name, target);
  replace_once(text, R"("credentialsRef":{"secretName":"universal-creds","secretNamespace":"default"})",
          R"("credentialsRef":{"secretName":"universal-creds","secretNamespace":")" + creds_ns + "\"}");
  return text;
}

int64_t infisical_requests(SyncerHarness& h) {
  return h.inf_sim->counters().total;
}

// The Warning events recorded for an InfisicalSecret, as "reason: message".
}  // namespace

TEST_CASE(
    "a credentials Secret in another namespace is never read without a grant; a grant admits it at the next "
    "resync") {
  SyncerHarness h;
  h.create_ca_secret();
  h.create_namespace("vault");
  h.create_credentials("vault");
  h.create_cr(with_credentials_in(h, "app", "app-secrets", "vault"));
  auto requests_before = infisical_requests(h);

  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "refused");
  // Retried at the resync interval (60 s +-10%), not only on a spec change as an invalid spec is.
  CHECK(out.next == ReconcileOutcome::Next::kRequeueAfter);
  CHECK(out.after >= std::chrono::milliseconds(54000));
  CHECK(out.after <= std::chrono::milliseconds(66000));
  // The grants of namespace vault were looked at; the Secret there was not.
  CHECK(count_prefix(h.recording->actions(), "list infisicalreferencegrants vault") == 1);
  CHECK(count_prefix(h.recording->actions(), "get secrets vault/") == 0);
  CHECK(without_events(h.recording->writes()) ==
        std::vector<std::string>{"patch-status infisicalsecrets default/app"});
  CHECK(infisical_requests(h) == requests_before);
  CHECK(h.get(kube::kSecrets, "app-secrets") == nullptr);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.status == "False");
  CHECK(ready.reason == "ReferenceNotGranted");
  CHECK(ready.message.starts_with("spec.authentication.universalAuth.credentialsRef: "));
  CHECK(ready.message.find("vault/universal-creds") != std::string::npos);
  CHECK(ready.message.find("test-client-secret-value") == std::string::npos);
  auto events = warnings(h, "app");
  REQUIRE(events.size() == 1);
  CHECK(events[0].starts_with("ReferenceNotGranted: spec.authentication.universalAuth.credentialsRef: "));
  CHECK(h.metrics.value(kMetricTrustRefusals, {{"reason", "ReferenceNotGranted"}}) == 1);

  // A grant for another Secret, or from another namespace, admits nothing.
  h.create_grant("vault", "other-secret", "default", "Secret", "other-creds");
  h.create_grant("vault", "other-namespace", "payments", "Secret", "universal-creds");
  h.clock.step(out.after);
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "refused");
  CHECK(count_prefix(h.recording->actions(), "get secrets vault/") == 0);
  CHECK(h.recording->writes().empty());  // same refusal: no status change, no second event

  // The grant for it: the next resync syncs.
  h.create_grant("vault", "creds-for-default", "default", "Secret", "universal-creds");
  h.clock.step(out.after);
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->actions(), "get secrets vault/universal-creds") == 1);
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");
  CHECK(ready_condition(*h.get(kube::kInfisicalSecrets, "app")).reason == "Synced");
}

TEST_CASE("upstream-compatible mode admits a cross-namespace credentials Secret without a grant") {
  SyncerHarness h;
  h.trust.cross_namespace_without_grant = true;
  h.make_reconciler();
  h.create_ca_secret();
  h.create_namespace("vault");
  h.create_credentials("vault");
  h.create_cr(with_credentials_in(h, "app", "app-secrets", "vault"));
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->actions(), "list infisicalreferencegrants") == 0);
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");
}

TEST_CASE("Kubernetes auth mints a token only for a ServiceAccount that opted in") {
  SyncerHarness h(trust_seed());
  h.inf_sim->set_kubernetes(h.kube_sim->url(), h.kube_sim->ca_pem(), h.kube_sim->token());
  h.create_ca_secret();
  h.create_service_account("default", "app-sa");
  std::string text = h.infisical_secret_json("app", "app-secrets");
  replace_once(
      text,
      R"("universalAuth":{"credentialsRef":{"secretName":"universal-creds","secretNamespace":"default"},)",
      std::string(R"("kubernetesAuth":{"identityId":")") + kKubeIdentity +
          R"(","serviceAccountRef":{"name":"app-sa","namespace":"default"},)");
  h.create_cr(text);
  auto requests_before = infisical_requests(h);

  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "refused");
  CHECK(count_prefix(h.recording->actions(), "get serviceaccounts default/app-sa") == 1);
  CHECK(count_prefix(h.recording->actions(), "token serviceaccounts") == 0);
  CHECK(infisical_requests(h) == requests_before);
  CHECK(h.get(kube::kSecrets, "app-secrets") == nullptr);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.reason == "ServiceAccountNotOptedIn");
  CHECK(ready.message.find("spec.authentication.kubernetesAuth.serviceAccountRef: ") == 0);
  CHECK(h.metrics.value(kMetricTrustRefusals, {{"reason", "ServiceAccountNotOptedIn"}}) == 1);

  // An opt-in for another identity is no opt-in.
  h.client->patch(
      kube::kServiceAccounts, "default", "app-sa", kube::PatchType::kMerge,
      R"({"metadata":{"annotations":{"secrets.infisical.com/kubernetes-auth-identity-ids":"some-other-id"}}})");
  h.clock.step(out.after);
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "refused");
  CHECK(count_prefix(h.recording->actions(), "token serviceaccounts") == 0);

  h.client->patch(
      kube::kServiceAccounts, "default", "app-sa", kube::PatchType::kMerge,
      std::string(
          R"({"metadata":{"annotations":{"secrets.infisical.com/kubernetes-auth-identity-ids":"some-other-id, )") +
          kKubeIdentity + R"("}}})");
  h.clock.step(out.after);
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "synced");
  CHECK(count_prefix(h.recording->actions(), "token serviceaccounts default/app-sa") == 1);
  CHECK(data_value(*h.get(kube::kSecrets, "app-secrets"), "DB_PASSWORD") == "hunter2-value");
}

TEST_CASE("a hostAPI off the allow-list is refused before anything is read or sent") {
  SyncerHarness h;
  h.create_credentials();
  h.create_ca_secret();
  h.trust = core::TrustPolicy{};  // the product default: Infisical Cloud only
  h.make_reconciler();
  h.create_cr(h.infisical_secret_json("app", "app-secrets"));
  auto fetches_before = h.inf_sim->counters().by_route["GET /api/v3/secrets/raw"];
  auto requests_before = infisical_requests(h);
  h.recording->clear();
  auto out = h.reconciler->reconcile("default/app");
  CHECK(out.result == "refused");
  CHECK(count_prefix(h.recording->actions(), "get secrets") == 0);  // neither credentials nor CA
  CHECK(without_events(h.recording->writes()) ==
        std::vector<std::string>{"patch-status infisicalsecrets default/app"});
  CHECK(h.inf_sim->counters().by_route["GET /api/v3/secrets/raw"] == fetches_before);
  CHECK(infisical_requests(h) == requests_before);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "app"));
  CHECK(ready.reason == "HostNotAllowed");
  CHECK(ready.message.starts_with("spec.hostAPI: "));
  CHECK(h.metrics.value(kMetricTrustRefusals, {{"reason", "HostNotAllowed"}}) == 1);
}

TEST_CASE("two InfisicalSecrets naming one Secret: the second gets SecretConflict and never writes it") {
  SyncerHarness h;
  h.create_credentials();
  h.create_ca_secret();
  h.inf_sim->set_secret("proj", "dev", "/other", "OTHER_KEY", "other-value");
  h.create_cr(h.infisical_secret_json("first", "shared-secret"));
  std::string second = h.infisical_secret_json("second", "shared-secret");
  replace_once(second, R"("secretsPath":"/")", R"("secretsPath":"/other")");
  h.create_cr(second);

  REQUIRE(h.reconciler->reconcile("default/first").result == "synced");
  auto first = h.get(kube::kInfisicalSecrets, "first");
  auto s = h.get(kube::kSecrets, "shared-secret");
  const auto* ann = core::at_path(*s, {"metadata", "annotations"});
  REQUIRE(ann);
  CHECK(core::string_or(*ann, "secrets.infisical.com/owner", "") == "default/first");
  CHECK(core::string_or(*ann, "secrets.infisical.com/owner-uid", "") ==
        core::string_or(*core::member(*first, "metadata"), "uid", "x"));
  std::string before = core::to_json(*s);

  h.recording->clear();
  auto out = h.reconciler->reconcile("default/second");
  CHECK(out.result == "conflict");
  CHECK(count_prefix(h.recording->writes(), "create secrets") == 0);
  CHECK(count_prefix(h.recording->writes(), "update secrets") == 0);
  CHECK(core::to_json(*h.get(kube::kSecrets, "shared-secret")) == before);
  auto ready = ready_condition(*h.get(kube::kInfisicalSecrets, "second"));
  CHECK(ready.reason == "SecretConflict");
  CHECK(ready.message.find("default/first") != std::string::npos);

  // Adoption does not take a Secret from a live owner either.
  h.client->patch(kube::kInfisicalSecrets, "default", "second", kube::PatchType::kMerge,
                  R"({"metadata":{"annotations":{"secrets.infisical.com/adopt":"true"}}})");
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/second").result == "conflict");
  CHECK(count_prefix(h.recording->writes(), "update secrets") == 0);
  // The first keeps writing it.
  CHECK(h.reconciler->reconcile("default/first").result == "unchanged");
  CHECK(data_value(*h.get(kube::kSecrets, "shared-secret"), "DB_PASSWORD") == "hunter2-value");
  CHECK(data_value(*h.get(kube::kSecrets, "shared-secret"), "OTHER_KEY") == "<absent>");
}

TEST_CASE("preflight lists what the boundary would refuse, with the remedy, reading only; nothing once admitted") {
  SyncerHarness h(trust_seed());
  h.create_ca_secret();
  h.create_credentials();
  h.create_namespace("vault");
  h.create_credentials("vault");
  h.create_service_account("default", "app-sa");
  h.create_cr(h.infisical_secret_json("fine", "fine-secret"));
  h.create_cr(with_credentials_in(h, "cross", "cross-secret", "vault"));
  std::string k8s = h.infisical_secret_json("k8s", "k8s-secret");
  replace_once(
      k8s,
      R"("universalAuth":{"credentialsRef":{"secretName":"universal-creds","secretNamespace":"default"},)",
      std::string(R"("kubernetesAuth":{"identityId":")") + kKubeIdentity +
          R"(","serviceAccountRef":{"name":"app-sa","namespace":"default"},)");
  h.create_cr(k8s);
  // Upstream accepts two auth blocks (it picks one at random); this operator rejects the spec.
  std::string two = h.infisical_secret_json("two-auth", "two-secret");
  replace_once(two, R"("authentication":{)",
               R"("authentication":{"awsIamAuth":{"identityId":"id-1","secretsScope":{"projectSlug":"proj","envSlug":"dev","secretsPath":"/"}},)");
  h.create_cr(two);

  h.recording->clear();
  PreflightReport report = run_preflight(*h.recording, h.clock, h.trust, "infisical-operator-system");
  CHECK(h.recording->writes().empty());
  CHECK(count_prefix(h.recording->actions(), "get secrets") == 0);
  CHECK(report.checked == 3);
  REQUIRE(report.refused.size() == 2);
  std::string text = format_preflight(report);
  CHECK(
      text.find("default/cross: ReferenceNotGranted at spec.authentication.universalAuth.credentialsRef: the "
                "credentials Secret vault/universal-creds is in another namespace") != std::string::npos);
  CHECK(text.find("\n    kind: InfisicalReferenceGrant\n    metadata:\n") != std::string::npos);
  CHECK(text.find("default/k8s: ServiceAccountNotOptedIn at "
                  "spec.authentication.kubernetesAuth.serviceAccountRef: ") != std::string::npos);
  CHECK(text.find(std::string("\n    kubectl annotate serviceaccount -n default app-sa "
                              "secrets.infisical.com/kubernetes-auth-identity-ids=") +
                  kKubeIdentity + "\n") != std::string::npos);
  CHECK(text.find("default/fine") == std::string::npos);
  REQUIRE(report.invalid.size() == 1);
  CHECK(text.starts_with("default/two-auth: InvalidSpec: spec.authentication: "));
  CHECK(text.ends_with("\n3 InfisicalSecrets checked, 2 would be refused, 1 have an invalid spec\n"));

  h.create_grant("vault", "creds-for-default", "default", "Secret", "universal-creds");
  h.client->patch(
      kube::kServiceAccounts, "default", "app-sa", kube::PatchType::kMerge,
      std::string(R"({"metadata":{"annotations":{"secrets.infisical.com/kubernetes-auth-identity-ids":")") +
          kKubeIdentity + R"("}}})");
  report = run_preflight(*h.recording, h.clock, h.trust, "infisical-operator-system");
  CHECK(report.refused.empty());
  CHECK(format_preflight(report).ends_with("\n3 InfisicalSecrets checked, 0 would be refused, 1 have an invalid spec\n"));
}

TEST_CASE("preflight output: one line per refusal, the remedy indented below, the summary last") {
  PreflightReport report;
  report.checked = 4;
  report.refused.push_back(
      {"team-a",
       "app",
       {{"HostNotAllowed", "spec.hostAPI", "hostAPI host evil.example is not allowed",
         "an admin adds evil.example to --allowed-hosts"},
        {"ReferenceNotGranted", "spec.tls.caRef", "the CA Secret infra/ca is in another namespace",
         "apiVersion: v1\nkind: Thing\n"}}});
  CHECK(format_preflight(report) ==
        "team-a/app: HostNotAllowed at spec.hostAPI: hostAPI host evil.example is not allowed\n"
        "    an admin adds evil.example to --allowed-hosts\n"
        "team-a/app: ReferenceNotGranted at spec.tls.caRef: the CA Secret infra/ca is in another namespace\n"
        "    apiVersion: v1\n"
        "    kind: Thing\n"
        "4 InfisicalSecrets checked, 1 would be refused, 0 have an invalid spec\n");
}

TEST_CASE("a resync that finds nothing changed reads no object, yet a grant taken back is refused within one TTL") {
  SyncerHarness h;
  h.make_reconciler(240, /*versions=*/true);
  h.create_ca_secret();
  h.create_namespace("vault");
  h.create_credentials("vault");
  h.create_grant("vault", "creds-for-default", "default", "Secret", "universal-creds");
  h.create_cr(with_credentials_in(h, "app", "app-secrets", "vault"));
  REQUIRE(h.reconciler->reconcile("default/app").result == "synced");
  h.object_reads = 0;
  h.recording->clear();
  CHECK(h.reconciler->reconcile("default/app").result == "unchanged");
  CHECK(h.object_reads == 0);
  CHECK(h.recording->writes().empty());

  // The grant goes; the scope's data is still fresh, but the grants are read again after their TTL.
  h.client->remove(kube::kInfisicalReferenceGrants, "vault", "creds-for-default");
  h.clock.step(std::chrono::seconds(4));
  CHECK(h.reconciler->reconcile("default/app").result == "refused");
  CHECK(ready_condition(*h.get(kube::kInfisicalSecrets, "app")).reason == "ReferenceNotGranted");
}
