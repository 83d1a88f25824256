// certs-gen command line: parsed once, by a pure function, into an immutable struct.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "certs-gen/plan.h"
#include "core/logging.h"
#include "core/result.h"

namespace ifo::certsgen {

struct Options {
  enum class Command { kHelp, kVersion, kFiles, kEnsure };
  Command command = Command::kHelp;
  std::string service;
  std::string ns;
  Policy policy;
  std::string out_dir;  // files: required; ensure: optional
  std::string secret_name;
  std::string ca_secret_name;
  std::string secret_namespace;
  std::vector<std::string> validating_configs;
  std::vector<std::string> mutating_configs;
  std::string kubeconfig;
  spdlog::level::level_enum log_level = spdlog::level::info;
  core::LogFormat log_format = core::LogFormat::kText;
};

// Parses argv[1..]; the error is one line naming the flag or value at fault.
core::Result<Options> parse_options(const std::vector<std::string>& args);
// "90s", "30m", "720h", "1h30m", "1.5h": Go's syntax (core/duration.h), plus days ("7d") as certs-gen
// always took them; at most 100 years, never negative.
core::Result<std::chrono::seconds> parse_duration(const std::string& text);
std::string usage();

}  // namespace ifo::certsgen
