// The Go template parser: tokens to a tree of lists, actions, control structures and pipelines, with
// Go's checks (functions and variables must be defined) and Go's error texts.
#include <cerrno>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

using NodePtr = std::unique_ptr<Node>;
using K = Node::Kind;

NodePtr make(K kind, const Token& t) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->pos = t.pos;
  n->line = t.line;
  return n;
}

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// strconv.UnquoteChar: one (possibly escaped) character of a quoted literal at s[i].
bool unquote_char(std::string_view s, size_t& i, char quote, std::string& out) {
  if (s[i] != '\\') {
    size_t len = 1;
    if (decode_utf8(s, i, len) < 0) {
      out += s[i++];
      return true;
    }
    out.append(s.substr(i, len));
    i += len;
    return true;
  }
  if (++i >= s.size()) return false;
  const char c = s[i++];
  switch (c) {
    case 'a': out += '\a'; return true;
    case 'b': out += '\b'; return true;
    case 'f': out += '\f'; return true;
    case 'n': out += '\n'; return true;
    case 'r': out += '\r'; return true;
    case 't': out += '\t'; return true;
    case 'v': out += '\v'; return true;
    case '\\': out += '\\'; return true;
    case '\'':
    case '"':
      if (c != quote) return false;
      out += c;
      return true;
    case 'x':
    case 'u':
    case 'U': {
      const size_t n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
      if (i + n > s.size()) return false;
      int32_t v = 0;
      for (size_t k = 0; k < n; ++k) {
        const int h = hex_val(s[i + k]);
        if (h < 0) return false;
        v = v * 16 + h;
      }
      i += n;
      if (c == 'x') {
        out += static_cast<char>(v);
        return true;
      }
      if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
      append_utf8(out, v);
      return true;
    }
    default:
      if (c >= '0' && c <= '7') {
        if (i + 2 > s.size()) return false;
        int v = c - '0';
        for (int k = 0; k < 2; ++k) {
          const char d = s[i++];
          if (d < '0' || d > '7') return false;
          v = v * 8 + (d - '0');
        }
        if (v > 255) return false;
        out += static_cast<char>(v);
        return true;
      }
      return false;
  }
}

std::optional<std::string> unquote(std::string_view lit) {
  if (lit.size() < 2) return std::nullopt;
  if (lit.front() == '`') return std::string(lit.substr(1, lit.size() - 2));
  std::string out;
  const std::string_view body = lit.substr(1, lit.size() - 2);
  for (size_t i = 0; i < body.size();) {
    if (!unquote_char(body, i, '"', out)) return std::nullopt;
  }
  return out;
}

std::optional<int64_t> parse_go_int(std::string_view text) {
  std::string t;
  for (char c : text)
    if (c != '_') t += c;
  bool neg = false;
  size_t i = 0;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) neg = t[0] == '-', i = 1;
  int base = 10;
  if (t.size() > i + 1 && t[i] == '0') {
    const char x = t[i + 1];
    if (x == 'x' || x == 'X') base = 16, i += 2;
    else if (x == 'o' || x == 'O') base = 8, i += 2;
    else if (x == 'b' || x == 'B') base = 2, i += 2;
    else base = 8, i += 1;
  }
  if (i >= t.size()) return std::nullopt;
  constexpr uint64_t kLimit = uint64_t{1} << 63;  // |INT64_MIN|
  uint64_t v = 0;
  for (; i < t.size(); ++i) {
    const int d = hex_val(t[i]);
    if (d < 0 || d >= base) return std::nullopt;
    const auto b = static_cast<uint64_t>(base);
    if (v > (kLimit - static_cast<uint64_t>(d)) / b) return std::nullopt;
    v = v * b + static_cast<uint64_t>(d);
  }
  if (!neg && v == kLimit) return std::nullopt;
  return neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

class Parser {
 public:
  Parser(const Lexed& lx, Tree& tree, const TemplateLimits& limits) : lx_(lx), tree_(tree), limits_(limits) {}

  std::optional<std::string> run() {
    tree_.root = std::make_unique<Node>();
    vars_ = {"$"};
    while (!failed() && peek().type != Tok::kEOF) {
      if (peek().type == Tok::kLeftDelim) {
        const size_t save = idx_;
        next();
        if (next_non_space().type == Tok::kDefine) {
          parse_definition();
          continue;
        }
        idx_ = save;
      }
      Marker m;
      NodePtr n = text_or_action(m);
      if (failed()) break;
      if (m.kind != Marker::kNone) {
        errorf(fmt::format("unexpected {}", m.kind == Marker::kEnd ? "{{end}}" : "{{else}}"));
        break;
      }
      if (n) tree_.root->items.push_back(std::move(n));
    }
    return error_;
  }

