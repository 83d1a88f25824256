// Reading and writing the few plain fields the syncer handles on Kubernetes objects as JSON: string
// maps (labels, annotations, data), metadata strings, Secret data, object keys; and how it writes them.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/json.h"
#include "kube/api.h"
#include "core/clock.h"

namespace ifo::syncer {

// An object as the syncer reads it, from the API server or a watch cache; never modified.
using Object = std::shared_ptr<const core::JsonDoc>;

// The options of every write the syncer makes: it names itself (core::kSyncerFieldManager) as the
// field manager.
kube::WriteOptions write_options();

// "namespace/name".
std::string key_of(const std::string& ns, const std::string& name);

// The string members of a JSON object (others skipped); empty when `obj` is null or not an object.
std::map<std::string, std::string> string_map(const core::JsonValue* obj);
core::JsonValue string_map_json(const std::map<std::string, std::string>& m, core::JsonAlloc& a);

// metadata.<field> of an object, "" when absent.
std::string meta_string(const core::JsonValue& object, std::string_view field);

// A Secret's data, decoded; an undecodable value is kept as a marker that never equals real data.
std::map<std::string, std::string> secret_data(const core::JsonValue& secret);

// The clock's wall time in whole seconds, as status and Events write it.
std::chrono::sys_seconds wall_seconds(const core::Clock& clock);

}  // namespace ifo::syncer
