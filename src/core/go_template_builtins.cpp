// text/template's builtin functions: not, len, index, print/printf/println, eq/ne/lt/le/gt/ge with Go's
// comparison rules, html/js/urlquery escapers and call (and/or short-circuit in the executor).
#include <cctype>

#include <fmt/format.h>

#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

bool is_basic(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kBool: case Value::Kind::kInt: case Value::Kind::kFloat: case Value::Kind::kString: return true;
    default: return false;
  }
}

// text/template's eq for one pair; an error text when Go refuses the comparison.
Result<bool> equal(const Value& a, const Value& b) {
  if (a.is_nil() || b.is_nil()) return a.is_nil() && b.is_nil();
  if (a.kind() != b.kind()) {
    if (is_basic(a) || is_basic(b)) return Result<bool>::fail("incompatible types for comparison");
    return Result<bool>::fail(fmt::format("non-comparable types {}, {}", go_type_name(a), go_type_name(b)));
  }
  switch (a.kind()) {
    case Value::Kind::kBool: return a.as_bool() == b.as_bool();
    case Value::Kind::kInt: return a.as_int() == b.as_int();
    case Value::Kind::kFloat: return a.as_float() == b.as_float();
    case Value::Kind::kString: return a.as_string() == b.as_string();
    case Value::Kind::kSecret:
      return a.as_secret().value == b.as_secret().value && a.as_secret().secret_path == b.as_secret().secret_path;
    case Value::Kind::kTime: return a.as_time().unix == b.as_time().unix && a.as_time().nanos == b.as_time().nanos;
    default:
      return Result<bool>::fail(fmt::format("non-comparable type {}", go_type_name(b)));
  }
}

Result<bool> less(const Value& a, const Value& b) {
  if (!is_basic(a) || !is_basic(b) || a.kind() == Value::Kind::kBool || b.kind() == Value::Kind::kBool)
    return Result<bool>::fail("invalid type for comparison");
  if (a.kind() != b.kind()) return Result<bool>::fail("incompatible types for comparison");
  switch (a.kind()) {
    case Value::Kind::kInt: return a.as_int() < b.as_int();
    case Value::Kind::kFloat: return a.as_float() < b.as_float();
    default: return a.as_string() < b.as_string();
  }
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\0': out += "\xEF\xBF\xBD"; break;
      default: out += c;
    }
  }
  return out;
}

std::string js_escape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    const int32_t cp = decode_utf8(s, i, len);
    const char c = s[i];
    if (cp >= 0 && cp < 0x80) {
      switch (c) {
        case '\\': out += "\\\\"; break;
        case '\'': out += "\\'"; break;
        case '"': out += "\\\""; break;
        case '<': out += "\\u003C"; break;
        case '>': out += "\\u003E"; break;
        case '&': out += "\\u0026"; break;
        case '=': out += "\\u003D"; break;
        default:
          if (cp < 0x20) out += fmt::format("\\u{:04X}", cp);
          else out += c;
      }
    } else if (cp < 0 || cp == 0x2028 || cp == 0x2029) {
      out += fmt::format("\\u{:04X}", cp < 0 ? 0xFFFD : cp);
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string url_query_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else if (c == ' ') out += '+';
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string escaper_arg(const std::vector<Value>& args) {
  if (args.size() == 1 && args[0].kind() == Value::Kind::kString) return args[0].as_string();
  return go_sprint(args, false);
}


Result<Value> index(std::vector<Value>& args) {
  using R = Result<Value>;
  Value item = args[0];
  if (item.is_nil()) return R::fail("index of untyped nil");
  for (size_t i = 1; i < args.size(); ++i) {
    const Value& ix = args[i];
    switch (item.kind()) {
      case Value::Kind::kList:
      case Value::Kind::kString:
      case Value::Kind::kBytes: {
        if (ix.kind() != Value::Kind::kInt)
          return R::fail(fmt::format("cannot index slice/array with type {}", go_type_name(ix)));
        const size_t len = item.kind() == Value::Kind::kList     ? item.as_list().size()
                           : item.kind() == Value::Kind::kString ? item.as_string().size()
                                                                 : item.as_bytes().data.size();
        if (ix.as_int() < 0 || static_cast<size_t>(ix.as_int()) >= len)
          return R::fail(fmt::format("index out of range: {}", ix.as_int()));
        const auto at = static_cast<size_t>(ix.as_int());
        if (item.kind() == Value::Kind::kList) item = Value(item.as_list()[at]);
        else if (item.kind() == Value::Kind::kString) item = Value(static_cast<int64_t>(static_cast<unsigned char>(item.as_string()[at])));
        else item = Value(static_cast<int64_t>(static_cast<unsigned char>(item.as_bytes().data[at])));
        break;
      }
      case Value::Kind::kMap: {
        if (ix.kind() != Value::Kind::kString && !ix.is_nil())
          return R::fail(fmt::format("value has type {}; should be string", go_type_name(ix)));
        const auto& m = item.as_map();
        auto it = ix.is_nil() ? m.end() : m.find(ix.as_string());
        if (it != m.end()) item = Value(it->second);
        else item = item.secret_map ? Value(TemplateSecret{}) : Value();
        break;
      }
      case Value::Kind::kNil: return R::fail("index of untyped nil");
      default: return R::fail(fmt::format("can't index item of type {}", go_type_name(item)));
    }
  }
  return item;
}

}  // namespace

