// Table rendering and the printer-column JSONPath subset.
#include "sim/kube/table.h"

#include <fmt/format.h>

#include <ctime>

namespace ifo::kubesim {

using core::JsonValue;

namespace {

std::string unquote(std::string_view s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    return std::string(s.substr(1, s.size() - 2));
  return std::string(s);
}

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view s) {
  std::tm tm{};
  std::string str(s);
  if (!strptime(str.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

namespace {

// Evaluates `path` from `cur`. A wildcard (`.*`, `[*]`) or a union of names (`['a','b']`) answers with the
// first branch that yields a value, as the apiserver's table convertor takes the first result.
const JsonValue* eval_from(const JsonValue& start, std::string_view path) {
  const JsonValue* cur = &start;
  size_t i = 0;
  while (cur && i < path.size()) {
    if (path[i] == '.') {
      ++i;
      size_t j = i;
      while (j < path.size() && path[j] != '.' && path[j] != '[') ++j;
      std::string_view name = path.substr(i, j - i);
      i = j;
      if (name == "*") {
        if (!cur->IsObject()) return nullptr;
        for (auto& m : cur->GetObject())
          if (const JsonValue* r = eval_from(m.value, path.substr(i))) return r;
        return nullptr;
      }
      if (!name.empty()) cur = core::member(*cur, name);
    } else if (path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string_view::npos) return nullptr;
      std::string_view inner = path.substr(i + 1, close - i - 1);
      i = close + 1;
      if (!inner.empty() && (inner.front() == '\'' || inner.front() == '"')) {
        if (!cur->IsObject()) return nullptr;
        while (!inner.empty()) {
          size_t comma = inner.find(',');
          std::string_view part = inner.substr(0, comma);
          while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
          while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
          if (const JsonValue* m = core::member(*cur, unquote(part)))
            if (const JsonValue* r = eval_from(*m, path.substr(i))) return r;
          if (comma == std::string_view::npos) break;
          inner.remove_prefix(comma + 1);
        }
        return nullptr;
      }
      if (!cur->IsArray()) return nullptr;
      if (inner.rfind("?(@.", 0) == 0 && inner.back() == ')') {
        std::string_view cond = inner.substr(4, inner.size() - 5);
        auto eq = cond.find("==");
        if (eq == std::string_view::npos) return nullptr;
        std::string_view field = cond.substr(0, eq);
        std::string want = unquote(cond.substr(eq + 2));
        const JsonValue* found = nullptr;
        for (auto& e : cur->GetArray()) {
          const JsonValue* f = eval_from(e, "." + std::string(field));
          if (f && f->IsString() && want == f->GetString()) {
            found = &e;
            break;
          }
        }
        cur = found;
      } else if (inner == "*") {
        for (auto& e : cur->GetArray())
          if (const JsonValue* r = eval_from(e, path.substr(i))) return r;
        return nullptr;
      } else {
        long idx = 0;
        try {
          idx = std::stol(std::string(inner));
        } catch (const std::exception&) {
          return nullptr;
        }
        if (idx < 0) idx += static_cast<long>(cur->Size());
        if (idx < 0 || idx >= static_cast<long>(cur->Size())) return nullptr;
        cur = &(*cur)[static_cast<rapidjson::SizeType>(idx)];
      }
    } else {
      return nullptr;
    }
  }
  return cur;
}

}  // namespace

const JsonValue* eval_jsonpath(const JsonValue& root, std::string_view path) {
  if (path.size() >= 2 && path.front() == '{' && path.back() == '}') path = path.substr(1, path.size() - 2);
  return eval_from(root, path);
}

std::string human_duration(std::chrono::seconds d) {
  long long s = d.count();
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return fmt::format("{}s", s);
  long long m = s / 60;
  if (m < 10) {
    long long rs = s % 60;
    return rs == 0 ? fmt::format("{}m", m) : fmt::format("{}m{}s", m, rs);
  }
  if (m < 180) return fmt::format("{}m", m);
  long long h = s / 3600;
  if (h < 8) {
    long long rm = m % 60;
    return rm == 0 ? fmt::format("{}h", h) : fmt::format("{}h{}m", h, rm);
  }
  if (h < 48) return fmt::format("{}h", h);
  if (h < 24 * 8) {
    long long rh = h % 24;
    return rh == 0 ? fmt::format("{}d", h / 24) : fmt::format("{}d{}h", h / 24, rh);
  }
  if (h < 24 * 365 * 2) return fmt::format("{}d", h / 24);
  if (h < 24 * 365 * 8) {
    long long dy = (h / 24) % 365;
    return dy == 0 ? fmt::format("{}y", h / 24 / 365) : fmt::format("{}y{}d", h / 24 / 365, dy);
  }
  return fmt::format("{}y", h / 24 / 365);
}

std::string render_table(const std::vector<ObjectPtr>& items, const JsonValue* columns, uint64_t list_rv,
                         const std::string& continue_token, std::chrono::system_clock::time_point now) {
  core::JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  core::set_string(d, "kind", "Table", a);
  core::set_string(d, "apiVersion", "meta.k8s.io/v1", a);
  auto& md = core::ensure_object(d, "metadata", a);
  core::set_string(md, "resourceVersion", std::to_string(list_rv), a);
  if (!continue_token.empty()) core::set_string(md, "continue", continue_token, a);

  struct Col {
    std::string name, type, format, description, path;
    int priority = 0;
  };
  std::vector<Col> cols;
  cols.push_back({"Name", "string", "name",
                  "Name must be unique within a namespace. Is required when creating resources, although some "
                  "resources may allow a client to request the generation of an appropriate name automatically. Name "
                  "is primarily intended for creation idempotence and configuration definition. Cannot be updated. "
                  "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
                  ".metadata.name", 0});
  if (columns && columns->IsArray() && !columns->Empty()) {
    for (auto& c : columns->GetArray()) {
      Col col;
      col.name = core::string_or(c, "name", "");
      col.type = core::string_or(c, "type", "string");
      col.format = core::string_or(c, "format", "");
      col.description = core::string_or(c, "description", "");
      col.path = core::string_or(c, "jsonPath", "");
      col.priority = static_cast<int>(core::get_int(c, "priority").value_or(0));
      cols.push_back(col);
    }
  } else {
    cols.push_back({"Age", "date", "",
                    "CreationTimestamp is a timestamp representing the server time when this object was created.",
                    ".metadata.creationTimestamp", 0});
  }
  JsonValue defs(rapidjson::kArrayType);
  for (auto& c : cols) {
    JsonValue o(rapidjson::kObjectType);
    core::set_string(o, "name", c.name, a);
    core::set_string(o, "type", c.type, a);
    core::set_string(o, "format", c.format, a);
    core::set_string(o, "description", c.description, a);
    core::set_member(o, "priority", JsonValue(c.priority), a);
    defs.PushBack(o, a);
  }
  core::set_member(d, "columnDefinitions", std::move(defs), a);
  JsonValue rows(rapidjson::kArrayType);
  for (auto& item : items) {
    const JsonValue& v = item->value();
    JsonValue cells(rapidjson::kArrayType);
    for (auto& c : cols) {
      const JsonValue* x = eval_jsonpath(v, c.path);
      if (!x) {
        cells.PushBack(JsonValue(), a);
      } else if (c.type == "date" && x->IsString()) {
        auto tp = parse_time(x->GetString());
        if (tp)
          cells.PushBack(core::json_string(human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - *tp)), a),
                         a);
        else
          cells.PushBack(JsonValue(*x, a), a);
      } else if (c.type == "string" && !x->IsString()) {
        cells.PushBack(core::json_string(x->IsObject() || x->IsArray() ? core::to_json(*x) : core::to_json(*x), a), a);
      } else {
        cells.PushBack(JsonValue(*x, a), a);
      }
    }
    JsonValue row(rapidjson::kObjectType);
    core::set_member(row, "cells", std::move(cells), a);
    JsonValue pom(rapidjson::kObjectType);
    core::set_string(pom, "kind", "PartialObjectMetadata", a);
    core::set_string(pom, "apiVersion", "meta.k8s.io/v1", a);
    if (auto* m = core::member(v, "metadata")) core::set_member(pom, "metadata", JsonValue(*m, a), a);
    core::set_member(row, "object", std::move(pom), a);
    rows.PushBack(row, a);
  }
  core::set_member(d, "rows", std::move(rows), a);
  return core::to_json(d);
}

}  // namespace ifo::kubesim
