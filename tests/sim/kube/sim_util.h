// Small helpers shared by kube-sim's modules: random UUIDs and RFC 3339 timestamps.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ifo::kubesim {

// A random (version 4) UUID, as metadata.uid and AdmissionReview uid.
std::string sim_random_uuid();
// "2026-11-30T23:11:25Z"
std::string sim_rfc3339(std::chrono::system_clock::time_point t);

}  // namespace ifo::kubesim
