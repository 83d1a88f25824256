// Small helpers over RapidJSON so that callers read fields without repeating type checks.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ifo::core {

using JsonValue = rapidjson::Value;
using JsonDoc = rapidjson::Document;
using JsonAlloc = rapidjson::Document::AllocatorType;

// Parses text into a document; the error names the byte offset and RapidJSON's reason.
// Nesting deeper than kMaxJsonDepth is refused, so hostile input cannot exhaust the stack.
inline constexpr unsigned kMaxJsonDepth = 128;
Result<std::shared_ptr<JsonDoc>> parse_json(std::string_view text);
// The same into a document the caller made (e.g. one whose pool allocator starts in a buffer it
// owns, for a document read and dropped within one request); on failure `doc` is unchanged.
Result<bool> parse_json_into(JsonDoc& doc, std::string_view text);
// The same, parsing `text` in place: its strings are unescaped where they stand and the document
// points into it, so nothing is copied. `text` must be NUL-terminated, writable, and outlive `doc`.
Result<bool> parse_json_in_place(JsonDoc& doc, char* text);

// A deep copy of v in a document whose allocator grows in 1 KiB chunks. A parsed or default-built
// JsonDoc owns a pool allocator whose first chunk is 64 KiB however small the object; objects that
// are kept (list items, watch events, informer stores) are held this way so that 10,000 of them
// cost about their own size rather than 10,000 chunks.
std::shared_ptr<JsonDoc> copy_compact(const JsonValue& v);
// parse_json into such a document, its first chunk sized from the text: for an object that is
// parsed to be kept or handed on, without copy_compact's second pass over a parsed copy.
Result<std::shared_ptr<JsonDoc>> parse_json_compact(std::string_view text);

std::string to_json(const JsonValue& v);
std::string to_pretty_json(const JsonValue& v);

// Member lookup; nullptr when `obj` is not an object or has no such member.
const JsonValue* member(const JsonValue& obj, std::string_view name);
JsonValue* member(JsonValue& obj, std::string_view name);
// Walks a path of member names ("metadata", "name"); nullptr when any step is missing.
const JsonValue* at_path(const JsonValue& root, std::initializer_list<std::string_view> path);

std::optional<std::string> get_string(const JsonValue& obj, std::string_view name);
// The same without a copy: the view points into the document and lives as long as it does.
std::optional<std::string_view> get_string_view(const JsonValue& obj, std::string_view name);
std::string_view string_view_or(const JsonValue& obj, std::string_view name, std::string_view fallback);
std::string string_or(const JsonValue& obj, std::string_view name, std::string_view fallback);
std::optional<int64_t> get_int(const JsonValue& obj, std::string_view name);
std::optional<bool> get_bool(const JsonValue& obj, std::string_view name);

// Sets obj[name] = value (replacing any existing member); obj must be an object.
void set_member(JsonValue& obj, std::string_view name, JsonValue value, JsonAlloc& a);
void set_string(JsonValue& obj, std::string_view name, std::string_view value, JsonAlloc& a);
// Returns obj[name], creating it as an empty object when absent.
JsonValue& ensure_object(JsonValue& obj, std::string_view name, JsonAlloc& a);
bool remove_member(JsonValue& obj, std::string_view name);

// Appends `s` as a JSON string literal (quoted; `"`, `\` and control characters escaped), as
// RapidJSON's Writer would write it; for answers written straight to text.
void append_json_string(std::string& out, std::string_view s);

inline JsonValue json_string(std::string_view s, JsonAlloc& a) {
  return JsonValue(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

}  // namespace ifo::core
