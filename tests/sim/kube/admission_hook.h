// The store.h AdmissionHook that runs the stored Mutating/ValidatingWebhookConfigurations for every
// API write, through AdmissionDispatcher (admission.h).
#pragma once

#include <memory>

#include "sim/kube/admission.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

// SimStatus -> the StatusError the server answers with.
StatusError to_status_error(const SimStatus& s);

class WebhookAdmissionHook : public AdmissionHook {
 public:
  WebhookAdmissionHook(Store& store, AdmissionOptions options);

  // Calls the matching mutating webhooks; throws StatusError on denial or (failurePolicy Fail) failure.
  void mutate(AdmissionAttributes& attrs) override;
  // Calls the matching validating webhooks; throws StatusError likewise.
  void validate(const AdmissionAttributes& attrs) override;

  const AdmissionDispatcher& dispatcher() const { return dispatcher_; }

 private:
  std::vector<ObjectPtr> configurations(const char* resource) const;
  NamespaceLabelsFn namespace_labels() const;

  Store& store_;
  AdmissionDispatcher dispatcher_;
};

}  // namespace ifo::kubesim