Result<Value> call_builtin(const std::string& name, std::vector<Value>& args, const CallEnv& env) {
  using R = Result<Value>;
  if (name == "not") return Value(!is_true(args[0]));
  if (name == "len") {
    const Value& v = args[0];
    switch (v.kind()) {
      case Value::Kind::kString: return Value(static_cast<int64_t>(v.as_string().size()));
      case Value::Kind::kBytes: return Value(static_cast<int64_t>(v.as_bytes().data.size()));
      case Value::Kind::kList: return Value(static_cast<int64_t>(v.as_list().size()));
      case Value::Kind::kMap: return Value(static_cast<int64_t>(v.as_map().size()));
      case Value::Kind::kNil: return R::fail("len of nil pointer");
      default: return R::fail(fmt::format("len of type {}", go_type_name(v)));
    }
  }
  if (name == "index") return index(args);
  if (name == "print" || name == "println") {
    size_t size = 0;
    for (const auto& a : args) size += a.kind() == Value::Kind::kString ? a.as_string().size() : 0;
    if (size > env.limits->max_value_bytes) return R::fail(fmt::format("result exceeds {} bytes", env.limits->max_value_bytes));
    return Value(go_sprint(args, name == "println"));
  }
  if (name == "printf") {
    std::vector<Value> rest(args.begin() + 1, args.end());
    std::string s = go_sprintf(args[0].as_string(), rest);
    if (auto c = charge(env, s.size()); !c) return R::fail(c.error());
    return Value(std::move(s));
  }
  if (name == "eq") {
    if (args.size() < 2) return R::fail("missing argument for comparison");
    for (size_t i = 1; i < args.size(); ++i) {
      auto e = equal(args[0], args[i]);
      if (!e) return R::fail(e.error());
      if (*e) return Value(true);
    }
    return Value(false);
  }
  if (name == "ne") {
    auto e = equal(args[0], args[1]);
    if (!e) return R::fail(e.error());
    return Value(!*e);
  }
  if (name == "lt" || name == "le" || name == "gt" || name == "ge") {
    const bool swap = name == "gt" || name == "le";
    auto l = swap ? less(args[1], args[0]) : less(args[0], args[1]);
    if (!l) return R::fail(l.error());
    return Value(name == "lt" || name == "gt" ? *l : !*l);
  }
  if (name == "html") return Value(html_escape(escaper_arg(args)));
  if (name == "js") return Value(js_escape(escaper_arg(args)));
  if (name == "urlquery") return Value(url_query_escape(escaper_arg(args)));
  if (name == "call") {
    if (args[0].is_nil()) return R::fail("call of nil");
    return R::fail(fmt::format("non-function of type {}", go_type_name(args[0])));
  }
  return R::fail("not implemented");
}

}  // namespace ifo::core::tmpl
