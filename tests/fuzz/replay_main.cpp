// A main for the fuzz targets in the ordinary (gcc, sanitized) test build, so CI exercises them
// without a second, clang build: every seed of the target's corpus is run, then a fixed number of
// deterministic mutations of each seed (bit flips, byte runs, truncations, splices of another seed
// and of the target's dictionary tokens). The same invariant checks abort on a finding, and the
// sanitizers report as in the test build. Coverage-guided campaigns stay with libFuzzer:
// scripts/fuzz (see tests/fuzz/README.md).
// Usage: fuzz_NAME_replay SEED_DIR [DICT_FILE] [--mutations N]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// libFuzzer dictionary lines: name="value" with \\, \" and \xNN escapes; comments start with #.
std::vector<std::string> read_dictionary(const std::filesystem::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    auto open = line.find('"');
    auto close = line.rfind('"');
    if (line.empty() || line[0] == '#' || open == std::string::npos || close <= open) continue;
    std::string token;
    for (size_t i = open + 1; i < close; ++i) {
      if (line[i] != '\\' || i + 1 >= close) {
        token += line[i];
        continue;
      }
      char e = line[++i];
      if (e == 'x' && i + 2 < close) {
        token += static_cast<char>(std::strtol(line.substr(i + 1, 2).c_str(), nullptr, 16));
        i += 2;
      } else {
        token += e;
      }
    }
    out.push_back(std::move(token));
  }
  return out;
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string mutate(const std::string& seed, const std::vector<std::string>& seeds,
                   const std::vector<std::string>& dict, std::mt19937_64& rng) {
  std::string s = seed;
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  int steps = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < steps; ++i) {
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // insert a run of one byte
        s.insert(pick(s.size() + 1), 1 + pick(8), static_cast<char>(rng() % 256));
        break;
      case 2:  // truncate
        s.resize(pick(s.size() + 1));
        break;
      case 3:  // erase a range
        if (!s.empty()) {
          size_t at = pick(s.size());
          s.erase(at, 1 + pick(s.size() - at));
        }
        break;
      case 4:  // splice in part of another seed
        if (!seeds.empty()) {
          const std::string& o = seeds[pick(seeds.size())];
          size_t from = pick(o.size() + 1);
          s.insert(pick(s.size() + 1), o.substr(from, pick(o.size() - from + 1)));
        }
        break;
      default:  // insert or overwrite with a dictionary token
        if (!dict.empty()) {
          const std::string& t = dict[pick(dict.size())];
          size_t at = pick(s.size() + 1);
          if (rng() % 2 && at + t.size() <= s.size()) s.replace(at, t.size(), t);
          else s.insert(at, t);
        }
        break;
    }
  }
  if (s.size() > 16384) s.resize(16384);  // as run-target's -max_len
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path seed_dir, dict_file;
  long mutations = 300;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mutations" && i + 1 < argc) mutations = std::strtol(argv[++i], nullptr, 10);
    else if (seed_dir.empty()) seed_dir = a;
    else dict_file = a;
  }
  if (seed_dir.empty() || !std::filesystem::is_directory(seed_dir)) {
    std::fprintf(stderr, "usage: %s SEED_DIR [DICT_FILE] [--mutations N]\n", argv[0]);
    return 2;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(seed_dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());  // the same order, hence the same mutations, every run
  std::vector<std::string> seeds;
  for (const auto& f : files) seeds.push_back(read_file(f));
  std::vector<std::string> dict;
  if (!dict_file.empty()) dict = read_dictionary(dict_file);
  if (seeds.empty()) {
    std::fprintf(stderr, "%s: no seeds in %s\n", argv[0], seed_dir.c_str());
    return 2;
  }
  run("");
  for (const auto& s : seeds) run(s);
  std::mt19937_64 rng(0x1f05eedULL);
  long executed = 1 + static_cast<long>(seeds.size());
  for (size_t i = 0; i < seeds.size(); ++i) {
    for (long m = 0; m < mutations; ++m, ++executed) run(mutate(seeds[i], seeds, dict, rng));
  }
  std::printf("%s: %zu seeds and %ld inputs in all ran with every invariant holding\n", seed_dir.filename().c_str(),
              seeds.size(), executed);
  return 0;
}
