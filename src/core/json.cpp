// Small helpers over RapidJSON.
#include "core/json.h"

#include <algorithm>

#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fmt/format.h>

namespace ifo::core {

namespace {

// Rejects documents nested deeper than kMaxJsonDepth before RapidJSON's recursive parser sees them.
bool nesting_within_limit(std::string_view text) {
  unsigned depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return false;
    } else if (c == '}' || c == ']') {
      if (depth > 0) --depth;
    }
  }
  return true;
}

}  // namespace

namespace {
struct CompactDoc {
  explicit CompactDoc(size_t chunk) : allocator(chunk), doc(&allocator) {}
  rapidjson::MemoryPoolAllocator<> allocator;
  JsonDoc doc;
};
}  // namespace

std::shared_ptr<JsonDoc> copy_compact(const JsonValue& v) {
  // A first copy into a scratch pool measures the bytes the copy needs; the kept copy then lives in
  // one chunk of exactly that size (one malloc, no unused tail).
  size_t needed = 0;
  {
    rapidjson::MemoryPoolAllocator<> scratch(4096);
    JsonValue measure(v, scratch);
    needed = scratch.Size();
  }
  auto holder = std::make_shared<CompactDoc>(std::max<size_t>(needed, 64));
  holder->doc.CopyFrom(v, holder->doc.GetAllocator());
  return std::shared_ptr<JsonDoc>(holder, &holder->doc);
}

Result<std::shared_ptr<JsonDoc>> parse_json(std::string_view text) {
  if (!nesting_within_limit(text)) {
    return Result<std::shared_ptr<JsonDoc>>::fail(
        fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
  }
  auto doc = std::make_shared<JsonDoc>();
  doc->Parse(text.data(), text.size());
  if (doc->HasParseError()) {
    return Result<std::shared_ptr<JsonDoc>>::fail(fmt::format(
        "invalid JSON at offset {}: {}", doc->GetErrorOffset(), rapidjson::GetParseError_En(doc->GetParseError())));
  }
  return doc;
}

std::string to_json(const JsonValue& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string to_pretty_json(const JsonValue& v) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

const JsonValue* member(const JsonValue& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(JsonValue(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

JsonValue* member(JsonValue& obj, std::string_view name) {
  // Through the const overload: comparing RapidJSON's non-const member iterators is ambiguous in
  // C++20 (clang's -Wambiguous-reversed-operator).
  return const_cast<JsonValue*>(member(static_cast<const JsonValue&>(obj), name));
}

const JsonValue* at_path(const JsonValue& root, std::initializer_list<std::string_view> path) {
  const JsonValue* cur = &root;
  for (auto name : path) {
    cur = member(*cur, name);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

std::optional<std::string> get_string(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = member(obj, name);
  if (v == nullptr || !v->IsString()) return std::nullopt;
  return std::string(v->GetString(), v->GetStringLength());
}

std::string string_or(const JsonValue& obj, std::string_view name, std::string_view fallback) {
  auto s = get_string(obj, name);
  return s ? *s : std::string(fallback);
}

std::optional<int64_t> get_int(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = member(obj, name);
  if (v == nullptr || !v->IsInt64()) return std::nullopt;
  return v->GetInt64();
}

std::optional<bool> get_bool(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = member(obj, name);
  if (v == nullptr || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

void set_member(JsonValue& obj, std::string_view name, JsonValue value, JsonAlloc& a) {
  if (JsonValue* existing = member(obj, name)) {
    *existing = std::move(value);
    return;
  }
  obj.AddMember(json_string(name, a), std::move(value), a);
}

void set_string(JsonValue& obj, std::string_view name, std::string_view value, JsonAlloc& a) {
  set_member(obj, name, json_string(value, a), a);
}

JsonValue& ensure_object(JsonValue& obj, std::string_view name, JsonAlloc& a) {
  JsonValue* existing = member(obj, name);
  if (existing != nullptr && existing->IsObject()) return *existing;
  set_member(obj, name, JsonValue(rapidjson::kObjectType), a);
  return *member(obj, name);
}

bool remove_member(JsonValue& obj, std::string_view name) {
  if (!obj.IsObject()) return false;
  return obj.RemoveMember(JsonValue(rapidjson::StringRef(name.data(), name.size())));
}

}  // namespace ifo::core
