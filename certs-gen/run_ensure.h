// `certs-gen ensure` wired to the project's kube client.
#pragma once

#include "certs-gen/options.h"

namespace ifo::certsgen {
// Returns the process exit code (0 ok, 1 failure talking to the API, 2 unusable configuration).
int run_ensure(const Options& options);
}  // namespace ifo::certsgen
