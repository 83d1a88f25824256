// Flags > environment > defaults for the syncer, and one-line errors for bad input.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "syncer/config.h"

using ifo::syncer::Config;
using ifo::syncer::parse_bind_address;
using ifo::syncer::parse_config;

TEST_CASE("defaults match the upstream controller's conventions") {
  auto c = parse_config({}, {});
  REQUIRE(c.ok());
  CHECK(c->kubeconfig.empty());
  CHECK(c->namespaces.empty());
  CHECK_FALSE(c->leader_elect);
  CHECK(c->operator_namespace == "infisical-operator-system");
  CHECK(c->leader_election_namespace == "infisical-operator-system");
  CHECK(c->health_probe_bind_address == ":8081");
  CHECK(c->workers == 16);
  CHECK(c->kube_qps == 10000);
  CHECK(c->log_format == ifo::syncer::LogFormat::kText);
  CHECK(c->infisical_max_response_bytes == 4u << 20);
  CHECK(c->infisical_max_keys_per_scope == 10000);
}

TEST_CASE("flags win over environment, environment over defaults") {
  std::map<std::string, std::string> env{{"IFO_SYNCER_WORKERS", "7"},
                                         {"KUBECONFIG", "/env/kubeconfig"},
                                         {"POD_NAMESPACE", "ops"},
                                         {"IFO_SYNCER_LOG_FORMAT", "json"}};
  auto c = parse_config({"--workers=3", "--namespaces", "a, b,c", "--leader-elect", "--metrics-bind-address=127.0.0.1:0"},
                        env);
  REQUIRE(c.ok());
  CHECK(c->workers == 3);
  CHECK(c->kubeconfig == "/env/kubeconfig");
  CHECK(c->operator_namespace == "ops");
  CHECK(c->leader_election_namespace == "ops");
  CHECK(c->log_format == ifo::syncer::LogFormat::kJson);
  CHECK(c->namespaces == std::vector<std::string>{"a", "b", "c"});
  CHECK(c->leader_elect);
  CHECK(c->metrics_bind_address == "127.0.0.1:0");
  auto d = parse_config({"--leader-elect=false", "--kubeconfig=/flag"}, env);
  REQUIRE(d.ok());
  CHECK_FALSE(d->leader_elect);
  CHECK(d->kubeconfig == "/flag");
}

TEST_CASE("bad flags give one line naming the flag and value") {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  std::vector<Case> cases{
      {{"--wokers=3"}, "unknown flag --wokers"},
      {{"--workers=abc"}, "--workers: expected an integer, got \"abc\""},
      {{"--workers=0"}, "--workers: 0 is out of range"},
      {{"--log-format=xml"}, "--log-format: expected text or json, got \"xml\""},
      {{"--log-level=loud"}, "--log-level: expected one of"},
      {{"--namespaces=Bad_NS"}, "--namespaces: \"Bad_NS\" is not a valid namespace name"},
      {{"--metrics-bind-address=nope"}, "--metrics-bind-address: \"nope\" is not host:port"},
      {{"--health-probe-bind-address=:99999"}, "--health-probe-bind-address"},
      {{"--leader-elect=maybe"}, "--leader-elect: expected true or false"},
      {{"--kubeconfig"}, "flag --kubeconfig needs a value"},
      {{"positional"}, "unexpected argument \"positional\""},
      {{"--leader-elect-lease-duration=5s", "--leader-elect-renew-deadline=6s"}, "renew-deadline must be shorter"},
      {{"--infisical-max-response-bytes=1000"}, "--infisical-max-response-bytes: 1000 is out of range"},
      {{"--infisical-max-keys-per-scope=0"}, "--infisical-max-keys-per-scope: 0 is out of range"},
  };
  for (const auto& c : cases) {
    auto r = parse_config(c.args, {});
    CAPTURE(c.expect);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find(c.expect) != std::string::npos);
    CHECK(r.error().find('\n') == std::string::npos);
  }
  auto env_err = parse_config({}, {{"IFO_SYNCER_WORKERS", "many"}});
  REQUIRE_FALSE(env_err.ok());
  CHECK(env_err.error().find("environment IFO_SYNCER_WORKERS") != std::string::npos);
}

