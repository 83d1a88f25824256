// Go text/template for InfisicalSecret `template.data` (upstream renders each entry with text/template
// plus Sprig's TxtFuncMap minus env/expandenv plus its own PEM/PKCS#12 helpers). Pure: the clock is a
// parameter and every cost a tenant's template can cause is bounded (see TemplateLimits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ifo::core {

// What `.KEY` evaluates to (upstream's model.SecretTemplateOptions): `.KEY.Value`, `.KEY.SecretPath`.
struct TemplateSecret {
  std::string value;
  std::string secret_path;
};

using TemplateData = std::map<std::string, TemplateSecret>;

// Bounds against hostile templates; exceeding one is an execution error (never a crash or a hang).
struct TemplateLimits {
  size_t max_output_bytes = size_t{1} << 20;     // rendered text of one template
  size_t max_value_bytes = size_t{1} << 20;      // any one string or list a function produces
  size_t max_work_bytes = size_t{64} << 20;      // bytes produced by all functions of one render
  size_t max_iterations = 100'000;               // range iterations of one render, all loops together
  size_t max_calls = 1'000'000;                  // function calls and field evaluations of one render
  size_t max_template_depth = 100;               // nested {{template}} calls
  size_t max_parse_depth = 100;                  // nested blocks and parentheses when parsing
  // Subject of regex functions. std::regex (Thompson-NFA mode) searches in O(subject^2 x pattern) time
  // in the worst case (no match); 8 KiB holds a PEM chain and keeps that worst case to seconds.
  size_t max_regex_input = 8 * 1024;
};

namespace tmpl {
struct Tree;
}

// A parsed template. Parse once, render many times; copies share the immutable tree.
class GoTemplate {
 public:
  // Errors read like Go's: `template: secret-templates:1: function "env" not defined`.
  static Result<GoTemplate> parse(std::string_view text, std::string_view name = "secret-templates",
                                  const TemplateLimits& limits = {});

  const std::string& name() const;
  const tmpl::Tree& tree() const { return *tree_; }
  const TemplateLimits& limits() const { return limits_; }

 private:
  GoTemplate(std::shared_ptr<const tmpl::Tree> tree, TemplateLimits limits)
      : tree_(std::move(tree)), limits_(limits) {}
  std::shared_ptr<const tmpl::Tree> tree_;
  TemplateLimits limits_;
};

// Executes with dot = data (a missing key prints `<no value>`). `unix_now` (seconds) is what `now`
// returns. Errors read like Go's, with line and byte column:
// `template: secret-templates:1:3: executing "secret-templates" at <.X.value>: can't evaluate field value
// in type model.SecretTemplateOptions`. The caller adds the key.
Result<std::string> render(const GoTemplate& tmpl, const TemplateData& data, int64_t unix_now);

}  // namespace ifo::core
