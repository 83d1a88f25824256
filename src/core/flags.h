// Reading one command-line flag, Kubernetes style ("--flag value" or "--flag=value"), for the tools
// whose parsers walk the arguments themselves (certs-gen, infisical-webhook).
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "core/result.h"

namespace ifo::core {

struct FlagArg {
  std::string name;  // "--port"
  std::string value;
  bool has_value = false;  // false: no "=value" and no argument left to take
};

// Reads args[i]; a value not given with '=' is the next argument (i is then advanced past it).
// Fails when args[i] does not start with "--".
inline Result<FlagArg> next_flag(const std::vector<std::string>& args, size_t& i) {
  FlagArg f;
  f.name = args[i];
  if (f.name.rfind("--", 0) != 0) return Result<FlagArg>::fail(fmt::format("unexpected argument {:?}", f.name));
  if (auto eq = f.name.find('='); eq != std::string::npos) {
    f.value = f.name.substr(eq + 1);
    f.name.resize(eq);
    f.has_value = true;
  } else if (i + 1 < args.size()) {
    f.value = args[++i];
    f.has_value = true;
  }
  return f;
}

}  // namespace ifo::core
