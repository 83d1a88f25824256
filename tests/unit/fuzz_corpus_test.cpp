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

#include "core/validation.h"
#include "kube/watch.h"

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
