// Sprig's list, dict and integer maths functions, and its loose conversions (cast.ToInt64 and friends).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

using R = Result<Value>;
using A = std::vector<Value>;

R list_result(ValueList l, const CallEnv& env) {
  if (l.size() > env.limits->max_iterations) return R::fail(fmt::format("list longer than {}", env.limits->max_iterations));
  if (auto c = charge(env, l.size() * sizeof(Value)); !c) return R::fail(c.error());
  return Value(std::move(l));
}

R need_list(const Value& v, std::string_view what) {
  return R::fail(fmt::format("Cannot {} on type {}", what, go_kind_name(v)));
}

std::vector<std::string> strslice(const Value& v) {
  std::vector<std::string> out;
  if (const ValueList* l = list_of(v)) {
    for (const auto& item : *l)
      if (!item.is_nil()) out.push_back(strval(item));
  } else if (!v.is_nil()) {
    out.push_back(strval(v));
  }
  return out;
}

R f_list(A& a, const CallEnv& env) { return list_result(a, env); }
R f_dict(A& a, const CallEnv&) {
  ValueMap m;
  for (size_t i = 0; i < a.size(); i += 2) m[strval(a[i])] = i + 1 < a.size() ? a[i + 1] : Value("");
  return Value(std::move(m));
}
R f_get(A& a, const CallEnv&) {
  const auto& m = a[0].as_map();
  auto it = m.find(a[1].as_string());
  return it == m.end() ? Value("") : it->second;
}
R f_set(A& a, const CallEnv&) {
  a[0].mutable_map()[a[1].as_string()] = a[2];
  return a[0];
}
R f_unset(A& a, const CallEnv&) {
  a[0].mutable_map().erase(a[1].as_string());
  return a[0];
}
R f_has_key(A& a, const CallEnv&) { return Value(a[0].as_map().count(a[1].as_string()) > 0); }
R f_keys(A& a, const CallEnv& env) {
  // Go map order is random; sorted is one of the orders upstream may produce.
  ValueList out;
  for (const auto& d : a) {
    if (d.kind() != Value::Kind::kMap) return R::fail(fmt::format("wrong type for value; expected map[string]interface {{}}; got {}", go_type_name(d)));
    for (const auto& [k, v] : d.as_map()) out.emplace_back(k);
  }
  std::sort(out.begin(), out.end(), [](const Value& x, const Value& y) { return x.as_string() < y.as_string(); });
  return list_result(std::move(out), env);
}
R f_values(A& a, const CallEnv& env) {
  ValueList out;
  for (const auto& [k, v] : a[0].as_map()) out.push_back(v);
  return list_result(std::move(out), env);
}
R f_pick_omit(A& a, bool pick) {
  ValueMap out;
  std::vector<std::string> names;
  for (size_t i = 1; i < a.size(); ++i) names.push_back(a[i].as_string());
  for (const auto& [k, v] : a[0].as_map())
    if ((std::find(names.begin(), names.end(), k) != names.end()) == pick) out[k] = v;
  return Value(std::move(out));
}
R f_pick(A& a, const CallEnv&) { return f_pick_omit(a, true); }
R f_omit(A& a, const CallEnv&) { return f_pick_omit(a, false); }
R f_merge(A& a, const CallEnv&) {
  ValueMap& dst = a[0].mutable_map();
  for (size_t i = 1; i < a.size(); ++i) {
    if (a[i].kind() != Value::Kind::kMap) continue;
    for (const auto& [k, v] : a[i].as_map()) dst.emplace(k, v);
  }
  return a[0];
}
R f_first(A& a, const CallEnv&) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "find first");
  return l->empty() ? Value() : l->front();
}
R f_last(A& a, const CallEnv&) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "find last");
  return l->empty() ? Value() : l->back();
}
R f_rest(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "find rest");
  if (l->empty()) return Value();
  return list_result(ValueList(l->begin() + 1, l->end()), env);
}
R f_initial(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "find initial");
  if (l->empty()) return Value();
  return list_result(ValueList(l->begin(), l->end() - 1), env);
}
R f_append(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "push");
  ValueList out = *l;
  out.push_back(a[1]);
  return list_result(std::move(out), env);
}
R f_prepend(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "prepend");
  ValueList out{a[1]};
  out.insert(out.end(), l->begin(), l->end());
  return list_result(std::move(out), env);
}
R f_reverse(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "find reverse");
  return list_result(ValueList(l->rbegin(), l->rend()), env);
}
bool same(const Value& x, const Value& y) { return format_value(x) == format_value(y) && x.kind() == y.kind(); }
R f_uniq(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "find uniq");
  ValueList out;
  for (const auto& v : *l)
    if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return same(o, v); })) out.push_back(v);
  return list_result(std::move(out), env);
}
R f_without(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "find without");
  ValueList out;
  for (const auto& v : *l)
    if (std::none_of(a.begin() + 1, a.end(), [&](const Value& o) { return same(o, v); })) out.push_back(v);
  return list_result(std::move(out), env);
}
R f_has(A& a, const CallEnv&) {
  const ValueList* l = list_of(a[1]);
  if (!l) return a[1].is_nil() ? R(Value(false)) : need_list(a[1], "find has");
  return Value(std::any_of(l->begin(), l->end(), [&](const Value& o) { return same(o, a[0]); }));
}
R f_compact(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return need_list(a[0], "compact");
  ValueList out;
  for (const auto& v : *l)
    if (!is_empty(v)) out.push_back(v);
  return list_result(std::move(out), env);
}
R f_concat(A& a, const CallEnv& env) {
  ValueList out;
  for (const auto& v : a) {
    const ValueList* l = list_of(v);
    if (!l) return need_list(v, "concat");
    out.insert(out.end(), l->begin(), l->end());
    if (out.size() > env.limits->max_iterations) break;
  }
  return list_result(std::move(out), env);
}
R f_slice(A& a, const CallEnv& env) {
  const ValueList* l = list_of(a[0]);
  if (!l) return R::fail(fmt::format("list should be type of slice or array but {}", go_kind_name(a[0])));
  int64_t lo = 0;
  auto hi = static_cast<int64_t>(l->size());
  if (a.size() > 1) lo = to_int64(a[1]);
  if (a.size() > 2) hi = to_int64(a[2]);
  if (lo < 0 || hi < lo || hi > static_cast<int64_t>(l->size()))
    return R::fail(fmt::format("runtime error: slice bounds out of range [{}:{}]", lo, hi));
  return list_result(ValueList(l->begin() + lo, l->begin() + hi), env);
}
R until_step(int64_t start, int64_t stop, int64_t step, const CallEnv& env) {
  ValueList out;
  if (step == 0) return Value(std::move(out));
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (out.size() >= env.limits->max_iterations)
      return R::fail(fmt::format("list longer than {}", env.limits->max_iterations));
    out.emplace_back(i);
  }
  return list_result(std::move(out), env);
}
R f_until(A& a, const CallEnv& env) {
  const int64_t n = a[0].as_int();
  return until_step(0, n, n < 0 ? -1 : 1, env);
}
R f_until_step(A& a, const CallEnv& env) { return until_step(a[0].as_int(), a[1].as_int(), a[2].as_int(), env); }
R f_join(A& a, const CallEnv& env) {
  std::string out;
  const auto parts = strslice(a[1]);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += a[0].as_string();
    out += parts[i];
  }
  if (auto c = charge(env, out.size()); !c) return R::fail(c.error());
  return Value(std::move(out));
}
R f_sort_alpha(A& a, const CallEnv& env) {
  auto parts = strslice(a[0]);
  std::sort(parts.begin(), parts.end());
  ValueList out;
  for (auto& p : parts) out.emplace_back(std::move(p));
  return list_result(std::move(out), env);
}

