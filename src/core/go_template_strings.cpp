// Sprig's string functions (trim, upper, substr, indent, case conversions, quote, split, ...).
#include <algorithm>

#include <fmt/format.h>

#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

using R = Result<Value>;
using A = std::vector<Value>;

bool is_go_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char to_upper(char c) { return is_lower(c) ? static_cast<char>(c - 32) : c; }
char to_lower(char c) { return is_upper(c) ? static_cast<char>(c + 32) : c; }

const std::string& S(const A& a, size_t i) { return a[i].as_string(); }

R str(std::string s, const CallEnv& env) {
  if (auto c = charge(env, s.size()); !c) return R::fail(c.error());
  return Value(std::move(s));
}

std::string_view trim_set(std::string_view s, std::string_view set) {
  const size_t b = s.find_first_not_of(set);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(set) - b + 1);
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) {  // Go: inserts `to` before every character and at the end
    for (char c : s) out.append(to), out += c;
    out.append(to);
    return out;
  }
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  if (sep.empty()) {  // Go splits into UTF-8 sequences
    for (size_t i = 0; i < s.size();) {
      size_t len = 1;
      decode_utf8(s, i, len);
      parts.emplace_back(s.substr(i, len));
      i += len;
    }
    return parts;
  }
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(sep, pos);
    if (hit == std::string_view::npos) break;
    parts.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  parts.emplace_back(s.substr(pos));
  return parts;
}

// Words for snake/kebab case: split at separators, at lower->upper and at the end of an acronym.
std::vector<std::string> case_words(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_' || c == '-' || c == ' ' || c == '.' || is_go_space(c)) {
      if (!cur.empty()) words.push_back(std::move(cur)), cur.clear();
      continue;
    }
    if (!cur.empty() && is_upper(c)) {
      const char prev = cur.back();
      const bool next_lower = i + 1 < s.size() && is_lower(s[i + 1]);
      if (is_lower(prev) || is_digit(prev) || (is_upper(prev) && next_lower)) words.push_back(std::move(cur)), cur.clear();
    }
    cur += c;
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

std::string join_case(std::string_view s, char sep) {
  std::string out;
  for (const auto& w : case_words(s)) {
    if (!out.empty()) out += sep;
    for (char c : w) out += to_lower(c);
  }
  return out;
}

