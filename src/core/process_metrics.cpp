// process_* metrics from /proc/self/stat, /proc/stat (boot time), /proc/self/fd and getrlimit.
#include "core/process_metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "core/build_info.h"

namespace ifo::core {

namespace {

void append(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

// The fields of /proc/self/stat after "pid (comm)", numbered from 3 (state) as in proc(5). The
// command name may itself contain spaces and parentheses, hence the search for the last ')'.
std::optional<std::vector<std::string>> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields{"", "", ""};  // indices 0-2 unused: pid and comm
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() <= 24) return std::nullopt;
  return fields;
}

std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      if (in >> t) return t;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::optional<double> open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  double n = 0;
  while (const dirent* e = readdir(dir))
    if (e->d_name[0] != '.') ++n;
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

}  // namespace

std::optional<size_t> resident_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return std::nullopt;
  unsigned long size_pages = 0, resident_pages = 0;  // its first two fields, in pages
  const int fields = std::fscanf(f, "%lu %lu", &size_pages, &resident_pages);
  std::fclose(f);
  if (fields != 2) return std::nullopt;
  const long page = sysconf(_SC_PAGESIZE);
  return static_cast<size_t>(resident_pages) * static_cast<size_t>(page > 0 ? page : 4096);
}

std::string process_metrics_text() {
  std::string out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (auto f = stat_fields(); f && ticks > 0) {
    try {
      const double utime = std::stod((*f)[14]);
      const double stime = std::stod((*f)[15]);
      const double start_ticks = std::stod((*f)[22]);
      const double vsize = std::stod((*f)[23]);
      append(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
             (utime + stime) / ticks);
      append(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vsize);
      if (auto boot = boot_time_seconds())
        append(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
               *boot + start_ticks / ticks);
    } catch (const std::exception&) {
      // A /proc format this code does not know: leave the values out rather than report wrong ones.
    }
  }
  if (auto rss = resident_memory_bytes())
    append(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           static_cast<double>(*rss));
  if (auto fds = open_fds()) append(out, "process_open_fds", "gauge", "Number of open file descriptors.", *fds);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    append(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
           static_cast<double>(limit.rlim_cur));
  return out;
}

std::string build_info_metric_text(std::string_view name) {
  return fmt::format("# HELP {0} Always 1; the labels say which version and commit of this binary is running.\n"
                     "# TYPE {0} gauge\n{0}{{commit=\"{1}\",version=\"{2}\"}} 1\n",
                     name, build_commit(), build_version());
}

}  // namespace ifo::core