TEST_CASE("help and durations") {
  auto c = parse_config({"--help", "--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s",
                         "--leader-elect-retry-period=500ms"},
                        {});
  REQUIRE(c.ok());
  CHECK(c->help);
  CHECK(c->lease_duration == std::chrono::seconds(4));
  CHECK(c->retry_period == std::chrono::milliseconds(500));
  CHECK(ifo::syncer::usage().find("--health-probe-bind-address") != std::string::npos);
  CHECK(ifo::syncer::usage().find("infisical-syncer preflight") != std::string::npos);
}

TEST_CASE("bind addresses") {
  auto any = parse_bind_address(":8081");
  REQUIRE(any.ok());
  REQUIRE(any->has_value());
  CHECK((*any)->host == "0.0.0.0");
  CHECK((*any)->port == 8081);
  auto off = parse_bind_address("0");
  REQUIRE(off.ok());
  CHECK_FALSE(off->has_value());
  auto eph = parse_bind_address("127.0.0.1:0");
  REQUIRE(eph.ok());
  CHECK((*eph)->port == 0);
}

TEST_CASE("the Infisical request timeout: 30s by default, a duration flag, refused when not one") {
  auto d = parse_config({}, {});
  REQUIRE(d.ok());
  CHECK(d->infisical_request_timeout == std::chrono::seconds(30));
  auto c = parse_config({"--infisical-request-timeout=750ms"}, {});
  REQUIRE(c.ok());
  CHECK(c->infisical_request_timeout == std::chrono::milliseconds(750));
  auto e = parse_config({}, {{"IFO_SYNCER_INFISICAL_REQUEST_TIMEOUT", "2s"}});
  REQUIRE(e.ok());
  CHECK(e->infisical_request_timeout == std::chrono::seconds(2));
  auto bad = parse_config({"--infisical-request-timeout=soon"}, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("flag --infisical-request-timeout: invalid duration \"soon\"") == 0);
}

TEST_CASE("the chart's defaults are the syncer's: a syncer run without flags runs as the chart installs it") {
  const char* root = std::getenv("IFO_SOURCE_ROOT");
  REQUIRE_MESSAGE(root != nullptr, "IFO_SOURCE_ROOT is not set");
  std::ifstream in(std::string(root) + "/charts/infisical-secrets-operator/values.yaml");
  REQUIRE(in.good());
  const std::string values((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto c = parse_config({}, {});
  REQUIRE(c.ok());
  // bench/syncer-scale runs the syncer without --workers and --kube-api-qps by default.
  CHECK(values.find("\n  workers: " + std::to_string(c->workers) + "\n") != std::string::npos);
  CHECK(values.find("\n  kubeApiQps: " + std::to_string(static_cast<int>(c->kube_qps)) + "\n") != std::string::npos);
}

TEST_CASE("syncer durations use Go's syntax; a plain number stays seconds; bad ones name the flag") {
  auto c = parse_config({"--leader-elect-lease-duration=1m30s", "--leader-elect-renew-deadline", "1m",
                         "--leader-elect-retry-period=1.5s", "--infisical-request-timeout=45"},
                        {});
  REQUIRE(c.ok());
  CHECK(c->lease_duration == std::chrono::seconds(90));
  CHECK(c->renew_deadline == std::chrono::seconds(60));
  CHECK(c->retry_period == std::chrono::milliseconds(1500));
  CHECK(c->infisical_request_timeout == std::chrono::seconds(45));  // compatibility: plain seconds
  for (const std::string bad : {"1x", "-5s", "0s", "25h", "1m30"}) {
    CAPTURE(bad);
    auto r = parse_config({"--infisical-request-timeout=" + bad}, {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("flag --infisical-request-timeout: ") == 0);
    CHECK(r.error().find("\"" + bad + "\"") != std::string::npos);
  }
  auto unknown = parse_config({"--leader-elect-lease=15s"}, {});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error() == "unknown flag --leader-elect-lease (see --help)");
  CHECK(ifo::syncer::usage().find("1m30s") != std::string::npos);
}
