// Reading object metadata and formatting Kubernetes timestamps.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/json.h"

namespace ifo::kube {

// metadata.* of an object; "" when absent.
std::string meta_name(const core::JsonValue& obj);
std::string meta_namespace(const core::JsonValue& obj);
std::string meta_resource_version(const core::JsonValue& obj);
std::string meta_uid(const core::JsonValue& obj);
// "namespace/name" (or "name") of an object, the store and work-queue key.
std::string meta_key(const core::JsonValue& obj);

// metav1.Time: RFC 3339 in UTC with seconds ("2026-01-02T03:04:05Z").
std::string format_time(std::chrono::system_clock::time_point t);
// metav1.MicroTime: microseconds ("2026-01-02T03:04:05.000000Z"), as Lease renewTime uses.
std::string format_micro_time(std::chrono::system_clock::time_point t);
// Parses either form (and a numeric offset instead of Z); nullopt when it is not RFC 3339.
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text);

}  // namespace ifo::kube
