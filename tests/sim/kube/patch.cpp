// Merge patch, JSON patch and strategic merge patch over RapidJSON values.
#include "sim/kube/patch.h"

#include <fmt/format.h>

#include <string_view>
#include <vector>

namespace ifo::kubesim {

using core::JsonAlloc;
using core::JsonValue;

namespace {

std::string_view sv(const JsonValue& v) { return {v.GetString(), v.GetStringLength()}; }

}  // namespace

void apply_merge_patch(JsonValue& target, const JsonValue& patch, JsonAlloc& a) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, a);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it) {
    std::string_view name = sv(it->name);
    if (it->value.IsNull()) {
      core::remove_member(target, name);
      continue;
    }
    JsonValue* cur = core::member(target, name);
    if (cur && it->value.IsObject() && cur->IsObject()) {
      apply_merge_patch(*cur, it->value, a);
    } else {
      JsonValue v(rapidjson::kObjectType);
      if (it->value.IsObject()) apply_merge_patch(v, it->value, a);  // drops nulls inside new objects
      else v.CopyFrom(it->value, a);
      core::set_member(target, name, std::move(v), a);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JSON patch

namespace {

core::Result<std::vector<std::string>> parse_pointer(std::string_view p) {
  std::vector<std::string> out;
  if (p.empty()) return out;
  if (p[0] != '/') return core::Result<std::vector<std::string>>::fail(fmt::format("invalid JSON pointer \"{}\"", p));
  size_t i = 1;
  std::string cur;
  for (; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    if (p[i] == '~' && i + 1 < p.size() && (p[i + 1] == '0' || p[i + 1] == '1')) {
      cur += p[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      cur += p[i];
    }
  }
  return out;
}

bool parse_index(const std::string& s, size_t& out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  if (s.size() > 1 && s[0] == '0') return false;
  out = std::stoul(s);
  return true;
}

// The container that holds the last token, or nullptr.
JsonValue* resolve_parent(JsonValue& root, const std::vector<std::string>& toks) {
  JsonValue* cur = &root;
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    if (cur->IsObject()) {
      cur = core::member(*cur, toks[i]);
    } else if (cur->IsArray()) {
      size_t idx;
      if (!parse_index(toks[i], idx) || idx >= cur->Size()) return nullptr;
      cur = &(*cur)[static_cast<rapidjson::SizeType>(idx)];
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

JsonValue* resolve(JsonValue& root, const std::vector<std::string>& toks) {
  if (toks.empty()) return &root;
  JsonValue* parent = resolve_parent(root, toks);
  if (!parent) return nullptr;
  if (parent->IsObject()) return core::member(*parent, toks.back());
  if (parent->IsArray()) {
    size_t idx;
    if (!parse_index(toks.back(), idx) || idx >= parent->Size()) return nullptr;
    return &(*parent)[static_cast<rapidjson::SizeType>(idx)];
  }
  return nullptr;
}

bool add_at(JsonValue& root, const std::vector<std::string>& toks, JsonValue value, JsonAlloc& a) {
  if (toks.empty()) {
    root = std::move(value);
    return true;
  }
  JsonValue* parent = resolve_parent(root, toks);
  if (!parent) return false;
  if (parent->IsObject()) {
    core::set_member(*parent, toks.back(), std::move(value), a);
    return true;
  }
  if (parent->IsArray()) {
    size_t idx;
    if (toks.back() == "-") idx = parent->Size();
    else if (!parse_index(toks.back(), idx) || idx > parent->Size()) return false;
    parent->PushBack(JsonValue(), a);
    for (size_t i = parent->Size() - 1; i > idx; --i)
      (*parent)[static_cast<rapidjson::SizeType>(i)] = std::move((*parent)[static_cast<rapidjson::SizeType>(i - 1)]);
    (*parent)[static_cast<rapidjson::SizeType>(idx)] = std::move(value);
    return true;
  }
  return false;
}

bool remove_at(JsonValue& root, const std::vector<std::string>& toks, JsonValue* removed, JsonAlloc& a) {
  if (toks.empty()) return false;
  JsonValue* parent = resolve_parent(root, toks);
  if (!parent) return false;
  if (parent->IsObject()) {
    auto it = parent->FindMember(rapidjson::StringRef(toks.back().data(), toks.back().size()));
    if (it == parent->MemberEnd()) return false;
    if (removed) removed->CopyFrom(it->value, a);
    parent->EraseMember(it);
    return true;
  }
  if (parent->IsArray()) {
    size_t idx;
    if (!parse_index(toks.back(), idx) || idx >= parent->Size()) return false;
    if (removed) removed->CopyFrom((*parent)[static_cast<rapidjson::SizeType>(idx)], a);
    parent->Erase(parent->Begin() + idx);
    return true;
  }
  return false;
}

}  // namespace

core::Result<bool> apply_json_patch(core::JsonDoc& doc, const JsonValue& patch) {
  using R = core::Result<bool>;
  auto& a = doc.GetAllocator();
  if (!patch.IsArray()) return R::fail("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  for (auto& op : patch.GetArray()) {
    std::string kind = core::string_or(op, "op", "");
    std::string path = core::string_or(op, "path", "");
    auto toks = parse_pointer(path);
    if (!toks) return R::fail(toks.error());
    const JsonValue* value = core::member(op, "value");
    if (kind == "add") {
      if (!value) return R::fail("add operation does not apply: value is missing");
      JsonValue v(*value, a);
      if (!add_at(doc, *toks, std::move(v), a))
        return R::fail(fmt::format("add operation does not apply: doc is missing path: \"{}\": missing value", path));
    } else if (kind == "remove") {
      if (!remove_at(doc, *toks, nullptr, a))
        return R::fail(fmt::format("remove operation does not apply: doc is missing path: \"{}\": missing value", path));
    } else if (kind == "replace") {
      if (!value) return R::fail("replace operation does not apply: value is missing");
      JsonValue* cur = resolve(doc, *toks);
      if (!cur)
        return R::fail(fmt::format("replace operation does not apply: doc is missing key: {}: missing value", path));
      cur->CopyFrom(*value, a);
    } else if (kind == "move" || kind == "copy") {
      std::string from = core::string_or(op, "from", "");
      auto ftoks = parse_pointer(from);
      if (!ftoks) return R::fail(ftoks.error());
      JsonValue tmp;
      if (kind == "move") {
        if (!remove_at(doc, *ftoks, &tmp, a))
          return R::fail(fmt::format("move operation does not apply: doc is missing from path: {}: missing value", from));
      } else {
        JsonValue* src = resolve(doc, *ftoks);
        if (!src)
          return R::fail(fmt::format("copy operation does not apply: doc is missing from path: {}: missing value", from));
        tmp.CopyFrom(*src, a);
      }
      if (!add_at(doc, *toks, std::move(tmp), a))
        return R::fail(fmt::format("{} operation does not apply: doc is missing destination path: {}: missing value",
                                   kind, path));
    } else if (kind == "test") {
      JsonValue* cur = resolve(doc, *toks);
      bool equal = value ? (cur ? *cur == *value : value->IsNull()) : false;
      if (!equal) return R::fail(fmt::format("testing value {} failed: test failed", path));
    } else {
      return R::fail(fmt::format("Unexpected kind: {}", kind));
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

namespace {

// The patchMergeKey of the built-in list fields users write (by field name; "ports" is decided by
// its elements: containers use containerPort, Services use port).
std::string merge_key_for(std::string_view field, const JsonValue& patch_list) {
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" || field == "volumes" ||
      field == "env" || field == "imagePullSecrets" || field == "resourceClaims" || field == "secrets")
    return "name";
  if (field == "volumeMounts") return "mountPath";
  if (field == "volumeDevices") return "devicePath";
  if (field == "conditions") return "type";
  if (field == "ownerReferences") return "uid";
  if (field == "hostAliases") return "ip";
  if (field == "topologySpreadConstraints") return "topologyKey";
  if (field == "ports") {
    for (auto& e : patch_list.GetArray())
      if (core::member(e, "containerPort")) return "containerPort";
    return "port";
  }
  return {};
}

bool primitive_merge_list(std::string_view field) { return field == "finalizers"; }

// Copies a patch value into a fresh value without any $-directives (for values that are added new).
void strip_directives(JsonValue& v) {
  if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd();) {
      if (it->name.GetStringLength() > 0 && it->name.GetString()[0] == '$') {
        it = v.EraseMember(it);
      } else {
        strip_directives(it->value);
        ++it;
      }
    }
  } else if (v.IsArray()) {
    for (auto it = v.Begin(); it != v.End();) {
      auto* p = it->IsObject() ? core::member(*it, "$patch") : nullptr;
      if (p && p->IsString() && sv(*p) == "delete") {
        it = v.Erase(it);
      } else {
        strip_directives(*it);
        ++it;
      }
    }
  }
}

core::Result<bool> merge_map(JsonValue& target, const JsonValue& patch, JsonAlloc& a);

core::Result<bool> merge_list(JsonValue& target, const JsonValue& patch, std::string_view field, JsonAlloc& a) {
  std::string key = merge_key_for(field, patch);
  // A list-level {"$patch": "replace"} element replaces the whole list.
  for (auto& e : patch.GetArray()) {
    auto* p = e.IsObject() ? core::member(e, "$patch") : nullptr;
    if (p && p->IsString() && sv(*p) == "replace") {
      JsonValue v(patch, a);
      for (auto it = v.Begin(); it != v.End();) {
        auto* q = it->IsObject() ? core::member(*it, "$patch") : nullptr;
        if (q) it = v.Erase(it);
        else ++it;
      }
      strip_directives(v);
      target = std::move(v);
      return true;
    }
  }
  if (key.empty()) {
    if (primitive_merge_list(field)) {
      for (auto& e : patch.GetArray()) {
        bool present = false;
        for (auto& t : target.GetArray()) present = present || t == e;
        if (!present) target.PushBack(JsonValue(e, a), a);
      }
      return true;
    }
    JsonValue v(patch, a);
    strip_directives(v);
    target = std::move(v);
    return true;
  }
  for (auto& e : patch.GetArray()) {
    if (!e.IsObject()) return core::Result<bool>::fail(fmt::format("unable to find merge key \"{}\" in list {}", key, field));
    const JsonValue* kv = core::member(e, key);
    auto* directive = core::member(e, "$patch");
    bool del = directive && directive->IsString() && sv(*directive) == "delete";
    if (!kv) return core::Result<bool>::fail(fmt::format("map: {} does not contain declared merge key: {}", core::to_json(e), key));
    JsonValue* found = nullptr;
    rapidjson::SizeType found_at = 0;
    for (rapidjson::SizeType i = 0; i < target.Size(); ++i) {
      auto* tk = core::member(target[i], key);
      if (tk && *tk == *kv) {
        found = &target[i];
        found_at = i;
        break;
      }
    }
    if (del) {
      if (found) target.Erase(target.Begin() + found_at);
      continue;
    }
    if (found) {
      auto r = merge_map(*found, e, a);
      if (!r) return r;
    } else {
      JsonValue v(e, a);
      strip_directives(v);
      target.PushBack(std::move(v), a);
    }
  }
  return true;
}

core::Result<bool> merge_map(JsonValue& target, const JsonValue& patch, JsonAlloc& a) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, a);
    return true;
  }
  if (!target.IsObject()) target.SetObject();
  if (auto* p = core::member(patch, "$patch"); p && p->IsString()) {
    if (sv(*p) == "replace") {
      JsonValue v(patch, a);
      strip_directives(v);
      target = std::move(v);
      return true;
    }
    if (sv(*p) != "merge" && sv(*p) != "delete")
      return core::Result<bool>::fail(fmt::format("Unknown patch type: {}", sv(*p)));
  }
  if (auto* rk = core::member(patch, "$retainKeys"); rk && rk->IsArray()) {
    for (auto it = target.MemberBegin(); it != target.MemberEnd();) {
      bool keep = false;
      for (auto& k : rk->GetArray()) keep = keep || (k.IsString() && sv(k) == sv(it->name));
      if (!keep) it = target.EraseMember(it);
      else ++it;
    }
  }
  for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it) {
    std::string_view name = sv(it->name);
    if (name == "$patch" || name == "$retainKeys" || name.rfind("$setElementOrder/", 0) == 0) continue;
    if (name.rfind("$deleteFromPrimitiveList/", 0) == 0) {
      auto field = name.substr(std::string_view("$deleteFromPrimitiveList/").size());
      JsonValue* list = core::member(target, field);
      if (list && list->IsArray() && it->value.IsArray()) {
        for (auto li = list->Begin(); li != list->End();) {
          bool drop = false;
          for (auto& d : it->value.GetArray()) drop = drop || d == *li;
          if (drop) li = list->Erase(li);
          else ++li;
        }
      }
      continue;
    }
    if (it->value.IsNull()) {
      core::remove_member(target, name);
      continue;
    }
    JsonValue* cur = core::member(target, name);
    if (it->value.IsObject()) {
      auto* p = core::member(it->value, "$patch");
      if (p && p->IsString() && sv(*p) == "delete") {
        core::remove_member(target, name);
        continue;
      }
    }
    if (cur && cur->IsObject() && it->value.IsObject()) {
      auto r = merge_map(*cur, it->value, a);
      if (!r) return r;
    } else if (cur && cur->IsArray() && it->value.IsArray()) {
      auto r = merge_list(*cur, it->value, name, a);
      if (!r) return r;
    } else {
      JsonValue v(it->value, a);
      strip_directives(v);
      core::set_member(target, name, std::move(v), a);
    }
  }
  return true;
}

}  // namespace

core::Result<bool> apply_strategic_merge_patch(JsonValue& target, const JsonValue& patch, JsonAlloc& a) {
  if (!patch.IsObject()) return core::Result<bool>::fail("unable to unmarshal patch: the patch is not a JSON object");
  return merge_map(target, patch, a);
}

}  // namespace ifo::kubesim
