// Writing Events about InfisicalSecrets.
#include "syncer/event_writer.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include "core/conditions.h"
#include "core/constants.h"
#include "kube/events.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

EventWriter::EventWriter(KubeApi& kube, kube::Clock& clock, std::string reporting_instance,
                         std::shared_ptr<spdlog::logger> log)
    : kube_(kube), clock_(clock), reporting_instance_(std::move(reporting_instance)), log_(std::move(log)) {}

void EventWriter::record(const Object& resource, std::string_view type, std::string_view reason,
                         const std::string& message) {
  const core::JsonValue& o = *resource;
  std::string ns = meta_string(o, "namespace");
  std::string name = meta_string(o, "name");
  // Event names are the object's name plus a random suffix, as client-go makes them.
  unsigned char rnd[8];
  RAND_bytes(rnd, sizeof rnd);
  std::string suffix;
  for (unsigned char c : rnd) suffix += fmt::format("{:02x}", c);
  std::string now = core::format_rfc3339(wall_seconds(clock_));
  core::JsonDoc ev(rapidjson::kObjectType);
  auto& a = ev.GetAllocator();
  core::set_string(ev, "apiVersion", kube::kEvents.api_version(), a);
  core::set_string(ev, "kind", kube::kEvents.kind, a);
  auto& meta = core::ensure_object(ev, "metadata", a);
  core::set_string(meta, "name", name + "." + suffix, a);
  core::set_string(meta, "namespace", ns, a);
  auto& inv = core::ensure_object(ev, "involvedObject", a);
  core::set_string(inv, "apiVersion", core::kApiVersion, a);
  core::set_string(inv, "kind", core::kKind, a);
  core::set_string(inv, "name", name, a);
  core::set_string(inv, "namespace", ns, a);
  core::set_string(inv, "uid", meta_string(o, "uid"), a);
  core::set_string(inv, "resourceVersion", meta_string(o, "resourceVersion"), a);
  core::set_string(ev, "type", type, a);
  core::set_string(ev, "reason", reason, a);
  core::set_string(ev, "message", message, a);
  core::ensure_object(ev, "source", a);
  core::set_string(*core::member(ev, "source"), "component", core::kSyncerFieldManager, a);
  core::set_string(ev, "reportingComponent", core::kSyncerFieldManager, a);
  core::set_string(ev, "reportingInstance", reporting_instance_, a);
  core::set_string(ev, "firstTimestamp", now, a);
  core::set_string(ev, "lastTimestamp", now, a);
  core::set_member(ev, "count", core::JsonValue(1), a);
  try {
    kube_.create(kube::kEvents, ns, ev);
  } catch (const std::exception& e) {
    log_->warn("event not recorded object={}/{} reason={} error=\"{}\"", ns, name, reason, e.what());
  }
}

void EventWriter::record(const Object& resource, const core::StatusEvent& event) {
  record(resource, event.warning ? kube::kEventTypeWarning : kube::kEventTypeNormal, event.reason, event.message);
}

}  // namespace ifo::syncer
