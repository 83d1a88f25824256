// bench/template: the cost of `template.data` per managed Secret. For N Secrets (each reading its own
// scope of 10 secrets) it times, in the same run and interleaved over several rounds:
//   baseline  the data the syncer writes without a template: every secret, base64-encoded;
//   render    the same Secret with a typical upstream template (4 keys: a DSN from 5 secrets, a URL, a
//             quoted config, one copied value), templates parsed once: template_data + render + base64;
//   parse     parsing that template's 4 entries (what each reconcile would pay without the parse cache).
// Prints microseconds per Secret (median of the rounds) and each figure as a ratio of the baseline.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/rendered_secret.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace ifo::core;

constexpr int64_t kNow = 1700000000;

SecretTemplate typical_template() {
  SecretTemplate t;
  t.data = {
      {"DSN",
       "postgres://{{ .DB_USER.Value }}:{{ .DB_PASSWORD.Value }}@{{ .DB_HOST.Value }}:{{ .DB_PORT.Value }}/"
       "{{ .DB_NAME.Value }}?sslmode=require"},
      {"API_URL", "https://{{ .API_HOST.Value }}/v1?key={{ .API_KEY.Value }}"},
      {"CONFIG", "user={{ .DB_USER.Value | quote }}\nhost={{ .DB_HOST.Value | lower }}\n"},
      {"REDIS_PASSWORD", "{{ .REDIS_PASSWORD.Value }}"},
  };
  return t;
}

std::map<std::string, std::string> scope_values(int i) {
  auto v = [i](std::string_view what) { return fmt::format("{}-{:06d}-Zq8vR2mXw4LpT7nB", what, i); };
  return {{"API_HOST", fmt::format("api-{}.example.com", i)},
          {"API_KEY", v("ak")},
          {"DB_HOST", fmt::format("DB-{}.internal.example.com", i)},
          {"DB_NAME", "app"},
          {"DB_PASSWORD", v("pw")},
          {"DB_PORT", "5432"},
          {"DB_USER", fmt::format("svc_{}", i)},
          {"REDIS_HOST", "redis.internal"},
          {"REDIS_PASSWORD", v("rp")},
          {"SMTP_PASSWORD", v("sp")}};
}

// What the syncer puts into the Secret body.
size_t encode(const std::map<std::string, std::string>& data) {
  size_t bytes = 0;
  for (const auto& [k, v] : data) bytes += k.size() + base64_encode(v).size();
  return bytes;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) noexcept try {
  int n = 10000, rounds = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--secrets" && i + 1 < argc)
      n = std::atoi(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "bench/template: unknown argument %s (use --secrets N --rounds R)\n", a.c_str());
      return 2;
    }
  }
  if (n <= 0 || rounds <= 0) {
    std::fprintf(stderr, "bench/template: --secrets and --rounds must be above 0\n");
    return 2;
  }
  std::vector<std::map<std::string, std::string>> scopes;
  scopes.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) scopes.push_back(scope_values(i));
  const SecretTemplate tmpl = typical_template();
  auto compiled = compile_template(tmpl, "spec.managedSecretReference");
  if (!compiled) {
    std::fprintf(stderr, "bench/template: %s\n", compiled.error().c_str());
    return 1;
  }

  std::vector<double> base_us, render_us, parse_us;
  size_t sink = 0;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    for (const auto& values : scopes) {
      std::map<std::string, std::string> data = values;
      sink += encode(data);
    }
    auto t1 = Clock::now();
    for (const auto& values : scopes) {
      TemplateData secrets = template_data(values, "/");
      auto data = render_secret_data(secrets, &*compiled, kNow);
      if (!data) {
        std::fprintf(stderr, "bench/template: %s\n", data.error().c_str());
        return 1;
      }
      sink += encode(*data);
    }
    auto t2 = Clock::now();
    for (int i = 0; i < n; ++i) {
      auto c = compile_template(tmpl, "spec.managedSecretReference");
      sink += c ? c->data.size() : 0;
    }
    auto t3 = Clock::now();
    auto us = [n](Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count() / n; };
    base_us.push_back(us(t1 - t0));
    render_us.push_back(us(t2 - t1));
    parse_us.push_back(us(t3 - t2));
  }
  double base = median(base_us), render = median(render_us), parse = median(parse_us);
  std::printf(
      "bench/template: %d managed Secrets, 10 secrets per scope, a 4-key template, median of %d rounds\n", n,
      rounds);
  std::printf("  baseline (no template: copy + base64)        %8.2f us/Secret  %7.1f ms total  ratio 1.00\n",
              base, base * n / 1000);
  std::printf("  template (template_data + render + base64)   %8.2f us/Secret  %7.1f ms total  ratio %.2f\n",
              render, render * n / 1000, render / base);
  std::printf("  parse of the 4 entries (once per generation) %8.2f us/Secret  %7.1f ms total  ratio %.2f\n",
              parse, parse * n / 1000, parse / base);
  std::printf("  template with a parse at every reconcile     %8.2f us/Secret  %7.1f ms total  ratio %.2f\n",
              render + parse, (render + parse) * n / 1000, (render + parse) / base);
  std::fprintf(stderr, "(checksum %zu)\n", sink);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench/template: %s\n", e.what());
  return 1;
} catch (...) {
  return 1;
}
