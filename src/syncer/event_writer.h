// core/v1 Events about InfisicalSecrets, written by the syncer itself: one Event per call, without
// client-go's aggregation, best effort (a failure is logged, never thrown).
//
// Messages are stored in the cluster: callers name keys and resources, never secret values.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/sync_status.h"
#include "kube/clock.h"
#include "syncer/kube_api.h"

namespace ifo::syncer {

class EventWriter {
 public:
  // `reporting_instance`: the syncer's identity (reportingInstance of every Event).
  EventWriter(KubeApi& kube, kube::Clock& clock, std::string reporting_instance, std::shared_ptr<spdlog::logger> log);

  // An Event about `resource` (an InfisicalSecret); type is kube::kEventTypeNormal or kEventTypeWarning.
  void record(const Object& resource, std::string_view type, std::string_view reason, const std::string& message);
  // The Event core::decide_status (or core::written_event) asks for.
  void record(const Object& resource, const core::StatusEvent& event);

 private:
  KubeApi& kube_;
  kube::Clock& clock_;
  std::string reporting_instance_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace ifo::syncer
