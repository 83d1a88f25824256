// The function table (text/template builtins, the Sprig subset, upstream's helpers, the refused names)
// and Sprig's defaults, type, regex, date and JSON/YAML functions.
#include <regex>

#include <fmt/format.h>

#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

using R = Result<Value>;
using A = std::vector<Value>;

R f_default(A& a, const CallEnv&) {
  if (a.size() < 2 || is_empty(a[1])) return a[0];
  return a[1];
}
R f_empty(A& a, const CallEnv&) { return Value(is_empty(a[0])); }
R f_coalesce(A& a, const CallEnv&) {
  for (const auto& v : a)
    if (!is_empty(v)) return v;
  return Value();
}
R f_all(A& a, const CallEnv&) {
  for (const auto& v : a)
    if (is_empty(v)) return Value(false);
  return Value(true);
}
R f_any(A& a, const CallEnv&) {
  for (const auto& v : a)
    if (!is_empty(v)) return Value(true);
  return Value(false);
}
R f_ternary(A& a, const CallEnv&) { return a[2].as_bool() ? a[0] : a[1]; }
R f_fail(A& a, const CallEnv&) { return R::fail(a[0].as_string()); }
R f_hello(A&, const CallEnv&) { return Value("Hello!"); }
R f_type_of(A& a, const CallEnv&) { return Value(go_type_name(a[0])); }
R f_type_is(A& a, const CallEnv&) { return Value(go_type_name(a[1]) == a[0].as_string()); }
R f_kind_of(A& a, const CallEnv&) { return Value(go_kind_name(a[0])); }
R f_kind_is(A& a, const CallEnv&) { return Value(go_kind_name(a[1]) == a[0].as_string()); }
R f_to_strings(A& a, const CallEnv&) {
  ValueList out;
  if (const ValueList* l = list_of(a[0])) {
    for (const auto& v : *l) out.emplace_back(strval(v));
  } else if (!a[0].is_nil()) {
    out.emplace_back(strval(a[0]));
  }
  return Value(std::move(out));
}

R json_out(std::string s, const CallEnv& env) {
  if (auto c = charge(env, s.size()); !c) return R::fail(c.error());
  return Value(std::move(s));
}
R f_to_json(A& a, const CallEnv& env) { return json_out(to_json(a[0], false), env); }
R f_to_pretty_json(A& a, const CallEnv& env) { return json_out(to_json(a[0], true), env); }
R f_to_raw_json(A& a, const CallEnv& env) {
  // json.Encoder with SetEscapeHTML(false), trailing newline trimmed.
  std::string s = to_json(a[0], false);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 6, "\\u003c") == 0) out += '<', i += 5;
    else if (s.compare(i, 6, "\\u003e") == 0) out += '>', i += 5;
    else if (s.compare(i, 6, "\\u0026") == 0) out += '&', i += 5;
    else out += s[i];
  }
  return json_out(std::move(out), env);
}
R f_from_json(A& a, const CallEnv&) {
  auto v = from_json(a[0].as_string());
  if (!v) return Value();  // sprig's fromJson swallows the error: nil
  return v;
}
R f_must_from_json(A& a, const CallEnv&) { return from_json(a[0].as_string()); }
R f_to_yaml(A& a, const CallEnv& env) { return json_out(to_yaml(a[0]), env); }

// ---- regex (std::regex ECMAScript standing in for Go's RE2) ----
struct Compiled {
  std::regex re;
};
Result<Compiled> compile(std::string_view pattern, const CallEnv& env) {
  if (pattern.size() > 1024) return Result<Compiled>::fail("regular expression longer than 1024 bytes");
  auto flags = std::regex::ECMAScript;
#if defined(__GLIBCXX__)
  // libstdc++'s default executor backtracks recursively: one stack frame per input character (a 16 KiB
  // subject overflows an 8 MiB stack) and exponential time on patterns like (a+)+b. Its Thompson-NFA
  // executor runs in O(pattern x input) time with recursion bounded by the pattern, like Go's RE2.
  flags |= std::regex_constants::__polynomial;
#endif
  if (pattern.starts_with("(?i)")) pattern.remove_prefix(4), flags |= std::regex::icase;
  (void)env;
  try {
    return Compiled{std::regex(std::string(pattern), flags)};
  } catch (const std::regex_error& e) {
    // Go quotes the pattern; it may come from a secret, so only the reason is given.
    return Result<Compiled>::fail(fmt::format("error parsing regexp: {}", e.what()));
  }
}
Result<bool> check_subject(const std::string& s, const CallEnv& env) {
  if (s.size() > env.limits->max_regex_input)
    return Result<bool>::fail(fmt::format("regex input longer than {} bytes", env.limits->max_regex_input));
  return true;
}

