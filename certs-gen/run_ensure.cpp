// Placeholder until the kube client lands on main: ensure needs it to reach the API server.
#include "certs-gen/run_ensure.h"

#include <cstdio>

namespace ifo::certsgen {
int run_ensure(const Options&) {
  std::fprintf(stderr, "certs-gen: ensure is not available in this build (no Kubernetes client yet)\n");
  return 1;
}
}  // namespace ifo::certsgen
