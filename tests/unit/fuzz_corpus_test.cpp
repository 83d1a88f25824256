// The fuzz seed corpora are what they claim to be (valid specs are accepted, invalid ones refused,
// watch streams decode to the events their names say), so the fuzzers start from realistic inputs;
// and inputs the fuzzers found are replayed here as regression cases in the ordinary (gcc) build.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/rendered_secret.h"
#include "core/utf8.h"
#include "core/validation.h"
#include "infisical/aws.h"
#include "infisical/errors.h"
#include "infisical/http_call.h"
#include "infisical/metrics.h"
#include "infisical/secrets.h"
#include "infisical_fake_transport.h"
#include "kube/watch.h"
#include "webhook/http_framing.h"

namespace fs = std::filesystem;
using ifo::kube::WatchDecoder;
using ifo::kube::WatchEvent;

namespace {

fs::path corpus(const std::string& target) {
  const char* root = std::getenv("IFO_SOURCE_ROOT");
  REQUIRE_MESSAGE(root != nullptr, "IFO_SOURCE_ROOT is not set");
  return fs::path(root) / "tests" / "fuzz" / "corpus" / target;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Decoded {
  std::vector<WatchEvent> events;
  bool ok = true;
};

Decoded decode_stream(const std::string& stream) {
  WatchDecoder d(1024);  // the fuzz target's line limit
  Decoded out;
  out.ok = d.feed(stream, out.events).ok() && d.finish(out.events).ok();
  return out;
}

}  // namespace

TEST_CASE("InfisicalSecret seeds: valid-* are accepted (all eight auth methods), invalid-* refused") {
  size_t valid = 0, invalid = 0;
  std::vector<std::string> methods;
  for (const auto& entry : fs::directory_iterator(corpus("infisical_secret"))) {
    const std::string name = entry.path().filename().string();
    const auto report = ifo::core::check_infisical_secret_json(slurp(entry.path()), "apps");
    CAPTURE(name);
    CAPTURE(report.message());
    if (name.starts_with("valid-")) {
      CHECK(report.ok());
      auto parsed = ifo::core::parse_infisical_secret_json(slurp(entry.path()));
      REQUIRE(parsed.resource.spec.authentication.has_value());
      auto m = parsed.resource.spec.authentication->method();
      REQUIRE(m.has_value());
      methods.emplace_back(ifo::core::auth_method_field(*m));
      ++valid;
    } else {
      CHECK(name.starts_with("invalid-"));
      CHECK_FALSE(report.ok());
      // The seeds carry the secret marker in values; no message may quote it back.
      CHECK(report.message().find("s3cr3t") == std::string::npos);
      ++invalid;
    }
  }
  std::sort(methods.begin(), methods.end());
  methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
  CHECK(methods.size() == 8);
  CHECK(valid >= 8);
  CHECK(invalid >= 5);
}

TEST_CASE("watch seeds decode to the events their names describe") {
  const fs::path dir = corpus("watch");
  auto lifecycle = decode_stream(slurp(dir / "secrets-lifecycle.ndjson"));
  CHECK(lifecycle.ok);
  REQUIRE(lifecycle.events.size() == 4);
  CHECK(lifecycle.events[0].type == WatchEvent::Type::kAdded);
  CHECK(lifecycle.events[1].type == WatchEvent::Type::kModified);
  CHECK(lifecycle.events[2].type == WatchEvent::Type::kBookmark);
  CHECK(lifecycle.events[3].type == WatchEvent::Type::kDeleted);

  auto gone = decode_stream(slurp(dir / "error-410-gone.ndjson"));
  CHECK(gone.ok);
  REQUIRE(gone.events.size() == 2);
  CHECK(gone.events[1].is_gone_error());

  auto crlf = decode_stream(slurp(dir / "crlf-and-blank-lines.ndjson"));
  CHECK(crlf.ok);
  CHECK(crlf.events.size() == 2);

  auto unterminated = decode_stream(slurp(dir / "unterminated-last-event.ndjson"));
  CHECK(unterminated.ok);
  CHECK(unterminated.events.size() == 2);

  // Streams that must fail, after the events before the bad line.
  for (const char* bad : {"truncated-mid-event.ndjson", "unknown-type.ndjson", "not-json.ndjson",
                          "over-long-line.ndjson", "object-not-map.ndjson"}) {
    CAPTURE(bad);
    auto d = decode_stream(slurp(dir / bad));
    CHECK_FALSE(d.ok);
    CHECK(d.events.size() <= 1);
  }
}

// infisical_response seeds start with the byte that picks the parser; the rest is the answer.
TEST_CASE("infisical_response regressions: an error body cut to its prefix or to the length limit stays UTF-8") {
  const fs::path dir = corpus("infisical_response");
  for (const char* name : {"regression-error-body-prefix-splits-utf8.txt", "regression-error-message-truncation-splits-utf8.json"}) {
    CAPTURE(name);
    const std::string body = slurp(dir / name).substr(1);
    const std::string msg = ifo::infisical::server_message_of(body, {"s3cr3t"});
    CAPTURE(msg);
    CHECK(!msg.empty());
    CHECK(ifo::core::go_decoded_utf8(msg) == msg);
    CHECK(msg.find("s3cr3t") == std::string::npos);
  }
}

TEST_CASE("infisical_response regressions: AWS credentials stated to expire at the epoch are fetched again, not cached") {
  namespace inf = ifo::infisical;
  const std::string body = slurp(corpus("infisical_response") / "regression-aws-credentials-expiration-epoch.json").substr(1);
  inf::testing::FakeTransport transport;
  transport.on("GET /ecs-credentials", [&](const inf::testing::Request&) { return inf::testing::json(200, body); });
  inf::Metrics metrics;
  ifo::core::FakeClock clock;
  inf::HttpCall http{transport, metrics, clock};
  inf::CloudEnv env;
  env.aws_container_full_uri = "http://127.0.0.1/ecs-credentials";
  inf::AwsCredentialProvider provider(env, clock);
  const auto first = provider.credentials(http);
  CHECK(first.access_key_id == "ASIAEXAMPLE");
  CHECK(first.expiration != std::chrono::system_clock::time_point{});  // the epoch would mean "never expires"
  CHECK(first.expiration < clock.wall_now());
  provider.credentials(http);
  CHECK(transport.count("GET /ecs-credentials") == 2);
}

TEST_CASE("http_framing regressions: an empty Content-Type leaves no span outside the head") {
  const fs::path dir = corpus("http_framing");
  for (const char* name : {"regression-empty-content-type.txt", "regression-empty-content-type-fuzzed.txt",
                           "regression-blank-then-json-content-type.txt"}) {
    CAPTURE(name);
    const std::string input = slurp(dir / name);
    const auto f = ifo::webhook::frame_request_head(input, 0, {});
    REQUIRE(f.state == ifo::webhook::HeadFrame::State::kComplete);
    // The event server reads the spans with Span::in, which throws (outside its handler's try) for an
    // offset past the buffer: the loop thread would end and the webhook with it.
    CHECK(f.head.content_type.off + f.head.content_type.len <= f.body_start);
    CHECK_NOTHROW((void)f.head.content_type.in(input));
    const std::string type(f.head.content_type.in(input));
    CHECK(type == (std::string_view(name).find("json") != std::string_view::npos ? "application/json" : ""));
  }
}

TEST_CASE("infisical_response regressions: an empty secretKey is merged, then refused by name when written") {
  const std::string body = slurp(corpus("infisical_response") / "regression-empty-secret-key.json").substr(1);
  auto parsed = ifo::infisical::parse_secrets_response(body);
  REQUIRE(parsed.ok());
  const auto merged = ifo::infisical::merge_secrets(*parsed);
  REQUIRE(merged.values.count("") == 1);
  auto stored = ifo::core::check_storable_data(merged.values, "Secret apps/app-secrets");
  REQUIRE_FALSE(stored.ok());
  CHECK(stored.error().find("cannot hold the key \"\"") != std::string::npos);
  CHECK(stored.error().find("s3cr3t") == std::string::npos);
}
