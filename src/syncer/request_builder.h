// What a reconcile asks Infisical for one InfisicalSecret: host (spec > infisical-config ConfigMap >
// default), CA (spec tls.caRef > the ConfigMap's tls.caRef.* > system roots), credentials from the
// Secrets the spec refers to, and the scope. Resources with the same scope key share one fetch.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "core/infisical_secret.h"
#include "core/sync_status.h"
#include "kube/api.h"
#include "syncer/object_fields.h"
#include "syncer/secret_source.h"

namespace ifo::syncer {

// How long the data of a referenced Secret (credentials, CA) is reused before it is read again.
inline constexpr std::chrono::seconds kReferencedSecretTtl{30};

struct BuiltRequest {
  SourceRequest request;
  // Host, auth method, identity, a fingerprint of the credentials and the CA, then project,
  // environment, path, recursive and secretName: equal keys read the same secrets as the same identity.
  std::string scope_key;
  // The referenced Secrets ("ns/name") the request was built from, for refresh().
  std::vector<std::string> secrets_read;
};

// Upstream's name of an auth strategy (e.g. UNIVERSAL_MACHINE_IDENTITY), as conditions report it.
std::string_view auth_strategy_name(core::AuthMethod method);

class RequestBuilder {
 public:
  // `operator_namespace` holds the infisical-config ConfigMap (named in messages).
  RequestBuilder(kube::Api& kube, core::Clock& clock, std::string operator_namespace);

  // The request for `resource` (its spec validated), with `global_config` the infisical-config
  // ConfigMap (nullptr: none); or why there is none: a missing credential or CA Secret or key
  // (CredentialsNotFound), an incomplete tls.caRef.* in the ConfigMap (InvalidSpec). Throws
  // kube::ApiError / kube::TransportError when reading a referenced Secret fails otherwise.
  std::variant<BuiltRequest, core::SyncFailure> build(const core::InfisicalSecret& resource,
                                                      const Object& global_config);

  // Reads again those of `secrets` ("ns/name", BuiltRequest::secrets_read) whose data is older than
  // kReferencedSecretTtl, as build() would: what an unchanged resync does instead of building. A
  // Secret whose data changed (or that appeared or went) moves generation().
  void refresh(const std::vector<std::string>& secrets);
  // Moves whenever a referenced Secret read again differs from what was kept (and on forget()).
  uint64_t generation() const;

  // Drops the referenced Secrets read so far (as after a restart).
  void forget();

 private:
  struct CachedSecret {
    std::map<std::string, std::string> data;
    core::Clock::time_point read_at{};
  };
  // The kept data of `key` ("ns/name") while younger than kReferencedSecretTtl at `now`, else nullptr.
  // Under mu_.
  const CachedSecret* fresh_locked(const std::string& key, core::Clock::time_point now) const;
  // The data of a Secret that a spec references, read at most every kReferencedSecretTtl per Secret
  // (N resources over I credentials cost I reads, not N); nullopt when it does not exist (never
  // cached). Throws kube::ApiError on other failures.
  // Its "ns/name" is added to `read` when given.
  std::optional<std::map<std::string, std::string>> referenced_secret(
      const std::string& ns, const std::string& name, std::vector<std::string>* read = nullptr);
  // The CA bundle of tls.caRef, or why there is none.
  std::variant<std::string, core::SyncFailure> ca_pem(const core::CaReference& ref,
                                                      std::vector<std::string>& read);
  // Fills the credentials of `auth` into `req` and `fingerprint` (a digest of them for the scope
  // key); a failure when a credentials Secret or one of its keys is missing.
  std::optional<core::SyncFailure> add_credentials(const core::Authentication& auth, SourceRequest& req,
                                                   std::string& fingerprint, std::vector<std::string>& read);

  kube::Api& kube_;
  core::Clock& clock_;
  std::string operator_namespace_;
  mutable std::mutex mu_;
  std::map<std::string, CachedSecret> referenced_secrets_;  // "ns/name" -> data
  uint64_t generation_ = 0;
};

}  // namespace ifo::syncer
