// libFuzzer target: arbitrary bytes as an InfisicalSecret template (core::GoTemplate::parse and render),
// the text/template engine that runs tenant-written templates inside the syncer.
// Besides crashes, sanitizer reports and hangs, it checks:
//  - parse errors read like Go's ("template: secret-templates:LINE: ..."), execution errors carry a
//    line and column ("template: secret-templates:LINE:COL: executing ...");
//  - no error message contains a secret value unless the template text itself contains it (errors end up
//    in status conditions that readers of the InfisicalSecret see);
//  - output never exceeds the output limit, whatever the template asks for;
//  - rendering is deterministic (same template, data and time: same result), except for the PKCS#12
//    encoders, whose salts are random.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/go_template.h"
#include "fuzz_common.h"

namespace {

using namespace ifo;
using fuzz::check;

const core::TemplateData& data() {
  static const core::TemplateData d = {
      {"DB_URL", {"postgres://s3cr3t@db", "/app"}},
      {"PASS", {"s3cr3t", "/"}},
      {"JSON", {R"({"k":"s3cr3t","n":[1,2]})", "/"}},
      {"EMPTY", {"", "/"}},
  };
  return d;
}

core::TemplateLimits limits() {
  core::TemplateLimits l;
  // Smaller than production so that one input stays well under libFuzzer's per-input timeout.
  l.max_output_bytes = 64 * 1024;
  l.max_value_bytes = 64 * 1024;
  l.max_work_bytes = 1 << 20;
  l.max_iterations = 10'000;
  l.max_calls = 100'000;
  l.max_regex_input = 1024;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  const bool marker_in_template = fuzz::contains(text, fuzz::kSecretMarker);
  const core::TemplateLimits lim = limits();
  auto t = core::GoTemplate::parse(text, "secret-templates", lim);
  if (!t) {
    check(t.error().starts_with("template: secret-templates:"), "parse error not in Go's form", t.error());
    if (!marker_in_template) check(!fuzz::contains(t.error(), fuzz::kSecretMarker), "parse error echoes a value");
    return 0;
  }
  const auto first = core::render(*t, data(), 1700000000);
  if (first) {
    check(first->size() <= lim.max_output_bytes, "output larger than the limit");
  } else {
    const std::string& e = first.error();
    check(e.starts_with("template: secret-templates:"), "execution error not in Go's form", e);
    if (!marker_in_template) check(!fuzz::contains(e, fuzz::kSecretMarker), "execution error echoes a secret", e);
  }
  if (!fuzz::contains(text, "kcs12")) {
    const auto second = core::render(*t, data(), 1700000000);
    check(first.ok() == second.ok(), "render is not deterministic");
    check(first.ok() ? *first == *second : first.error() == second.error(), "render is not deterministic");
  }
  return 0;
}
