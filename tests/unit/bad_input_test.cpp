// Hostile and malformed input for every core entry point that reads user JSON: wrong types at every
// field, missing spec, huge strings, deep nesting, and bounded random mutations of valid documents.
// The sanitizer build (scripts/test) runs this; the property is "an error naming a field, or a
// result, never a crash", plus bounded error messages.
#include <doctest/doctest.h>

#include <rapidjson/pointer.h>

#include <random>
#include <string>
#include <vector>

#include "core/consumed_keys.h"
#include "core/digest.h"
#include "core/json_patch.h"
#include "core/validation.h"
#include "test_helpers.h"

using namespace ifo::core;

namespace {

const char* kFullResource = R"({
  "apiVersion": "secrets.infisical.com/v1alpha1", "kind": "InfisicalSecret",
  "metadata": {"name": "demo", "namespace": "apps", "generation": 3, "labels": {"a": "b"}, "annotations": {"c": "d"}},
  "spec": {
    "hostAPI": "https://infisical.example.com", "resyncInterval": 60,
    "authentication": {
      "universalAuth": {"credentialsRef": {"secretName": "creds", "secretNamespace": "apps"},
                        "secretsScope": {"projectSlug": "p", "envSlug": "dev", "secretsPath": "/", "recursive": true}},
      "kubernetesAuth": {"identityId": "id", "serviceAccountRef": {"name": "sa", "namespace": "infra"},
                         "autoCreateServiceAccountToken": true, "serviceAccountTokenAudiences": ["x"],
                         "secretsScope": {"projectId": "p", "envSlug": "dev", "secretsPath": "/"}},
      "awsIamAuth": {"identityId": "id", "secretsScope": {"projectSlug": "p", "envSlug": "dev", "secretsPath": "/"}},
      "azureAuth": {"identityId": "id", "resource": "r", "secretsScope": {"projectSlug": "p", "envSlug": "dev", "secretsPath": "/"}},
      "gcpIdTokenAuth": {"identityId": "id", "secretsScope": {"projectSlug": "p", "envSlug": "dev", "secretsPath": "/"}},
      "gcpIamAuth": {"identityId": "id", "serviceAccountKeyFilePath": "/k", "secretsScope": {"projectSlug": "p", "envSlug": "dev", "secretsPath": "/"}},
      "serviceToken": {"serviceTokenSecretReference": {"secretName": "t", "secretNamespace": "apps"},
                       "secretsScope": {"envSlug": "dev", "secretsPath": "/"}}},
    "managedSecretReference": {"secretName": "m", "secretNamespace": "apps", "secretType": "Opaque", "creationPolicy": "Owner"},
    "managedKubeSecretReferences": [{"secretName": "m", "secretNamespace": "apps"}, {"secretName": "n", "secretNamespace": "web"}],
    "tls": {"caRef": {"secretName": "ca", "secretNamespace": "certs", "key": "ca.crt"}}
  },
  "status": {"conditions": [{"type": "Ready", "status": "True"}], "observedGeneration": 2, "managedSecrets": ["apps/m"]}
})";

// Valid: exactly one method, so mutations also reach the "accepted" outcome.
const char* kValidResource = R"({
  "metadata": {"name": "demo", "namespace": "apps"},
  "spec": {"resyncInterval": 30,
    "authentication": {"universalAuth": {"credentialsRef": {"secretName": "creds", "secretNamespace": "apps"},
                                         "secretsScope": {"projectSlug": "p", "envSlug": "dev", "secretsPath": "/"}}},
    "managedKubeSecretReferences": [{"secretName": "m", "secretNamespace": "apps"}, {"secretName": "n", "secretNamespace": "web"}]}
})";

const char* kDeployment = R"({"kind": "Deployment", "spec": {"template": {"spec": {
  "initContainers": [{"env": [{"valueFrom": {"secretKeyRef": {"name": "a", "key": "k"}}}]}],
  "containers": [{"env": [{"valueFrom": {"secretKeyRef": {"name": "b", "key": "k", "optional": true}}}],
                  "envFrom": [{"secretRef": {"name": "c"}}]}],
  "ephemeralContainers": [{"envFrom": [{"secretRef": {"name": "d"}}]}],
  "volumes": [{"secret": {"secretName": "e", "items": [{"key": "x", "path": "y"}]}},
              {"projected": {"sources": [{"secret": {"name": "f"}}]}}]}}}})";