R f_add(A& a, const CallEnv&) {
  int64_t sum = 0;
  for (const auto& v : a) sum = static_cast<int64_t>(static_cast<uint64_t>(sum) + static_cast<uint64_t>(to_int64(v)));
  return Value(sum);
}
R f_add1(A& a, const CallEnv&) { return Value(to_int64(a[0]) + 1); }
R f_sub(A& a, const CallEnv&) { return Value(static_cast<int64_t>(static_cast<uint64_t>(to_int64(a[0])) - static_cast<uint64_t>(to_int64(a[1])))); }
R f_mul(A& a, const CallEnv&) {
  uint64_t p = static_cast<uint64_t>(to_int64(a[0]));
  for (size_t i = 1; i < a.size(); ++i) p *= static_cast<uint64_t>(to_int64(a[i]));
  return Value(static_cast<int64_t>(p));
}
R f_div(A& a, const CallEnv&) {
  const int64_t d = to_int64(a[1]);
  if (d == 0) return R::fail("runtime error: integer divide by zero");
  const int64_t n = to_int64(a[0]);
  if (d == -1) return Value(static_cast<int64_t>(0 - static_cast<uint64_t>(n)));
  return Value(n / d);
}
R f_mod(A& a, const CallEnv&) {
  const int64_t d = to_int64(a[1]);
  if (d == 0) return R::fail("runtime error: integer divide by zero");
  if (d == -1) return Value(int64_t{0});
  return Value(to_int64(a[0]) % d);
}
R f_max(A& a, const CallEnv&) {
  int64_t m = to_int64(a[0]);
  for (size_t i = 1; i < a.size(); ++i) m = std::max(m, to_int64(a[i]));
  return Value(m);
}
R f_min(A& a, const CallEnv&) {
  int64_t m = to_int64(a[0]);
  for (size_t i = 1; i < a.size(); ++i) m = std::min(m, to_int64(a[i]));
  return Value(m);
}
R f_atoi(A& a, const CallEnv&) {
  const std::string& s = a[0].as_string();
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || std::isspace(static_cast<unsigned char>(s[0])))
    return Value(int64_t{0});
  return Value(static_cast<int64_t>(v));
}
R f_int(A& a, const CallEnv&) { return Value(to_int64(a[0])); }
R f_float64(A& a, const CallEnv&) { return Value(to_float64(a[0])); }
R f_floor(A& a, const CallEnv&) { return Value(std::floor(to_float64(a[0]))); }
R f_ceil(A& a, const CallEnv&) { return Value(std::ceil(to_float64(a[0]))); }

}  // namespace

