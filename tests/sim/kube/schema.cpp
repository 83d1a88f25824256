// CRD schema pruning, defaulting, validation.
#include "sim/kube/schema.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <regex>

namespace ifo::kubesim {

using core::JsonAlloc;
using core::JsonValue;

namespace {

std::string_view sv(const JsonValue& v) { return {v.GetString(), v.GetStringLength()}; }

bool flag(const JsonValue& schema, std::string_view name) {
  auto* f = core::member(schema, name);
  return f && f->IsBool() && f->GetBool();
}

std::string join(const std::string& base, std::string_view field) {
  return base.empty() ? std::string(field) : base + "." + std::string(field);
}

// A schema's `pattern`, compiled once per pattern as the API server compiles a CRD's schema once:
// compiling at every validated write cost kube-sim a fifth of its CPU under a status-patch load.
// nullptr for a pattern std::regex cannot compile.
const std::regex* compiled_pattern(const std::string& pattern) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<std::regex>, std::less<>> cache;
  std::lock_guard lock(mutex);
  auto it = cache.find(pattern);
  if (it == cache.end()) {
    std::unique_ptr<std::regex> re;
    try {
      re = std::make_unique<std::regex>(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
    }
    it = cache.emplace(pattern, std::move(re)).first;
  }
  return it->second.get();
}

const JsonValue* properties_of(const JsonValue& schema) {
  auto* p = core::member(schema, "properties");
  return p && p->IsObject() ? p : nullptr;
}

// Go's %#v rendering as the apiserver prints Invalid values.
std::string go_value(const JsonValue& v) {
  if (v.IsString()) return core::to_json(v);
  if (v.IsNull()) return "\"null\"";
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsDouble()) return fmt::format("{}", v.GetDouble());
  return core::to_json(v);
}

std::string json_type(const JsonValue& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "boolean";
  if (v.IsString()) return "string";
  if (v.IsObject()) return "object";
  if (v.IsArray()) return "array";
  if (v.IsInt64() || v.IsUint64()) return "integer";
  return "number";
}

bool is_integral(const JsonValue& v) {
  if (v.IsInt64() || v.IsUint64()) return true;
  if (v.IsDouble()) {
    double d = v.GetDouble();
    return std::isfinite(d) && std::floor(d) == d;
  }
  return false;
}

std::string number_text(const JsonValue& v) {
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  double d = v.GetDouble();
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  return fmt::format("{}", d);
}

// `path` is a buffer holding the current field path ("spec.items[0]"); children append to it and cut it
// back, so a path string is built only for the fields that are dropped.
void prune_value(JsonValue& v, const JsonValue& schema, std::string& path, std::vector<std::string>& unknown);

// ObjectMeta (meta/v1, 1.32) as a structural schema: decoding metadata into it drops everything else.
const JsonValue& object_meta_schema() {
  static const std::shared_ptr<const core::JsonDoc> schema = *core::parse_json(R"({"type":"object","properties":{
      "name":{"type":"string"},"generateName":{"type":"string"},"namespace":{"type":"string"},
      "selfLink":{"type":"string"},"uid":{"type":"string"},"resourceVersion":{"type":"string"},
      "generation":{"type":"integer"},"creationTimestamp":{"type":"string"},
      "deletionTimestamp":{"type":"string"},"deletionGracePeriodSeconds":{"type":"integer"},
      "labels":{"type":"object","additionalProperties":{"type":"string"}},
      "annotations":{"type":"object","additionalProperties":{"type":"string"}},
      "ownerReferences":{"type":"array","items":{"type":"object","properties":{
        "apiVersion":{"type":"string"},"kind":{"type":"string"},"name":{"type":"string"},"uid":{"type":"string"},
        "controller":{"type":"boolean"},"blockOwnerDeletion":{"type":"boolean"}}}},
      "finalizers":{"type":"array","items":{"type":"string"}},
      "managedFields":{"type":"array","items":{"type":"object","properties":{
        "manager":{"type":"string"},"operation":{"type":"string"},"apiVersion":{"type":"string"},
        "time":{"type":"string"},"fieldsType":{"type":"string"},"subresource":{"type":"string"},
        "fieldsV1":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}}})");
  return *schema;
}

void prune_object(JsonValue& v, const JsonValue& schema, std::string& path, std::vector<std::string>& unknown,
                  bool root) {
  const JsonValue* props = properties_of(schema);
  const JsonValue* addl = core::member(schema, "additionalProperties");
  bool preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
  bool embedded = flag(schema, "x-kubernetes-embedded-resource");
  const size_t mark = path.size();
  for (auto it = v.MemberBegin(); it != v.MemberEnd();) {
    std::string_view name = sv(it->name);
    auto child = [&]() -> std::string& {
      if (mark) path += '.';
      path.append(name);
      return path;
    };
    if ((root || embedded) && (name == "apiVersion" || name == "kind")) {
      ++it;
      continue;
    }
    if ((root || embedded) && name == "metadata") {
      if (it->value.IsObject()) prune_object(it->value, object_meta_schema(), child(), unknown, false);
      path.resize(mark);
      ++it;
      continue;
    }
    const JsonValue* ps = props ? core::member(*props, name) : nullptr;
    if (!ps && addl && addl->IsObject()) ps = addl;
    if (ps) {
      if (it->value.IsObject() || it->value.IsArray()) prune_value(it->value, *ps, child(), unknown);
      ++it;
    } else if (preserve || (addl && addl->IsBool() && addl->GetBool())) {
      ++it;
    } else {
      unknown.push_back(child());
      it = v.EraseMember(it);
    }
    path.resize(mark);
  }
}

void prune_value(JsonValue& v, const JsonValue& schema, std::string& path, std::vector<std::string>& unknown) {
  if (v.IsObject()) {
    prune_object(v, schema, path, unknown, false);
  } else if (v.IsArray()) {
    const JsonValue* items = core::member(schema, "items");
    if (!items || !items->IsObject()) return;
    const size_t mark = path.size();
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (!v[i].IsObject() && !v[i].IsArray()) continue;
      path += '[';
      path += std::to_string(i);
      path += ']';
      prune_value(v[i], *items, path, unknown);
      path.resize(mark);
    }
  }
}

