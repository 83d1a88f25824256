// spdlog sinks for the syncer; the formats and level names are core/logging's.
#include "syncer/logging.h"

#include <spdlog/sinks/stdout_sinks.h>

#include "core/logging.h"

namespace ifo::syncer {

std::shared_ptr<spdlog::logger> make_logger(const std::string& name, LogFormat format, const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  core::set_log_format(*logger, format);
  auto parsed = core::parse_log_level(level);
  logger->set_level(parsed ? *parsed : spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace ifo::syncer
