// JSON Pointer, JSON Patch and JSON Merge Patch over RapidJSON.
#include "core/json_patch.h"

#include <fmt/format.h>

#include "core/field_error.h"

namespace ifo::core {

namespace {

using R = Result<std::shared_ptr<JsonDoc>>;

// An array index token: "0" or digits without a leading zero, within the array size bound.
bool parse_index(std::string_view token, size_t& out) {
  if (token.empty() || token.size() > 9) return false;
  if (token.size() > 1 && token[0] == '0') return false;
  size_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  out = v;
  return true;
}

JsonValue* child(JsonValue& parent, const std::string& token) {
  if (parent.IsObject()) return member(parent, token);
  if (parent.IsArray()) {
    size_t i = 0;
    if (!parse_index(token, i) || i >= parent.Size()) return nullptr;
    return &parent[static_cast<rapidjson::SizeType>(i)];
  }
  return nullptr;
}

JsonValue* resolve(JsonValue& root, const std::vector<std::string>& tokens, size_t count) {
  JsonValue* cur = &root;
  for (size_t i = 0; i < count && cur != nullptr; ++i) cur = child(*cur, tokens[i]);
  return cur;
}

class Applier {
 public:
  explicit Applier(std::shared_ptr<JsonDoc> doc) : doc_(std::move(doc)), a_(doc_->GetAllocator()) {}

  // Returns an error message, or "" on success.
  std::string apply(const JsonValue& op) {
    if (!op.IsObject()) return "operation is not an object";
    auto name = get_string(op, "op");
    if (!name) return "missing or non-string \"op\"";
    auto path_text = get_string(op, "path");
    if (!path_text) return "missing or non-string \"path\"";
    auto path = parse_json_pointer(*path_text);
    if (!path.ok()) return path.error();
    const JsonValue* value = member(op, "value");
    if (*name == "add" || *name == "replace" || *name == "test") {
      if (value == nullptr) return "missing \"value\"";
      JsonValue copy(*value, a_);
      if (*name == "add") return add(*path, std::move(copy));
      if (*name == "replace") return replace(*path, std::move(copy));
      JsonValue* cur = resolve(*doc_, *path, path->size());
      if (cur == nullptr) return "path not found";
      if (!(*cur == *value)) return "test failed: value differs";
      return {};
    }
    if (*name == "remove") {
      JsonValue removed;
      return remove(*path, removed);
    }
    if (*name == "move" || *name == "copy") {
      auto from_text = get_string(op, "from");
      if (!from_text) return "missing or non-string \"from\"";
      auto from = parse_json_pointer(*from_text);
      if (!from.ok()) return "from: " + from.error();
      if (*name == "copy") {
        JsonValue* src = resolve(*doc_, *from, from->size());
        if (src == nullptr) return "from: path not found";
        return add(*path, JsonValue(*src, a_));
      }
      if (*from == *path) {
        return resolve(*doc_, *from, from->size()) == nullptr ? "from: path not found" : "";
      }
      if (path->size() > from->size() && std::equal(from->begin(), from->end(), path->begin())) {
        return "cannot move a value into one of its own children";
      }
      JsonValue moved;
      if (std::string e = remove(*from, moved); !e.empty()) return "from: " + e;
      return add(*path, std::move(moved));
    }
    return fmt::format("unknown op \"{}\"", abbreviate(*name));
  }

  std::shared_ptr<JsonDoc> result() { return doc_; }

 private:
  std::string add(const std::vector<std::string>& path, JsonValue value) {
    if (path.empty()) {
      static_cast<JsonValue&>(*doc_) = std::move(value);
      return {};
    }
    JsonValue* parent = resolve(*doc_, path, path.size() - 1);
    if (parent == nullptr) return "parent path not found";
    const std::string& last = path.back();
    if (parent->IsObject()) {
      ifo::core::set_member(*parent, last, std::move(value), a_);
      return {};
    }
    if (parent->IsArray()) {
      size_t i = 0;
      if (last == "-") {
        i = parent->Size();
      } else if (!parse_index(last, i) || i > parent->Size()) {
        return fmt::format("array index \"{}\" out of range", abbreviate(last));
      }
      parent->PushBack(std::move(value), a_);
      for (size_t j = parent->Size() - 1; j > i; --j) {
        (*parent)[static_cast<rapidjson::SizeType>(j)].Swap((*parent)[static_cast<rapidjson::SizeType>(j - 1)]);
      }
      return {};
    }
    return "parent is neither an object nor an array";
  }

  std::string remove(const std::vector<std::string>& path, JsonValue& removed) {
    if (path.empty()) return "cannot remove the whole document";
    JsonValue* parent = resolve(*doc_, path, path.size() - 1);
    if (parent == nullptr) return "path not found";
    const std::string& last = path.back();
    if (parent->IsObject()) {
      JsonValue* v = member(*parent, last);
      if (v == nullptr) return "path not found";
      removed = std::move(*v);
      remove_member(*parent, last);
      return {};
    }
    if (parent->IsArray()) {
      size_t i = 0;
      if (!parse_index(last, i) || i >= parent->Size()) return "path not found";
      removed = std::move((*parent)[static_cast<rapidjson::SizeType>(i)]);
      parent->Erase(parent->Begin() + i);
      return {};
    }
    return "path not found";
  }

  std::string replace(const std::vector<std::string>& path, JsonValue value) {
    JsonValue* cur = resolve(*doc_, path, path.size());
    if (cur == nullptr) return "path not found";
    *cur = std::move(value);
    return {};
  }

