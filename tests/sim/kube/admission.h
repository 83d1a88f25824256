// Admission webhooks called the way kube-apiserver 1.32 calls them (k8s.io/apiserver
// pkg/admission/plugin/webhook): rule/namespaceSelector/objectSelector matching, AdmissionReview v1 over
// HTTPS verified with the configuration's caBundle, failurePolicy, timeoutSeconds, JSON patches, warnings,
// and the same error wording.
//
// Two layers:
//   * AdmissionDispatcher: pure matching and calling over given configuration objects (tests use it
//     directly); results carry the rejection Status and the webhooks' warnings.
//   * WebhookAdmissionHook (admission_hook.h): the store.h AdmissionHook the server registers; it reads
//     the stored Mutating/ValidatingWebhookConfigurations and namespace labels from the Store, throws
//     StatusError on rejection and appends warnings to AdmissionAttributes::warnings.
//
// Deliberate differences from the real server (documented, not hidden):
//   - `matchConditions` (CEL) are NOT evaluated: a webhook whose rules and selectors match is always
//     called; webhooks must filter for themselves.
//   - `reinvocationPolicy: IfNeeded` is not honoured (each mutating webhook is called once).
//   - `matchPolicy: Equivalent` finds no equivalent resources (kube-sim serves one version per resource).
//   - validating webhooks are called one after the other (the real server calls them in parallel); the
//     first rejection in configuration order is returned, which is one of the outcomes the real server
//     can produce.
//   - only admissionReviewVersions v1 and v1beta1 are spoken (as the real server).
//   - there is no cluster network: `clientConfig.service` {namespace, name, port} is resolved through the
//     start-up mapping "namespace/name:port" -> "127.0.0.1:PORT"; the URL sent and the TLS server name
//     stay `https://name.namespace.svc:port/path`, as in a cluster. A `clientConfig.url` host:port may be
//     mapped the same way (key "host:port"); unmapped URLs are dialled as written.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "sim/kube/sim_status.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

// Labels of a namespace, or nullopt when the namespace does not exist (the real server then answers
// 404 `namespaces "NAME" not found` for a webhook with a non-empty namespaceSelector).
using NamespaceLabelsFn = std::function<std::optional<std::map<std::string, std::string>>(const std::string&)>;

struct AdmissionResult {
  std::optional<SimStatus> rejection;  // set: fail the request with this Status
  std::vector<std::string> warnings;   // AdmissionResponse.warnings of every webhook called, in order
  bool mutated = false;                // a mutating webhook's patch changed the object
  std::vector<std::string> called;     // names of the webhooks called (tests, debugging)
};

struct AdmissionOptions {
  // "namespace/name:port" (services) or "host:port" (URLs) -> "127.0.0.1:PORT".
  std::map<std::string, std::string> service_map;
  // A service without a service_map entry: where a ready Pod behind it listens ("127.0.0.1:PORT"), or
  // the API server's reason (the kubelet stand-in, --run-pods). Unset: `service "NAME" not found`.
  std::function<core::Result<std::string>(const std::string& ns, const std::string& name, int64_t port)> service_resolver;
  // Optional log sink (one line per webhook call outcome; never bodies, never tokens).
  std::function<void(const std::string&)> log;
};

// Parses one mapping entry "namespace/name:port=127.0.0.1:PORT" (the --webhook-service flag); the
// error names what is wrong.
core::Result<std::pair<std::string, std::string>> parse_service_mapping(std::string_view entry);

// metav1.LabelSelector semantics: matchLabels AND every matchExpression (In, NotIn, Exists,
// DoesNotExist). An absent or empty selector matches everything. An invalid selector is an error.
core::Result<bool> label_selector_matches(const core::JsonValue* selector,
                                          const std::map<std::string, std::string>& labels);

// Thread safe; holds no per-request state.
class AdmissionDispatcher {
 public:
  explicit AdmissionDispatcher(AdmissionOptions options);

  // `configurations`: the stored MutatingWebhookConfiguration objects (any order; they are sorted by
  // name as the real server does). attrs.object (CREATE/UPDATE) is patched in place.
  AdmissionResult mutate(const std::vector<const core::JsonValue*>& configurations, AdmissionAttributes& attrs,
                         const NamespaceLabelsFn& ns_labels) const;

  // `configurations`: the stored ValidatingWebhookConfiguration objects.
  AdmissionResult validate(const std::vector<const core::JsonValue*>& configurations,
                           const AdmissionAttributes& attrs, const NamespaceLabelsFn& ns_labels) const;

  // Webhook HTTP calls made so far (for the admin endpoint and tests).
  uint64_t calls() const { return calls_.load(); }

 private:
  AdmissionResult run(bool mutating, const std::vector<const core::JsonValue*>& configurations,
                      const AdmissionAttributes& attrs, core::JsonDoc* object, const NamespaceLabelsFn& ns_labels) const;

  AdmissionOptions options_;
  mutable std::atomic<uint64_t> calls_{0};
};

}  // namespace ifo::kubesim
