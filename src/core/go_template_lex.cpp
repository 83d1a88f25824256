// The Go template lexer: text, {{ }} actions with trim markers, comments, and the tokens inside actions.
#include <fmt/format.h>

#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

constexpr std::string_view kLeft = "{{";
constexpr std::string_view kRight = "}}";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_alnum(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || u >= 0x80;
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}

  Lexed run() {
    while (!done_) {
      if (in_action_) lex_inside();
      else lex_text();
    }
    return std::move(out_);
  }

 private:
  void emit(Tok t, size_t start, size_t end) {
    out_.tokens.push_back(Token{t, start, s_.substr(start, end - start), line_at(start)});
  }
  int line_at(size_t pos) {
    while (line_pos_ < pos && line_pos_ < s_.size()) {
      if (s_[line_pos_] == '\n') ++line_;
      ++line_pos_;
    }
    return line_;
  }
  void error(std::string msg, size_t at) {
    out_.errors.push_back(std::move(msg));
    out_.tokens.push_back(Token{Tok::kError, at, {}, line_at(at)});
    done_ = true;
  }
  bool at_right_delim(size_t p, bool& trim) const {
    if (p + 1 < s_.size() && is_space(s_[p]) && s_[p + 1] == '-' && s_.substr(p + 2).starts_with(kRight)) {
      trim = true;
      return true;
    }
    trim = false;
    return s_.substr(p).starts_with(kRight);
  }

  void lex_text() {
    const size_t start = pos_;
    const size_t left = s_.find(kLeft, pos_);
    if (left == std::string_view::npos) {
      if (start < s_.size()) emit(Tok::kText, start, s_.size());
      out_.tokens.push_back(Token{Tok::kEOF, s_.size(), {}, line_at(s_.size())});
      done_ = true;
      return;
    }
    const bool trim = left + 3 < s_.size() && s_[left + 2] == '-' && is_space(s_[left + 3]);
    size_t text_end = left;
    if (trim)
      while (text_end > start && is_space(s_[text_end - 1])) --text_end;
    if (text_end > start) emit(Tok::kText, start, text_end);
    pos_ = left + kLeft.size() + (trim ? 2 : 0);
    if (s_.substr(pos_).starts_with("/*")) {
      lex_comment(left);
      return;
    }
    emit(Tok::kLeftDelim, left, left + kLeft.size());
    in_action_ = true;
    paren_depth_ = 0;
  }

  void lex_comment(size_t left) {
    const size_t end = s_.find("*/", pos_ + 2);
    if (end == std::string_view::npos) return error("unclosed comment", left);
    pos_ = end + 2;
    bool trim = false;
    if (!at_right_delim(pos_, trim)) return error("comment ends before closing delimiter", left);
    pos_ += (trim ? 2 : 0) + kRight.size();
    if (trim) skip_leading_space();
  }

  void skip_leading_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }

  void lex_inside() {
    bool trim = false;
    if (at_right_delim(pos_, trim)) {
      if (paren_depth_ > 0) return error("unclosed left paren", pos_);
      const size_t start = pos_ + (trim ? 2 : 0);
      emit(Tok::kRightDelim, start, start + kRight.size());
      pos_ = start + kRight.size();
      if (trim) skip_leading_space();
      in_action_ = false;
      return;
    }
    if (pos_ >= s_.size()) return error("unclosed action", pos_);
    const size_t start = pos_;
    const char c = s_[pos_];
    if (is_space(c)) {
      size_t p = start;
      while (p < s_.size() && is_space(s_[p])) ++p;
      // Leave the last space to a following " -}}" (the check above then sees the delimiter).
      if (p < s_.size() && s_[p] == '-' && s_.substr(p + 1).starts_with(kRight)) --p;
      pos_ = p;
      return emit(Tok::kSpace, start, p);
    }
    ++pos_;
    switch (c) {
      case '=': return emit(Tok::kAssign, start, pos_);
      case ':':
        if (pos_ >= s_.size() || s_[pos_] != '=') return error("expected :=", start);
        ++pos_;
        return emit(Tok::kDeclare, start, pos_);
      case '|': return emit(Tok::kPipe, start, pos_);
      case '"': return lex_quote(start);
      case '`': return lex_raw(start);
      case '\'': return lex_char(start);
      case '$': return lex_field_or_var(start, Tok::kVariable);
      case '(':
        ++paren_depth_;
        return emit(Tok::kLeftParen, start, pos_);
      case ')':
        if (paren_depth_ == 0) return error("unexpected right paren", start);
        --paren_depth_;
        return emit(Tok::kRightParen, start, pos_);
      case '.':
        if (pos_ < s_.size() && is_digit(s_[pos_])) {
          pos_ = start;
          return lex_number(start);
        }
        return lex_field_or_var(start, Tok::kField);
      default: break;
    }
    if (c == '+' || c == '-' || is_digit(c)) {
      pos_ = start;
      return lex_number(start);
    }
    if (is_alnum(c)) {
      while (pos_ < s_.size() && is_alnum(s_[pos_])) ++pos_;
      if (!at_terminator()) return error(fmt::format("bad character {}", describe(pos_)), pos_);
      return emit(keyword(s_.substr(start, pos_ - start)), start, pos_);
    }
    if (static_cast<unsigned char>(c) < 0x7F && c >= 0x20) return emit(Tok::kChar, start, pos_);
    return error(fmt::format("unrecognized character in action: {}", describe(start)), start);
  }

  std::string describe(size_t p) const {
    if (p >= s_.size()) return "U+0000";
    size_t len = 1;
    int32_t cp = decode_utf8(s_, p, len);
    if (cp < 0) cp = 0xFFFD;
    if (cp >= 0x20 && cp != 0x7F) return fmt::format("U+{:04X} '{}'", cp, s_.substr(p, len));
    return fmt::format("U+{:04X}", cp);
  }

  static Tok keyword(std::string_view w) {
    static constexpr std::pair<std::string_view, Tok> kWords[] = {
        {"if", Tok::kIf},         {"else", Tok::kElse},         {"end", Tok::kEnd},
        {"range", Tok::kRange},   {"with", Tok::kWith},         {"define", Tok::kDefine},
        {"template", Tok::kTemplate}, {"block", Tok::kBlock},   {"break", Tok::kBreak},
        {"continue", Tok::kContinue}, {"nil", Tok::kNil},       {"true", Tok::kBool},
        {"false", Tok::kBool},
    };
    for (const auto& [k, t] : kWords)
      if (k == w) return t;
    return Tok::kIdentifier;
  }

  bool at_terminator() const {
    if (pos_ >= s_.size()) return true;
    const char c = s_[pos_];
    if (is_space(c) || c == '.' || c == ',' || c == '|' || c == ':' || c == ')' || c == '(' || c == '=') return true;
    return s_.substr(pos_).starts_with(kRight);
  }

  void lex_field_or_var(size_t start, Tok type) {
    if (at_terminator()) return emit(type == Tok::kVariable ? Tok::kVariable : Tok::kDot, start, pos_);
    while (pos_ < s_.size() && is_alnum(s_[pos_])) ++pos_;
    if (!at_terminator()) return error(fmt::format("bad character {}", describe(pos_)), pos_);
    emit(type, start, pos_);
  }

  void lex_quote(size_t start) {
    while (true) {
      if (pos_ >= s_.size() || s_[pos_] == '\n') return error("unterminated quoted string", start);
      const char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size() || s_[pos_] == '\n') return error("unterminated quoted string", start);
        ++pos_;
      } else if (c == '"') {
        return emit(Tok::kString, start, pos_);
      }
    }
  }

  void lex_raw(size_t start) {
    const size_t end = s_.find('`', pos_);
    if (end == std::string_view::npos) return error("unterminated raw quoted string", start);
    pos_ = end + 1;
    emit(Tok::kRawString, start, pos_);
  }

  void lex_char(size_t start) {
    while (true) {
      if (pos_ >= s_.size() || s_[pos_] == '\n') return error("unterminated character constant", start);
      const char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size() || s_[pos_] == '\n') return error("unterminated character constant", start);
        ++pos_;
      } else if (c == '\'') {
        return emit(Tok::kCharConstant, start, pos_);
      }
    }
  }

  void lex_number(size_t start) {
    if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
    std::string_view digits = "0123456789_";
    if (pos_ + 1 < s_.size() && s_[pos_] == '0') {
      const char x = s_[pos_ + 1];
      if (x == 'x' || x == 'X') pos_ += 2, digits = "0123456789abcdefABCDEF_";
      else if (x == 'o' || x == 'O') pos_ += 2, digits = "01234567_";
      else if (x == 'b' || x == 'B') pos_ += 2, digits = "01_";
    }
    auto accept_run = [&](std::string_view set) {
      while (pos_ < s_.size() && set.find(s_[pos_]) != std::string_view::npos) ++pos_;
    };
    accept_run(digits);
    if (pos_ < s_.size() && s_[pos_] == '.') ++pos_, accept_run(digits);
    const bool hex = digits.size() > 12;
    if (pos_ < s_.size() && ((!hex && (s_[pos_] == 'e' || s_[pos_] == 'E')) || (hex && (s_[pos_] == 'p' || s_[pos_] == 'P')))) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      accept_run("0123456789_");
    }
    if (pos_ < s_.size() && (is_alnum(s_[pos_]) || s_[pos_] == '.')) {
      ++pos_;
      return error(fmt::format("bad number syntax: \"{}\"", s_.substr(start, pos_ - start)), start);
    }
    emit(Tok::kNumber, start, pos_);
  }

  std::string_view s_;
  size_t pos_ = 0;
  bool in_action_ = false;
  bool done_ = false;
  int paren_depth_ = 0;
  size_t line_pos_ = 0;
  int line_ = 1;
  Lexed out_;
};

}  // namespace

Lexed lex(std::string_view text) { return Lexer(text).run(); }

std::string token_string(const Token& t) {
  switch (t.type) {
    case Tok::kEOF: return "EOF";
    case Tok::kIf: case Tok::kElse: case Tok::kEnd: case Tok::kRange: case Tok::kWith: case Tok::kDefine:
    case Tok::kTemplate: case Tok::kBlock: case Tok::kBreak: case Tok::kContinue:
      return fmt::format("<{}>", t.val);
    default: break;
  }
  if (t.val.size() > 10) return go_quote(t.val.substr(0, 10)) + "...";
  return go_quote(t.val);
}

}  // namespace ifo::core::tmpl