std::string title(std::string_view s) {
  std::string out(s);
  bool prev_sep = true;
  for (char& c : out) {
    const bool letter = is_upper(c) || is_lower(c) || is_digit(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
    if (prev_sep && letter) c = to_upper(c);
    prev_sep = !letter && c != '\'';
  }
  return out;
}

std::string untitle(std::string_view s) {
  std::string out(s);
  bool prev_space = true;
  for (char& c : out) {
    if (prev_space && !is_go_space(c)) c = to_lower(c);
    prev_space = is_go_space(c);
  }
  return out;
}

std::string camelcase(std::string_view s) {
  // xstrings.ToCamelCase: words separated by '_' (and spaces) are capitalised and joined; a run of
  // underscores keeps one, leading and trailing underscores stay.
  std::string out;
  size_t i = 0;
  while (i < s.size() && s[i] == '_') out += s[i++];
  size_t end = s.size();
  std::string tail;
  while (end > i && s[end - 1] == '_') tail += '_', --end;
  bool up = true;
  for (; i < end; ++i) {
    const char c = s[i];
    if (c == '_' || c == ' ') {
      size_t run = 0;
      while (i < end && (s[i] == '_' || s[i] == ' ')) ++i, ++run;
      --i;
      if (run > 1 && c == '_') out += '_';
      up = true;
      continue;
    }
    out += up ? to_upper(c) : c;
    up = false;
  }
  return out + tail;
}

R f_trim(A& a, const CallEnv&) { return Value(std::string(trim_set(S(a, 0), " \t\n\v\f\r"))); }
R f_trim_all(A& a, const CallEnv&) { return Value(std::string(trim_set(S(a, 1), S(a, 0)))); }
R f_trim_prefix(A& a, const CallEnv&) {
  std::string_view s = S(a, 1);
  if (s.starts_with(S(a, 0))) s.remove_prefix(S(a, 0).size());
  return Value(std::string(s));
}
R f_trim_suffix(A& a, const CallEnv&) {
  std::string_view s = S(a, 1);
  if (s.ends_with(S(a, 0))) s.remove_suffix(S(a, 0).size());
  return Value(std::string(s));
}
R f_upper(A& a, const CallEnv&) { return Value(ascii_upper(S(a, 0))); }
R f_lower(A& a, const CallEnv&) {
  std::string s = S(a, 0);
  for (char& c : s) c = to_lower(c);
  return Value(std::move(s));
}
R f_title(A& a, const CallEnv&) { return Value(title(S(a, 0))); }
R f_untitle(A& a, const CallEnv&) { return Value(untitle(S(a, 0))); }
R f_repeat(A& a, const CallEnv& env) {
  const int64_t n = a[0].as_int();
  if (n < 0) return R::fail("strings: negative Repeat count");
  const std::string& s = S(a, 1);
  if (!s.empty() && static_cast<uint64_t>(n) > env.limits->max_value_bytes / s.size())
    return R::fail(fmt::format("result exceeds {} bytes", env.limits->max_value_bytes));
  std::string out;
  for (int64_t i = 0; i < n; ++i) out += s;
  return str(std::move(out), env);
}
R f_substr(A& a, const CallEnv&) {
  const int64_t start = a[0].as_int();
  const int64_t end = a[1].as_int();
  const std::string& s = S(a, 2);
  const auto len = static_cast<int64_t>(s.size());
  if (start < 0) {
    if (end < 0 || end > len) return R::fail(fmt::format("runtime error: slice bounds out of range [:{}] with length {}", end, len));
    return Value(s.substr(0, static_cast<size_t>(end)));
  }
  if (end < 0 || end > len) {
    if (start > len) return R::fail(fmt::format("runtime error: slice bounds out of range [{}:{}]", start, len));
    return Value(s.substr(static_cast<size_t>(start)));
  }
  if (start > end) return R::fail(fmt::format("runtime error: slice bounds out of range [{}:{}]", start, end));
  return Value(s.substr(static_cast<size_t>(start), static_cast<size_t>(end - start)));
}
R f_nospace(A& a, const CallEnv&) {
  std::string out;
  for (char c : S(a, 0))
    if (!is_go_space(c)) out += c;
  return Value(std::move(out));
}
R f_trunc(A& a, const CallEnv&) {
  const int64_t c = a[0].as_int();
  const std::string& s = S(a, 1);
  const auto len = static_cast<int64_t>(s.size());
  if (c < 0 && len + c > 0) return Value(s.substr(static_cast<size_t>(len + c)));
  if (c >= 0 && len > c) return Value(s.substr(0, static_cast<size_t>(c)));
  return Value(s);
}
R f_abbrev(A& a, const CallEnv&) {
  const int64_t w = a[0].as_int();
  const std::string& s = S(a, 1);
  if (w < 4 || static_cast<int64_t>(s.size()) <= w) return Value(s);
  return Value(s.substr(0, static_cast<size_t>(w - 3)) + "...");
}
R f_initials(A& a, const CallEnv&) {
  std::string out;
  bool prev_space = true;
  for (char c : S(a, 0)) {
    if (prev_space && !is_go_space(c)) out += c;
    prev_space = is_go_space(c);
  }
  return Value(std::move(out));
}
R f_contains(A& a, const CallEnv&) { return Value(S(a, 1).find(S(a, 0)) != std::string::npos); }
R f_has_prefix(A& a, const CallEnv&) { return Value(S(a, 1).starts_with(S(a, 0))); }
R f_has_suffix(A& a, const CallEnv&) { return Value(S(a, 1).ends_with(S(a, 0))); }
R f_quote(A& a, const CallEnv& env) {
  std::string out;
  for (const auto& v : a) {
    if (v.is_nil()) continue;
    if (!out.empty()) out += ' ';
    out += go_quote(strval(v));
  }
  return str(std::move(out), env);
}
R f_squote(A& a, const CallEnv& env) {
  std::string out;
  for (const auto& v : a) {
    if (v.is_nil()) continue;
    if (!out.empty()) out += ' ';
    out += "'" + strval(v) + "'";
  }
  return str(std::move(out), env);
}
R f_cat(A& a, const CallEnv& env) {
  std::string out;
  for (const auto& v : a) {
    if (v.is_nil()) continue;
    if (!out.empty()) out += ' ';
    out += format_value(v);
  }
  return str(std::move(out), env);
}
R indent_by(int64_t n, const std::string& s, bool newline, const CallEnv& env) {
  if (n < 0) return R::fail("strings: negative Repeat count");
  if (static_cast<uint64_t>(n) > env.limits->max_value_bytes) return R::fail("indent too large");
  const std::string pad(static_cast<size_t>(n), ' ');
  const size_t lines = static_cast<size_t>(std::count(s.begin(), s.end(), '\n')) + 1;
  if (lines * pad.size() + s.size() > env.limits->max_value_bytes)
    return R::fail(fmt::format("result exceeds {} bytes", env.limits->max_value_bytes));
  return str((newline ? "\n" : "") + pad + replace_all(s, "\n", "\n" + pad), env);
}
R f_indent(A& a, const CallEnv& env) { return indent_by(a[0].as_int(), S(a, 1), false, env); }
R f_nindent(A& a, const CallEnv& env) { return indent_by(a[0].as_int(), S(a, 1), true, env); }
R f_replace(A& a, const CallEnv& env) {
  const std::string& s = S(a, 2);
  const std::string& from = S(a, 0);
  const std::string& to = S(a, 1);
  const size_t hits = from.empty() ? s.size() + 1 : 0;
  if (hits * to.size() > env.limits->max_value_bytes) return R::fail("result too large");
  std::string out = replace_all(s, from, to);
  return str(std::move(out), env);
}
R f_plural(A& a, const CallEnv&) { return Value(a[2].as_int() == 1 ? S(a, 0) : S(a, 1)); }
R f_snakecase(A& a, const CallEnv&) { return Value(join_case(S(a, 0), '_')); }
R f_kebabcase(A& a, const CallEnv&) { return Value(join_case(S(a, 0), '-')); }
R f_camelcase(A& a, const CallEnv&) { return Value(camelcase(S(a, 0))); }
R f_swapcase(A& a, const CallEnv&) {
  std::string s = S(a, 0);
  for (char& c : s) c = is_upper(c) ? to_lower(c) : to_upper(c);
  return Value(std::move(s));
}
R f_split(A& a, const CallEnv&) {
  ValueMap m;
  const auto parts = split(S(a, 1), S(a, 0));
  for (size_t i = 0; i < parts.size(); ++i) m.emplace("_" + std::to_string(i), Value(parts[i]));
  return Value(std::move(m));
}
R f_split_list(A& a, const CallEnv&) {
  ValueList l;
  for (auto& p : split(S(a, 1), S(a, 0))) l.emplace_back(std::move(p));
  return Value(std::move(l));
}
R f_splitn(A& a, const CallEnv&) {
  const int64_t n = a[1].as_int();
  auto parts = split(S(a, 2), S(a, 0));
  if (n == 0) parts.clear();
  else if (n > 0 && parts.size() > static_cast<size_t>(n)) {
    std::string rest = parts[static_cast<size_t>(n) - 1];
    for (size_t i = static_cast<size_t>(n); i < parts.size(); ++i) rest += S(a, 0) + parts[i];
    parts.resize(static_cast<size_t>(n));
    parts.back() = rest;
  }
  ValueMap m;
  for (size_t i = 0; i < parts.size(); ++i) m.emplace("_" + std::to_string(i), Value(parts[i]));
  return Value(std::move(m));
}
R f_to_string(A& a, const CallEnv&) { return Value(strval(a[0])); }
R f_wrap(A& a, const CallEnv&) {
  // goutils.Wrap: breaks lines at spaces so that none exceeds the width (long words stay whole).
  const int64_t width = std::max<int64_t>(a[0].as_int(), 1);
  std::string out;
  size_t line_len = 0;
  for (const auto& word : split(S(a, 1), " ")) {
    if (line_len > 0 && line_len + 1 + word.size() > static_cast<size_t>(width)) {
      out += '\n';
      line_len = 0;
    } else if (line_len > 0 || !out.empty()) {
      out += ' ';
      ++line_len;
    }
    out += word;
    line_len += word.size();
  }
  return Value(std::move(out));
}

}  // namespace

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_upper(c);
  return out;
}

