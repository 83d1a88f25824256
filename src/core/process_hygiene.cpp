#include "core/process_hygiene.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace ifo::core {

std::optional<std::string> disable_core_dumps() {
  std::string failed;
  const rlimit none{0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) failed += std::string("setrlimit(RLIMIT_CORE, 0): ") + std::strerror(errno);
  // Not dumpable also makes /proc/<pid>/mem and ptrace attach need CAP_SYS_PTRACE.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    if (!failed.empty()) failed += "; ";
    failed += std::string("prctl(PR_SET_DUMPABLE, 0): ") + std::strerror(errno);
  }
  if (failed.empty()) return std::nullopt;
  return failed;
}

}  // namespace ifo::core
