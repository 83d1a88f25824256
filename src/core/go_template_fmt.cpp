// Go's fmt.Sprintf verbs (%v %s %d %q %x %f %t ... with flags, width and precision, and Go's
// %!verb(type=value) reports) and time.Format with Go's reference layout, for printf and date.
#include <cmath>

#include <fmt/format.h>

#include "core/civil_date.h"
#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

struct Spec {
  bool plus = false, minus = false, sharp = false, space = false, zero = false;
  int width = -1;
  int prec = -1;
  char verb = 'v';
};

size_t rune_count(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    decode_utf8(s, i, len);
    i += len;
    ++n;
  }
  return n;
}

void pad(std::string& out, std::string_view body, const Spec& sp, bool zero_ok) {
  const size_t n = rune_count(body);
  if (sp.width < 0 || n >= static_cast<size_t>(sp.width)) {
    out.append(body);
    return;
  }
  const size_t fill = static_cast<size_t>(sp.width) - n;
  if (sp.minus) {
    out.append(body);
    out.append(fill, ' ');
  } else if (sp.zero && zero_ok) {
    // Zeros go after a sign.
    size_t sign = !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
    out.append(body.substr(0, sign));
    out.append(fill, '0');
    out.append(body.substr(sign));
  } else {
    out.append(fill, ' ');
    out.append(body);
  }
}

void bad_verb(std::string& out, const Value& v, char verb) {
  out += "%!";
  out += verb;
  out += '(';
  if (v.is_nil()) out += "<nil>";
  else out += go_type_name(v) + "=" + format_value(v);
  out += ')';
}

void fmt_int(std::string& out, int64_t v, const Spec& sp) {
  const bool neg = v < 0;
  const uint64_t u = neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::string digits;
  std::string prefix;
  switch (sp.verb) {
    case 'd':
    case 'v': digits = std::to_string(u); break;
    case 'b': digits = fmt::format("{:b}", u); if (sp.sharp) prefix = "0b"; break;
    case 'o': digits = fmt::format("{:o}", u); if (sp.sharp) prefix = "0"; break;
    case 'O': digits = fmt::format("{:o}", u); prefix = "0o"; break;
    case 'x': digits = fmt::format("{:x}", u); if (sp.sharp) prefix = "0x"; break;
    case 'X': digits = fmt::format("{:X}", u); if (sp.sharp) prefix = "0X"; break;
    case 'c': {
      std::string s;
      append_utf8(s, static_cast<int32_t>(v > 0x10FFFF || v < 0 ? 0xFFFD : v));
      return pad(out, s, sp, false);
    }
    case 'q': {
      std::string s;
      append_utf8(s, static_cast<int32_t>(v > 0x10FFFF || v < 0 ? 0xFFFD : v));
      return pad(out, go_quote_with(s, '\''), sp, false);
    }
    case 'U': {
      std::string s = fmt::format("U+{:04X}", u);
      if (sp.sharp && v >= 0x20 && v <= 0x10FFFF) {
        s += " '";
        append_utf8(s, static_cast<int32_t>(v));
        s += "'";
      }
      return pad(out, s, sp, false);
    }
    default: return bad_verb(out, Value(v), sp.verb);
  }
  if (sp.prec >= 0) {
    if (sp.prec == 0 && u == 0) digits.clear();
    while (digits.size() < static_cast<size_t>(sp.prec)) digits.insert(0, "0");
  }
  std::string body = neg ? "-" : sp.plus ? "+" : sp.space ? " " : "";
  body += prefix + digits;
  pad(out, body, sp, sp.prec < 0);
}

