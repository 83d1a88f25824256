// The values a Go template computes with (internal to the template engine): Go's dynamic types reduced
// to what templates over secrets meet, printed the way Go's fmt and encoding/json print them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/go_template.h"

namespace ifo::core::tmpl {

struct Value;
using ValueList = std::vector<Value>;
using ValueMap = std::map<std::string, Value>;

struct Bytes {  // Go []byte
  std::string data;
};
struct Time {  // time.Time, always UTC here
  int64_t unix = 0;
  int32_t nanos = 0;
};

// nil stands for both Go's invalid reflect.Value (a missing map key) and a nil interface: printed at the
// top level as `<no value>`, inside a container or by fmt as `<nil>`.
struct Value {
  enum class Kind { kNil, kBool, kInt, kFloat, kString, kBytes, kList, kMap, kSecret, kTime };
  using Storage = std::variant<std::monostate, bool, int64_t, double, std::string, Bytes,
                               std::shared_ptr<ValueList>, std::shared_ptr<ValueMap>, TemplateSecret, Time>;
  Storage v;
  // A map whose element type is the secret struct (the data root): a missing key indexes to `{ }`.
  bool secret_map = false;

  Value() = default;
  Value(bool b) : v(b) {}  // NOLINT: implicit by design, like the variant
  Value(int64_t i) : v(i) {}  // NOLINT
  Value(int i) : v(int64_t{i}) {}  // NOLINT
  Value(double d) : v(d) {}  // NOLINT
  Value(std::string s) : v(std::move(s)) {}  // NOLINT
  Value(const char* s) : v(std::string(s)) {}  // NOLINT
  Value(Bytes b) : v(std::move(b)) {}  // NOLINT
  Value(ValueList l) : v(std::make_shared<ValueList>(std::move(l))) {}  // NOLINT
  Value(ValueMap m) : v(std::make_shared<ValueMap>(std::move(m))) {}  // NOLINT
  Value(TemplateSecret s) : v(std::move(s)) {}  // NOLINT
  Value(Time t) : v(t) {}  // NOLINT

  Kind kind() const { return static_cast<Kind>(v.index()); }
  bool is_nil() const { return kind() == Kind::kNil; }
  bool as_bool() const { return std::get<bool>(v); }
  int64_t as_int() const { return std::get<int64_t>(v); }
  double as_float() const { return std::get<double>(v); }
  const std::string& as_string() const { return std::get<std::string>(v); }
  const Bytes& as_bytes() const { return std::get<Bytes>(v); }
  const ValueList& as_list() const { return *std::get<std::shared_ptr<ValueList>>(v); }
  const ValueMap& as_map() const { return *std::get<std::shared_ptr<ValueMap>>(v); }
  ValueMap& mutable_map() const { return *std::get<std::shared_ptr<ValueMap>>(v); }  // Go maps alias
  const TemplateSecret& as_secret() const { return std::get<TemplateSecret>(v); }
  const Time& as_time() const { return std::get<Time>(v); }
};

// Go's type name, as text/template and %T print it (`string`, `[]interface {}`, `model.SecretTemplateOptions`).
std::string go_type_name(const Value& v);
// Go's kind name (sprig kindOf): string, int64, slice, map, struct, ...
std::string go_kind_name(const Value& v);
// text/template truth: false, 0, nil, and empty strings, lists and maps are false.
bool is_true(const Value& v);
// fmt %v (plus=true: %+v, struct field names).
void append_value(std::string& out, const Value& v, bool plus = false);
std::string format_value(const Value& v);
// fmt.Sprint's operand spacing: a space between operands when neither is a string.
std::string go_sprint(const std::vector<Value>& args, bool println);
// strconv.Quote (Go escapes; printable UTF-8 kept).
std::string go_quote(std::string_view s);
// strconv.FormatFloat(f, 'g', -1, 64) as %v prints it.
std::string format_float_v(double f);
// encoding/json Marshal (HTML-escaped, maps sorted), MarshalIndent with "  " when indent.
std::string to_json(const Value& v, bool indent);
Result<Value> from_json(std::string_view text);
// Upstream toYaml (sigs.k8s.io/yaml via JSON), without the trailing newline.
std::string to_yaml(const Value& v);
// sprig's strval: strings as-is, []byte as text, everything else as %v.
std::string strval(const Value& v);

}  // namespace ifo::core::tmpl