void register_string_funcs(std::map<std::string_view, FuncDef>& t) {
  auto add = [&](std::string_view name, std::string_view sig, FuncImpl f) { t[name] = FuncDef{name, sig, f, {}}; };
  add("trim", "s", f_trim);
  add("trimAll", "ss", f_trim_all);
  add("trimall", "ss", f_trim_all);
  add("trimPrefix", "ss", f_trim_prefix);
  add("trimSuffix", "ss", f_trim_suffix);
  add("upper", "s", f_upper);
  add("lower", "s", f_lower);
  add("title", "s", f_title);
  add("untitle", "s", f_untitle);
  add("repeat", "is", f_repeat);
  add("substr", "iis", f_substr);
  add("nospace", "s", f_nospace);
  add("trunc", "is", f_trunc);
  add("abbrev", "is", f_abbrev);
  add("initials", "s", f_initials);
  add("contains", "ss", f_contains);
  add("hasPrefix", "ss", f_has_prefix);
  add("hasSuffix", "ss", f_has_suffix);
  add("quote", "a*", f_quote);
  add("squote", "a*", f_squote);
  add("cat", "a*", f_cat);
  add("indent", "is", f_indent);
  add("nindent", "is", f_nindent);
  add("replace", "sss", f_replace);
  add("plural", "ssi", f_plural);
  add("snakecase", "s", f_snakecase);
  add("camelcase", "s", f_camelcase);
  add("kebabcase", "s", f_kebabcase);
  add("swapcase", "s", f_swapcase);
  add("split", "ss", f_split);
  add("splitList", "ss", f_split_list);
  add("splitn", "sis", f_splitn);
  add("toString", "a", f_to_string);
  add("wrap", "is", f_wrap);
}

}  // namespace ifo::core::tmpl