void fmt_float(std::string& out, double f, const Spec& sp) {
  std::string body;
  if (std::isnan(f)) {
    body = sp.plus ? "+NaN" : "NaN";
  } else if (std::isinf(f)) {
    body = f > 0 ? "+Inf" : "-Inf";
    if (f > 0 && !sp.plus) body = sp.space ? " Inf" : "+Inf";
  } else {
    switch (sp.verb) {
      case 'v':
      case 'g':
      case 'G':
        if (sp.prec < 0) body = format_float_v(f);
        else body = fmt::format("{:.{}g}", f, std::max(sp.prec, 1));
        if (sp.verb == 'G') body = ascii_upper(body);
        break;
      case 'f':
      case 'F': body = fmt::format("{:.{}f}", f, sp.prec < 0 ? 6 : sp.prec); break;
      case 'e': body = fmt::format("{:.{}e}", f, sp.prec < 0 ? 6 : sp.prec); break;
      case 'E': body = fmt::format("{:.{}E}", f, sp.prec < 0 ? 6 : sp.prec); break;
      default: return bad_verb(out, Value(f), sp.verb);
    }
    if (body[0] != '-' && sp.plus) body.insert(0, "+");
    else if (body[0] != '-' && sp.space) body.insert(0, " ");
  }
  pad(out, body, sp, std::isfinite(f));
}

void fmt_string(std::string& out, std::string_view s, const Spec& sp, const Value& orig) {
  switch (sp.verb) {
    case 'v':
    case 's': {
      std::string_view body = s;
      if (sp.prec >= 0) {  // precision counts runes
        size_t i = 0;
        for (int n = 0; n < sp.prec && i < s.size(); ++n) {
          size_t len = 1;
          decode_utf8(s, i, len);
          i += len;
        }
        body = s.substr(0, i);
      }
      return pad(out, body, sp, true);
    }
    case 'q': return pad(out, go_quote(s), sp, true);
    case 'x':
    case 'X': {
      std::string body;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i && sp.space) body += ' ';
        body += sp.verb == 'x' ? fmt::format("{:02x}", static_cast<unsigned char>(s[i]))
                                : fmt::format("{:02X}", static_cast<unsigned char>(s[i]));
      }
      return pad(out, body, sp, true);
    }
    default: return bad_verb(out, orig, sp.verb);
  }
}

void fmt_one(std::string& out, const Value& v, const Spec& sp, int depth);

void fmt_list(std::string& out, const ValueList& l, const Spec& sp, int depth) {
  out += '[';
  for (size_t i = 0; i < l.size(); ++i) {
    if (i) out += ' ';
    fmt_one(out, l[i], sp, depth + 1);
  }
  out += ']';
}

void fmt_one(std::string& out, const Value& v, const Spec& sp, int depth) {
  if (sp.verb == 'T') return pad(out, go_type_name(v), sp, false);
  switch (v.kind()) {
    case Value::Kind::kNil:
      if (sp.verb == 'v') return pad(out, "<nil>", sp, false);
      return bad_verb(out, v, sp.verb);
    case Value::Kind::kBool:
      if (sp.verb == 'v' || sp.verb == 't') return pad(out, v.as_bool() ? "true" : "false", sp, false);
      return bad_verb(out, v, sp.verb);
    case Value::Kind::kInt: return fmt_int(out, v.as_int(), sp);
    case Value::Kind::kFloat: return fmt_float(out, v.as_float(), sp);
    case Value::Kind::kString: return fmt_string(out, v.as_string(), sp, v);
    case Value::Kind::kBytes:
      if (sp.verb == 's' || sp.verb == 'q' || sp.verb == 'x' || sp.verb == 'X')
        return fmt_string(out, v.as_bytes().data, sp, v);
      {
        std::string body;
        append_value(body, v);
        return pad(out, body, sp, false);
      }
    case Value::Kind::kList:
      if (depth > 0 && sp.verb == 'v') return append_value(out, v, sp.plus);
      return fmt_list(out, v.as_list(), sp, depth);
    case Value::Kind::kMap: {
      out += "map[";
      bool first = true;
      for (const auto& [k, item] : v.as_map()) {
        if (!first) out += ' ';
        first = false;
        fmt_one(out, Value(k), sp, depth + 1);
        out += ':';
        fmt_one(out, item, sp, depth + 1);
      }
      out += ']';
      return;
    }
    case Value::Kind::kSecret:
      out += sp.plus && sp.verb == 'v' ? "{Value:" : "{";
      fmt_one(out, Value(v.as_secret().value), sp, depth + 1);
      out += sp.plus && sp.verb == 'v' ? " SecretPath:" : " ";
      fmt_one(out, Value(v.as_secret().secret_path), sp, depth + 1);
      out += '}';
      return;
    case Value::Kind::kTime:
      if (sp.verb == 'v' || sp.verb == 's') return pad(out, format_value(v), sp, false);
      return bad_verb(out, v, sp.verb);
  }
}

}  // namespace

