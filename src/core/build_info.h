// The version and the git commit a binary was built from, for --version and build_info metrics.
#pragma once

#include <string>
#include <string_view>

namespace ifo::core {

// The project version (meson.build's project version), such as "0.1.0".
std::string_view build_version();
// The abbreviated commit of the source tree, or "unknown" when it was built outside a git checkout.
std::string_view build_commit();
// What --version prints: "PROGRAM VERSION (commit COMMIT)".
std::string version_line(std::string_view program);

}  // namespace ifo::core
