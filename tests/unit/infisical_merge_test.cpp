// The secrets merge rules: own folder beats imports, earlier import beats later, duplicates across
// sub-folders resolved by (shallowest, lexicographic path) with a warning; server order never matters.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "infisical/secrets.h"

using namespace ifo::infisical;

namespace {

RawSecret secret(std::string id, std::string key, std::string value, std::string path = "/") {
  return RawSecret{std::move(id), std::move(key), std::move(value), std::move(path), "shared", false};
}

}  // namespace

TEST_CASE("merge: own folder beats imports, earlier import beats later") {
  RawSecretsResponse r;
  r.secrets = {secret("a1", "DB_HOST", "own-host"), secret("a2", "ONLY_OWN", "x")};
  r.imports = {RawImport{"/shared", "dev", {secret("b1", "DB_HOST", "import1-host", ""), secret("b2", "API", "first", "")}},
               RawImport{"/", "staging", {secret("c1", "API", "second", ""), secret("c2", "EXTRA", "e", "")}}};
  auto m = merge_secrets(r);
  CHECK(m.values.at("DB_HOST") == "own-host");
  CHECK(m.values.at("API") == "first");
  CHECK(m.values.at("EXTRA") == "e");
  CHECK(m.values.at("ONLY_OWN") == "x");
  CHECK(m.values.size() == 4);
  CHECK(m.warnings.empty());
}

TEST_CASE("merge: recursive duplicates pick the shallowest folder, then the smallest path, whatever the order") {
  RawSecretsResponse base;
  base.secrets = {secret("f3", "DUP", "from-app", "/app"), secret("0a", "DUP", "from-root", "/"),
                  secret("99", "DUP", "from-app-db", "/app/db"), secret("11", "SUB", "from-zeta", "/zeta"),
                  secret("22", "SUB", "from-beta", "/beta"), secret("33", "UNIQUE", "u", "/app/db")};
  std::mt19937 rng(12345);
  for (int round = 0; round < 50; ++round) {
    RawSecretsResponse r = base;
    std::shuffle(r.secrets.begin(), r.secrets.end(), rng);
    // Random UUIDs decide the server's order; give every round fresh ids as well.
    for (auto& s : r.secrets) s.id = std::to_string(rng());
    auto m = merge_secrets(r);
    CHECK(m.values.at("DUP") == "from-root");
    CHECK(m.values.at("SUB") == "from-beta");
    CHECK(m.values.at("UNIQUE") == "u");
    REQUIRE(m.warnings.size() == 2);
    CHECK(m.warnings[0].find("DUP") != std::string::npos);
    CHECK(m.warnings[0].find("/, /app, /app/db") != std::string::npos);
    CHECK(m.warnings[1].find("SUB") != std::string::npos);
    // Warnings name keys and folders, never values.
    for (const auto& w : m.warnings) CHECK(w.find("from-") == std::string::npos);
  }
}

TEST_CASE("merge: shuffling secrets inside the own folder and inside an import changes nothing") {
  RawSecretsResponse base;
  for (int i = 0; i < 20; ++i) base.secrets.push_back(secret("id" + std::to_string(i), "K" + std::to_string(i), "v" + std::to_string(i)));
  base.imports = {RawImport{"/", "prod", {secret("x1", "K1", "imported"), secret("x2", "NEW", "n1")}},
                  RawImport{"/", "staging", {secret("y1", "NEW", "n2"), secret("y2", "NEW2", "m")}}};
  auto expected = merge_secrets(base).values;
  CHECK(expected.at("K1") == "v1");
  CHECK(expected.at("NEW") == "n1");
  CHECK(expected.at("NEW2") == "m");
  std::mt19937 rng(7);
  for (int round = 0; round < 30; ++round) {
    RawSecretsResponse r = base;
    std::shuffle(r.secrets.begin(), r.secrets.end(), rng);
    for (auto& imp : r.imports) std::shuffle(imp.secrets.begin(), imp.secrets.end(), rng);
    CHECK(merge_secrets(r).values == expected);
  }
}

TEST_CASE("merge: a personal secret beats a shared one in the same folder; hidden values are left out") {
  RawSecretsResponse r;
  r.secrets = {secret("2", "TOKEN", "shared-value"), RawSecret{"9", "TOKEN", "personal-value", "/", "personal", false},
               RawSecret{"3", "HIDDEN", "<hidden-by-infisical>", "/", "shared", true}};
  auto m = merge_secrets(r);
  CHECK(m.values.at("TOKEN") == "personal-value");
  CHECK(m.values.count("HIDDEN") == 0);
  REQUIRE(m.warnings.size() == 1);
  CHECK(m.warnings[0].find("HIDDEN") != std::string::npos);
}

TEST_CASE("parse: the server's list shape, and errors that name the location") {
  auto ok = parse_secrets_response(
      R"({"secrets":[{"id":"1","_id":"1","secretKey":"A","secretValue":"va","secretPath":"/app","type":"shared"}],)"
      R"("imports":[{"secretPath":"/","environment":"staging","folderId":"f","secrets":[{"id":"2","secretKey":"B","secretValue":"vb","workspace":""}]}]})");
  REQUIRE(ok.ok());
  CHECK(ok->secrets.size() == 1);
  CHECK(ok->secrets[0].path == "/app");
  CHECK(ok->imports.size() == 1);
  CHECK(ok->imports[0].environment == "staging");
  CHECK(ok->imports[0].secrets[0].key == "B");

  auto no_imports = parse_secrets_response(R"({"secrets":[]})");
  REQUIRE(no_imports.ok());
  CHECK(no_imports->imports.empty());

  auto bad = parse_secrets_response(R"({"secrets":[{"secretKey":"A","secretValue":"v"},{"secretKey":"B","secretValue":7}]})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("secrets[1].secretValue") != std::string::npos);
  CHECK(bad.error().find('7') == std::string::npos);
  CHECK_FALSE(parse_secrets_response("not json").ok());
  CHECK_FALSE(parse_secrets_response(R"({"imports":[]})").ok());
}

TEST_CASE("normalize_secret_path") {
  CHECK(normalize_secret_path("") == "/");
  CHECK(normalize_secret_path("/") == "/");
  CHECK(normalize_secret_path("/app/") == "/app");
  CHECK(normalize_secret_path("app//db") == "/app/db");
}
