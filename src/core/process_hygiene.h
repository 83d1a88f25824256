// Process hygiene for every binary that holds secrets (syncer, webhook, certs-gen): no core dumps, and
// not dumpable, so that a crash or a debugger attach by another user of the node cannot copy tokens,
// client secrets, secret values or private keys out of memory.
#pragma once

#include <optional>
#include <string>

namespace ifo::core {

// Sets RLIMIT_CORE to 0 (soft and hard) and PR_SET_DUMPABLE to 0. Call first thing in main. Returns
// what failed (the process goes on: a missing hardening is worth a warning, not an outage).
std::optional<std::string> disable_core_dumps();

}  // namespace ifo::core
