// PEM files in a directory: read what is there, write atomically (temp file + rename) so that a
// process watching the files never sees a half-written certificate.
#pragma once

#include <string>

#include "certs-gen/plan.h"
#include "core/result.h"

namespace ifo::certsgen {

// Reads ca.crt, ca.key, tls.crt, tls.key from dir; absent files are empty strings, unreadable
// ones (permissions, a directory) are an error naming the path.
core::Result<Material> read_material(const std::string& dir);
// Writes tls.crt, tls.key, ca.crt and, when with_ca_key, ca.key. Keys are written mode 0600.
core::Result<bool> write_material(const std::string& dir, const Material& m, bool with_ca_key);
// Writes one file atomically; the error names the path and the system's reason.
core::Result<bool> write_file_atomic(const std::string& path, const std::string& content, bool secret);

}  // namespace ifo::certsgen

namespace ifo::certsgen {
// `certs-gen files`: the same reuse / renew / rotate decisions as ensure, over the files of dir.
// Returns a one-line description of what was done.
core::Result<std::string> refresh_files(const std::string& dir, const Policy& policy, TimePoint now);
}  // namespace ifo::certsgen
