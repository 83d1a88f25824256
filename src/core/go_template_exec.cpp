// Executes a parsed Go template: walks the tree, evaluates pipelines, fields, variables and function
// calls with text/template's rules and error texts, within the render's limits.
#include <algorithm>
#include <cctype>
#include <optional>

#include <fmt/format.h>

#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

using K = Node::Kind;
using Args = std::vector<const Node*>;

std::string param_type(char kind) {
  switch (kind) {
    case 's': return "string";
    case 'i': return "int";
    case 'f': return "float64";
    case 'b': return "bool";
    case 'm': return "map[string]interface {}";
    default: return "interface {}";
  }
}

class Exec {
 public:
  Exec(const Tree& tree, const TemplateLimits& limits, int64_t now) : tree_(tree), limits_(limits) {
    env_.unix_now = now;
    env_.limits = &limits_;
    env_.work_bytes = &work_;
    exec_name_ = tree.name;
  }

  Result<std::string> run(const Value& dot) {
    vars_ = {{"$", dot}};
    if (walk(dot, *tree_.root) == Flow::kError) return Result<std::string>::fail(err_);
    return std::move(out_);
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue, kError };

  Flow fail(std::string msg) {
    errorf(std::move(msg));
    return Flow::kError;
  }
  std::nullopt_t errorf(std::string msg) {
    if (!err_.empty()) return std::nullopt;
    if (!at_) {
      err_ = fmt::format("template: {}: {}", tree_.name, msg);
      return std::nullopt;
    }
    const std::string_view text = tree_.text;
    const size_t pos = std::min(at_->pos, text.size());
    const std::string_view before = text.substr(0, pos);
    const size_t nl = before.rfind('\n');
    const size_t col = nl == std::string_view::npos ? pos : pos - (nl + 1);
    const size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
    err_ = fmt::format("template: {}:{}:{}: executing {} at <{}>: {}", tree_.name, line, col, go_quote(exec_name_),
                       node_string(*at_), msg);
    return std::nullopt;
  }
  bool tick() {
    if (++calls_ > limits_.max_calls) {
      errorf(fmt::format("template execution exceeds {} steps", limits_.max_calls));
      return false;
    }
    return true;
  }

  Flow write(std::string_view s) {
    if (out_.size() + s.size() > limits_.max_output_bytes)
      return fail(fmt::format("template output exceeds {} bytes", limits_.max_output_bytes));
    out_.append(s);
    return Flow::kNormal;
  }

  Flow walk(const Value& dot, const Node& n) {
    switch (n.kind) {
      case K::kList:
        for (const auto& item : n.items) {
          const Flow f = walk(dot, *item);
          if (f != Flow::kNormal) return f;
        }
        return Flow::kNormal;
      case K::kText: return write(n.text);
      case K::kAction: {
        auto v = eval_pipeline(dot, *n.pipe);
        if (!v) return Flow::kError;
        if (!n.pipe->decl.empty()) return Flow::kNormal;
        if (v->is_nil()) return write("<no value>");
        return write(format_value(*v));
      }
      case K::kIf:
      case K::kWith: return walk_if_or_with(dot, n);
      case K::kRange: return walk_range(dot, n);
      case K::kBreak: return Flow::kBreak;
      case K::kContinue: return Flow::kContinue;
      case K::kTemplate: return walk_template(dot, n);
      default: return fail("unknown node");
    }
  }

  Flow walk_if_or_with(const Value& dot, const Node& n) {
    const size_t mark = vars_.size();
    auto v = eval_pipeline(dot, *n.pipe);
    if (!v) return Flow::kError;
    Flow f = Flow::kNormal;
    if (is_true(*v)) f = walk(n.kind == K::kWith ? *v : dot, *n.list);
    else if (n.else_list) f = walk(dot, *n.else_list);
    vars_.resize(mark);
    return f;
  }