 private:
  struct Marker {
    enum { kNone, kEnd, kElse } kind = kNone;
  };

  bool failed() const { return error_.has_value(); }
  void errorf(std::string msg) {
    if (!error_) error_ = fmt::format("template: {}:{}: {}", tree_.name, line_, msg);
  }
  const Token& peek() const { return lx_.tokens[idx_]; }
  const Token& next() {
    last_ = idx_;
    const Token& t = lx_.tokens[idx_];
    if (idx_ + 1 < lx_.tokens.size()) ++idx_;
    line_ = t.line;
    if (t.type == Tok::kError) errorf(lx_.errors.at(error_index(t)));
    return t;
  }
  size_t error_index(const Token& t) const {
    size_t n = 0;
    for (const auto& x : lx_.tokens) {
      if (&x == &t) return n;
      if (x.type == Tok::kError) ++n;
    }
    return 0;
  }
  void backup() { idx_ = last_; }
  const Token& next_non_space() {
    while (peek().type == Tok::kSpace) next();
    return next();
  }
  const Token& peek_non_space() {
    while (peek().type == Tok::kSpace) next();
    return peek();
  }
  void unexpected(const Token& t, std::string_view context) {
    if (t.type == Tok::kError) return;  // already reported by next()
    errorf(fmt::format("unexpected {} in {}", token_string(t), context));
  }
  void expect(Tok type, std::string_view context) {
    const Token& t = next_non_space();
    if (t.type != type) unexpected(t, context);
  }
  bool enter() {
    if (++depth_ > limits_.max_parse_depth) {
      errorf(fmt::format("template nesting deeper than {}", limits_.max_parse_depth));
      return false;
    }
    return true;
  }

  void parse_definition() {
    const Token& t = next_non_space();
    if (t.type != Tok::kString && t.type != Tok::kRawString) return unexpected(t, "define clause");
    auto name = unquote(t.val);
    if (!name) return errorf("invalid syntax");
    expect(Tok::kRightDelim, "define clause");
    if (failed()) return;
    std::vector<std::string> saved = std::exchange(vars_, {"$"});
    Marker m;
    NodePtr body = item_list(m);
    vars_ = std::move(saved);
    if (failed()) return;
    if (m.kind != Marker::kEnd) return errorf("unexpected {{else}} in define clause");
    tree_.defines[*name] = std::move(body);
  }

  NodePtr item_list(Marker& m) {
    auto list = std::make_unique<Node>();
    while (!failed() && peek_non_space().type != Tok::kEOF) {
      NodePtr n = text_or_action(m);
      if (failed() || m.kind != Marker::kNone) return list;
      if (n) list->items.push_back(std::move(n));
    }
    if (!failed()) errorf("unexpected EOF");
    return list;
  }

  NodePtr text_or_action(Marker& m) {
    const Token& t = next_non_space();
    switch (t.type) {
      case Tok::kText: {
        NodePtr n = make(K::kText, t);
        n->text = std::string(t.val);
        return n;
      }
      case Tok::kLeftDelim: return action(m);
      default: unexpected(t, "input"); return nullptr;
    }
  }

  NodePtr action(Marker& m) {
    const Token& t = next_non_space();
    switch (t.type) {
      case Tok::kBlock: return block_control(t);
      case Tok::kBreak:
      case Tok::kContinue: return break_control(t);
      case Tok::kElse: {
        const Token& p = peek_non_space();
        if (p.type != Tok::kIf && p.type != Tok::kWith) expect(Tok::kRightDelim, "else");
        m.kind = Marker::kElse;
        return nullptr;
      }
      case Tok::kEnd:
        expect(Tok::kRightDelim, "end");
        m.kind = Marker::kEnd;
        return nullptr;
      case Tok::kIf: return control(t, K::kIf, "if");
      case Tok::kRange: return control(t, K::kRange, "range");
      case Tok::kWith: return control(t, K::kWith, "with");
      case Tok::kTemplate: return template_control(t);
      default: break;
    }
    if (failed()) return nullptr;
    backup();
    NodePtr n = make(K::kAction, t);
    n->pipe = pipeline("command", Tok::kRightDelim);
    return failed() ? nullptr : std::move(n);
  }

  NodePtr break_control(const Token& t) {
    const bool is_break = t.type == Tok::kBreak;
    const Token& d = next_non_space();
    if (d.type != Tok::kRightDelim) {
      unexpected(d, is_break ? "{{break}}" : "{{continue}}");
      return nullptr;
    }
    if (range_depth_ == 0) {
      errorf(is_break ? "{{break}} outside {{range}}" : "{{continue}} outside {{range}}");
      return nullptr;
    }
    return make(is_break ? K::kBreak : K::kContinue, t);
  }