const ValueList* list_of(const Value& v) {
  return v.kind() == Value::Kind::kList ? &v.as_list() : nullptr;
}

int64_t to_int64(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kBool: return v.as_bool() ? 1 : 0;
    case Value::Kind::kInt: return v.as_int();
    case Value::Kind::kFloat: {
      const double f = v.as_float();
      if (!(f > -9.2e18 && f < 9.2e18)) return std::numeric_limits<int64_t>::min();
      return static_cast<int64_t>(f);
    }
    case Value::Kind::kString: {
      std::string s = v.as_string();
      // cast trims a zero decimal part ("3.0" -> 3) and parses with base prefixes.
      if (auto dot = s.find('.'); dot != std::string::npos && s.find_first_not_of('0', dot + 1) == std::string::npos)
        s.resize(dot);
      if (s.empty()) return 0;
      errno = 0;
      char* end = nullptr;
      const long long r = std::strtoll(s.c_str(), &end, 0);
      if (end != s.c_str() + s.size() || errno == ERANGE || std::isspace(static_cast<unsigned char>(s[0]))) return 0;
      return r;
    }
    default: return 0;
  }
}

double to_float64(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kBool: return v.as_bool() ? 1 : 0;
    case Value::Kind::kInt: return static_cast<double>(v.as_int());
    case Value::Kind::kFloat: return v.as_float();
    case Value::Kind::kString: {
      const std::string& s = v.as_string();
      errno = 0;
      char* end = nullptr;
      const double r = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size() || std::isspace(static_cast<unsigned char>(s[0]))) return 0;
      return r;
    }
    default: return 0;
  }
}

bool is_empty(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kSecret:
    case Value::Kind::kTime: return false;
    default: return !is_true(v);
  }
}

void register_list_funcs(std::map<std::string_view, FuncDef>& t) {
  auto add = [&](std::string_view name, std::string_view sig, FuncImpl f) { t[name] = FuncDef{name, sig, f, {}}; };
  add("list", "a*", f_list);
  add("tuple", "a*", f_list);
  add("dict", "a*", f_dict);
  add("get", "ms", f_get);
  add("set", "msa", f_set);
  add("unset", "ms", f_unset);
  add("hasKey", "ms", f_has_key);
  add("keys", "a*", f_keys);
  add("values", "m", f_values);
  add("pick", "ms*", f_pick);
  add("omit", "ms*", f_omit);
  add("merge", "ma*", f_merge);
  add("first", "a", f_first);
  add("last", "a", f_last);
  add("rest", "a", f_rest);
  add("initial", "a", f_initial);
  add("append", "aa", f_append);
  add("push", "aa", f_append);
  add("prepend", "aa", f_prepend);
  add("reverse", "a", f_reverse);
  add("uniq", "a", f_uniq);
  add("without", "aa*", f_without);
  add("has", "aa", f_has);
  add("compact", "a", f_compact);
  add("concat", "a*", f_concat);
  add("slice", "aa*", f_slice);
  add("until", "i", f_until);
  add("untilStep", "iii", f_until_step);
  add("join", "sa", f_join);
  add("sortAlpha", "a", f_sort_alpha);
  add("add", "a*", f_add);
  add("add1", "a", f_add1);
  add("sub", "aa", f_sub);
  add("mul", "aa*", f_mul);
  add("div", "aa", f_div);
  add("mod", "aa", f_mod);
  add("max", "aa*", f_max);
  add("biggest", "aa*", f_max);
  add("min", "aa*", f_min);
  add("atoi", "s", f_atoi);
  add("int", "a", f_int);
  add("int64", "a", f_int);
  add("float64", "a", f_float64);
  add("floor", "a", f_floor);
  add("ceil", "a", f_ceil);
}

}  // namespace ifo::core::tmpl
