// Internals of the Go template engine shared by its files: tokens, the parse tree, the function
// table and the formatting helpers. Nothing outside src/core/go_template*.cpp includes this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/go_template.h"
#include "core/go_template_value.h"
#include "core/result.h"

namespace ifo::core::tmpl {

// ---- lexer ----
enum class Tok {
  kError, kEOF, kText, kLeftDelim, kRightDelim, kSpace, kIdentifier, kField, kVariable, kString, kRawString,
  kCharConstant, kNumber, kBool, kNil, kDot, kDeclare, kAssign, kPipe, kLeftParen, kRightParen, kChar,
  kComment,
  // keywords
  kIf, kElse, kEnd, kRange, kWith, kDefine, kTemplate, kBlock, kBreak, kContinue,
};

struct Token {
  Tok type = Tok::kEOF;
  size_t pos = 0;
  std::string_view val;  // into the template text; for kError the message (in Lexed::errors)
  int line = 1;
};

struct Lexed {
  std::vector<Token> tokens;        // ends with kEOF or kError
  std::vector<std::string> errors;  // storage for kError messages
};
Lexed lex(std::string_view text);
// Go's item String(): "EOF", `"text"`, `<if>`.
std::string token_string(const Token& t);

// ---- parse tree ----
struct Node {
  enum class Kind {
    kList, kText, kAction, kIf, kRange, kWith, kTemplate, kBreak, kContinue,  // statements
    kPipe, kCommand,                                                            // pipelines
    kField, kVariable, kChain, kIdentifier, kDot, kNil, kBool, kNumber, kString,  // operands
  };
  Kind kind = Kind::kList;
  size_t pos = 0;
  int line = 1;
  std::string text;                         // text, identifier, string value, number literal, template name
  std::string literal;                      // string node as written (for messages)
  std::vector<std::string> idents;          // field/variable/chain names
  std::vector<std::unique_ptr<Node>> items;  // list items, pipe commands, command args
  std::unique_ptr<Node> pipe, list, else_list, node;  // control structures; node = chain base
  std::vector<std::string> decl;            // pipe declarations
  bool is_assign = false;
  bool bool_value = false;
  bool is_int = false;  // number: integer valued (and int-typed when printed)
  int64_t int_value = 0;
  double float_value = 0;
  bool float_syntax = false;  // number written with . e p: evaluates to float64
};

// Go's Node.String(), used in `at <...>` of execution errors.
std::string node_string(const Node& n);

struct Tree {
  std::string name;
  std::string text;
  std::unique_ptr<Node> root;
  std::map<std::string, std::unique_ptr<Node>, std::less<>> defines;  // {{define}} / {{block}} bodies
};

// ---- functions ----
// Parameter kinds, as a signature string: s string, i int, f float64, b bool, m map, a any (nil allowed),
// x any non-nil; a trailing '*' makes the last one variadic.
struct CallEnv {
  int64_t unix_now = 0;
  const TemplateLimits* limits = nullptr;
  size_t* work_bytes = nullptr;  // budget shared by the whole render
};

using FuncImpl = Result<Value> (*)(std::vector<Value>& args, const CallEnv& env);

struct FuncDef {
  std::string_view name;
  std::string_view sig;
  FuncImpl impl;             // nullptr: a builtin the executor implements itself
  std::string_view refused;  // non-empty: defined (parses, like upstream) but refused when called
};

// Looks up a function (Sprig subset, upstream's helpers, text/template builtins); nullptr if unknown,
// which is a parse error exactly where Go's is (env and expandenv are unknown, as upstream removes them).
const FuncDef* find_func(std::string_view name);

// text/template's builtins other than and/or (which the executor short-circuits).
Result<Value> call_builtin(const std::string& name, std::vector<Value>& args, const CallEnv& env);

// Charges produced bytes to the render's work budget and checks the single-value limit.
Result<bool> charge(const CallEnv& env, size_t bytes);

// Function families, registered by find_func.
void register_string_funcs(std::map<std::string_view, FuncDef>& table);
void register_list_funcs(std::map<std::string_view, FuncDef>& table);
void register_crypto_funcs(std::map<std::string_view, FuncDef>& table);
void register_pki_funcs(std::map<std::string_view, FuncDef>& table);

// ---- formatting helpers ----
struct ShortestDigits {
  bool negative = false;
  std::string digits;  // no leading/trailing zeros (except "0")
  int dp = 0;          // decimal point position
};
ShortestDigits shortest_digits(double f);
std::string format_fixed_shortest(const ShortestDigits& d);
std::string format_exp_shortest(const ShortestDigits& d, int min_exp_digits);
std::string go_quote_with(std::string_view s, char quote);
int32_t decode_utf8(std::string_view s, size_t i, size_t& len);
void append_utf8(std::string& out, int32_t cp);
// fmt.Sprintf with Go's verbs and its %!verb(type=value) reports.
std::string go_sprintf(std::string_view format, const std::vector<Value>& args);
// time.Format with Go's reference layout (UTC only).
std::string go_time_format(const Time& t, std::string_view layout);
// cast.ToInt64 / ToFloat64 as Sprig uses them (strings parsed, failures 0).
int64_t to_int64(const Value& v);
double to_float64(const Value& v);
// Sprig's empty().
bool is_empty(const Value& v);
// The value as a list (Sprig's list functions accept []interface{} and []string); nullptr otherwise.
const ValueList* list_of(const Value& v);
// Go's strings.Title/ToUpper/ToLower, ASCII letters only.
std::string ascii_upper(std::string_view s);

}  // namespace ifo::core::tmpl