  Flow walk_range(const Value& dot, const Node& n) {
    const size_t outer = vars_.size();
    at_ = n.pipe.get();
    auto v = eval_pipeline(dot, *n.pipe);
    if (!v) return Flow::kError;
    const size_t mark = vars_.size();
    const auto& decl = n.pipe->decl;
    auto one = [&](const Value& index, const Value& elem) -> Flow {
      if (++iterations_ > limits_.max_iterations)
        return fail(fmt::format("range iterations exceed {}", limits_.max_iterations));
      if (!decl.empty()) {
        if (n.pipe->is_assign) {
          if (decl.size() > 1) {
            if (!set_var(decl[0], index) || !set_var(decl[1], elem)) return Flow::kError;
          } else if (!set_var(decl[0], elem)) {
            return Flow::kError;
          }
        } else {
          vars_[mark - 1].second = elem;
          if (decl.size() > 1) vars_[mark - 2].second = index;
        }
      }
      const Flow f = walk(elem, *n.list);
      vars_.resize(mark);
      return f;
    };
    size_t count = 0;
    Flow result = Flow::kNormal;
    auto run = [&](const Value& index, const Value& elem) {
      ++count;
      const Flow f = one(index, elem);
      if (f == Flow::kError) result = Flow::kError;
      return f == Flow::kBreak || f == Flow::kError;
    };
    switch (v->kind()) {
      case Value::Kind::kList: {
        const auto hold = std::get<std::shared_ptr<ValueList>>(v->v);
        for (size_t i = 0; i < hold->size(); ++i)
          if (run(Value(static_cast<int64_t>(i)), (*hold)[i])) break;
        break;
      }
      case Value::Kind::kMap: {
        const auto hold = std::get<std::shared_ptr<ValueMap>>(v->v);
        for (const auto& [k, elem] : *hold)
          if (run(Value(k), elem)) break;
        break;
      }
      case Value::Kind::kInt:
        if (decl.size() > 1) return fail("can't use an int to iterate over more than one variable");
        for (int64_t i = 0; i < v->as_int(); ++i)
          if (run(Value(i), Value(i))) break;
        break;
      case Value::Kind::kNil: break;
      default: return fail(fmt::format("range can't iterate over a value of type {}", go_type_name(*v)));
    }
    if (result == Flow::kError) return result;
    if (count == 0 && n.else_list) result = walk(dot, *n.else_list);
    vars_.resize(outer);
    return result;
  }

  Flow walk_template(const Value& dot, const Node& n) {
    at_ = &n;
    auto it = tree_.defines.find(n.text);
    if (it == tree_.defines.end()) return fail(fmt::format("template {} not defined", go_quote(n.text)));
    Value new_dot;
    if (n.pipe) {
      auto v = eval_pipeline(dot, *n.pipe);
      if (!v) return Flow::kError;
      new_dot = std::move(*v);
    }
    if (++depth_ > limits_.max_template_depth)
      return fail(fmt::format("exceeded maximum template depth ({})", limits_.max_template_depth));
    auto saved_vars = std::exchange(vars_, {{"$", new_dot}});
    auto saved_name = std::exchange(exec_name_, n.text);
    const Flow f = walk(new_dot, *it->second);
    vars_ = std::move(saved_vars);
    exec_name_ = std::move(saved_name);
    --depth_;
    return f == Flow::kError ? f : Flow::kNormal;
  }

