// The Kubernetes version kube-sim answers as: /version, and the fields of built-in kinds it knows.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

// A kube-apiserver minor version (major is always 1). kube-sim's own behaviour is 1.32's.
struct EmulatedVersion {
  static constexpr int kNewestMinor = 32;
  static constexpr int kOldestMinor = 25;
  int minor = kNewestMinor;

  // "1.25" or "v1.25" (a patch part, "1.25.3", is accepted and ignored); nullopt-like -1 when invalid
  // or outside [kOldestMinor, kNewestMinor].
  static int parse_minor(const std::string& text);
  std::string version_json() const;  // the body of GET /version
};

// Removes from `obj` (a decoded object of type `t`) the fields that kube-apiserver 1.<minor> does not
// have, as its decoder would. A field the decoder does not know is appended to `unknown` (a path such
// as `webhooks[0].matchConditions`, the text of kube-apiserver's strict decoding error); a field it
// knows but drops because its feature gate is off by default is removed silently.
//
// admissionregistration.k8s.io/v1 webhooks[].matchConditions: added in 1.27 behind the alpha gate
// AdmissionWebhookMatchConditions (off: dropped on write), beta and on by default in 1.28, GA in 1.30.
void drop_fields_unknown_to(const EmulatedVersion& v, const ResourceType& t, core::JsonValue& obj,
                            std::vector<std::string>& unknown);

}  // namespace ifo::kubesim