void validate_value(const JsonValue& v, const JsonValue& schema, const std::string& path,
                    std::vector<StatusCause>& out);

void invalid_cause(std::vector<StatusCause>& out, const std::string& path, const std::string& shown,
                   const std::string& what) {
  out.push_back({"FieldValueInvalid", fmt::format("Invalid value: {}: {} in body {}", shown, path, what), path});
}

void validate_value(const JsonValue& v, const JsonValue& schema, const std::string& path,
                    std::vector<StatusCause>& out) {
  std::string type = core::string_or(schema, "type", "");
  bool int_or_string = flag(schema, "x-kubernetes-int-or-string");
  if (v.IsNull()) {
    if (flag(schema, "nullable") || type.empty()) return;
    out.push_back({"FieldValueTypeInvalid",
                   fmt::format("Invalid value: \"null\": {} in body must be of type {}: \"null\"", path, type), path});
    return;
  }
  if (int_or_string) {
    if (!v.IsString() && !is_integral(v)) {
      std::string t = json_type(v);
      out.push_back({"FieldValueTypeInvalid",
                     fmt::format("Invalid value: \"{}\": {} in body must be of type integer,string: \"{}\"", t, path, t),
                     path});
      return;
    }
  } else if (!type.empty()) {
    bool ok = (type == "object" && v.IsObject()) || (type == "array" && v.IsArray()) ||
              (type == "string" && v.IsString()) || (type == "boolean" && v.IsBool()) ||
              (type == "integer" && is_integral(v)) || (type == "number" && v.IsNumber());
    if (!ok) {
      std::string t = json_type(v);
      out.push_back({"FieldValueTypeInvalid",
                     fmt::format("Invalid value: \"{}\": {} in body must be of type {}: \"{}\"", t, path, type, t),
                     path});
      return;
    }
  }
  if (auto* en = core::member(schema, "enum"); en && en->IsArray() && !en->Empty()) {
    bool found = false;
    for (auto& e : en->GetArray()) found = found || e == v;
    if (!found) {
      std::string supported;
      for (auto& e : en->GetArray()) {
        if (!supported.empty()) supported += ", ";
        supported += go_value(e);
      }
      out.push_back({"FieldValueNotSupported",
                     fmt::format("Unsupported value: {}: supported values: {}", go_value(v), supported), path});
    }
  }
  if (v.IsString()) {
    std::string s(v.GetString(), v.GetStringLength());
    size_t chars = 0;
    for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
    if (auto ml = core::get_int(schema, "maxLength"); ml && static_cast<int64_t>(chars) > *ml)
      out.push_back({"FieldValueTooLong", fmt::format("Too long: may not be more than {} bytes", *ml), path});
    if (auto ml = core::get_int(schema, "minLength"); ml && static_cast<int64_t>(chars) < *ml)
      invalid_cause(out, path, go_value(v), fmt::format("should be at least {} chars long", *ml));
    if (auto pat = core::get_string(schema, "pattern")) {
      // An unsupported pattern is not the object's fault; the real server rejects such CRDs earlier.
      if (const std::regex* re = compiled_pattern(*pat); re && !std::regex_search(s, *re))
        invalid_cause(out, path, go_value(v), fmt::format("should match '{}'", *pat));
    }
  }
  if (v.IsNumber() && !int_or_string) {
    double d = v.GetDouble();
    if (auto* mn = core::member(schema, "minimum"); mn && mn->IsNumber()) {
      bool excl = flag(schema, "exclusiveMinimum");
      if (excl ? d <= mn->GetDouble() : d < mn->GetDouble())
        invalid_cause(out, path, number_text(v),
                      fmt::format("should be greater than {}{}", excl ? "" : "or equal to ", number_text(*mn)));
    }
    if (auto* mx = core::member(schema, "maximum"); mx && mx->IsNumber()) {
      bool excl = flag(schema, "exclusiveMaximum");
      if (excl ? d >= mx->GetDouble() : d > mx->GetDouble())
        invalid_cause(out, path, number_text(v),
                      fmt::format("should be less than {}{}", excl ? "" : "or equal to ", number_text(*mx)));
    }
  }
  if (v.IsArray()) {
    if (auto mi = core::get_int(schema, "minItems"); mi && static_cast<int64_t>(v.Size()) < *mi)
      invalid_cause(out, path, std::to_string(v.Size()), fmt::format("should have at least {} items", *mi));
    if (auto mi = core::get_int(schema, "maxItems"); mi && static_cast<int64_t>(v.Size()) > *mi)
      out.push_back({"FieldValueTooMany", fmt::format("Too many: {}: must have at most {} items", v.Size(), *mi), path});
    if (auto* items = core::member(schema, "items"); items && items->IsObject())
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
        validate_value(v[i], *items, fmt::format("{}[{}]", path, i), out);
  }
  if (v.IsObject()) {
    if (auto* req = core::member(schema, "required"); req && req->IsArray())
      for (auto& r : req->GetArray())
        if (r.IsString() && !core::member(v, sv(r)))
          out.push_back({"FieldValueRequired", "Required value", join(path, sv(r))});
    const JsonValue* props = properties_of(schema);
    const JsonValue* addl = core::member(schema, "additionalProperties");
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      std::string_view name = sv(it->name);
      if (path.empty() && (name == "apiVersion" || name == "kind" || name == "metadata")) continue;
      const JsonValue* ps = props ? core::member(*props, name) : nullptr;
      if (!ps && addl && addl->IsObject()) ps = addl;
      if (ps) validate_value(it->value, *ps, join(path, name), out);
    }
  }
}

}  // namespace

