// RFC 6902 JSON Patch over RapidJSON, applied to a copy so that a failing patch changes nothing.
#include "sim/kube/json_patch_apply.h"

#include <fmt/format.h>

#include <charconv>
#include <optional>
#include <vector>

namespace ifo::kubesim {

namespace {

using core::JsonAlloc;
using core::JsonValue;

// RFC 6901 pointer -> unescaped tokens; nullopt when malformed.
std::optional<std::vector<std::string>> split_pointer(std::string_view ptr) {
  std::vector<std::string> tokens;
  if (ptr.empty()) return tokens;
  if (ptr.front() != '/') return std::nullopt;
  size_t pos = 1;
  while (true) {
    size_t next = ptr.find('/', pos);
    std::string_view raw = ptr.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
    std::string tok;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~') {
        if (i + 1 >= raw.size()) return std::nullopt;
        if (raw[i + 1] == '0') tok += '~';
        else if (raw[i + 1] == '1') tok += '/';
        else return std::nullopt;
        ++i;
      } else {
        tok += raw[i];
      }
    }
    tokens.push_back(std::move(tok));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return tokens;
}

std::optional<size_t> parse_index(const std::string& tok) {
  if (tok.empty() || (tok.size() > 1 && tok[0] == '0')) return std::nullopt;
  size_t idx = 0;
  auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), idx);
  if (ec != std::errc() || p != tok.data() + tok.size()) return std::nullopt;
  return idx;
}

JsonValue* child(JsonValue& v, const std::string& tok) {
  if (v.IsObject()) return core::member(v, tok);
  if (v.IsArray()) {
    auto idx = parse_index(tok);
    if (!idx || *idx >= v.Size()) return nullptr;
    return &v[static_cast<rapidjson::SizeType>(*idx)];
  }
  return nullptr;
}

JsonValue* resolve(JsonValue& root, const std::vector<std::string>& tokens, size_t count) {
  JsonValue* cur = &root;
  for (size_t i = 0; i < count && cur != nullptr; ++i) cur = child(*cur, tokens[i]);
  return cur;
}

struct Applier {
  JsonValue& root;
  JsonAlloc& a;

  // Removes and returns the value at tokens; error text when absent.
  std::optional<std::string> remove(const std::vector<std::string>& tokens, JsonValue* out) {
    if (tokens.empty()) return std::string("cannot remove the document root");
    JsonValue* parent = resolve(root, tokens, tokens.size() - 1);
    if (parent == nullptr) return std::string("path not found");
    const std::string& last = tokens.back();
    if (parent->IsObject()) {
      JsonValue* found = core::member(*parent, last);
      if (found == nullptr) return std::string("path not found");
      if (out) *out = std::move(*found);
      parent->EraseMember(JsonValue(rapidjson::StringRef(last.data(), last.size())));
      return std::nullopt;
    }
    if (parent->IsArray()) {
      auto idx = parse_index(last);
      if (!idx || *idx >= parent->Size()) return std::string("array index out of range");
      if (out) *out = std::move((*parent)[static_cast<rapidjson::SizeType>(*idx)]);
      parent->Erase(parent->Begin() + *idx);
      return std::nullopt;
    }
    return std::string("path not found");
  }

  std::optional<std::string> add(const std::vector<std::string>& tokens, JsonValue value) {
    if (tokens.empty()) {
      root = std::move(value);
      return std::nullopt;
    }
    JsonValue* parent = resolve(root, tokens, tokens.size() - 1);
    if (parent == nullptr) return std::string("parent path not found");
    const std::string& last = tokens.back();
    if (parent->IsObject()) {
      if (JsonValue* existing = core::member(*parent, last)) *existing = std::move(value);
      else parent->AddMember(JsonValue(last.data(), static_cast<rapidjson::SizeType>(last.size()), a), std::move(value), a);
      return std::nullopt;
    }
    if (parent->IsArray()) {
      if (last == "-") {
        parent->PushBack(std::move(value), a);
        return std::nullopt;
      }
      auto idx = parse_index(last);
      if (!idx || *idx > parent->Size()) return std::string("array index out of range");
      parent->PushBack(JsonValue(), a);
      for (size_t i = parent->Size() - 1; i > *idx; --i) {
        (*parent)[static_cast<rapidjson::SizeType>(i)] = std::move((*parent)[static_cast<rapidjson::SizeType>(i - 1)]);
      }
      (*parent)[static_cast<rapidjson::SizeType>(*idx)] = std::move(value);
      return std::nullopt;
    }
    return std::string("parent is neither an object nor an array");
  }
};

std::optional<std::string> apply_one(Applier& ap, const JsonValue& op) {
  auto opname = core::get_string(op, "op");
  auto path = core::get_string(op, "path");
  if (!opname) return std::string("missing \"op\"");
  if (!path) return std::string("missing \"path\"");
  auto tokens = split_pointer(*path);
  if (!tokens) return std::string("malformed JSON pointer");
  const JsonValue* value = core::member(op, "value");
  if (*opname == "add" || *opname == "replace" || *opname == "test") {
    if (value == nullptr) return std::string("missing \"value\"");
  }
  if (*opname == "add") return ap.add(*tokens, JsonValue(*value, ap.a));
  if (*opname == "remove") return ap.remove(*tokens, nullptr);
  if (*opname == "replace") {
    JsonValue* target = resolve(ap.root, *tokens, tokens->size());
    if (target == nullptr) return std::string("path not found");
    *target = JsonValue(*value, ap.a);
    return std::nullopt;
  }
  if (*opname == "test") {
    JsonValue* target = resolve(ap.root, *tokens, tokens->size());
    if (target == nullptr) return std::string("path not found");
    if (*target != *value) return std::string("test failed: value differs");
    return std::nullopt;
  }
  if (*opname == "move" || *opname == "copy") {
    auto from = core::get_string(op, "from");
    if (!from) return std::string("missing \"from\"");
    auto from_tokens = split_pointer(*from);
    if (!from_tokens) return std::string("malformed \"from\" pointer");
    if (*opname == "move") {
      if (from_tokens->size() < tokens->size() &&
          std::equal(from_tokens->begin(), from_tokens->end(), tokens->begin())) {
        return std::string("cannot move a value into one of its children");
      }
      JsonValue moved;
      if (auto err = ap.remove(*from_tokens, &moved)) return "from: " + *err;
      return ap.add(*tokens, std::move(moved));
    }
    JsonValue* src = resolve(ap.root, *from_tokens, from_tokens->size());
    if (src == nullptr) return std::string("from: path not found");
    return ap.add(*tokens, JsonValue(*src, ap.a));
  }
  return fmt::format("unsupported op \"{}\"", *opname);
}

}  // namespace

core::Result<bool> apply_json_patch(JsonValue& target, const JsonValue& patch, JsonAlloc& alloc) {
  if (!patch.IsArray()) return core::Result<bool>::fail("a JSON patch must be an array of operations");
  JsonValue work(target, alloc);
  Applier ap{work, alloc};
  for (rapidjson::SizeType i = 0; i < patch.Size(); ++i) {
    const JsonValue& op = patch[i];
    if (!op.IsObject()) return core::Result<bool>::fail(fmt::format("operation {} is not an object", i));
    if (auto err = apply_one(ap, op)) {
      return core::Result<bool>::fail(fmt::format("operation {} ({} {}): {}", i, core::string_or(op, "op", "?"),
                                                  core::string_or(op, "path", "?"), *err));
    }
  }
  target = std::move(work);
  return true;
}

}  // namespace ifo::kubesim
