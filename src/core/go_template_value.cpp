// Go-compatible type names, truth, fmt %v printing, strconv quoting and float formatting of template values.
#include "core/go_template_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

std::string go_type_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNil: return "<nil>";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kFloat: return "float64";
    case Value::Kind::kString: return "string";
    case Value::Kind::kBytes: return "[]uint8";
    case Value::Kind::kList: return "[]interface {}";
    case Value::Kind::kMap:
      return v.secret_map ? "map[string]model.SecretTemplateOptions" : "map[string]interface {}";
    case Value::Kind::kSecret: return "model.SecretTemplateOptions";
    case Value::Kind::kTime: return "time.Time";
  }
  return "?";
}

std::string go_kind_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNil: return "invalid";
    case Value::Kind::kBytes:
    case Value::Kind::kList: return "slice";
    case Value::Kind::kMap: return "map";
    case Value::Kind::kSecret:
    case Value::Kind::kTime: return "struct";
    default: return go_type_name(v);
  }
}

bool is_true(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNil: return false;
    case Value::Kind::kBool: return v.as_bool();
    case Value::Kind::kInt: return v.as_int() != 0;
    case Value::Kind::kFloat: return v.as_float() != 0;
    case Value::Kind::kString: return !v.as_string().empty();
    case Value::Kind::kBytes: return !v.as_bytes().data.empty();
    case Value::Kind::kList: return !v.as_list().empty();
    case Value::Kind::kMap: return !v.as_map().empty();
    case Value::Kind::kSecret:
    case Value::Kind::kTime: return true;
  }
  return false;
}

ShortestDigits shortest_digits(double f) {
  ShortestDigits d;
  d.negative = std::signbit(f);
  f = std::fabs(f);
  if (f == 0) {
    d.digits = "0";
    d.dp = 1;
    return d;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(res.ptr - buf));
  const size_t e = s.find('e');
  for (char c : s.substr(0, e))
    if (c != '.') d.digits += c;
  while (d.digits.size() > 1 && d.digits.back() == '0') d.digits.pop_back();
  int exp = 0;
  std::from_chars(s.data() + e + (s[e + 1] == '+' ? 2 : 1), s.data() + s.size(), exp);
  d.dp = exp + 1;
  return d;
}

std::string format_fixed_shortest(const ShortestDigits& d) {
  std::string out = d.negative ? "-" : "";
  const int n = static_cast<int>(d.digits.size());
  if (d.dp <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-d.dp), '0');
    out += d.digits;
  } else if (d.dp >= n) {
    out += d.digits;
    out.append(static_cast<size_t>(d.dp - n), '0');
  } else {
    out += d.digits.substr(0, static_cast<size_t>(d.dp));
    out += '.';
    out += d.digits.substr(static_cast<size_t>(d.dp));
  }
  return out;
}

std::string format_exp_shortest(const ShortestDigits& d, int min_exp_digits) {
  std::string out = d.negative ? "-" : "";
  out += d.digits[0];
  if (d.digits.size() > 1) {
    out += '.';
    out += d.digits.substr(1);
  }
  const int exp = d.dp - 1;
  out += exp < 0 ? "e-" : "e+";
  std::string e = std::to_string(exp < 0 ? -exp : exp);
  if (static_cast<int>(e.size()) < min_exp_digits) e.insert(0, static_cast<size_t>(min_exp_digits) - e.size(), '0');
  return out + e;
}

std::string format_float_v(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "+Inf" : "-Inf";
  const ShortestDigits d = shortest_digits(f);
  const int exp = d.dp - 1;
  // strconv 'g' with the shortest precision switches to %e below 1e-4 and from 1e6 on (eprec = 6).
  if (exp < -4 || exp >= 6) return format_exp_shortest(d, 2);
  return format_fixed_shortest(d);
}

namespace {

void append_time(std::string& out, const Time& t) {
  out += go_time_format(t, "2006-01-02 15:04:05.999999999 -0700 MST");
}

}  // namespace