  NodePtr control(const Token& t, K kind, std::string_view context) {
    if (!enter()) return nullptr;
    const size_t mark = vars_.size();
    NodePtr n = make(kind, t);
    n->pipe = pipeline(context, Tok::kRightDelim);
    if (failed()) return nullptr;
    if (kind == K::kRange) ++range_depth_;
    Marker m;
    n->list = item_list(m);
    if (kind == K::kRange) --range_depth_;
    if (failed()) return nullptr;
    if (m.kind == Marker::kElse) {
      const Token& p = peek_non_space();
      if ((kind == K::kIf && p.type == Tok::kIf) || (kind == K::kWith && p.type == Tok::kWith)) {
        const Token& kw = next();
        n->else_list = std::make_unique<Node>();
        NodePtr nested = control(kw, kind, context);  // "else if": one {{end}} closes both
        if (failed()) return nullptr;
        n->else_list->items.push_back(std::move(nested));
      } else {
        Marker m2;
        n->else_list = item_list(m2);
        if (failed()) return nullptr;
        if (m2.kind != Marker::kEnd) {
          errorf("expected end; found {{else}}");
          return nullptr;
        }
      }
    }
    vars_.resize(mark);
    --depth_;
    return n;
  }

  std::optional<std::string> template_name(const Token& t, std::string_view context) {
    if (t.type != Tok::kString && t.type != Tok::kRawString) {
      unexpected(t, context);
      return std::nullopt;
    }
    auto name = unquote(t.val);
    if (!name) errorf("invalid syntax");
    return name;
  }

  NodePtr template_control(const Token& t) {
    auto name = template_name(next_non_space(), "template clause");
    if (!name) return nullptr;
    NodePtr n = make(K::kTemplate, t);
    n->text = *name;
    if (next_non_space().type != Tok::kRightDelim) {
      backup();
      n->pipe = pipeline("template clause", Tok::kRightDelim);
    }
    return failed() ? nullptr : std::move(n);
  }

  NodePtr block_control(const Token& t) {
    auto name = template_name(next_non_space(), "block clause");
    if (!name) return nullptr;
    NodePtr n = make(K::kTemplate, t);
    n->text = *name;
    n->pipe = pipeline("block clause", Tok::kRightDelim);
    if (failed() || !enter()) return nullptr;
    std::vector<std::string> saved = std::exchange(vars_, {"$"});
    Marker m;
    NodePtr body = item_list(m);
    vars_ = std::move(saved);
    --depth_;
    if (failed()) return nullptr;
    if (m.kind != Marker::kEnd) {
      errorf("unexpected {{else}} in block clause");
      return nullptr;
    }
    tree_.defines[*name] = std::move(body);
    return n;
  }

  NodePtr pipeline(std::string_view context, Tok end) {
    NodePtr pipe = make(K::kPipe, peek_non_space());
    while (peek_non_space().type == Tok::kVariable) {  // declarations
      const size_t save = idx_;
      const Token& v = next_non_space();
      const Token& after = peek();
      const Token& nx = peek_non_space();
      if (nx.type == Tok::kAssign || nx.type == Tok::kDeclare) {
        pipe->is_assign = nx.type == Tok::kAssign;
        next_non_space();
        pipe->decl.emplace_back(v.val);
        vars_.emplace_back(v.val);
        break;
      }
      if (nx.type == Tok::kChar && nx.val == ",") {
        next_non_space();
        pipe->decl.emplace_back(v.val);
        vars_.emplace_back(v.val);
        if (context == "range" && pipe->decl.size() < 2) {
          const Tok p = peek_non_space().type;
          if (p == Tok::kVariable || p == Tok::kRightDelim || p == Tok::kRightParen) continue;
          errorf("range can only initialize variables");
          return nullptr;
        }
        errorf(fmt::format("too many declarations in {}", context));
        return nullptr;
      }
      (void)after;
      idx_ = save;
      break;
    }
    while (!failed()) {
      const Token& t = next_non_space();
      if (t.type == end) {
        if (pipe->items.empty()) {
          errorf(fmt::format("missing value for {}", context));
          return nullptr;
        }
        for (size_t i = 1; i < pipe->items.size(); ++i) {
          const K k = pipe->items[i]->items[0]->kind;
          if (k == K::kBool || k == K::kDot || k == K::kNil || k == K::kNumber || k == K::kString) {
            errorf(fmt::format("non executable command in pipeline stage {}", i + 1));
            return nullptr;
          }
        }
        return pipe;
      }
      switch (t.type) {
        case Tok::kBool: case Tok::kCharConstant: case Tok::kDot: case Tok::kField: case Tok::kIdentifier:
        case Tok::kNumber: case Tok::kNil: case Tok::kRawString: case Tok::kString: case Tok::kVariable:
        case Tok::kLeftParen: {
          backup();
          NodePtr cmd = command();
          if (failed()) return nullptr;
          pipe->items.push_back(std::move(cmd));
          break;
        }
        default: unexpected(t, context); return nullptr;
      }
    }
    return nullptr;
  }