std::string go_sprintf(std::string_view f, const std::vector<Value>& args) {
  std::string out;
  size_t arg = 0;
  for (size_t i = 0; i < f.size();) {
    if (f[i] != '%') {
      out += f[i++];
      continue;
    }
    ++i;
    Spec sp;
    for (; i < f.size(); ++i) {
      const char c = f[i];
      if (c == '+') sp.plus = true;
      else if (c == '-') sp.minus = true;
      else if (c == '#') sp.sharp = true;
      else if (c == ' ') sp.space = true;
      else if (c == '0') sp.zero = true;
      else break;
    }
    auto read_num = [&](int& dst) {
      if (i < f.size() && f[i] == '*') {
        ++i;
        if (arg < args.size() && args[arg].kind() == Value::Kind::kInt && std::abs(args[arg].as_int()) < 1000000) {
          dst = static_cast<int>(args[arg++].as_int());
          if (dst < 0) sp.minus = true, dst = -dst;
        } else {
          if (arg < args.size()) ++arg;
          out += "%!(BADWIDTH)";
        }
        return;
      }
      if (i < f.size() && f[i] >= '0' && f[i] <= '9') {
        dst = 0;
        while (i < f.size() && f[i] >= '0' && f[i] <= '9') {
          if (dst < 1000000) dst = dst * 10 + (f[i] - '0');
          ++i;
        }
      }
    };
    read_num(sp.width);
    if (i < f.size() && f[i] == '.') {
      ++i;
      sp.prec = 0;
      read_num(sp.prec);
    }
    if (i >= f.size()) {
      out += "%!(NOVERB)";
      break;
    }
    size_t len = 1;
    decode_utf8(f, i, len);
    const std::string_view verb = f.substr(i, len);
    i += len;
    if (verb == "%") {
      out += '%';
      continue;
    }
    if (arg >= args.size()) {
      out += fmt::format("%!{}(MISSING)", verb);
      continue;
    }
    sp.verb = len == 1 ? verb[0] : '?';
    if (sp.minus) sp.zero = false;
    std::string piece;
    fmt_one(piece, args[arg++], sp, 0);
    out += piece;
  }
  if (arg < args.size()) {
    out += "%!(EXTRA ";
    for (size_t k = arg; k < args.size(); ++k) {
      if (k > arg) out += ", ";
      if (args[k].is_nil()) out += "<nil>";
      else out += go_type_name(args[k]) + "=" + format_value(args[k]);
    }
    out += ')';
  }
  return out;
}

