// infisical-webhook command line (Kubernetes-style flags), parsed by a pure function.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/logging.h"
#include "core/result.h"
#include "core/trust_policy.h"
#include "webhook/admission.h"
#include "webhook/server.h"

namespace ifo::webhook {

struct Options {
  bool help = false;
  bool version = false;
  std::string tls_cert_file;
  std::string tls_key_file;
  ServerOptions server;
  std::string kubeconfig;
  // Whether the requesting user's own rights are checked for references into other namespaces.
  CrossNamespacePolicy policy = CrossNamespacePolicy::kAuthorize;
  // The trust boundary the syncer enforces (same flags, same defaults), said at apply time.
  core::TrustPolicy trust;
  std::string operator_namespace;
  spdlog::level::level_enum log_level = spdlog::level::info;
  core::LogFormat log_format = core::LogFormat::kText;
  std::chrono::milliseconds authorization_cache_ttl{1000};
  // A SubjectAccessReview not answered within this denies the request ("could not verify"); below
  // the webhook configuration's timeoutSeconds (the chart's default: 5), so the API server gets that
  // answer rather than a timeout.
  std::chrono::milliseconds authorization_timeout{3000};
  // Distinct SubjectAccessReviews waiting for the API server; one more is denied at once.
  size_t max_pending_authorizations = 64;
};

core::Result<Options> parse_options(const std::vector<std::string>& args);
std::string usage();

}  // namespace ifo::webhook
