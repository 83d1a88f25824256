// YAML (a CRD or a manifest file) to a RapidJSON value, for tests and benchmarks that install the
// repository's own YAML into kube-sim through the JSON API. Plain scalars are typed as YAML 1.2's
// core schema types them (true/false, null/~, integers, decimals); quoted scalars stay strings.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "core/json.h"

namespace ifo::test {

inline core::JsonValue yaml_to_json(const YAML::Node& n, core::JsonAlloc& a) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      core::JsonValue o(rapidjson::kObjectType);
      for (const auto& kv : n)
        o.AddMember(core::json_string(kv.first.as<std::string>(), a), yaml_to_json(kv.second, a), a);
      return o;
    }
    case YAML::NodeType::Sequence: {
      core::JsonValue arr(rapidjson::kArrayType);
      for (const auto& item : n) arr.PushBack(yaml_to_json(item, a), a);
      return arr;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "?") {  // a plain scalar
        if (s == "true" || s == "True") return core::JsonValue(true);
        if (s == "false" || s == "False") return core::JsonValue(false);
        if (s == "null" || s == "~") return core::JsonValue(rapidjson::kNullType);
        auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
        size_t sign = !s.empty() && s[0] == '-' ? 1 : 0;
        size_t dot = s.find('.');
        std::string whole = s.substr(sign, dot == std::string::npos ? std::string::npos : dot - sign);
        std::string frac = dot == std::string::npos ? "" : s.substr(dot + 1);
        bool whole_ok = !whole.empty() && std::all_of(whole.begin(), whole.end(), is_digit);
        if (whole_ok && dot == std::string::npos) return core::JsonValue(static_cast<int64_t>(std::stoll(s)));
        if (whole_ok && !frac.empty() && std::all_of(frac.begin(), frac.end(), is_digit))
          return core::JsonValue(std::stod(s));
      }
      return core::json_string(s, a);
    }
    default: return core::JsonValue(rapidjson::kNullType);
  }
}

// A YAML file as a JSON document (throws YAML::Exception when it cannot be read or parsed).
inline std::shared_ptr<core::JsonDoc> load_yaml_file(const std::string& path) {
  auto doc = std::make_shared<core::JsonDoc>();
  YAML::Node n = YAML::LoadFile(path);
  core::JsonValue v = yaml_to_json(n, doc->GetAllocator());
  doc->CopyFrom(v, doc->GetAllocator());
  return doc;
}

}  // namespace ifo::test
