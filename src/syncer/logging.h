// The syncer's loggers: text ("ts level logger key=value ...") or one JSON object per line.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "syncer/config.h"

namespace ifo::syncer {

// Creates the named logger writing to stderr in the configured format and level.
std::shared_ptr<spdlog::logger> make_logger(const std::string& name, LogFormat format, const std::string& level);

// JSON string escaping (RFC 8259) for log payloads.
std::string json_escape(std::string_view s);

}  // namespace ifo::syncer
