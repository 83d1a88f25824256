// Small helpers shared by kube-sim's modules: random UUIDs, RFC 3339 timestamps, review envelopes.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"

namespace ifo::kubesim {

// A random (version 4) UUID, as metadata.uid and AdmissionReview uid.
std::string sim_random_uuid();
// "2026-11-30T23:11:25Z"
std::string sim_rfc3339(std::chrono::system_clock::time_point t);
// What the API server answers for a review it does not store (TokenReview, SubjectAccessReview, ...):
// {"kind":K,"apiVersion":V,"metadata":{["namespace":NS,]"creationTimestamp":null}}; the caller adds
// spec and status.
core::JsonDoc sim_review_envelope(std::string_view kind, std::string_view api_version,
                                  std::string_view namespace_ = {});
// Sets metadata.ownerReferences to the one controller reference a controller gives the objects it
// creates (controller and blockOwnerDeletion true), as the ReplicaSet, Deployment and Job controllers do.
void sim_set_controller_owner(core::JsonValue& metadata, std::string_view api_version, std::string_view kind,
                              std::string_view name, std::string_view uid, core::JsonDoc::AllocatorType& a);

}  // namespace ifo::kubesim
