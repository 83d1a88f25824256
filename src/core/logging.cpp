// Log level parsing and the text/JSON line formatters of every binary.
#include "core/logging.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/pattern_formatter.h>

#include "core/flag_set.h"
#include "core/utf8.h"

namespace ifo::core {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  if (name == "trace" || name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  return std::nullopt;
}

std::string_view log_level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    default: return "error";
  }
}

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string json_escape(std::string_view raw) {
  // Any bytes may reach a log line (an Infisical error body, a header); a line that is not UTF-8 is
  // not JSON, and collectors drop it: each ill-formed byte becomes U+FFFD first.
  const std::string s = go_decoded_utf8(raw);
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

void append(spdlog::memory_buf_t& dest, std::string_view s) { dest.append(s.data(), s.data() + s.size()); }

class JsonPayloadFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    append(dest, json_escape(std::string_view(msg.payload.data(), msg.payload.size())));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonPayloadFlag>(); }
};

class JsonLoggerNameFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    append(dest, json_escape(std::string_view(msg.logger_name.data(), msg.logger_name.size())));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonLoggerNameFlag>(); }
};

class LevelNameFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    append(dest, log_level_name(msg.level));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<LevelNameFlag>(); }
};

}  // namespace

void set_log_format(spdlog::logger& logger, LogFormat format) {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<LevelNameFlag>('L');
  if (format == LogFormat::kJson) {
    f->add_flag<JsonPayloadFlag>('*').add_flag<JsonLoggerNameFlag>('N').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%L","logger":"%N","msg":"%*"})");
  } else {
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %L %n %v");
  }
  logger.set_formatter(std::move(f));
}

void add_log_flags(FlagSet& flags, spdlog::level::level_enum& level, LogFormat& format) {
  flags.value("log-level", [&level](const std::string& v) -> std::string {
    if (auto parsed = parse_log_level(v))
      level = *parsed;
    else
      return fmt::format("flag --log-level: {:?} is not one of {}", v, fmt::join(kLogLevelNames, ", "));
    return {};
  });
  flags.value("log-format", [&format](const std::string& v) -> std::string {
    if (auto parsed = parse_log_format(v))
      format = *parsed;
    else
      return fmt::format("flag --log-format: {:?} is not text or json", v);
    return {};
  });
}

}  // namespace ifo::core
