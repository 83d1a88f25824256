// Prometheus' standard process_* metrics for the calling process, read from /proc/self the way the
// official client libraries' process collectors read them, so dashboards and alerts written for any
// Go operator (controller-runtime registers them) work unchanged.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ifo::core {

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds, each with HELP and TYPE, in the
// text exposition format. A value that cannot be read (no /proc) is left out, never reported as 0.
std::string process_metrics_text();

// The calling process's resident size in bytes, from /proc/self/statm (cheaper to read than
// /proc/self/stat, so a once-a-second check can afford it); nullopt without /proc.
std::optional<size_t> resident_memory_bytes();

// A build-info gauge named `name`: always 1, its labels the version and the commit of this binary
// (core/build_info.h), so a dashboard can tell which build each replica runs.
std::string build_info_metric_text(std::string_view name);

}  // namespace ifo::core
