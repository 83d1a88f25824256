// TokenRequest -> TokenReview round trip, bearer authentication of service-account JWTs, static token
// files and the SubjectAccessReview rule table, over kube-sim's Store.
#include <doctest/doctest.h>

#include <chrono>

#include "core/json.h"
#include "core/jwt.h"
#include "kube_sim_types.h"
#include "sim/kube/auth.h"

using namespace ifo;
using namespace ifo::kubesim;

namespace {

using test::sim_type;
using test::body_doc;

struct Fixture {
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  Store store{[this] { return now; }};
  ResourceType ns_type = sim_type("", "namespaces", "Namespace", false);
  ResourceType sa_type = sim_type("", "serviceaccounts", "ServiceAccount", true);
  std::unique_ptr<ServiceAccountAuth> auth;

  explicit Fixture(std::vector<AccessRule> rules = {}) {
    store.register_type(ns_type);
    store.register_type(sa_type);
    store.create(ns_type, "", body_doc(R"({"metadata":{"name":"team"}})"));
    store.create(sa_type, "team", body_doc(R"({"metadata":{"name":"syncer"}})"));
    AuthOptions o;
    o.clock = [this] { return now; };
    o.rules = std::move(rules);
    auth = std::make_unique<ServiceAccountAuth>(store, o);
  }

  core::JsonDoc request_token(const std::string& body, const std::string& name = "syncer") {
    core::JsonDoc b = body_doc(body);
    CreateCall call;
    call.type = sa_type;
    call.subresource = "token";
    call.ns = "team";
    call.name = name;
    call.body = &b;
    return auth->token_request(call);
  }

  core::JsonDoc review(const std::string& token, const std::string& audiences_json) {
    core::JsonDoc b = body_doc(R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":")" + token +
                          R"(","audiences":)" + audiences_json + "}}");
    CreateCall call;
    call.type = sim_type("authentication.k8s.io", "tokenreviews", "TokenReview", false);
    call.body = &b;
    return auth->token_review(call);
  }
};

std::string token_of(const core::JsonDoc& tr) { return core::string_or(*core::member(tr, "status"), "token", ""); }
bool authenticated(const core::JsonDoc& review) {
  return core::get_bool(*core::member(review, "status"), "authenticated").value_or(false);
}
std::string review_error(const core::JsonDoc& review) {
  return core::string_or(*core::member(review, "status"), "error", "");
}

}  // namespace

TEST_CASE("TokenRequest issues an RS256 JWT with the real claims, TokenReview accepts it") {
  Fixture f;
  core::JsonDoc tr = f.request_token(R"({"spec":{"audiences":["infisical"],"expirationSeconds":900}})");
  CHECK(core::string_or(tr, "kind", "") == "TokenRequest");
  std::string token = token_of(tr);
  REQUIRE_FALSE(token.empty());
  CHECK_FALSE(core::string_or(*core::member(tr, "status"), "expirationTimestamp", "").empty());

  auto parts = core::jwt_verify_rs256(token, f.auth->public_key_pem());
  REQUIRE(parts.ok());
  auto claims = core::parse_json(parts->claims_json);
  REQUIRE(claims.ok());
  const core::JsonValue& c = **claims;
  CHECK(core::string_or(c, "sub", "") == "system:serviceaccount:team:syncer");
  CHECK(core::string_or(c, "iss", "") == "https://kubernetes.default.svc.cluster.local");
  CHECK(*core::get_int(c, "exp") - *core::get_int(c, "iat") == 900);
  CHECK(core::get_int(c, "nbf") == core::get_int(c, "iat"));
  CHECK(core::string_or(*core::at_path(c, {"kubernetes.io"}), "namespace", "") == "team");
  std::string sa_uid = core::string_or(*core::at_path(*f.store.get("", "serviceaccounts", "team", "syncer")->doc, {"metadata"}), "uid", "");
  CHECK(core::string_or(*core::at_path(c, {"kubernetes.io", "serviceaccount"}), "uid", "") == sa_uid);
  CHECK(parts->header_json.find("\"kid\"") != std::string::npos);

  core::JsonDoc ok = f.review(token, R"(["infisical"])");
  REQUIRE(authenticated(ok));
  const core::JsonValue& user = *core::at_path(ok, {"status", "user"});
  CHECK(core::string_or(user, "username", "") == "system:serviceaccount:team:syncer");
  CHECK(core::string_or(user, "uid", "") == sa_uid);
  CHECK(core::to_json(*core::member(user, "groups")) ==
        R"(["system:serviceaccounts","system:serviceaccounts:team","system:authenticated"])");
  CHECK(core::to_json(*core::at_path(ok, {"status", "audiences"})) == R"(["infisical"])");
}