void append_value(std::string& out, const Value& v, bool plus) {
  switch (v.kind()) {
    case Value::Kind::kNil: out += "<nil>"; break;
    case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; break;
    case Value::Kind::kInt: out += std::to_string(v.as_int()); break;
    case Value::Kind::kFloat: out += format_float_v(v.as_float()); break;
    case Value::Kind::kString: out += v.as_string(); break;
    case Value::Kind::kBytes: {
      out += '[';
      bool first = true;
      for (unsigned char c : v.as_bytes().data) {
        if (!first) out += ' ';
        first = false;
        out += std::to_string(c);
      }
      out += ']';
      break;
    }
    case Value::Kind::kList: {
      out += '[';
      bool first = true;
      for (const auto& item : v.as_list()) {
        if (!first) out += ' ';
        first = false;
        append_value(out, item, plus);
      }
      out += ']';
      break;
    }
    case Value::Kind::kMap: {
      out += "map[";
      bool first = true;
      for (const auto& [k, item] : v.as_map()) {
        if (!first) out += ' ';
        first = false;
        out += k;
        out += ':';
        append_value(out, item, plus);
      }
      out += ']';
      break;
    }
    case Value::Kind::kSecret:
      out += plus ? "{Value:" : "{";
      out += v.as_secret().value;
      out += plus ? " SecretPath:" : " ";
      out += v.as_secret().secret_path;
      out += '}';
      break;
    case Value::Kind::kTime: append_time(out, v.as_time()); break;
  }
}

std::string format_value(const Value& v) {
  std::string out;
  append_value(out, v);
  return out;
}

std::string go_sprint(const std::vector<Value>& args, bool println) {
  std::string out;
  bool prev_string = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool is_string = args[i].kind() == Value::Kind::kString;
    if (i > 0 && (println || (!is_string && !prev_string))) out += ' ';
    append_value(out, args[i]);
    prev_string = is_string;
  }
  if (println) out += '\n';
  return out;
}

std::string strval(const Value& v) {
  if (v.kind() == Value::Kind::kString) return v.as_string();
  if (v.kind() == Value::Kind::kBytes) return v.as_bytes().data;
  return format_value(v);
}

// Decodes one UTF-8 sequence at s[i]; returns the code point and sets len, or -1 (len 1) when invalid.
int32_t decode_utf8(std::string_view s, size_t i, size_t& len) {
  const auto c = static_cast<unsigned char>(s[i]);
  len = 1;
  if (c < 0x80) return c;
  size_t n = 0;
  int32_t cp = 0;
  int32_t min = 0;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
  else return -1;
  if (i + n > s.size()) return -1;
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  len = n;
  return cp;
}

void append_utf8(std::string& out, int32_t cp) {
  if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

// An approximation of unicode.IsPrint: controls, separators other than U+0020, and a few format
// characters are not printable.
bool is_print(int32_t cp) {
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0xAD) return false;
  if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x200B && cp <= 0x200F) || cp == 0xFEFF) return false;
  if ((cp >= 0xE000 && cp <= 0xF8FF) || cp >= 0xF0000 || (cp & 0xFFFE) == 0xFFFE) return false;
  return true;
}

}  // namespace

std::string go_quote_with(std::string_view s, char quote) {
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    const int32_t cp = decode_utf8(s, i, len);
    if (cp < 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i]));
    } else if (cp == quote || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (is_print(cp)) {
      out.append(s.substr(i, len));
    } else {
      switch (cp) {
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (cp < 0x20 || cp == 0x7F) out += fmt::format("\\x{:02x}", cp);
          else if (cp < 0x10000) out += fmt::format("\\u{:04x}", cp);
          else out += fmt::format("\\U{:08x}", cp);
      }
    }
    i += len;
  }
  out += quote;
  return out;
}

std::string go_quote(std::string_view s) { return go_quote_with(s, '"'); }

}  // namespace ifo::core::tmpl