std::string go_time_format(const Time& t, std::string_view layout) {
  static constexpr std::string_view kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                                  "July",    "August",   "September", "October", "November", "December"};
  static constexpr std::string_view kDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                               "Thursday", "Friday", "Saturday"};
  const int64_t days = t.unix >= 0 ? t.unix / 86400 : -((-t.unix + 86399) / 86400);
  const int64_t secs = t.unix - days * 86400;
  const CivilDate d = civil_from_days(days);
  const int hour = static_cast<int>(secs / 3600), minute = static_cast<int>(secs / 60 % 60),
            second = static_cast<int>(secs % 60);
  const int weekday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  const int64_t yday = days - days_from_civil(d.y, 1, 1) + 1;
  const std::string_view month = kMonths[d.m - 1];
  const std::string_view day_name = kDays[weekday];
  const int h12 = hour % 12 == 0 ? 12 : hour % 12;

  std::string out;
  size_t i = 0;
  auto at = [&](std::string_view s) { return layout.substr(i).starts_with(s); };
  while (i < layout.size()) {
    const char c = layout[i];
    if (c == 'J' && at("January")) out += month, i += 7;
    else if (c == 'J' && at("Jan")) out += month.substr(0, 3), i += 3;
    else if (c == 'M' && at("Monday")) out += day_name, i += 6;
    else if (c == 'M' && at("Mon")) out += day_name.substr(0, 3), i += 3;
    else if (c == 'M' && at("MST")) out += "UTC", i += 3;
    else if (c == '0' && at("002")) out += fmt::format("{:03}", yday), i += 3;
    else if (c == '0' && i + 1 < layout.size() && layout[i + 1] >= '1' && layout[i + 1] <= '6') {
      switch (layout[i + 1]) {
        case '1': out += fmt::format("{:02}", d.m); break;
        case '2': out += fmt::format("{:02}", d.d); break;
        case '3': out += fmt::format("{:02}", h12); break;
        case '4': out += fmt::format("{:02}", minute); break;
        case '5': out += fmt::format("{:02}", second); break;
        case '6': out += fmt::format("{:02}", ((d.y % 100) + 100) % 100); break;
      }
      i += 2;
    } else if (c == '1' && at("15")) out += fmt::format("{:02}", hour), i += 2;
    else if (c == '1') out += std::to_string(d.m), i += 1;
    else if (c == '2' && at("2006")) out += fmt::format("{:04}", d.y), i += 4;
    else if (c == '2') out += std::to_string(d.d), i += 1;
    else if (c == '_' && at("_2006")) out += "_" + fmt::format("{:04}", d.y), i += 5;
    else if (c == '_' && at("_2")) out += fmt::format("{:>2}", d.d), i += 2;
    else if (c == '_' && at("__2")) out += fmt::format("{:>3}", yday), i += 3;
    else if (c == '3') out += std::to_string(h12), i += 1;
    else if (c == '4') out += std::to_string(minute), i += 1;
    else if (c == '5') out += std::to_string(second), i += 1;
    else if (c == 'P' && at("PM")) out += hour >= 12 ? "PM" : "AM", i += 2;
    else if (c == 'p' && at("pm")) out += hour >= 12 ? "pm" : "am", i += 2;
    else if (c == '-' && at("-070000")) out += "+000000", i += 7;
    else if (c == '-' && at("-07:00:00")) out += "+00:00:00", i += 9;
    else if (c == '-' && at("-0700")) out += "+0000", i += 5;
    else if (c == '-' && at("-07:00")) out += "+00:00", i += 6;
    else if (c == '-' && at("-07")) out += "+00", i += 3;
    else if (c == 'Z' && at("Z070000")) out += "Z", i += 7;
    else if (c == 'Z' && at("Z07:00:00")) out += "Z", i += 9;
    else if (c == 'Z' && at("Z0700")) out += "Z", i += 5;
    else if (c == 'Z' && at("Z07:00")) out += "Z", i += 6;
    else if (c == 'Z' && at("Z07")) out += "Z", i += 3;
    else if ((c == '.' || c == ',') && i + 1 < layout.size() && (layout[i + 1] == '0' || layout[i + 1] == '9')) {
      const char ch = layout[i + 1];
      size_t j = i + 1;
      while (j < layout.size() && layout[j] == ch) ++j;
      if (j < layout.size() && layout[j] >= '0' && layout[j] <= '9') {
        out += c;
        ++i;
        continue;
      }
      const size_t n = std::min<size_t>(j - i - 1, 9);
      std::string frac = fmt::format("{:09}", t.nanos).substr(0, n);
      if (ch == '9') {
        while (!frac.empty() && frac.back() == '0') frac.pop_back();
        if (!frac.empty()) out += c + frac;
      } else {
        out += c + frac;
      }
      i = j;
    } else {
      out += c, i += 1;
    }
  }
  return out;
}

}  // namespace ifo::core::tmpl