const char* kWrongValues[] = {"null", "0", "-1", "1.5", "1e300", "18446744073709551615", "-9223372036854775808",
                              "true", "\"\"", "\"x\"", "[]", "[[]]", "{}", "{\"a\":{}}", "[null,1,\"s\"]"};

using ifo::test::parse_doc;

// Every error is for a field of the object (or the whole document) and stays readable in size.
void check_report(const ValidationReport& r) {
  for (const auto& e : r.errors) {
    CHECK_FALSE(e.message.empty());
    bool known_root = e.path.empty() || path_within(e.path, "spec") || path_within(e.path, "metadata");
    CHECK_MESSAGE(known_root, e.path);
    CHECK(e.path.size() < 2048);
    CHECK(e.message.size() < 2048);
  }
  CHECK(r.message().size() < 64 * 1024);
}

// The JSON pointers of every value in the document.
void collect_pointers(const JsonValue& v, const std::string& at, std::vector<std::string>& out) {
  out.push_back(at);
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      collect_pointers(m.value, at + "/" + json_pointer_escape(std::string(m.name.GetString(), m.name.GetStringLength())), out);
    }
  } else if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) collect_pointers(v[i], at + "/" + std::to_string(i), out);
  }
}

JsonValue random_value(std::mt19937& rng, JsonAlloc& a, int depth) {
  switch (std::uniform_int_distribution<int>(0, depth > 6 ? 5 : 8)(rng)) {
    case 0: return JsonValue();
    case 1: return JsonValue(std::uniform_int_distribution<int>(0, 1)(rng) == 1);
    case 2: return JsonValue(static_cast<int64_t>(static_cast<int64_t>(rng()) - (int64_t{1} << 31)));
    case 3: return JsonValue(std::uniform_real_distribution<double>(-1e9, 1e9)(rng));
    case 4: {
      static const char* strings[] = {"", "Owner", "Orphan", "/", "apps", "https://x", "kubernetes.io/tls", "-", "\xff\xfe", "a\0b"};
      return json_string(strings[rng() % 10], a);
    }
    case 5: return json_string(std::string(rng() % 300, static_cast<char>('a' + rng() % 26)), a);
    case 6: {
      JsonValue arr(rapidjson::kArrayType);
      for (unsigned i = 0, n = rng() % 4; i < n; ++i) arr.PushBack(random_value(rng, a, depth + 1), a);
      return arr;
    }
    default: {
      JsonValue obj(rapidjson::kObjectType);
      static const char* names[] = {"secretName", "secretNamespace", "name", "key", "items", "spec", "secretRef", "valueFrom", "x"};
      for (unsigned i = 0, n = rng() % 4; i < n; ++i) {
        set_member(obj, names[rng() % 9], random_value(rng, a, depth + 1), a);
      }
      return obj;
    }
  }
}

// One to three random edits: replace a value, delete it, or wrap it in an array.
std::shared_ptr<JsonDoc> mutate(const JsonValue& base, std::mt19937& rng) {
  auto d = std::make_shared<JsonDoc>();
  d->CopyFrom(base, d->GetAllocator());
  for (unsigned n = 1 + rng() % 3; n > 0; --n) {
    std::vector<std::string> ptrs;
    collect_pointers(*d, "", ptrs);
    const std::string& at = ptrs[rng() % ptrs.size()];
    rapidjson::Pointer p(at.c_str(), at.size());
    if (!p.IsValid()) continue;
    switch (rng() % 3) {
      case 0: {
        JsonValue v = random_value(rng, d->GetAllocator(), 0);
        if (at.empty()) static_cast<JsonValue&>(*d) = std::move(v);
        else p.Set(*d, v, d->GetAllocator());
        break;
      }
      case 1:
        if (!at.empty()) p.Erase(*d);
        break;
      default: {
        JsonValue* cur = p.Get(*d);
        if (cur == nullptr) break;
        JsonValue arr(rapidjson::kArrayType);
        arr.PushBack(JsonValue(*cur, d->GetAllocator()), d->GetAllocator());
        *cur = std::move(arr);
      }
    }
  }
  return d;
}

}  // namespace