  bool set_var(const std::string& name, const Value& v) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
      if (it->first == name) {
        it->second = v;
        return true;
      }
    }
    errorf(fmt::format("undefined variable: {}", name));
    return false;
  }

  std::optional<Value> var_value(const std::string& name) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it)
      if (it->first == name) return it->second;
    return errorf(fmt::format("undefined variable: {}", name));
  }

  std::optional<Value> eval_pipeline(const Value& dot, const Node& pipe) {
    std::optional<Value> value;
    for (const auto& cmd : pipe.items) {
      value = eval_command(dot, *cmd, value);
      if (!value) return std::nullopt;
    }
    for (const auto& name : pipe.decl) {
      if (pipe.is_assign) {
        if (!set_var(name, *value)) return std::nullopt;
      } else {
        vars_.emplace_back(name, *value);
      }
    }
    return value;
  }

  bool not_a_function(const Node& cmd, const std::optional<Value>& final) {
    if (cmd.items.size() > 1 || final) {
      errorf(fmt::format("can't give argument to non-function {}", node_string(*cmd.items[0])));
      return false;
    }
    return true;
  }

  std::optional<Value> eval_command(const Value& dot, const Node& cmd, const std::optional<Value>& final) {
    const Node& first = *cmd.items[0];
    switch (first.kind) {
      case K::kField: at_ = &first; return eval_field_chain(dot, dot, first, first.idents, &cmd, final);
      case K::kChain: return eval_chain(dot, first, &cmd, final);
      case K::kIdentifier: return eval_function(dot, first, &cmd, final);
      case K::kPipe:
        if (!not_a_function(cmd, final)) return std::nullopt;
        return eval_pipeline(dot, first);
      case K::kVariable: return eval_variable(dot, first, &cmd, final);
      default: break;
    }
    at_ = &first;
    if (!not_a_function(cmd, final)) return std::nullopt;
    switch (first.kind) {
      case K::kBool: return Value(first.bool_value);
      case K::kDot: return dot;
      case K::kNil: return errorf("nil is not a command");
      case K::kNumber: return ideal_constant(first);
      case K::kString: return Value(first.text);
      default: return errorf(fmt::format("can't evaluate command {}", node_string(first)));
    }
  }

  std::optional<Value> ideal_constant(const Node& n) {
    if (n.float_syntax) return Value(n.float_value);
    if (n.is_int) return Value(n.int_value);
    return errorf(fmt::format("{} overflows int", n.text));
  }

  std::optional<Value> eval_chain(const Value& dot, const Node& chain, const Node* cmd,
                                  const std::optional<Value>& final) {
    at_ = &chain;
    if (chain.node->kind == K::kNil) return errorf(fmt::format("indirection through explicit nil in {}", node_string(chain)));
    auto base = eval_arg(dot, 'a', *chain.node);
    if (!base) return std::nullopt;
    at_ = &chain;
    return eval_field_chain(dot, *base, chain, chain.idents, cmd, final);
  }

  std::optional<Value> eval_variable(const Value& dot, const Node& var, const Node* cmd,
                                     const std::optional<Value>& final) {
    at_ = &var;
    auto value = var_value(var.idents[0]);
    if (!value) return std::nullopt;
    if (var.idents.size() == 1) {
      if (cmd && !not_a_function(*cmd, final)) return std::nullopt;
      return value;
    }
    return eval_field_chain(dot, *value, var, std::vector<std::string>(var.idents.begin() + 1, var.idents.end()), cmd,
                            final);
  }

  std::optional<Value> eval_field_chain(const Value& dot, Value receiver, const Node& node,
                                        const std::vector<std::string>& idents, const Node* cmd,
                                        const std::optional<Value>& final) {
    for (size_t i = 0; i + 1 < idents.size(); ++i) {
      auto next = eval_field(dot, idents[i], node, nullptr, std::nullopt, receiver);
      if (!next) return std::nullopt;
      receiver = std::move(*next);
    }
    return eval_field(dot, idents.back(), node, cmd, final, receiver);
  }

  std::optional<Value> eval_field(const Value& dot, const std::string& name, const Node& node, const Node* cmd,
                                  const std::optional<Value>& final, const Value& receiver) {
    if (!tick()) return std::nullopt;
    const bool has_args = (cmd && cmd->items.size() > 1) || final;
    switch (receiver.kind()) {
      case Value::Kind::kNil: return Value();
      case Value::Kind::kSecret:
        if (name != "Value" && name != "SecretPath") break;
        if (has_args) return errorf(fmt::format("{} has arguments but cannot be invoked as function", name));
        return Value(name == "Value" ? receiver.as_secret().value : receiver.as_secret().secret_path);
      case Value::Kind::kMap: {
        if (has_args) return errorf(fmt::format("{} is not a method but has arguments", name));
        const auto& m = receiver.as_map();
        auto it = m.find(name);
        if (it == m.end()) return Value();
        return it->second;
      }
      case Value::Kind::kTime: return time_method(dot, name, node, cmd, final, receiver.as_time());
      default: break;
    }
    at_ = &node;
    return errorf(fmt::format("can't evaluate field {} in type {}", name, go_type_name(receiver)));
  }

  std::optional<Value> time_method(const Value& dot, const std::string& name, const Node& node, const Node* cmd,
                                   const std::optional<Value>& final, const Time& t) {
    std::vector<Value> args;
    if (cmd)
      for (size_t i = 1; i < cmd->items.size(); ++i) {
        auto a = eval_arg(dot, 's', *cmd->items[i]);
        if (!a) return std::nullopt;
        args.push_back(std::move(*a));
      }
    if (final) args.push_back(*final);
    at_ = &node;
    const size_t want = name == "Format" ? 1 : 0;
    if (name != "Format" && name != "Unix" && name != "UTC" && name != "Year" && name != "String")
      return errorf(fmt::format("can't evaluate field {} in type time.Time", name));
    if (args.size() != want)
      return errorf(fmt::format("wrong number of args for {}: want {} got {}", name, want, args.size()));
    if (name == "Format") {
      if (args[0].kind() != Value::Kind::kString)
        return errorf(fmt::format("wrong type for value; expected string; got {}", go_type_name(args[0])));
      return Value(go_time_format(t, args[0].as_string()));
    }
    if (name == "Unix") return Value(t.unix);
    if (name == "Year") return Value(static_cast<int64_t>(std::stoll(go_time_format(t, "2006"))));
    if (name == "String") return Value(format_value(Value(t)));
    return Value(t);
  }

  std::optional<Value> validate(std::optional<Value> v, char kind) {
    if (!v) return std::nullopt;
    if (v->is_nil()) {
      if (kind == 'a') return v;
      return errorf(fmt::format("invalid value; expected {}", param_type(kind)));
    }
    const auto k = v->kind();
    bool ok = true;
    switch (kind) {
      case 's':
        if (k == Value::Kind::kBytes) return Value(v->as_bytes().data);  // lenient: Go refuses []byte here
        ok = k == Value::Kind::kString;
        break;
      case 'i': ok = k == Value::Kind::kInt; break;
      case 'f':
        if (k == Value::Kind::kInt) return Value(static_cast<double>(v->as_int()));
        ok = k == Value::Kind::kFloat;
        break;
      case 'b': ok = k == Value::Kind::kBool; break;
      case 'm': ok = k == Value::Kind::kMap; break;
      default: break;
    }
    if (!ok)
      return errorf(fmt::format("wrong type for value; expected {}; got {}", param_type(kind), go_type_name(*v)));
    return v;
  }

  std::optional<Value> eval_arg(const Value& dot, char kind, const Node& n) {
    at_ = &n;
    switch (n.kind) {
      case K::kDot: return validate(dot, kind);
      case K::kNil:
        if (kind == 'a') return Value();
        return errorf(fmt::format("cannot assign nil to {}", param_type(kind)));
      case K::kField: return validate(eval_field_chain(dot, dot, n, n.idents, nullptr, std::nullopt), kind);
      case K::kVariable: return validate(eval_variable(dot, n, nullptr, std::nullopt), kind);
      case K::kPipe: return validate(eval_pipeline(dot, n), kind);
      case K::kIdentifier: return validate(eval_function(dot, n, nullptr, std::nullopt), kind);
      case K::kChain: return validate(eval_chain(dot, n, nullptr, std::nullopt), kind);
      default: break;
    }
    const std::string found = node_string(n);
    switch (kind) {
      case 's':
        if (n.kind == K::kString) return Value(n.text);
        return errorf(fmt::format("expected string; found {}", found));
      case 'i':
        if (n.kind == K::kNumber && n.is_int) return Value(n.int_value);
        return errorf(fmt::format("expected integer; found {}", found));
      case 'f':
        if (n.kind == K::kNumber) return Value(n.float_value);
        return errorf(fmt::format("expected float; found {}", found));
      case 'b':
        if (n.kind == K::kBool) return Value(n.bool_value);
        return errorf(fmt::format("expected bool; found {}", found));
      case 'm': return errorf(fmt::format("can't handle {} for arg of type map[string]interface {{}}", found));
      default:
        if (n.kind == K::kBool) return Value(n.bool_value);
        if (n.kind == K::kString) return Value(n.text);
        if (n.kind == K::kNumber) return ideal_constant(n);
        return errorf(fmt::format("can't handle {}", found));
    }
  }

  std::optional<Value> eval_function(const Value& dot, const Node& ident, const Node* cmd,
                                     const std::optional<Value>& final) {
    at_ = &ident;
    if (!tick()) return std::nullopt;
    const FuncDef* def = find_func(ident.text);
    const std::string& name = ident.text;
    Args arg_nodes;
    if (cmd)
      for (size_t i = 1; i < cmd->items.size(); ++i) arg_nodes.push_back(cmd->items[i].get());
    const size_t num_in = arg_nodes.size() + (final ? 1 : 0);
    if (!def->refused.empty()) return errorf(fmt::format("error calling {}: {}", name, def->refused));
    if (name == "and" || name == "or") {
      if (num_in == 0) return errorf(fmt::format("wrong number of args for {}: want at least 1 got 0", name));
      Value v;
      for (const Node* a : arg_nodes) {
        auto x = eval_arg(dot, 'a', *a);
        if (!x) return std::nullopt;
        v = std::move(*x);
        if (is_true(v) == (name == "or")) return v;
      }
      if (final) v = *final;
      return v;
    }
    // Parameter kinds from the signature.
    std::string_view sig = def->sig;
    const bool variadic = !sig.empty() && sig.back() == '*';
    if (variadic) sig.remove_suffix(1);
    const size_t fixed = variadic ? sig.size() - 1 : sig.size();
    if (variadic ? num_in < fixed : num_in != fixed) {
      return errorf(fmt::format("wrong number of args for {}: want {}{} got {}", name, variadic ? "at least " : "",
                                fixed, num_in));
    }
    std::vector<Value> args;
    args.reserve(num_in);
    for (size_t i = 0; i < num_in; ++i) {
      const char kind = i < sig.size() ? sig[i] : sig.back();
      std::optional<Value> v;
      if (i < arg_nodes.size()) v = eval_arg(dot, kind, *arg_nodes[i]);
      else v = validate(*final, kind);
      if (!v) return std::nullopt;
      args.push_back(std::move(*v));
    }
    at_ = &ident;
    Result<Value> r = def->impl ? def->impl(args, env_) : call_builtin(name, args, env_);
    if (!r) return errorf(fmt::format("error calling {}: {}", name, r.error()));
    if (r->kind() == Value::Kind::kString) {  // every produced string counts against the render's budget
      if (auto c = charge(env_, r->as_string().size()); !c)
        return errorf(fmt::format("error calling {}: {}", name, c.error()));
    }
    return std::move(r).value();
  }

  const Tree& tree_;
  const TemplateLimits& limits_;
  CallEnv env_;
  size_t work_ = 0;
  size_t calls_ = 0;
  size_t iterations_ = 0;
  size_t depth_ = 0;
  std::vector<std::pair<std::string, Value>> vars_;
  std::string out_;
  std::string err_;
  std::string exec_name_;
  const Node* at_ = nullptr;
};

}  // namespace

Result<bool> charge(const CallEnv& env, size_t bytes) {
  if (bytes > env.limits->max_value_bytes)
    return Result<bool>::fail(fmt::format("result exceeds {} bytes", env.limits->max_value_bytes));
  *env.work_bytes += bytes;
  if (*env.work_bytes > env.limits->max_work_bytes)
    return Result<bool>::fail(fmt::format("template functions produced more than {} bytes", env.limits->max_work_bytes));
  return true;
}

}  // namespace ifo::core::tmpl

namespace ifo::core {

Result<std::string> render(const GoTemplate& t, const TemplateData& data, int64_t unix_now) {
  tmpl::ValueMap root;
  for (const auto& [k, v] : data) root.emplace(k, tmpl::Value(v));
  tmpl::Value dot(std::move(root));
  dot.secret_map = true;
  return tmpl::Exec(t.tree(), t.limits(), unix_now).run(dot);
}

}  // namespace ifo::core
