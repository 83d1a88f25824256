// The syncer's loggers, in the shared text or JSON line format (core/logging.h).
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "syncer/config.h"

namespace ifo::syncer {

// Creates the named logger writing to stderr in the configured format and level (a --log-level name,
// or "off").
std::shared_ptr<spdlog::logger> make_logger(const std::string& name, LogFormat format, const std::string& level);

}  // namespace ifo::syncer