// All non-overlapping matches (at most n when n >= 0), as (position, length, groups) triples.
struct Match {
  size_t pos, len;
  std::vector<std::string> groups;
};
Result<std::vector<Match>> find_all(const std::string& pattern, const std::string& s, int64_t n, const CallEnv& env) {
  auto re = compile(pattern, env);
  if (!re) return Result<std::vector<Match>>::fail(re.error());
  if (auto c = check_subject(s, env); !c) return Result<std::vector<Match>>::fail(c.error());
  std::vector<Match> out;
  try {
    for (auto it = std::sregex_iterator(s.begin(), s.end(), re->re); it != std::sregex_iterator(); ++it) {
      if (n >= 0 && static_cast<int64_t>(out.size()) >= n) break;
      Match m{static_cast<size_t>(it->position(0)), static_cast<size_t>(it->length(0)), {}};
      for (size_t g = 0; g < it->size(); ++g) m.groups.push_back((*it)[g].matched ? (*it)[g].str() : "");
      out.push_back(std::move(m));
      if (out.size() > env.limits->max_iterations) return Result<std::vector<Match>>::fail("too many matches");
    }
  } catch (const std::regex_error& e) {
    return Result<std::vector<Match>>::fail(fmt::format("regex: {}", e.what()));
  }
  return out;
}

