// The shared log line formats and level names: every JSON line parses, and every level the chart
// accepts is accepted by the syncer, the webhook and certs-gen.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "certs-gen/options.h"
#include "core/logging.h"
#include "syncer/config.h"
#include "webhook/options.h"

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string source_file(const std::string& relative) {
  const char* root = std::getenv("IFO_SOURCE_ROOT");
  REQUIRE_MESSAGE(root != nullptr, "IFO_SOURCE_ROOT is not set");
  std::ifstream in(std::string(root) + "/" + relative);
  REQUIRE_MESSAGE(in.good(), relative);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("every JSON log line is one valid object with ts, level, logger and msg") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log("web\"hook\\", sink);
  log.set_level(spdlog::level::trace);
  ifo::core::set_log_format(log, ifo::core::LogFormat::kJson);

  std::string controls;
  for (char c = 1; c < 0x20; ++c) controls += c;
  controls += '\x7f';
  const std::vector<std::string> messages{
      R"(denied: "system:serviceaccount:ns:sa" cannot create "subjectaccessreviews" (403 "Forbidden"))",
      R"(path C:\temp\x and a trailing backslash \)",
      "two\nlines\r\nand a\ttab",
      std::string("nul \0 inside", 12),
      controls,
      "caf\xc3\xa9 and {\"json\": [1, 2]} and %v {} %s",
  };
  const std::vector<spdlog::level::level_enum> levels{spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
                                                      spdlog::level::warn, spdlog::level::err, spdlog::level::critical};
  const std::vector<std::string> level_names{"debug", "debug", "info", "warn", "error", "error"};
  for (size_t i = 0; i < levels.size(); ++i)
    for (const auto& m : messages) log.log(levels[i], "{}", m);
  log.flush();

  auto lines = lines_of(out.str());
  REQUIRE(lines.size() == levels.size() * messages.size());
  for (size_t n = 0; n < lines.size(); ++n) {
    CAPTURE(lines[n]);
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(lines[n].data(), lines[n].size());
    REQUIRE_MESSAGE(!doc.HasParseError(), rapidjson::GetParseError_En(doc.GetParseError()));
    REQUIRE(doc.IsObject());
    CHECK(doc.MemberCount() == 4);
    for (const char* key : {"ts", "level", "logger", "msg"}) {
      REQUIRE_MESSAGE(doc.HasMember(key), key);
      REQUIRE(doc[key].IsString());
    }
    CHECK(std::string(doc["ts"].GetString()).ends_with("Z"));
    CHECK(doc["level"].GetString() == level_names[n / messages.size()]);
    CHECK(doc["logger"].GetString() == std::string("web\"hook\\"));
    CHECK(std::string(doc["msg"].GetString(), doc["msg"].GetStringLength()) == messages[n % messages.size()]);
  }
}

TEST_CASE("a message that is not UTF-8 still makes a valid JSON line, each bad byte as U+FFFD") {
  // An Infisical error body or a header value may carry any bytes; a log collector drops a line that
  // is not valid UTF-8 JSON.
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log("syncer", sink);
  ifo::core::set_log_format(log, ifo::core::LogFormat::kJson);
  log.warn("{}", std::string("bad \xff\xfe and cut \xc3 then caf\xc3\xa9"));
  log.flush();
  auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 1);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(lines[0].data(), lines[0].size());
  REQUIRE_MESSAGE(!doc.HasParseError(), rapidjson::GetParseError_En(doc.GetParseError()));
  CHECK(std::string(doc["msg"].GetString()) == "bad \xef\xbf\xbd\xef\xbf\xbd and cut \xef\xbf\xbd then caf\xc3\xa9");
}

TEST_CASE("text lines carry the same level names") {
  std::ostringstream out;
  spdlog::logger log("syncer", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  ifo::core::set_log_format(log, ifo::core::LogFormat::kText);
  log.warn("slow");
  log.error("failed");
  auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].ends_with(" warn syncer slow"));
  CHECK(lines[1].ends_with(" error syncer failed"));
}

TEST_CASE("the chart's logLevel values are exactly the names every binary accepts") {
  rapidjson::Document schema;
  auto text = source_file("charts/infisical-secrets-operator/values.schema.json");
  schema.Parse(text.data(), text.size());
  REQUIRE_FALSE(schema.HasParseError());
  const auto& levels = schema["properties"]["logLevel"]["enum"];
  REQUIRE(levels.IsArray());
  std::set<std::string> from_schema;
  for (const auto& v : levels.GetArray()) from_schema.insert(v.GetString());
  CHECK(from_schema == std::set<std::string>(ifo::core::kLogLevelNames.begin(), ifo::core::kLogLevelNames.end()));

  for (const auto& name : from_schema) {
    CAPTURE(name);
    auto level = ifo::core::parse_log_level(name);
    REQUIRE(level.has_value());
    // What a line at that level is labelled: one of the four canonical names.
    CHECK(std::set<std::string_view>{"debug", "info", "warn", "error"}.count(ifo::core::log_level_name(*level)) == 1);

    // As the chart passes it: --log-level={{ .Values.logLevel }}.
    const std::string flag = "--log-level=" + name;
    auto syncer = ifo::syncer::parse_config({flag, "--log-format=json"}, {});
    CHECK_MESSAGE(syncer.ok(), (syncer.ok() ? "" : syncer.error()));
    auto webhook = ifo::webhook::parse_options({"--tls-cert-file=c", "--tls-private-key-file=k", flag, "--log-format=json"});
    REQUIRE_MESSAGE(webhook.ok(), (webhook.ok() ? "" : webhook.error()));
    CHECK(webhook->log_level == *level);
    auto certs = ifo::certsgen::parse_options({"ensure", flag, "--log-format=json"});
    REQUIRE_MESSAGE(certs.ok(), (certs.ok() ? "" : certs.error()));
    CHECK(certs->log_level == *level);
  }
}

TEST_CASE("a level outside the set is refused by every binary, naming the accepted ones") {
  for (const std::string bad : {"verbose", "fatal", "critical", "off", "INFO"}) {
    CAPTURE(bad);
    const std::string flag = "--log-level=" + bad;
    CHECK_FALSE(ifo::core::parse_log_level(bad).has_value());
    auto syncer = ifo::syncer::parse_config({flag}, {});
    REQUIRE_FALSE(syncer.ok());
    CHECK(syncer.error().find("debug, info, warn") != std::string::npos);
    auto webhook = ifo::webhook::parse_options({"--tls-cert-file=c", "--tls-private-key-file=k", flag});
    REQUIRE_FALSE(webhook.ok());
    CHECK(webhook.error().find("debug, info, warn") != std::string::npos);
    auto certs = ifo::certsgen::parse_options({"ensure", flag});
    REQUIRE_FALSE(certs.ok());
  }
}
