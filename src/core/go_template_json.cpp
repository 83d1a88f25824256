// encoding/json-compatible output, JSON input (fromJson), and the YAML that upstream's toYaml
// (sigs.k8s.io/yaml: JSON, then yaml.v2) prints, for template values.
#include <cmath>

#include <fmt/format.h>

#include "core/base64.h"
#include "core/json.h"
#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    const int32_t cp = decode_utf8(s, i, len);
    const char c = s[i];
    if (cp < 0) {
      out += "\\ufffd";
    } else if (cp < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '<': out += "\\u003c"; break;
        case '>': out += "\\u003e"; break;
        case '&': out += "\\u0026"; break;
        default:
          if (cp < 0x20) out += fmt::format("\\u{:04x}", cp);
          else out += c;
      }
    } else if (cp == 0x2028 || cp == 0x2029) {
      out += fmt::format("\\u{:04x}", cp);
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out += '"';
}

std::string json_float(double f) {
  if (!std::isfinite(f)) return "null";
  const double a = std::fabs(f);
  const ShortestDigits d = shortest_digits(f);
  if (a != 0 && (a < 1e-6 || a >= 1e21)) {
    std::string s = format_exp_shortest(d, 1);
    return s;
  }
  return format_fixed_shortest(d);
}

void json_value(std::string& out, const Value& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent <= 0) return;
    out += '\n';
    out.append(static_cast<size_t>(lvl * indent), ' ');
  };
  switch (v.kind()) {
    case Value::Kind::kNil: out += "null"; break;
    case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; break;
    case Value::Kind::kInt: out += std::to_string(v.as_int()); break;
    case Value::Kind::kFloat: out += json_float(v.as_float()); break;
    case Value::Kind::kString: json_string(out, v.as_string()); break;
    case Value::Kind::kBytes: json_string(out, base64_encode(v.as_bytes().data)); break;
    case Value::Kind::kTime:
      json_string(out, go_time_format(v.as_time(), "2006-01-02T15:04:05.999999999Z07:00"));
      break;
    case Value::Kind::kList: {
      const auto& l = v.as_list();
      if (l.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) out += ',';
        newline(level + 1);
        json_value(out, l[i], indent, level + 1);
      }
      newline(level);
      out += ']';
      break;
    }
    case Value::Kind::kMap: {
      const auto& m = v.as_map();
      if (m.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      bool first = true;
      for (const auto& [k, item] : m) {
        if (!first) out += ',';
        first = false;
        newline(level + 1);
        json_string(out, k);
        out += indent > 0 ? ": " : ":";
        json_value(out, item, indent, level + 1);
      }
      newline(level);
      out += '}';
      break;
    }
    case Value::Kind::kSecret: {
      // encoding/json keeps struct field order: value, then secretPath.
      out += '{';
      newline(level + 1);
      json_string(out, "value");
      out += indent > 0 ? ": " : ":";
      json_string(out, v.as_secret().value);
      out += ',';
      newline(level + 1);
      json_string(out, "secretPath");
      out += indent > 0 ? ": " : ":";
      json_string(out, v.as_secret().secret_path);
      newline(level);
      out += '}';
      break;
    }
  }
}

Value from_rapidjson(const JsonValue& j) {
  if (j.IsNull()) return Value();
  if (j.IsBool()) return Value(j.GetBool());
  if (j.IsNumber()) return Value(j.GetDouble());  // Go decodes JSON numbers into float64
  if (j.IsString()) return Value(std::string(j.GetString(), j.GetStringLength()));
  if (j.IsArray()) {
    ValueList l;
    for (const auto& item : j.GetArray()) l.push_back(from_rapidjson(item));
    return Value(std::move(l));
  }
  ValueMap m;
  for (const auto& member : j.GetObject())
    m[std::string(member.name.GetString(), member.name.GetStringLength())] = from_rapidjson(member.value);
  return Value(std::move(m));
}

// ---- YAML (yaml.v2 emitter rules, through JSON types) ----

bool resolves_to_non_string(std::string_view s) {
  static constexpr std::string_view kWords[] = {"", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES",
                                                "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
                                                "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "<<",
                                                ".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN"};
  for (auto w : kWords)
    if (s == w) return true;
  // Numbers: ints (with 0x/0o/0b, _), floats, base-60.
  std::string_view t = s;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) t.remove_prefix(1);
  if (t.empty()) return false;
  if (t.starts_with("0x") || t.starts_with("0b") || t.starts_with("0o")) {
    return t.size() > 2 && t.substr(2).find_first_not_of("0123456789abcdefABCDEF_") == std::string_view::npos;
  }
  bool digit = false, dot = false, exp = false;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c >= '0' && c <= '9') digit = true;
    else if (c == '_' || c == ':') continue;
    else if (c == '.' && !dot && !exp) dot = true;
    else if ((c == 'e' || c == 'E') && digit && !exp) {
      exp = true;
      if (i + 1 < t.size() && (t[i + 1] == '+' || t[i + 1] == '-')) ++i;
    } else return false;
  }
  return digit || (dot && t.size() > 1);
}

