// core/v1 Events about InfisicalSecrets: kube::EventRecorder (with its aggregation: a repeat of an
// Event increments its count) set up as the syncer, plus the mapping of core::StatusEvent. Best
// effort: a failure is logged, never thrown.
//
// Messages are stored in the cluster: callers name keys and resources, never secret values.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/sync_status.h"
#include "kube/api.h"
#include "core/clock.h"
#include "kube/events.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

class EventWriter {
 public:
  // `reporting_instance`: the syncer's identity (reportingInstance of every Event). source.component
  // and reportingComponent are the syncer's field manager name.
  EventWriter(kube::Api& kube, core::Clock& clock, std::string reporting_instance,
              std::shared_ptr<spdlog::logger> log);

  // An Event about `resource` (an InfisicalSecret); type is kube::kEventTypeNormal or kEventTypeWarning.
  void record(const Object& resource, std::string_view type, std::string_view reason,
              const std::string& message);
  // The Event core::decide_status asks for.
  void record(const Object& resource, const core::StatusEvent& event);

 private:
  kube::EventRecorder recorder_;
};

}  // namespace ifo::syncer