TEST_CASE("TokenReview rejects a wrong audience, an expired token and a deleted service account") {
  Fixture f;
  std::string token = token_of(f.request_token(R"({"spec":{"audiences":["infisical"],"expirationSeconds":600}})"));

  core::JsonDoc wrong = f.review(token, R"(["vault"])");
  CHECK_FALSE(authenticated(wrong));
  CHECK(review_error(wrong) ==
        R"([invalid bearer token, token audiences ["infisical"] is invalid for the target audiences ["vault"]])");
  // Without spec.audiences the API audience is required: an "infisical" token is not an API token.
  CHECK_FALSE(authenticated(f.review(token, "[]")));
  CHECK_FALSE(f.auth->authenticate(token).has_value());

  f.now += std::chrono::seconds(600 + 59);  // within go-jose's one-minute leeway
  CHECK(authenticated(f.review(token, R"(["infisical"])")));
  f.now += std::chrono::seconds(2);
  core::JsonDoc expired = f.review(token, R"(["infisical"])");
  CHECK_FALSE(authenticated(expired));
  CHECK(review_error(expired) == "[invalid bearer token, service account token has expired]");

  std::string fresh = token_of(f.request_token(R"({"spec":{"audiences":["infisical"]}})"));
  CHECK(authenticated(f.review(fresh, R"(["infisical"])")));
  f.store.remove(f.sa_type, "team", "syncer");
  core::JsonDoc deleted = f.review(fresh, R"(["infisical"])");
  CHECK_FALSE(authenticated(deleted));
  CHECK(review_error(deleted) == R"([invalid bearer token, serviceaccounts "syncer" not found])");
  // Re-created with the same name: a new uid, the old token stays invalid.
  f.store.create(f.sa_type, "team", body_doc(R"({"metadata":{"name":"syncer"}})"));
  CHECK(review_error(f.review(fresh, R"(["infisical"])")).find("does not match claim") != std::string::npos);

  // A token signed by another key.
  auto other = core::generate_rsa_keypair();
  auto parts = core::jwt_decode_unverified(fresh);
  auto forged = core::jwt_sign_rs256(parts->claims_json, other.private_pem);
  REQUIRE(forged.ok());
  CHECK_FALSE(authenticated(f.review(*forged, R"(["infisical"])")));
}

TEST_CASE("TokenRequest checks the service account and expirationSeconds") {
  Fixture f;
  try {
    f.request_token("{}", "ghost");
    FAIL("expected 404");
  } catch (const StatusError& e) {
    CHECK(e.code == 404);
    CHECK(e.message == "serviceaccounts \"ghost\" not found");
  }
  try {
    f.request_token(R"({"spec":{"expirationSeconds":599}})");
    FAIL("expected 422");
  } catch (const StatusError& e) {
    CHECK(e.code == 422);
    CHECK(e.message ==
          "TokenRequest.authentication.k8s.io \"syncer\" is invalid: spec.expirationSeconds: Invalid value: 599: may "
          "not specify a duration less than 10 minutes");
  }
  // Default: one hour, for the API audience; such a token authenticates API requests.
  core::JsonDoc tr = f.request_token("{}");
  CHECK(core::get_int(*core::member(tr, "spec"), "expirationSeconds") == 3600);
  auto user = f.auth->authenticate(token_of(tr));
  REQUIRE(user.has_value());
  CHECK(user->username == "system:serviceaccount:team:syncer");
  CHECK_FALSE(f.auth->authenticate("not-a-jwt").has_value());
  CHECK(f.auth->tokens_issued() == 1);
}

TEST_CASE("SubjectAccessReview answers from the rule table, allow-all without one") {
  auto sar = [](Fixture& f, const std::string& spec) {
    core::JsonDoc b = body_doc(R"({"spec":)" + spec + "}");
    CreateCall call;
    call.body = &b;
    core::JsonDoc out = f.auth->subject_access_review(call);
    return std::make_pair(core::get_bool(*core::member(out, "status"), "allowed").value_or(false),
                          core::string_or(*core::member(out, "status"), "reason", ""));
  };
  Fixture open;
  CHECK(sar(open, R"({"user":"bob","resourceAttributes":{"verb":"get","resource":"secrets","namespace":"x"}})").first);

  auto rules = parse_access_rules(R"(
# syncer may read secrets in team-a only
allow user:alice get secrets team-a *
deny  user:alice * secrets * *
allow group:admins * * * *
)");
  REQUIRE(rules.ok());
  Fixture f(*rules);
  CHECK(sar(f, R"({"user":"alice","resourceAttributes":{"verb":"get","resource":"secrets","namespace":"team-a","name":"creds"}})").first);
  auto denied = sar(f, R"({"user":"alice","resourceAttributes":{"verb":"get","resource":"secrets","namespace":"team-b"}})");
  CHECK_FALSE(denied.first);
  CHECK(denied.second.find("line 4") != std::string::npos);
  CHECK(sar(f, R"({"user":"carol","groups":["admins"],"resourceAttributes":{"verb":"create","resource":"secrets","namespace":"x"}})").first);
  CHECK_FALSE(sar(f, R"({"user":"carol","resourceAttributes":{"verb":"create","resource":"secrets","namespace":"x"}})").first);
  CHECK(sar(f, R"({"user":"carol","groups":["admins"],"resourceAttributes":{"verb":"get","group":"apps","resource":"deployments"}})").first);

  auto bad = parse_access_rules("allow user:x get secrets\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("line 1") != std::string::npos);
  CHECK_FALSE(parse_access_rules("permit * * * * *").ok());
}

TEST_CASE("static token file in kube-apiserver's CSV format") {
  auto t = parse_token_file("tok1,alice,uid-1,\"devs,ops\"\n# comment\ntok2,bob\n");
  REQUIRE(t.ok());
  REQUIRE(t->size() == 2);
  CHECK((*t)[0].user.username == "alice");
  CHECK((*t)[0].user.groups == std::vector<std::string>{"devs", "ops"});
  CHECK((*t)[1].user.uid.empty());
  auto bad = parse_token_file("tok1\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error() == "token file line 1: expected token,user[,uid[,\"group1,group2\"]]");
}