bool plain_allowed(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ' || s.starts_with("---") || s.starts_with("...")) return false;
  if (std::string_view("#,[]{}&*!|>'\"%@`").find(s.front()) != std::string_view::npos) return false;
  if ((s.front() == '-' || s.front() == '?' || s.front() == ':') && (s.size() == 1 || s[1] == ' ')) return false;
  if (s.back() == ':') return false;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return false;
  return true;
}

std::string yaml_scalar(std::string_view s, int indent) {
  if (s.find('\n') != std::string_view::npos) {
    bool printable = true;
    for (unsigned char c : s)
      if ((c < 0x20 && c != '\n') || c == 0x7F) printable = false;
    if (printable && !s.starts_with(' ')) {
      std::string out = "|";
      size_t trailing = 0;
      while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
      out += trailing == 0 ? "-" : trailing == 1 ? "" : "+";
      std::string_view body = s;
      if (trailing == 1) body.remove_suffix(1);
      size_t pos = 0;
      while (pos <= body.size()) {
        const size_t nl = body.find('\n', pos);
        const std::string_view line = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        out += '\n';
        if (!line.empty()) out.append(static_cast<size_t>(indent), ' ');
        out.append(line);
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
      }
      return out;
    }
  }
  if (!resolves_to_non_string(s) && plain_allowed(s)) return std::string(s);
  bool single_ok = true;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) single_ok = false;
  if (single_ok && !resolves_to_non_string(s) && !s.empty()) {
    std::string out = "'";
    for (char c : s) {
      if (c == '\'') out += '\'';
      out += c;
    }
    return out + "'";
  }
  std::string out;
  json_string(out, s);  // a double-quoted YAML scalar accepts JSON escapes
  return out;
}

void yaml_value(std::string& out, const Value& v, int indent);

bool is_block(const Value& v) {
  return (v.kind() == Value::Kind::kList && !v.as_list().empty()) ||
         (v.kind() == Value::Kind::kMap && !v.as_map().empty()) || v.kind() == Value::Kind::kSecret;
}

void yaml_scalar_value(std::string& out, const Value& v, int indent) {
  switch (v.kind()) {
    case Value::Kind::kNil: out += "null"; break;
    case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; break;
    case Value::Kind::kInt: out += std::to_string(v.as_int()); break;
    case Value::Kind::kFloat: {
      const double f = v.as_float();
      if (f == std::floor(f) && std::fabs(f) < 1e21) out += json_float(f);
      else out += format_float_v(f);
      break;
    }
    case Value::Kind::kString: out += yaml_scalar(v.as_string(), indent); break;
    case Value::Kind::kBytes: out += yaml_scalar(base64_encode(v.as_bytes().data), indent); break;
    case Value::Kind::kTime:
      out += yaml_scalar(go_time_format(v.as_time(), "2006-01-02T15:04:05.999999999Z07:00"), indent);
      break;
    case Value::Kind::kList: out += "[]"; break;
    case Value::Kind::kMap: out += "{}"; break;
    case Value::Kind::kSecret: break;
  }
}

// Writes a block value whose first line continues the current line (after "- " or at the start).
void yaml_value(std::string& out, const Value& v, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (v.kind() == Value::Kind::kSecret) {
    ValueMap m{{"secretPath", Value(v.as_secret().secret_path)}, {"value", Value(v.as_secret().value)}};
    return yaml_value(out, Value(std::move(m)), indent);
  }
  if (v.kind() == Value::Kind::kList && !v.as_list().empty()) {
    bool first = true;
    for (const auto& item : v.as_list()) {
      if (!first) out += '\n' + pad;
      first = false;
      out += "- ";
      if (is_block(item)) yaml_value(out, item, indent + 2);
      else yaml_scalar_value(out, item, indent + 2);
    }
    return;
  }
  if (v.kind() == Value::Kind::kMap && !v.as_map().empty()) {
    bool first = true;
    for (const auto& [k, item] : v.as_map()) {
      if (!first) out += '\n' + pad;
      first = false;
      out += yaml_scalar(k, indent + 2);
      out += ':';
      if (item.kind() == Value::Kind::kList && !item.as_list().empty()) {
        out += '\n' + pad;  // yaml.v2 does not indent a sequence under its key
        yaml_value(out, item, indent);
      } else if (is_block(item)) {
        out += '\n' + pad + "  ";
        yaml_value(out, item, indent + 2);
      } else {
        out += ' ';
        yaml_scalar_value(out, item, indent + 2);
      }
    }
    return;
  }
  yaml_scalar_value(out, v, indent + 2);
}

}  // namespace

std::string to_json(const Value& v, bool indent) {
  std::string out;
  json_value(out, v, indent ? 2 : 0, 0);
  return out;
}

Result<Value> from_json(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc) return Result<Value>::fail(doc.error());
  return from_rapidjson(**doc);
}

std::string to_yaml(const Value& v) {
  std::string out;
  yaml_value(out, v, 0);
  return out;
}

}  // namespace ifo::core::tmpl
