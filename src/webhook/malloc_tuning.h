// The webhook's allocator setting for hostile load: request buffers of up to 3 MiB come and go by the
// dozen, and with glibc's default (a dynamic mmap threshold that rises to the size of each mapped
// block freed) they soon come from the heap arenas, where freed ones stay resident; under the
// bench/hostile-load attack that held about 40 MiB more than the buffered-bytes budget.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace ifo::webhook {

// Allocations above this are mapped on their own and unmapped when freed.
inline constexpr size_t kMmapThresholdBytes = 256 * 1024;

// Fixes glibc's mmap threshold at kMmapThresholdBytes (which also stops it moving). Call early in
// main; returns what failed (the process goes on: it only holds more memory after large requests).
std::optional<std::string> return_large_buffers_to_os();

}  // namespace ifo::webhook