  std::shared_ptr<JsonDoc> doc_;
  JsonAlloc& a_;
};

void merge_into(JsonValue& target, const JsonValue& patch, JsonAlloc& a) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, a);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  for (const auto& m : patch.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (m.value.IsNull()) {
      remove_member(target, name);
      continue;
    }
    JsonValue* existing = member(target, name);
    if (existing == nullptr) {
      target.AddMember(json_string(name, a), JsonValue(rapidjson::kNullType), a);
      existing = member(target, name);
    }
    merge_into(*existing, m.value, a);
  }
}

}  // namespace

std::string json_pointer_escape(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string json_pointer(std::initializer_list<std::string_view> tokens) {
  std::string out;
  for (auto t : tokens) {
    out += '/';
    out += json_pointer_escape(t);
  }
  return out;
}

std::string json_pointer(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) {
    out += '/';
    out += json_pointer_escape(t);
  }
  return out;
}

Result<std::vector<std::string>> parse_json_pointer(std::string_view pointer) {
  using P = Result<std::vector<std::string>>;
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') return P::fail(fmt::format("invalid JSON pointer \"{}\": must start with '/'", abbreviate(pointer)));
  std::string cur;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (pointer[i] == '~') {
      if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
        return P::fail(fmt::format("invalid JSON pointer \"{}\": '~' must be followed by 0 or 1", abbreviate(pointer)));
      }
      cur += pointer[i + 1] == '0' ? '~' : '/';
      ++i;
      continue;
    }
    cur += pointer[i];
  }
  return tokens;
}

JsonPatchBuilder::JsonPatchBuilder() { doc_.SetArray(); }

JsonPatchBuilder& JsonPatchBuilder::op(std::string_view name, std::string_view path, const JsonValue* value) {
  auto& a = doc_.GetAllocator();
  JsonValue o(rapidjson::kObjectType);
  o.AddMember("op", json_string(name, a), a);
  o.AddMember("path", json_string(path, a), a);
  if (value != nullptr) o.AddMember("value", JsonValue(*value, a), a);
  doc_.PushBack(std::move(o), a);
  return *this;
}

JsonPatchBuilder& JsonPatchBuilder::add(std::string_view path, const JsonValue& value) { return op("add", path, &value); }
JsonPatchBuilder& JsonPatchBuilder::add(std::string_view path, std::string_view value) {
  JsonValue v(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return op("add", path, &v);
}
JsonPatchBuilder& JsonPatchBuilder::replace(std::string_view path, const JsonValue& value) {
  return op("replace", path, &value);
}
JsonPatchBuilder& JsonPatchBuilder::replace(std::string_view path, std::string_view value) {
  JsonValue v(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return op("replace", path, &v);
}
JsonPatchBuilder& JsonPatchBuilder::remove(std::string_view path) { return op("remove", path, nullptr); }
JsonPatchBuilder& JsonPatchBuilder::test(std::string_view path, const JsonValue& value) { return op("test", path, &value); }
JsonPatchBuilder& JsonPatchBuilder::test(std::string_view path, std::string_view value) {
  JsonValue v(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return op("test", path, &v);
}

JsonPatchBuilder& JsonPatchBuilder::set_member(const JsonValue& current, const std::vector<std::string>& object_path,
                                               std::string_view key, std::string_view value) {
  const JsonValue* cur = &current;
  std::vector<std::string> prefix;
  for (const auto& t : object_path) {
    prefix.push_back(t);
    const JsonValue* next = cur != nullptr ? member(*cur, t) : nullptr;
    if (next == nullptr || !next->IsObject()) {
      JsonValue empty(rapidjson::kObjectType);
      add(json_pointer(prefix), empty);
      cur = nullptr;
    } else {
      cur = next;
    }
  }
  if (cur != nullptr) {
    auto existing = get_string(*cur, key);
    if (existing && *existing == value) return *this;
  }
  prefix.emplace_back(key);
  return add(json_pointer(prefix), value);
}

std::string JsonPatchBuilder::to_json() const { return ifo::core::to_json(doc_); }

Result<std::shared_ptr<JsonDoc>> apply_json_patch(const JsonValue& target, const JsonValue& patch) {
  if (!patch.IsArray()) return R::fail("JSON patch must be an array of operations");
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(target, doc->GetAllocator());
  Applier applier(doc);
  size_t i = 0;
  for (const auto& op : patch.GetArray()) {
    std::string e = applier.apply(op);
    if (!e.empty()) {
      std::string what = op.IsObject() ? fmt::format(" ({} {})", abbreviate(string_or(op, "op", "?")), abbreviate(string_or(op, "path", "?"))) : "";
      return R::fail(fmt::format("operation {}{}: {}", i, what, e));
    }
    ++i;
  }
  return applier.result();
}

Result<std::shared_ptr<JsonDoc>> apply_json_patch(const JsonValue& target, std::string_view patch_json) {
  auto patch = parse_json(patch_json);
  if (!patch.ok()) return R::fail(patch.error());
  return apply_json_patch(target, **patch);
}

std::shared_ptr<JsonDoc> apply_merge_patch(const JsonValue& target, const JsonValue& patch) {
  auto doc = std::make_shared<JsonDoc>();
  doc->CopyFrom(target, doc->GetAllocator());
  merge_into(*doc, patch, doc->GetAllocator());
  return doc;
}

}  // namespace ifo::core
