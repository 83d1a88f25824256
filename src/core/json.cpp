// Small helpers over RapidJSON.
#include "core/json.h"

#include <algorithm>
#include <array>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/reader.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fmt/format.h>

namespace ifo::core {

namespace {

// Builds the document as RapidJSON's reader drives it, refusing nesting deeper than kMaxJsonDepth as
// soon as it is reached, so the recursive parser never goes deeper (no separate pass over the text).
struct DepthLimitedBuilder {
  JsonDoc& doc;
  unsigned depth = 0;
  bool too_deep = false;
  using SizeType = rapidjson::SizeType;
  bool Null() { return doc.Null(); }
  bool Bool(bool b) { return doc.Bool(b); }
  bool Int(int i) { return doc.Int(i); }
  bool Uint(unsigned i) { return doc.Uint(i); }
  bool Int64(int64_t i) { return doc.Int64(i); }
  bool Uint64(uint64_t i) { return doc.Uint64(i); }
  bool Double(double d) { return doc.Double(d); }
  bool RawNumber(const char* str, SizeType length, bool copy) { return doc.RawNumber(str, length, copy); }
  bool String(const char* str, SizeType length, bool copy) { return doc.String(str, length, copy); }
  bool Key(const char* str, SizeType length, bool copy) { return doc.Key(str, length, copy); }
  bool enter() {
    if (++depth <= kMaxJsonDepth) return true;
    too_deep = true;
    return false;
  }
  bool StartObject() { return enter() && doc.StartObject(); }
  bool EndObject(SizeType members) {
    --depth;
    return doc.EndObject(members);
  }
  bool StartArray() { return enter() && doc.StartArray(); }
  bool EndArray(SizeType elements) {
    --depth;
    return doc.EndArray(elements);
  }
};

// Feeds a stream to a document through DepthLimitedBuilder (GenericDocument::Populate's generator).
template <unsigned kFlags, typename Stream>
struct DepthLimitedParse {
  Stream& in;
  rapidjson::ParseResult result{};
  bool too_deep = false;
  bool operator()(JsonDoc& doc) {
    DepthLimitedBuilder builder{doc};
    rapidjson::Reader reader;
    result = reader.Parse<kFlags>(in, builder);
    too_deep = builder.too_deep;
    return !result.IsError();
  }
};

template <unsigned kFlags, typename Stream>
Result<bool> populate(JsonDoc& doc, Stream& in) {
  DepthLimitedParse<kFlags, Stream> parse{in};
  doc.Populate(parse);
  if (parse.too_deep) return Result<bool>::fail(fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
  if (parse.result.IsError()) {
    return Result<bool>::fail(fmt::format("invalid JSON at offset {}: {}", parse.result.Offset(),
                                          rapidjson::GetParseError_En(parse.result.Code())));
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

Result<bool> parse_json_into(JsonDoc& doc, std::string_view text) {
  rapidjson::MemoryStream memory(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(memory);
  return populate<rapidjson::kParseDefaultFlags>(doc, in);
}

Result<bool> parse_json_in_place(JsonDoc& doc, char* text) {
  rapidjson::InsituStringStream in(text);
  return populate<rapidjson::kParseInsituFlag>(doc, in);
}

Result<std::shared_ptr<JsonDoc>> parse_json_compact(std::string_view text) {
  // A Kubernetes object's tree takes about twice its text (16-byte values; names and short strings
  // inline): one chunk of that holds most whole, and a larger one grows by chunks of the same size.
  auto holder = std::make_shared<CompactDoc>(std::max<size_t>(text.size() * 2, 256));
  auto parsed = parse_json_into(holder->doc, text);
  if (!parsed) return Result<std::shared_ptr<JsonDoc>>::fail(parsed.error());
  return std::shared_ptr<JsonDoc>(holder, &holder->doc);
}

Result<std::shared_ptr<JsonDoc>> parse_json(std::string_view text) {
  auto doc = std::make_shared<JsonDoc>();
  auto parsed = parse_json_into(*doc, text);
  if (!parsed) return Result<std::shared_ptr<JsonDoc>>::fail(parsed.error());
  return doc;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  static constexpr auto kEscaped = [] {
    std::array<bool, 256> t{};
    for (int ch = 0; ch < 0x20; ++ch) t[static_cast<size_t>(ch)] = true;
    t['"'] = t['\\'] = true;
    return t;
  }();
  size_t plain = 0;  // start of the run not yet appended
  for (size_t i = 0; i < s.size(); ++i) {
    const auto ch = static_cast<unsigned char>(s[i]);
    if (!kEscaped[ch]) continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (ch) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[ch >> 4]);
        out.push_back(kHex[ch & 15]);
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out.push_back('"');
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

std::optional<std::string_view> get_string_view(const JsonValue& obj, std::string_view name) {
  const JsonValue* v = member(obj, name);
  if (v == nullptr || !v->IsString()) return std::nullopt;
  return std::string_view(v->GetString(), v->GetStringLength());
}

std::string_view string_view_or(const JsonValue& obj, std::string_view name, std::string_view fallback) {
  return get_string_view(obj, name).value_or(fallback);
}

std::optional<std::string> get_string(const JsonValue& obj, std::string_view name) {
  auto v = get_string_view(obj, name);
  if (!v) return std::nullopt;
  return std::string(*v);
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
