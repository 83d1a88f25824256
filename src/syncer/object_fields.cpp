// Plain fields of Kubernetes objects as JSON.
#include "syncer/object_fields.h"

#include "core/base64.h"
#include "core/constants.h"

namespace ifo::syncer {

std::string key_of(const std::string& ns, const std::string& name) { return ns + "/" + name; }

kube::WriteOptions write_options() { return kube::as_manager(core::kSyncerFieldManager); }

std::map<std::string, std::string> string_map(const core::JsonValue* obj) {
  std::map<std::string, std::string> out;
  if (!obj || !obj->IsObject()) return out;
  for (auto it = obj->MemberBegin(); it != obj->MemberEnd(); ++it)
    if (it->value.IsString())
      out[std::string(it->name.GetString(), it->name.GetStringLength())] =
          std::string(it->value.GetString(), it->value.GetStringLength());
  return out;
}

core::JsonValue string_map_json(const std::map<std::string, std::string>& m, core::JsonAlloc& a) {
  core::JsonValue obj(rapidjson::kObjectType);
  for (const auto& [k, v] : m) obj.AddMember(core::json_string(k, a), core::json_string(v, a), a);
  return obj;
}

std::string meta_string(const core::JsonValue& object, std::string_view field) {
  const core::JsonValue* v = core::at_path(object, {"metadata", field});
  return v && v->IsString() ? v->GetString() : "";
}

std::map<std::string, std::string> secret_data(const core::JsonValue& secret) {
  std::map<std::string, std::string> out;
  const core::JsonValue* data = core::member(secret, "data");
  if (!data || !data->IsObject()) return out;
  for (auto it = data->MemberBegin(); it != data->MemberEnd(); ++it) {
    if (!it->value.IsString()) continue;
    auto decoded = core::base64_decode(it->value.GetString());
    out[it->name.GetString()] = decoded ? *decoded : std::string("\0<undecodable>", 14);
  }
  return out;
}

std::chrono::sys_seconds wall_seconds(const core::Clock& clock) {
  return std::chrono::time_point_cast<std::chrono::seconds>(clock.wall_now());
}

}  // namespace ifo::syncer