  NodePtr command() {
    NodePtr cmd = make(K::kCommand, peek_non_space());
    while (!failed()) {
      peek_non_space();
      NodePtr op = operand();
      if (failed()) return nullptr;
      if (op) cmd->items.push_back(std::move(op));
      const Token& t = next();
      if (t.type == Tok::kSpace) continue;
      if (t.type == Tok::kRightDelim || t.type == Tok::kRightParen) backup();
      else if (t.type != Tok::kPipe) unexpected(t, "operand");
      break;
    }
    if (!failed() && cmd->items.empty()) errorf("empty command");
    return failed() ? nullptr : std::move(cmd);
  }

  NodePtr operand() {
    NodePtr n = term();
    if (!n || peek().type != Tok::kField) return n;
    NodePtr chain = std::make_unique<Node>();
    chain->kind = K::kChain;
    chain->pos = n->pos;
    chain->line = n->line;
    while (peek().type == Tok::kField) chain->idents.emplace_back(next().val.substr(1));
    switch (n->kind) {
      case K::kField:
      case K::kVariable:
        n->idents.insert(n->idents.end(), chain->idents.begin(), chain->idents.end());
        return n;
      case K::kBool: case K::kString: case K::kNumber: case K::kNil: case K::kDot:
        errorf(fmt::format("unexpected . after term {}", go_quote(node_string(*n))));
        return nullptr;
      default: chain->node = std::move(n); return chain;
    }
  }

  NodePtr term() {
    const Token& t = next_non_space();
    switch (t.type) {
      case Tok::kIdentifier: {
        if (!find_func(t.val)) {
          errorf(fmt::format("function {} not defined", go_quote(t.val)));
          return nullptr;
        }
        NodePtr n = make(K::kIdentifier, t);
        n->text = std::string(t.val);
        return n;
      }
      case Tok::kDot: return make(K::kDot, t);
      case Tok::kNil: return make(K::kNil, t);
      case Tok::kVariable: {
        bool known = false;
        for (const auto& v : vars_) known = known || v == t.val;
        if (!known) {
          errorf(fmt::format("undefined variable {}", go_quote(t.val)));
          return nullptr;
        }
        NodePtr n = make(K::kVariable, t);
        n->idents.emplace_back(t.val);
        return n;
      }
      case Tok::kField: {
        NodePtr n = make(K::kField, t);
        n->idents.emplace_back(t.val.substr(1));
        return n;
      }
      case Tok::kBool: {
        NodePtr n = make(K::kBool, t);
        n->bool_value = t.val == "true";
        return n;
      }
      case Tok::kCharConstant:
      case Tok::kNumber: return number(t);
      case Tok::kLeftParen: {
        if (!enter()) return nullptr;
        NodePtr p = pipeline("parenthesized pipeline", Tok::kRightParen);
        --depth_;
        return p;
      }
      case Tok::kString:
      case Tok::kRawString: {
        auto s = unquote(t.val);
        if (!s) {
          errorf("invalid syntax");
          return nullptr;
        }
        NodePtr n = make(K::kString, t);
        n->text = std::move(*s);
        n->literal = std::string(t.val);
        return n;
      }
      default: backup(); return nullptr;
    }
  }

