// AdmissionReview v1 handling for /validate-infisicalsecret and /mutate-workload, over injected
// dependencies (an authorizer for cross-namespace references, a digest cache for rollout hashes), so
// the whole decision logic runs in unit tests on JSON inputs.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/validation.h"

namespace ifo::webhook {

struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

// "May this user do that themselves?" (SubjectAccessReview). Throws when the question cannot be asked.
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual bool allowed(const UserInfo& user, const core::AccessCheck& check) = 0;
};

// Per-key digests of managed Secrets, fed by a watch; no API call behind it.
class DigestSource {
 public:
  virtual ~DigestSource() = default;
  virtual bool synced() const = 0;
  // Data key -> digest of one managed Secret, shared and immutable (no copy per request); nullptr
  // when no managed Secret of that name is known.
  virtual std::shared_ptr<const std::map<std::string, std::string>> key_digests(std::string_view ns,
                                                                              std::string_view name) const = 0;
};

enum class CrossNamespacePolicy { kDeny, kAuthorize, kAllow };
std::optional<CrossNamespacePolicy> parse_policy(std::string_view text);
std::string_view policy_name(CrossNamespacePolicy p);

// An HTTP answer; `result` is the metrics label (allowed, denied, patched, bad_request, error).
struct Reply {
  int status = 200;
  std::string body;
  std::string result;
};

class AdmissionHandler {
 public:
  AdmissionHandler(CrossNamespacePolicy policy, Authorizer* authorizer, const DigestSource* digests)
      : policy_(policy), authorizer_(authorizer), digests_(digests) {}

  Reply validate(std::string_view body) const;
  Reply mutate(std::string_view body) const;

 private:
  CrossNamespacePolicy policy_;
  Authorizer* authorizer_;
  const DigestSource* digests_;
};

// A 400/413/415/500 body: a v1 Status with the message (what kube-apiserver logs when a webhook fails).
std::string status_body(int code, std::string_view message);

}  // namespace ifo::webhook
