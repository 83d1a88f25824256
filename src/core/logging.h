// Log level names and log line formats shared by every binary (syncer, webhook, certs-gen).
#pragma once

#include <spdlog/logger.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace ifo::core {

enum class LogFormat { kText, kJson };

// Every name --log-level accepts, and the chart's logLevel enum (a unit test compares the two):
// debug, info, warn, error, plus the aliases trace (= debug) and warning (= warn).
inline constexpr std::array<std::string_view, 6> kLogLevelNames{"trace", "debug", "info", "warn", "warning", "error"};

// The spdlog level of a name from kLogLevelNames; nullopt for anything else.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

// "debug", "info", "warn" or "error" (trace counts as debug, critical as error): the names a log line carries.
std::string_view log_level_name(spdlog::level::level_enum level);

std::optional<LogFormat> parse_log_format(std::string_view name);

// JSON string escaping (RFC 8259): quotes, backslashes and every control character; bytes that are
// not well-formed UTF-8 become U+FFFD, so the line stays valid UTF-8 JSON.
std::string json_escape(std::string_view s);

// Text: "ts level logger message". JSON: one object per line, {"ts","level","logger","msg"}, every
// value escaped.
void set_log_format(spdlog::logger& logger, LogFormat format);

class FlagSet;
// Registers --log-level and --log-format on `flags`, storing into `level` and `format`; a bad value is
// refused naming the flag and the accepted names (the webhook and certs-gen share these two flags).
void add_log_flags(FlagSet& flags, spdlog::level::level_enum& level, LogFormat& format);

}  // namespace ifo::core