void prune_unknown(JsonValue& obj, const JsonValue& schema, std::vector<std::string>& unknown) {
  if (!obj.IsObject()) return;
  std::string path;
  prune_object(obj, schema, path, unknown, true);
}

void prune_and_default(JsonValue& obj, const JsonValue& schema, JsonAlloc& a, std::vector<std::string>& unknown) {
  prune_unknown(obj, schema, unknown);
  apply_defaults(obj, schema, a);
}

void apply_defaults(JsonValue& obj, const JsonValue& schema, JsonAlloc& a) {
  if (obj.IsObject()) {
    const JsonValue* props = properties_of(schema);
    if (props) {
      for (auto it = props->MemberBegin(); it != props->MemberEnd(); ++it) {
        std::string_view name = sv(it->name);
        JsonValue* cur = core::member(obj, name);
        if (!cur) {
          if (auto* d = core::member(it->value, "default")) {
            core::set_member(obj, name, JsonValue(*d, a), a);
            cur = core::member(obj, name);
          }
        }
        if (cur) apply_defaults(*cur, it->value, a);
      }
    }
    if (auto* addl = core::member(schema, "additionalProperties"); addl && addl->IsObject())
      for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) apply_defaults(it->value, *addl, a);
  } else if (obj.IsArray()) {
    if (auto* items = core::member(schema, "items"); items && items->IsObject())
      for (auto& e : obj.GetArray()) apply_defaults(e, *items, a);
  }
}

std::vector<StatusCause> validate_schema(const JsonValue& obj, const JsonValue& schema) {
  std::vector<StatusCause> out;
  validate_value(obj, schema, "", out);
  return out;
}

std::optional<StatusCause> validate_name(std::string_view name, bool dns_label) {
  static const std::regex kSubdomain(R"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)");
  static const std::regex kLabel(R"([a-z0-9]([-a-z0-9]*[a-z0-9])?)");
  std::string n(name);
  if (dns_label) {
    if (n.size() > 63)
      return StatusCause{"FieldValueInvalid",
                         fmt::format("Invalid value: \"{}\": must be no more than 63 characters", n), "metadata.name"};
    if (!std::regex_match(n, kLabel))
      return StatusCause{"FieldValueInvalid",
                         fmt::format("Invalid value: \"{}\": a lowercase RFC 1123 label must consist of lower case "
                                     "alphanumeric characters or '-', and must start and end with an alphanumeric "
                                     "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                                     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                                     n),
                         "metadata.name"};
    return std::nullopt;
  }
  if (n.size() > 253)
    return StatusCause{"FieldValueInvalid", fmt::format("Invalid value: \"{}\": must be no more than 253 characters", n),
                       "metadata.name"};
  if (!std::regex_match(n, kSubdomain))
    return StatusCause{"FieldValueInvalid",
                       fmt::format("Invalid value: \"{}\": a lowercase RFC 1123 subdomain must consist of lower case "
                                   "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                                   "character (e.g. 'example.com', regex used for validation is "
                                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                                   n),
                       "metadata.name"};
  return std::nullopt;
}

}  // namespace ifo::kubesim