  NodePtr number(const Token& t) {
    NodePtr n = make(K::kNumber, t);
    n->text = std::string(t.val);
    if (t.type == Tok::kCharConstant) {
      std::string out;
      size_t i = 0;
      const std::string_view body = t.val.substr(1, t.val.size() - 2);
      size_t len = 0;
      if (body.empty() || !unquote_char(body, i, '\'', out) || i != body.size()) {
        errorf(fmt::format("malformed character constant: {}", t.val));
        return nullptr;
      }
      const int32_t cp = body[0] == '\\' && (body[1] == 'x' || (body[1] >= '0' && body[1] <= '7'))
                             ? static_cast<unsigned char>(out[0])
                             : decode_utf8(out, 0, len);
      n->is_int = true;
      n->int_value = cp;
      n->float_value = cp;
      return n;
    }
    const std::string_view text = t.val;
    const bool hex = text.find("0x") != std::string_view::npos || text.find("0X") != std::string_view::npos;
    n->float_syntax = text.find_first_of(hex ? ".pP" : ".eEpP") != std::string_view::npos;
    if (auto i = parse_go_int(text); i && !n->float_syntax) {
      n->is_int = true;
      n->int_value = *i;
      n->float_value = static_cast<double>(*i);
      return n;
    }
    std::string clean;
    for (char c : text)
      if (c != '_') clean += c;
    errno = 0;
    char* end = nullptr;
    const double f = std::strtod(clean.c_str(), &end);
    if (end != clean.c_str() + clean.size() || clean.empty() || errno == ERANGE) {
      errorf(fmt::format("illegal number syntax: {}", go_quote(text)));
      return nullptr;
    }
    n->float_syntax = true;
    n->float_value = f;
    // The range first: converting a double outside int64's range is undefined behaviour.
    if (f < 9.2e18 && f > -9.2e18 && f == static_cast<double>(static_cast<int64_t>(f))) {
      n->is_int = true;
      n->int_value = static_cast<int64_t>(f);
    }
    return n;
  }

  const Lexed& lx_;
  Tree& tree_;
  const TemplateLimits& limits_;
  size_t idx_ = 0;
  size_t last_ = 0;
  int line_ = 1;
  size_t depth_ = 0;
  int range_depth_ = 0;
  std::vector<std::string> vars_;
  std::optional<std::string> error_;
};

void append_node(std::string& out, const Node& n);

void append_arg(std::string& out, const Node& n) {
  if (n.kind == K::kPipe) {
    out += '(';
    append_node(out, n);
    out += ')';
  } else {
    append_node(out, n);
  }
}

void append_node(std::string& out, const Node& n) {
  auto join = [&](const std::vector<std::string>& v, std::string_view sep) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += sep;
      out += v[i];
    }
  };
  switch (n.kind) {
    case K::kField: out += '.'; join(n.idents, "."); break;
    case K::kVariable: join(n.idents, "."); break;
    case K::kChain:
      append_arg(out, *n.node);
      for (const auto& id : n.idents) out += "." + id;
      break;
    case K::kIdentifier:
    case K::kNumber: out += n.text; break;
    case K::kString: out += n.literal; break;
    case K::kDot: out += '.'; break;
    case K::kNil: out += "nil"; break;
    case K::kBool: out += n.bool_value ? "true" : "false"; break;
    case K::kCommand:
      for (size_t i = 0; i < n.items.size(); ++i) {
        if (i) out += ' ';
        append_arg(out, *n.items[i]);
      }
      break;
    case K::kPipe:
      if (!n.decl.empty()) {
        join(n.decl, ", ");
        out += n.is_assign ? " = " : " := ";
      }
      for (size_t i = 0; i < n.items.size(); ++i) {
        if (i) out += " | ";
        append_node(out, *n.items[i]);
      }
      break;
    case K::kAction: out += "{{"; append_node(out, *n.pipe); out += "}}"; break;
    case K::kIf: out += "{{if "; append_node(out, *n.pipe); out += "}}"; break;
    case K::kRange: out += "{{range "; append_node(out, *n.pipe); out += "}}"; break;
    case K::kWith: out += "{{with "; append_node(out, *n.pipe); out += "}}"; break;
    case K::kTemplate: out += "{{template " + go_quote(n.text) + "}}"; break;
    case K::kBreak: out += "{{break}}"; break;
    case K::kContinue: out += "{{continue}}"; break;
    case K::kText: out += n.text; break;
    case K::kList:
      for (const auto& item : n.items) append_node(out, *item);
      break;
  }
}

}  // namespace

std::string node_string(const Node& n) {
  std::string out;
  append_node(out, n);
  return out;
}

}  // namespace ifo::core::tmpl

namespace ifo::core {

using tmpl::Tree;

Result<GoTemplate> GoTemplate::parse(std::string_view text, std::string_view name, const TemplateLimits& limits) {
  auto tree = std::make_shared<Tree>();
  tree->name = std::string(name);
  tree->text = std::string(text);
  const tmpl::Lexed lx = tmpl::lex(tree->text);
  if (auto err = tmpl::Parser(lx, *tree, limits).run()) return Result<GoTemplate>::fail(std::move(*err));
  return GoTemplate(std::move(tree), limits);
}

const std::string& GoTemplate::name() const { return tree_->name; }

}  // namespace ifo::core
