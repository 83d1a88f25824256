// return_large_buffers_to_os: glibc's M_MMAP_THRESHOLD, fixed.
#include "webhook/malloc_tuning.h"

#include <malloc.h>

namespace ifo::webhook {

std::optional<std::string> return_large_buffers_to_os() {
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes)) != 1)
    return std::string("mallopt(M_MMAP_THRESHOLD) failed: large request buffers may stay resident after use");
  return std::nullopt;
}

}  // namespace ifo::webhook