TEST_CASE("documents that are not InfisicalSecrets get errors, not crashes") {
  for (const char* text : {"null", "1", "\"spec\"", "[]", "{}", R"({"spec":null})", R"({"spec":"x"})", R"({"spec":[]})",
                           R"({"spec":{}})", R"({"metadata":[],"spec":{}})", R"({"spec":{"authentication":[]}})",
                           "", "{", "[1,", "\xff\xfe", "{\"spec\":{\"hostAPI\":\"\\ud800\"}}"}) {
    CAPTURE(std::string(text));
    auto r = check_infisical_secret_json(text);
    CHECK_FALSE(r.ok());
    check_report(r);
  }
  auto missing = check_infisical_secret_json(R"({"metadata":{"name":"x"}})");
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.message() == "spec: required");
}

TEST_CASE("every field of a full resource, set to every wrong type") {
  auto base = parse_doc(kFullResource);
  std::vector<std::string> ptrs;
  collect_pointers(*base, "", ptrs);
  REQUIRE(ptrs.size() > 80);
  size_t runs = 0;
  for (const auto& at : ptrs) {
    if (at.empty()) continue;
    for (const char* wrong : kWrongValues) {
      auto d = std::make_shared<JsonDoc>();
      d->CopyFrom(*base, d->GetAllocator());
      auto v = parse_doc(wrong);
      JsonValue copy(*v, d->GetAllocator());
      rapidjson::Pointer(at.c_str(), at.size()).Set(*d, copy, d->GetAllocator());
      auto r = check_infisical_secret(*d, "apps");
      check_report(r);
      ++runs;
    }
  }
  CHECK(runs == (ptrs.size() - 1) * std::size(kWrongValues));
}

TEST_CASE("huge strings give bounded messages") {
  const std::string huge(1 << 20, 'A');
  auto d = parse_doc(kFullResource);
  auto& a = d->GetAllocator();
  for (const char* at : {"/spec/hostAPI", "/spec/managedSecretReference/secretName", "/spec/managedKubeSecretReferences/0/secretName",
                         "/spec/managedKubeSecretReferences/0/secretNamespace", "/metadata/namespace", "/spec/tls/caRef/key",
                         "/spec/managedSecretReference/secretType", "/spec/managedSecretReference/creationPolicy"}) {
    JsonValue v = json_string(huge, a);
    rapidjson::Pointer(at).Set(*d, v, a);
  }
  JsonValue labels(rapidjson::kObjectType);
  labels.AddMember(json_string(huge, a), JsonValue(1), a);
  rapidjson::Pointer("/metadata/labels").Set(*d, labels, a);
  auto r = check_infisical_secret(*d);
  CHECK_FALSE(r.ok());
  check_report(r);
  CHECK(r.message().find(std::string(1000, 'A')) == std::string::npos);

  auto p = apply_json_patch(*d, R"([{"op":")" + huge + R"(","path":"/a"}])");
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().size() < 1024);
  CHECK(p.error().find("unknown op") != std::string::npos);
  auto kd = decode_key_digests(R"({")" + huge + R"(":1})");
  REQUIRE_FALSE(kd.ok());
  CHECK(kd.error().size() < 1024);
  CHECK(abbreviate("héllo", 2) == "h…(+5 bytes)");  // never splits the two-byte é
}