// Go's Regexp.Expand template: $1, ${1}, $name (numbers only here), $$.
std::string expand(std::string_view repl, const Match& m) {
  std::string out;
  for (size_t i = 0; i < repl.size(); ++i) {
    if (repl[i] != '$' || i + 1 >= repl.size()) {
      out += repl[i];
      continue;
    }
    if (repl[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    std::string name;
    size_t j = i + 1;
    if (repl[j] == '{') {
      const size_t close = repl.find('}', j);
      if (close == std::string_view::npos) {
        out += repl[i];
        continue;
      }
      name = std::string(repl.substr(j + 1, close - j - 1));
      j = close + 1;
    } else {
      while (j < repl.size() && (std::isalnum(static_cast<unsigned char>(repl[j])) || repl[j] == '_')) name += repl[j++];
      if (name.empty()) {
        out += repl[i];
        continue;
      }
    }
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        name.size() < 6) {
      const size_t g = std::stoul(name);
      if (g < m.groups.size()) out += m.groups[g];
    }
    i = j - 1;
  }
  return out;
}

R replace(const std::string& pattern, const std::string& s, const std::string& repl, bool literal, const CallEnv& env) {
  auto all = find_all(pattern, s, -1, env);
  if (!all) return R::fail(all.error());
  std::string out;
  size_t pos = 0;
  for (const auto& m : *all) {
    out.append(s, pos, m.pos - pos);
    out += literal ? repl : expand(repl, m);
    pos = m.pos + m.len;
    if (out.size() > env.limits->max_value_bytes) return R::fail("result too large");
  }
  out.append(s, pos);
  if (auto c = charge(env, out.size()); !c) return R::fail(c.error());
  return Value(std::move(out));
}

R f_regex_match(A& a, const CallEnv& env) {
  auto m = find_all(a[0].as_string(), a[1].as_string(), 1, env);
  return Value(m && !m->empty());
}
R f_must_regex_match(A& a, const CallEnv& env) {
  auto m = find_all(a[0].as_string(), a[1].as_string(), 1, env);
  if (!m) return R::fail(m.error());
  return Value(!m->empty());
}
R f_regex_find(A& a, const CallEnv& env) {
  auto m = find_all(a[0].as_string(), a[1].as_string(), 1, env);
  if (!m) return R::fail(m.error());
  return Value(m->empty() ? std::string() : m->front().groups[0]);
}
R f_regex_find_all(A& a, const CallEnv& env) {
  auto m = find_all(a[0].as_string(), a[1].as_string(), a[2].as_int(), env);
  if (!m) return R::fail(m.error());
  ValueList out;
  for (const auto& x : *m) out.emplace_back(x.groups[0]);
  return Value(std::move(out));
}
R f_regex_replace_all(A& a, const CallEnv& env) {
  return replace(a[0].as_string(), a[1].as_string(), a[2].as_string(), false, env);
}
R f_regex_replace_all_literal(A& a, const CallEnv& env) {
  return replace(a[0].as_string(), a[1].as_string(), a[2].as_string(), true, env);
}
R f_regex_split(A& a, const CallEnv& env) {
  const std::string& s = a[1].as_string();
  const int64_t n = a[2].as_int();
  ValueList out;
  if (n == 0) return Value(std::move(out));
  auto m = find_all(a[0].as_string(), s, -1, env);
  if (!m) return R::fail(m.error());
  size_t pos = 0;
  for (const auto& x : *m) {
    if (n > 0 && static_cast<int64_t>(out.size()) == n - 1) break;
    if (x.len == 0 && x.pos == 0) continue;
    out.emplace_back(s.substr(pos, x.pos - pos));
    pos = x.pos + x.len;
  }
  out.emplace_back(s.substr(pos));
  return Value(std::move(out));
}
R f_regex_quote_meta(A& a, const CallEnv&) {
  std::string out;
  for (char c : a[0].as_string()) {
    if (std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return Value(std::move(out));
}

// ---- dates ----
Time as_time(const Value& v, const CallEnv& env) {
  switch (v.kind()) {
    case Value::Kind::kTime: return v.as_time();
    case Value::Kind::kInt: return Time{v.as_int(), 0};
    default: return Time{env.unix_now, 0};  // sprig: anything else is time.Now()
  }
}
Result<bool> check_zone(const std::string& zone) {
  if (zone.empty() || zone == "UTC" || zone == "Local" || zone == "Etc/UTC") return true;
  return Result<bool>::fail(fmt::format("time zone {} not supported (only UTC)", go_quote(zone)));
}
R f_now(A&, const CallEnv& env) { return Value(Time{env.unix_now, 0}); }
R f_date(A& a, const CallEnv& env) { return Value(go_time_format(as_time(a[1], env), a[0].as_string())); }
R f_html_date(A& a, const CallEnv& env) { return Value(go_time_format(as_time(a[0], env), "2006-01-02")); }
R f_date_in_zone(A& a, const CallEnv& env) {
  if (auto z = check_zone(a[2].as_string()); !z) return R::fail(z.error());
  return Value(go_time_format(as_time(a[1], env), a[0].as_string()));
}
R f_unix_epoch(A& a, const CallEnv&) {
  if (a[0].kind() != Value::Kind::kTime)
    return R::fail(fmt::format("wrong type for value; expected time.Time; got {}", go_type_name(a[0])));
  return Value(std::to_string(a[0].as_time().unix));
}

constexpr std::string_view kRandom = "not supported: templates are rendered deterministically (no random source)";
constexpr std::string_view kUnsupported = "not supported by this operator";

std::map<std::string_view, FuncDef> build_table() {
  std::map<std::string_view, FuncDef> t;
  auto builtin = [&](std::string_view name, std::string_view sig) { t[name] = FuncDef{name, sig, nullptr, {}}; };
  builtin("and", "a*");
  builtin("or", "a*");
  builtin("not", "a");
  builtin("len", "a");
  builtin("index", "aa*");
  builtin("print", "a*");
  builtin("printf", "sa*");
  builtin("println", "a*");
  builtin("eq", "aa*");
  builtin("ne", "aa");
  builtin("lt", "aa");
  builtin("le", "aa");
  builtin("gt", "aa");
  builtin("ge", "aa");
  builtin("html", "a*");
  builtin("js", "a*");
  builtin("urlquery", "a*");
  builtin("call", "aa*");
  register_string_funcs(t);
  register_list_funcs(t);
  register_crypto_funcs(t);
  register_pki_funcs(t);
  auto add = [&](std::string_view name, std::string_view sig, FuncImpl f) { t[name] = FuncDef{name, sig, f, {}}; };
  add("default", "aa*", f_default);
  add("empty", "a", f_empty);
  add("coalesce", "a*", f_coalesce);
  add("all", "a*", f_all);
  add("any", "a*", f_any);
  add("ternary", "aab", f_ternary);
  add("fail", "s", f_fail);
  add("hello", "", f_hello);
  add("typeOf", "a", f_type_of);
  add("typeIs", "sa", f_type_is);
  add("kindOf", "a", f_kind_of);
  add("kindIs", "sa", f_kind_is);
  add("toStrings", "a", f_to_strings);
  add("toJson", "a", f_to_json);
  add("mustToJson", "a", f_to_json);
  add("toPrettyJson", "a", f_to_pretty_json);
  add("mustToPrettyJson", "a", f_to_pretty_json);
  add("toRawJson", "a", f_to_raw_json);
  add("mustToRawJson", "a", f_to_raw_json);
  add("fromJson", "s", f_from_json);
  add("mustFromJson", "s", f_must_from_json);
  add("toYaml", "a", f_to_yaml);
  add("regexMatch", "ss", f_regex_match);
  add("mustRegexMatch", "ss", f_must_regex_match);
  add("regexFind", "ss", f_regex_find);
  add("mustRegexFind", "ss", f_regex_find);
  add("regexFindAll", "ssi", f_regex_find_all);
  add("mustRegexFindAll", "ssi", f_regex_find_all);
  add("regexReplaceAll", "sss", f_regex_replace_all);
  add("mustRegexReplaceAll", "sss", f_regex_replace_all);
  add("regexReplaceAllLiteral", "sss", f_regex_replace_all_literal);
  add("mustRegexReplaceAllLiteral", "sss", f_regex_replace_all_literal);
  add("regexSplit", "ssi", f_regex_split);
  add("mustRegexSplit", "ssi", f_regex_split);
  add("regexQuoteMeta", "s", f_regex_quote_meta);
  add("now", "", f_now);
  add("date", "sa", f_date);
  add("htmlDate", "a", f_html_date);
  add("dateInZone", "sas", f_date_in_zone);
  add("date_in_zone", "sas", f_date_in_zone);
  add("unixEpoch", "a", f_unix_epoch);
  // "must" variants of list functions: the same result, the error as an error (as ours always are).
  for (auto [must, plain] : {std::pair<std::string_view, std::string_view>{"mustFirst", "first"}, {"mustLast", "last"},
                             {"mustRest", "rest"}, {"mustInitial", "initial"}, {"mustAppend", "append"},
                             {"mustPush", "push"}, {"mustPrepend", "prepend"}, {"mustReverse", "reverse"},
                             {"mustUniq", "uniq"}, {"mustWithout", "without"}, {"mustHas", "has"},
                             {"mustCompact", "compact"}, {"mustSlice", "slice"}, {"mustMerge", "merge"}}) {
    FuncDef d = t.at(plain);
    d.name = must;
    t[must] = d;
  }
  // Defined upstream (so they parse) but refused when called.
  for (std::string_view name : {"uuidv4", "randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randInt",
                                "randBytes", "shuffle", "genPrivateKey", "genCA", "genCAWithKey",
                                "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert",
                                "genSignedCertWithKey", "derivePassword", "bcrypt", "htpasswd", "encryptAES",
                                "decryptAES"})
    t[name] = FuncDef{name, "a*", nullptr, kRandom};
  for (std::string_view name :
       {"getHostByName", "semver", "semverCompare", "toDate", "mustToDate", "dateModify", "mustDateModify",
        "date_modify", "must_date_modify", "ago", "duration", "durationRound", "toDecimal", "seq", "addf", "add1f",
        "subf", "mulf", "divf", "maxf", "minf", "round", "chunk", "mustChunk", "dig", "pluck", "mergeOverwrite",
        "mustMergeOverwrite", "deepCopy", "mustDeepCopy", "deepEqual", "typeIsLike", "base", "dir", "clean", "ext",
        "isAbs", "osBase", "osClean", "osDir", "osExt", "osIsAbs", "urlParse", "urlJoin", "abbrevboth",
        "wrapWith", "mustToDate"})
    t[name] = FuncDef{name, "a*", nullptr, kUnsupported};
  return t;
}

}  // namespace

const FuncDef* find_func(std::string_view name) {
  static const std::map<std::string_view, FuncDef> kTable = build_table();
  auto it = kTable.find(name);
  return it == kTable.end() ? nullptr : &it->second;
}

}  // namespace ifo::core::tmpl
