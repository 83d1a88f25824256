// The built-in resources kube-sim serves, their defaults and the checks the real server makes on them.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

std::vector<ResourceType> builtin_types();

// Defaults the apiserver applies on decode (Deployment replicas/strategy, Secret type, namespace
// phase and kubernetes.io/metadata.name label, ...).
void apply_builtin_defaults(const ResourceType& t, core::JsonValue& obj, core::JsonAlloc& a);

// Decoding of Secrets: stringData merged into data, base64 checked. Throws StatusError (400) with
// `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte N`.
void decode_secret(core::JsonValue& obj, core::JsonAlloc& a);

// Validation of built-in kinds (selector/template labels for workloads, data keys for Secrets and
// ConfigMaps). Returns the causes for an Invalid error.
std::vector<StatusCause> validate_builtin(const ResourceType& t, const core::JsonValue& obj,
                                          const core::JsonValue* old);

}  // namespace ifo::kubesim