TEST_CASE("deep nesting is refused at parse time or handled within the limit") {
  CHECK_FALSE(check_infisical_secret_json(std::string(5000, '[')).ok());
  CHECK_FALSE(check_infisical_secret_json("{\"spec\":" + std::string(200, '[') + std::string(200, ']') + "}").ok());
  // Just under the limit, nested inside every kind of field.
  std::string deep = std::string(110, '[') + std::string(110, ']');
  auto r = check_infisical_secret_json(R"({"spec":{"hostAPI":)" + deep + R"(,"authentication":{"universalAuth":)" + deep +
                                       R"(},"managedKubeSecretReferences":)" + deep + "}}");
  CHECK_FALSE(r.ok());
  check_report(r);
  std::string deep_obj;
  for (int i = 0; i < 120; ++i) deep_obj += R"({"a":)";
  deep_obj += "1" + std::string(120, '}');
  auto target = parse_doc(deep_obj);
  auto merged = apply_merge_patch(*target, *target);
  CHECK(*merged == *target);
  auto deploy = parse_doc(R"({"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"env":[{"valueFrom":{"secretKeyRef":)" + deep +
                      "}}]}]}}}}");
  CHECK(consumed_secret_keys_of_object(*deploy)->empty());
}

TEST_CASE("bounded random mutations of valid documents never crash any entry point") {
  std::mt19937 rng(20261130);  // fixed seed: failures reproduce
  auto full = parse_doc(kFullResource);
  auto valid_base = parse_doc(kValidResource);
  REQUIRE(check_infisical_secret(*valid_base).ok());
  auto deployment = parse_doc(kDeployment);
  KeyDigests digests = {{"k", std::string(64, 'a')}};
  DigestLookup lookup = [&](std::string_view name) -> const KeyDigests* { return name.size() % 2 == 0 ? &digests : nullptr; };
  int valid = 0, invalid = 0, patches_ok = 0, patches_failed = 0;
  for (int i = 0; i < 1500; ++i) {
    const JsonValue& resource = i % 2 == 0 ? static_cast<const JsonValue&>(*full) : *valid_base;
    auto m = mutate(resource, rng);
    auto r = check_infisical_secret(*m, i % 2 == 0 ? "apps" : "");
    check_report(r);
    (r.ok() ? valid : invalid)++;
    // The text form, with a few bytes flipped.
    std::string text = to_json(*m);
    for (int f = 0; f < 3 && !text.empty(); ++f) text[rng() % text.size()] = static_cast<char>(rng() % 256);
    check_report(check_infisical_secret_json(text));

    auto w = mutate(*deployment, rng);
    auto keys = consumed_secret_keys_of_object(*w);
    if (keys.ok()) {
      CHECK(rollout_hash("ns", *keys, lookup).size() == 64);
    } else {
      CHECK_FALSE(keys.error().empty());
    }

    // A random patch against the mutated resource: applies or names the failing operation.
    JsonDoc patch;
    patch.SetArray();
    static const char* ops[] = {"add", "remove", "replace", "move", "copy", "test", "bogus"};
    std::vector<std::string> ptrs;
    collect_pointers(*m, "", ptrs);
    for (unsigned n = 1 + rng() % 3; n > 0; --n) {
      JsonValue op(rapidjson::kObjectType);
      set_string(op, "op", ops[rng() % 7], patch.GetAllocator());
      set_string(op, "path", ptrs[rng() % ptrs.size()] + (rng() % 4 == 0 ? "/-" : ""), patch.GetAllocator());
      set_string(op, "from", ptrs[rng() % ptrs.size()], patch.GetAllocator());
      if (rng() % 5 != 0) set_member(op, "value", random_value(rng, patch.GetAllocator(), 0), patch.GetAllocator());
      patch.PushBack(op, patch.GetAllocator());
    }
    auto applied = apply_json_patch(*m, patch);
    (applied.ok() ? patches_ok : patches_failed)++;
    if (!applied.ok()) CHECK(applied.error().rfind("operation ", 0) == 0);
    auto merged = apply_merge_patch(*m, *mutate(resource, rng));
    CHECK(merged != nullptr);
  }
  // The mutations are not all trivially rejected (or all accepted): both outcomes are exercised.
  CHECK(invalid > 0);
  CHECK(valid > 0);
  CHECK(patches_ok > 0);
  CHECK(patches_failed > 0);
  MESSAGE("valid=" << valid << " invalid=" << invalid << " patches ok=" << patches_ok << " failed=" << patches_failed);
}
