// Every binary calls core::disable_core_dumps() first: afterwards no core file can be written and the
// process is not dumpable (no ptrace attach or /proc/<pid>/mem read by the node's other users).
#include <doctest/doctest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/process_hygiene.h"

TEST_CASE("after disable_core_dumps the process writes no core file and is not dumpable") {
  rlimit before{};
  REQUIRE(getrlimit(RLIMIT_CORE, &before) == 0);
  auto failure = ifo::core::disable_core_dumps();
  CHECK_MESSAGE(!failure.has_value(), failure.value_or(""));
  rlimit after{};
  REQUIRE(getrlimit(RLIMIT_CORE, &after) == 0);
  CHECK(after.rlim_cur == 0);
  CHECK(after.rlim_max == 0);  // the hard limit too: nothing later in the process can raise it again
  CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
  // Raising it back is refused for an unprivileged process; as root it is allowed, so only the
  // unprivileged case is asserted.
  if (geteuid() != 0) {
    const rlimit raise{1024, 1024};
    CHECK(setrlimit(RLIMIT_CORE, &raise) != 0);
  }
}
