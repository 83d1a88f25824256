// certs-gen: thin main; parses flags, runs `files` or `ensure`, maps failures to exit codes.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "certs-gen/files.h"
#include "certs-gen/options.h"
#include "certs-gen/run_ensure.h"
#include "core/build_info.h"
#include "core/logging.h"
#include "core/process_hygiene.h"

int main(int argc, char** argv) noexcept try {
  // Holds tokens, secret values or keys: no core file, not dumpable (core/process_hygiene.h).
  if (auto failed = ifo::core::disable_core_dumps()) std::fprintf(stderr, "certs-gen: warning: %s\n", failed->c_str());
  using namespace ifo::certsgen;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opts = parse_options(args);
  if (!opts) {
    std::fprintf(stderr, "certs-gen: %s\n", opts.error().c_str());
    return 2;
  }
  // The kube client logs through (a clone of) the default logger.
  auto log = spdlog::stderr_logger_mt("certs-gen");
  log->set_level(opts->log_level);
  ifo::core::set_log_format(*log, opts->log_format);
  spdlog::set_default_logger(log);
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(Clock::now());
  switch (opts->command) {
    case Options::Command::kHelp: std::fputs(usage().c_str(), stdout); return 0;
    case Options::Command::kVersion: std::puts(ifo::core::version_line("certs-gen").c_str()); return 0;
    case Options::Command::kFiles: {
      auto r = refresh_files(opts->out_dir, opts->policy, now);
      if (!r) {
        std::fprintf(stderr, "certs-gen: %s\n", r.error().c_str());
        return 2;
      }
      std::printf("certs-gen: %s: %s\n", opts->out_dir.c_str(), r->c_str());
      return 0;
    }
    case Options::Command::kEnsure: return run_ensure(*opts);
  }
  return 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "certs-gen: %s\n", e.what());
  return 1;
} catch (...) {
  std::fprintf(stderr, "certs-gen: unexpected error\n");
  return 1;
}
