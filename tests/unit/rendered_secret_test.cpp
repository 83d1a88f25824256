// The data a managed Secret gets from a target's template (upstream v0.11's rules): which keys, how
// each renders, and errors that name the entry and Go's position but never a secret value.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "core/rendered_secret.h"

using namespace ifo::core;

namespace {

constexpr int64_t kNow = 1700000000;
constexpr const char* kTarget = "spec.managedKubeSecretReferences[0]";
using Data = std::map<std::string, std::string>;

const TemplateData& secrets() {
  static const TemplateData d = template_data(
      {{"DB_URL", "postgres://db.internal:5432/app"}, {"DB_USER", "admin"}, {"DB_PASSWORD", "hunter2-value"}},
      "/app");
  return d;
}

CompiledTemplate compiled(const SecretTemplate& t) {
  auto c = compile_template(t, kTarget);
  REQUIRE_MESSAGE(c.ok(), c.error());
  return *c;
}

Data render_ok(const SecretTemplate& t) {
  CompiledTemplate c = compiled(t);
  auto r = render_secret_data(secrets(), &c, kNow);
  REQUIRE_MESSAGE(r.ok(), r.error());
  return *r;
}

std::string render_error(const SecretTemplate& t) {
  CompiledTemplate c = compiled(t);
  auto r = render_secret_data(secrets(), &c, kNow);
  REQUIRE(!r.ok());
  return r.error();
}

const Data kAll = {
    {"DB_URL", "postgres://db.internal:5432/app"}, {"DB_USER", "admin"}, {"DB_PASSWORD", "hunter2-value"}};

}  // namespace

TEST_CASE("no template: every fetched secret, as it is") {
  auto r = render_secret_data(secrets(), nullptr, kNow);
  REQUIRE(r.ok());
  CHECK(*r == kAll);
}

TEST_CASE("includeAllSecrets without data: every secret") {
  SecretTemplate t;
  t.include_all_secrets = true;
  CHECK(render_ok(t) == kAll);
}

TEST_CASE("includeAllSecrets with data: every secret, then the data keys; a data key wins a clash") {
  SecretTemplate t;
  t.include_all_secrets = true;
  t.data = {{"DSN", "{{ .DB_URL.Value }}?user={{ .DB_USER.Value }}"},
            {"DB_USER", "{{ .DB_USER.Value | upper }}"}};
  Data want = kAll;
  want["DSN"] = "postgres://db.internal:5432/app?user=admin";
  want["DB_USER"] = "ADMIN";
  CHECK(render_ok(t) == want);
}

TEST_CASE("without includeAllSecrets only the data keys are written; template {} writes nothing") {
  SecretTemplate t;
  t.data = {{"DSN", "postgres://{{ .DB_USER.Value }}:{{ .DB_PASSWORD.Value }}@db/app"},
            {"FOLDER", "{{ .DB_URL.SecretPath }}"}};
  CHECK(render_ok(t) == Data{{"DSN", "postgres://admin:hunter2-value@db/app"}, {"FOLDER", "/app"}});
  CHECK(render_ok(SecretTemplate{}).empty());
}

TEST_CASE("a missing key renders <no value>, as Go does, with no error") {
  SecretTemplate t;
  t.data = {{"X", "[{{ .NOT_THERE.Value }}]"}, {"Y", "{{ .NOT_THERE }}"}};
  CHECK(render_ok(t) == Data{{"X", "[<no value>]"}, {"Y", "<no value>"}});
}

TEST_CASE("an execution error names the target, the key and Go's line:column") {
  SecretTemplate t;
  t.data = {{"DSN", "ok {{ .DB_URL.value }}"}, {"OTHER", "{{ .DB_USER.Value }}"}};
  CHECK(render_error(t) ==
        "spec.managedKubeSecretReferences[0].template.data[DSN]: template: secret-templates:1:6: executing "
        "\"secret-templates\" at <.DB_URL.value>: can't evaluate field value in type "
        "model.SecretTemplateOptions");
}

TEST_CASE("an execution error never carries a secret value") {
  SecretTemplate t;
  SUBCASE("fail with a value") {
    t.data = {{"K", "{{ fail (printf \"bad: %s\" .DB_PASSWORD.Value) }}"}};
  }
  SUBCASE("a value piped into fail") {
    t.data = {{"K", "{{ .DB_PASSWORD.Value | fail }}"}};
  }
  std::string e = render_error(t);
  CAPTURE(e);
  CHECK(e.starts_with("spec.managedKubeSecretReferences[0].template.data[K]: template: secret-templates:1:"));
  CHECK(e.find("at <") != std::string::npos);  // the position and the node (template text) stay
  CHECK(e.find("hunter2-value") == std::string::npos);
  CHECK(e.ends_with("(the rest of this error is withheld: it contains a secret value)"));
}

TEST_CASE("a template that does not parse is an error at its entry with Go's line") {
  SecretTemplate t;
  t.data = {{"A", "fine"}, {"B", "line one\n{{ .X.Value "}};
  auto c = compile_template(t, "spec.managedSecretReference");
  REQUIRE(!c.ok());
  CHECK(
      c.error().starts_with("spec.managedSecretReference.template.data[B]: template: secret-templates:2: "));
}

TEST_CASE("one parse serves many renders with different secrets") {
  SecretTemplate t;
  t.data = {{"DSN", "{{ .DB_USER.Value }}@{{ .DB_URL.SecretPath }}"}};
  CompiledTemplate c = compiled(t);
  auto a = render_secret_data(template_data({{"DB_USER", "a"}}, "/one"), &c, kNow);
  auto b = render_secret_data(template_data({{"DB_USER", "b"}}, "/"), &c, kNow);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->at("DSN") == "a@<no value>");
  CHECK(b->at("DSN") == "b@<no value>");
  auto both = render_secret_data(template_data({{"DB_USER", "c"}, {"DB_URL", "u"}}, "/two"), &c, kNow);
  REQUIRE(both.ok());
  CHECK(both->at("DSN") == "c@/two");
}

TEST_CASE("data the API server would refuse is named before anything is written: bad keys, over 1 MiB") {
  CHECK(check_storable_data({{"DB_URL", "x"}, {"a.b-c_d", "y"}}, "Secret default/app").ok());
  auto r = check_storable_data({{"my key", "s3cr3t"}, {"OK", "s3cr3t"}, {"ключ", "s3cr3t"}}, "Secret default/app");
  REQUIRE(!r.ok());
  CHECK(r.error().find("Secret default/app cannot hold the keys \"my key\", \"\\xd0") == 0);
  CHECK(r.error().find("OK") == std::string::npos);
  CHECK(r.error().find("s3cr3t") == std::string::npos);  // no value
  CHECK(!is_config_key(std::string(254, 'a')));
  CHECK(is_config_key(std::string(253, 'a')));

  std::map<std::string, std::string> big{{"CERT_BUNDLE", std::string(700000, 'c')}, {"DUMP", std::string(400000, 'd')},
                                         {"SMALL", "s"}};
  r = check_storable_data(big, "ConfigMap team/cfg");
  REQUIRE(!r.ok());
  CHECK(r.error() ==
        "ConfigMap team/cfg would hold 1100001 bytes of data; Kubernetes allows at most 1048576; the largest keys: "
        "CERT_BUNDLE (700000 bytes), DUMP (400000 bytes), SMALL (1 bytes); split the scope or select keys with a "
        "template");
  big.erase("DUMP");
  CHECK(check_storable_data(big, "ConfigMap team/cfg").ok());
}
