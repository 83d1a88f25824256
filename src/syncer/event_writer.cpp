// Events about InfisicalSecrets through kube::EventRecorder.
#include "syncer/event_writer.h"

#include "core/constants.h"

namespace ifo::syncer {

namespace {
kube::EventRecorderOptions recorder_options(core::Clock& clock, std::string reporting_instance,
                                            std::shared_ptr<spdlog::logger> log) {
  kube::EventRecorderOptions o;
  o.component = std::string(core::kSyncerFieldManager);
  o.reporting_instance = std::move(reporting_instance);
  o.field_manager = std::string(core::kSyncerFieldManager);
  o.clock = &clock;
  o.logger = std::move(log);
  return o;
}
}  // namespace

EventWriter::EventWriter(kube::Api& kube, core::Clock& clock, std::string reporting_instance,
                         std::shared_ptr<spdlog::logger> log)
    : recorder_(kube, recorder_options(clock, std::move(reporting_instance), std::move(log))) {}

void EventWriter::record(const Object& resource, std::string_view type, std::string_view reason,
                         const std::string& message) {
  // involvedObject: the InfisicalSecret as the API names it, whatever a cache kept of the object.
  core::JsonDoc involved(rapidjson::kObjectType);
  auto& a = involved.GetAllocator();
  core::set_string(involved, "apiVersion", core::kApiVersion, a);
  core::set_string(involved, "kind", core::kKind, a);
  auto& meta = core::ensure_object(involved, "metadata", a);
  for (std::string_view field : {"name", "namespace", "uid", "resourceVersion"})
    core::set_string(meta, field, meta_string(*resource, field), a);
  recorder_.record(involved, type, reason, message);
}

void EventWriter::record(const Object& resource, const core::StatusEvent& event) {
  record(resource, event.warning ? kube::kEventTypeWarning : kube::kEventTypeNormal, event.reason,
         event.message);
}

}  // namespace ifo::syncer
