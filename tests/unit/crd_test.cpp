// The CRD file (deploy/crds/...) agrees with the core library: it parses, its defaults, enum and
// bounds are the constants the code uses, its patterns accept exactly what the validation helpers
// accept, every field of the model is in the schema, and every schema field is described.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <regex>
#include <set>
#include <string>

#include "core/constants.h"
#include "core/infisical_secret.h"
#include "core/trust_policy.h"
#include "core/validation.h"

using namespace ifo::core;

namespace {

YAML::Node load_crd(std::string_view name = kCrdName) {
  const char* root = std::getenv("IFO_SOURCE_ROOT");
  REQUIRE_MESSAGE(root != nullptr, "IFO_SOURCE_ROOT is not set");
  return YAML::LoadFile(std::string(root) + "/deploy/crds/" + std::string(name) + ".yaml");
}

YAML::Node version(const YAML::Node& crd) { return crd["spec"]["versions"][0]; }
YAML::Node schema(const YAML::Node& crd) { return version(crd)["schema"]["openAPIV3Schema"]; }

// Follows "a.b[].c": properties of objects, items of arrays. (yaml-cpp's Node::operator= writes
// through to the referenced node, so the cursor is moved with reset().)
YAML::Node field(const YAML::Node& root, const std::string& path) {
  YAML::Node cur;
  cur.reset(root);
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool items = part.size() > 2 && part.ends_with("[]");
    if (items) part.resize(part.size() - 2);
    YAML::Node props = cur["properties"];
    if (!props || !props[part]) return YAML::Node(YAML::NodeType::Undefined);
    cur.reset(props[part]);
    if (items) cur.reset(cur["items"]);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

void walk(const YAML::Node& node, const std::string& path, std::vector<std::string>& undescribed,
          std::vector<std::string>& preserve_unknown) {
  if (node["x-kubernetes-preserve-unknown-fields"]) preserve_unknown.push_back(path);
  if (path != "metadata" && (!node["description"] || node["description"].as<std::string>().empty())) {
    undescribed.push_back(path);
  }
  if (node["properties"]) {
    for (const auto& p : node["properties"]) {
      std::string name = p.first.as<std::string>();
      walk(p.second, path.empty() ? name : path + "." + name, undescribed, preserve_unknown);
    }
  }
  if (node["items"]) walk(node["items"], path + "[]", undescribed, preserve_unknown);
}

std::set<std::string> string_set(const YAML::Node& seq) {
  std::set<std::string> out;
  for (const auto& v : seq) out.insert(v.as<std::string>());
  return out;
}

}  // namespace

TEST_CASE("the CRD names the resource the code serves") {
  YAML::Node crd = load_crd();
  CHECK(crd["apiVersion"].as<std::string>() == "apiextensions.k8s.io/v1");
  CHECK(crd["kind"].as<std::string>() == "CustomResourceDefinition");
  CHECK(crd["metadata"]["name"].as<std::string>() == kCrdName);
  CHECK(crd["spec"]["group"].as<std::string>() == kGroup);
  CHECK(crd["spec"]["names"]["kind"].as<std::string>() == kKind);
  CHECK(crd["spec"]["names"]["plural"].as<std::string>() == kResource);
  CHECK(crd["spec"]["scope"].as<std::string>() == "Namespaced");
  REQUIRE(crd["spec"]["versions"].size() == 1);
  CHECK(version(crd)["name"].as<std::string>() == kVersion);
  CHECK(version(crd)["served"].as<bool>());
  CHECK(version(crd)["storage"].as<bool>());
  CHECK(version(crd)["subresources"]["status"].IsMap());
}

TEST_CASE("defaults, enum and bounds are the constants the code uses") {
  YAML::Node s = schema(load_crd());
  YAML::Node resync = field(s, "spec.resyncInterval");
  CHECK(resync["type"].as<std::string>() == "integer");
  CHECK(resync["default"].as<int64_t>() == kDefaultResyncIntervalSeconds);
  CHECK(resync["minimum"].as<int64_t>() == kMinResyncIntervalSeconds);
  CHECK(resync["maximum"].as<int64_t>() == kMaxResyncIntervalSeconds);
  for (std::string target : {"spec.managedSecretReference", "spec.managedKubeSecretReferences[]"}) {
    CAPTURE(target);
    CHECK(field(s, target + ".secretType")["default"].as<std::string>() == kDefaultSecretType);
    YAML::Node policy = field(s, target + ".creationPolicy");
    CHECK(policy["default"].as<std::string>() == kCreationPolicyOrphan);
    CHECK(string_set(policy["enum"]) == std::set<std::string>{std::string(kCreationPolicyOrphan), std::string(kCreationPolicyOwner)});
    CHECK(string_set(field(s, target)["required"]) == std::set<std::string>{"secretName", "secretNamespace"});
  }
  CHECK(string_set(field(s, "status.conditions[].status")["enum"]) == std::set<std::string>{"True", "False", "Unknown"});
}

TEST_CASE("every model field is in the schema; every schema field is described; nothing is preserved unknown") {
  YAML::Node s = schema(load_crd());
  std::vector<std::string> scope_fields = {"projectSlug", "projectId", "envSlug", "secretsPath", "recursive"};
  std::vector<std::string> paths = {
      "spec.hostAPI", "spec.resyncInterval",
      "spec.authentication.universalAuth.credentialsRef.secretName",
      "spec.authentication.universalAuth.credentialsRef.secretNamespace",
      "spec.authentication.kubernetesAuth.identityId",
      "spec.authentication.kubernetesAuth.serviceAccountRef.name",
      "spec.authentication.kubernetesAuth.serviceAccountRef.namespace",
      "spec.authentication.kubernetesAuth.autoCreateServiceAccountToken",
      "spec.authentication.kubernetesAuth.serviceAccountTokenAudiences",
      "spec.authentication.awsIamAuth.identityId",
      "spec.authentication.azureAuth.identityId", "spec.authentication.azureAuth.resource",
      "spec.authentication.gcpIdTokenAuth.identityId",
      "spec.authentication.gcpIamAuth.identityId", "spec.authentication.gcpIamAuth.serviceAccountKeyFilePath",
      "spec.authentication.serviceToken.serviceTokenSecretReference.secretName",
      "spec.authentication.serviceToken.serviceTokenSecretReference.secretNamespace",
      "spec.authentication.serviceToken.secretsScope.envSlug",
      "spec.authentication.serviceToken.secretsScope.secretsPath",
      "spec.authentication.serviceToken.secretsScope.recursive",
      "spec.tls.caRef.secretName", "spec.tls.caRef.secretNamespace", "spec.tls.caRef.key",
      "status.conditions[].type", "status.conditions[].status", "status.conditions[].reason",
      "status.conditions[].message", "status.conditions[].lastTransitionTime", "status.conditions[].observedGeneration",
      "status.observedGeneration", "status.lastSyncTime", "status.syncedKeys", "status.managedSecrets",
      // What the webhook reads instead of Secrets (core/managed_digests.h); pruned if undeclared.
      "status.managedKeyDigests[].kind", "status.managedKeyDigests[].namespace", "status.managedKeyDigests[].name",
      "status.managedKeyDigests[].keyDigests", "status.managedKeyDigests[].previousKeyDigests",
  };
  for (std::string m : {"universalAuth", "kubernetesAuth", "awsIamAuth", "azureAuth", "gcpIdTokenAuth", "gcpIamAuth"}) {
    for (const auto& f : scope_fields) paths.push_back("spec.authentication." + m + ".secretsScope." + f);
  }
  for (std::string t : {"spec.managedSecretReference", "spec.managedKubeSecretReferences[]"}) {
    for (std::string f : {"secretName", "secretNamespace", "secretType", "creationPolicy"}) paths.push_back(t + "." + f);
  }
  for (AuthMethod m : kAllAuthMethods) paths.push_back("spec.authentication." + std::string(auth_method_field(m)));
  for (const auto& p : paths) {
    CAPTURE(p);
    CHECK(field(s, p).IsDefined());
  }
  std::vector<std::string> undescribed, preserve_unknown;
  walk(s, "", undescribed, preserve_unknown);
  CHECK(undescribed == std::vector<std::string>{});
  CHECK(preserve_unknown == std::vector<std::string>{});
}

TEST_CASE("printer columns: READY, REASON, SECRET, LAST SYNC, AGE; -o wide adds PROJECT, ENVIRONMENT, PATH") {
  YAML::Node cols = version(load_crd())["additionalPrinterColumns"];
  REQUIRE(cols.size() == 8);
  auto col = [&](size_t i) {
    return std::tuple(cols[i]["name"].as<std::string>(), cols[i]["type"].as<std::string>(), cols[i]["jsonPath"].as<std::string>());
  };
  CHECK(col(0) == std::tuple("Ready", "string", R"(.status.conditions[?(@.type=="Ready")].status)"));
  CHECK(col(1) == std::tuple("Reason", "string", R"(.status.conditions[?(@.type=="Ready")].reason)"));
  CHECK(col(2) == std::tuple("Secret", "string", ".spec.managedSecretReference.secretName"));
  CHECK(col(3) == std::tuple("Last Sync", "date", ".status.lastSyncTime"));
  CHECK(col(4) == std::tuple("Age", "date", ".metadata.creationTimestamp"));
  CHECK(col(5) == std::tuple("Project", "string", ".spec.authentication.*.secretsScope['projectSlug','projectId']"));
  CHECK(col(6) == std::tuple("Environment", "string", ".spec.authentication.*.secretsScope.envSlug"));
  CHECK(col(7) == std::tuple("Path", "string", ".spec.authentication.*.secretsScope.secretsPath"));
  for (size_t i = 0; i < cols.size(); ++i) {
    CAPTURE(i);
    CHECK(cols[i]["priority"].as<int>(0) == (i < 5 ? 0 : 1));
  }
  CHECK(std::string(kConditionReady) == "Ready");
}

TEST_CASE("kubectl names: `kubectl get isec` and `kubectl get infisical`, not in `all`") {
  YAML::Node names = load_crd()["spec"]["names"];
  REQUIRE(names["shortNames"].IsSequence());
  CHECK(names["shortNames"].size() == 1);
  CHECK(names["shortNames"][0].as<std::string>() == "isec");
  REQUIRE(names["categories"].IsSequence());
  CHECK(names["categories"].size() == 1);
  CHECK(names["categories"][0].as<std::string>() == "infisical");
}

TEST_CASE("every auth method that has a secretsScope has the fields the wide columns read") {
  YAML::Node auth = field(schema(load_crd()), "spec.authentication")["properties"];
  REQUIRE(auth.IsMap());
  int scoped = 0;
  for (const auto& method : auth) {
    YAML::Node scope = method.second["properties"]["secretsScope"];
    if (!scope.IsDefined()) continue;
    ++scoped;
    CAPTURE(method.first.as<std::string>());
    for (const char* f : {"envSlug", "secretsPath"}) CHECK_MESSAGE(scope["properties"][f].IsDefined(), f);
  }
  CHECK(scoped >= 2);
}

TEST_CASE("schema patterns accept exactly what the validation helpers accept") {
  YAML::Node s = schema(load_crd());
  auto re = [&](const std::string& path) {
    YAML::Node p = field(s, path)["pattern"];
    REQUIRE_MESSAGE(p.IsDefined(), path);
    return std::regex(p.as<std::string>(), std::regex::ECMAScript);
  };
  const std::regex ns = re("spec.managedSecretReference.secretNamespace");
  const std::regex name = re("spec.managedSecretReference.secretName");
  const std::regex key = re("spec.tls.caRef.key");
  const std::regex path = re("spec.authentication.universalAuth.secretsScope.secretsPath");
  const std::regex host = re("spec.hostAPI");
  const char* samples[] = {"a", "apps", "kube-system", "a.b", "a..b", "-a", "a-", "A", "a_b", "my.app-1", "1", "x.y.z",
                           "tls.crt", "DB_URL", "a b", "", ".a", "a.", "a/b"};
  for (const char* sample : samples) {
    std::string v = sample;
    CAPTURE(v);
    // Length limits are maxLength in the schema, not part of the pattern.
    CHECK(std::regex_match(v, ns) == is_dns1123_label(v));
    CHECK(std::regex_match(v, name) == is_dns1123_subdomain(v));
    if (v != "." && v != "..") CHECK(std::regex_match(v, key) == is_secret_key(v));
  }
  CHECK(std::regex_search(std::string("/"), path));
  CHECK_FALSE(std::regex_search(std::string("app"), path));
  for (const char* url : {"https://app.infisical.com/api", "http://127.0.0.1:8080", "https://[::1]:8443/api/", "https://x.example.com/a/b",
                          "ftp://x", "https://", "https:///api", "https://x?y", "https://u@x", "x.example.com", "https://x y"}) {
    CAPTURE(std::string(url));
    // The schema pattern is a coarse first line; it never accepts what the webhook refuses for these.
    if (std::regex_match(std::string(url), host)) CHECK(is_http_url(url));
  }
  CHECK(std::regex_match(std::string("https://app.infisical.com/api"), host));
  CHECK(std::string(field(s, "spec.managedSecretReference.secretNamespace")["maxLength"].as<std::string>()) == "63");
  CHECK(std::string(field(s, "spec.managedSecretReference.secretName")["maxLength"].as<std::string>()) == "253");
}

TEST_CASE("the InfisicalReferenceGrant CRD is the grant the trust policy reads") {
  YAML::Node crd = load_crd(kGrantCrdName);
  CHECK(crd["metadata"]["name"].as<std::string>() == kGrantCrdName);
  CHECK(crd["spec"]["group"].as<std::string>() == kGroup);
  CHECK(crd["spec"]["names"]["kind"].as<std::string>() == kGrantKind);
  CHECK(crd["spec"]["names"]["plural"].as<std::string>() == kGrantResource);
  CHECK(crd["spec"]["scope"].as<std::string>() == "Namespaced");
  REQUIRE(crd["spec"]["versions"].size() == 1);
  CHECK(version(crd)["name"].as<std::string>() == kVersion);
  YAML::Node s = schema(crd);
  CHECK(string_set(field(s, "spec")["required"]) == std::set<std::string>{"from", "to"});
  CHECK(string_set(field(s, "spec.from[]")["required"]) == std::set<std::string>{"namespace"});
  CHECK(string_set(field(s, "spec.to[]")["required"]) == std::set<std::string>{"kind"});
  CHECK(field(s, "spec.to[].name").IsDefined());
  CHECK(string_set(field(s, "spec.to[].kind")["enum"]) ==
        std::set<std::string>(std::begin(kGrantableKinds), std::end(kGrantableKinds)));
  std::vector<std::string> undescribed, preserve_unknown;
  walk(s, "", undescribed, preserve_unknown);
  CHECK(undescribed == std::vector<std::string>{});
  CHECK(preserve_unknown == std::vector<std::string>{});
}

TEST_CASE("every field of upstream v0.11's InfisicalSecret is in the schema, so none is ever pruned") {
  // ../shared/reference/upstream-v0.11-infisicalsecret.md section 1: a field missing here would be
  // dropped by the API server from objects upstream users stored (their templates, their syncConfig).
  YAML::Node s = schema(load_crd());
  std::vector<std::string> paths = {
      "spec.instantUpdates", "spec.syncConfig.resyncInterval", "spec.syncConfig.instantUpdates",
      "spec.tokenSecretReference.secretName", "spec.tokenSecretReference.secretNamespace",
      "spec.authentication.azureAuth.azureManagedIdentityClientId",
      "spec.authentication.ldapAuth.identityId", "spec.authentication.ldapAuth.credentialsRef.secretName",
      "spec.authentication.ldapAuth.credentialsRef.secretNamespace", "spec.authentication.ldapAuth.secretsScope.envSlug",
      "spec.authentication.ldapAuth.secretsScope.secretName",
      "spec.authentication.serviceAccount.serviceAccountSecretReference.secretName",
      "spec.authentication.serviceAccount.projectId", "spec.authentication.serviceAccount.environmentName",
      "spec.managedKubeConfigMapReferences[].configMapName", "spec.managedKubeConfigMapReferences[].configMapNamespace",
      "spec.managedKubeConfigMapReferences[].creationPolicy",
  };
  for (std::string m : {"universalAuth", "kubernetesAuth", "awsIamAuth", "azureAuth", "gcpIdTokenAuth", "gcpIamAuth", "ldapAuth"})
    paths.push_back("spec.authentication." + m + ".secretsScope.secretName");
  for (std::string t : {"spec.managedSecretReference", "spec.managedKubeSecretReferences[]", "spec.managedKubeConfigMapReferences[]"}) {
    for (std::string f : {"includeAllSecrets", "data", "metadata.labels", "metadata.annotations"})
      paths.push_back(t + ".template." + f);
    CHECK(field(s, t + ".template.includeAllSecrets")["default"].as<bool>() == false);
    CHECK(field(s, t + ".template.data")["additionalProperties"]["type"].as<std::string>() == "string");
  }
  for (const auto& p : paths) {
    CAPTURE(p);
    CHECK(field(s, p).IsDefined());
  }
}
