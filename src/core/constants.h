// Every Kubernetes string the operator writes or reads: one place, never repeated inline.
#pragma once

#include <string_view>

namespace ifo::core {

// API group of the custom resource.
inline constexpr std::string_view kGroup = "secrets.infisical.com";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kApiVersion = "secrets.infisical.com/v1alpha1";
inline constexpr std::string_view kKind = "InfisicalSecret";
inline constexpr std::string_view kResource = "infisicalsecrets";
inline constexpr std::string_view kCrdName = "infisicalsecrets.secrets.infisical.com";
// InfisicalReferenceGrant: lets InfisicalSecrets of other namespaces refer to objects of its own.
inline constexpr std::string_view kGrantKind = "InfisicalReferenceGrant";
inline constexpr std::string_view kGrantResource = "infisicalreferencegrants";
inline constexpr std::string_view kGrantCrdName = "infisicalreferencegrants.secrets.infisical.com";

// Annotations and labels.
inline constexpr std::string_view kAutoReloadAnnotation = "secrets.infisical.com/auto-reload";
inline constexpr std::string_view kVersionAnnotation = "secrets.infisical.com/version";
inline constexpr std::string_view kKeyDigestsAnnotation = "secrets.infisical.com/key-digests";
inline constexpr std::string_view kRolloutHashAnnotation = "secrets.infisical.com/rollout-hash";
// On a workload's metadata (never its pod template, so writing it makes no new revision): the rollout
// hash its running pods are believed to have, recorded when the operator first sees a workload whose
// template carries no hash (installation, adoption of an upstream Secret). See core/rollout.h.
inline constexpr std::string_view kRolloutBaselineAnnotation = "secrets.infisical.com/rollout-baseline";
inline constexpr std::string_view kAdoptAnnotation = "secrets.infisical.com/adopt";
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "infisical-secrets-operator";
// On a ServiceAccount: the Infisical identity ids (comma separated, or "*") that Kubernetes auth may
// log in as with a token minted for it. Without it the syncer mints no token for that account.
inline constexpr std::string_view kKubernetesAuthIdentitiesAnnotation = "secrets.infisical.com/kubernetes-auth-identity-ids";
// On a managed Secret: the InfisicalSecret it is bound to ("namespace/name") and that object's UID.
inline constexpr std::string_view kOwnerAnnotation = "secrets.infisical.com/owner";
inline constexpr std::string_view kOwnerUidAnnotation = "secrets.infisical.com/owner-uid";
// The upstream operator's finalizer on InfisicalSecrets. Once upstream is gone nothing would remove
// it and deleting the resource would hang, so the syncer removes it (docs/migration.md).
inline constexpr std::string_view kUpstreamFinalizer = "secrets.finalizers.infisical.com";
inline constexpr std::string_view kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

// Condition types: the upstream ones, plus the standard Ready.
inline constexpr std::string_view kConditionLoadedToken = "secrets.infisical.com/LoadedInfisicalToken";
inline constexpr std::string_view kConditionReadyToSync = "secrets.infisical.com/ReadyToSyncSecrets";
inline constexpr std::string_view kConditionAutoRedeploy = "secrets.infisical.com/AutoRedeployReady";
inline constexpr std::string_view kConditionReady = "Ready";
// Set while the spec asks for instant updates (syncConfig.instantUpdates or instantUpdates): says
// that this operator polls instead of holding Infisical's event stream open, and how often.
inline constexpr std::string_view kConditionInstantUpdates = "secrets.infisical.com/InstantUpdates";
inline constexpr std::string_view kReasonPolling = "Polling";

// Ready condition reasons (CamelCase, as Kubernetes conventions ask).
inline constexpr std::string_view kReasonSynced = "Synced";
inline constexpr std::string_view kReasonInvalidSpec = "InvalidSpec";
inline constexpr std::string_view kReasonAuthFailed = "AuthFailed";
inline constexpr std::string_view kReasonFetchFailed = "FetchFailed";
inline constexpr std::string_view kReasonSecretConflict = "SecretConflict";
inline constexpr std::string_view kReasonCredentialsNotFound = "CredentialsNotFound";
inline constexpr std::string_view kReasonRateLimited = "RateLimited";
inline constexpr std::string_view kReasonWriteFailed = "WriteFailed";
// A template.data entry failed to render (the managed Secrets are left as they are).
inline constexpr std::string_view kReasonTemplateFailed = "TemplateFailed";
// What Infisical (or a template) gives cannot be stored: a key Kubernetes refuses, or over 1 MiB.
inline constexpr std::string_view kReasonDataNotStorable = "DataNotStorable";
inline constexpr std::string_view kReasonProgressing = "Progressing";
// The trust boundary (DESIGN.md section 8, docs/security.md): a refused reference is never read,
// minted, sent or written.
inline constexpr std::string_view kReasonReferenceNotGranted = "ReferenceNotGranted";
inline constexpr std::string_view kReasonHostNotAllowed = "HostNotAllowed";
inline constexpr std::string_view kReasonServiceAccountNotOptedIn = "ServiceAccountNotOptedIn";
// Reasons of the upstream condition types (LoadedInfisicalToken, ReadyToSyncSecrets, AutoRedeployReady),
// as upstream v0.11 writes them.
inline constexpr std::string_view kReasonOk = "OK";
inline constexpr std::string_view kReasonError = "Error";
inline constexpr std::string_view kReasonStopped = "Stopped";
// Event reasons: a failure's Event carries its Ready reason, a later sync that wrote (or a recovery)
// carries kReasonSynced (a first sync records no Event), and a workload whose pods are rolled this one.
inline constexpr std::string_view kReasonRolloutTriggered = "RolloutTriggered";

// status.managedKeyDigests (core/managed_digests.h): the key digests of each managed object the
// rollout hash covers, published by the syncer so the webhook can compute rollout hashes from a watch
// of InfisicalSecrets without any right to read Secrets. Entries: {kind, namespace, name, keyDigests}.
inline constexpr std::string_view kStatusManagedKeyDigests = "managedKeyDigests";
inline constexpr std::string_view kManagedKeyDigestsKey = "keyDigests";
// Beside keyDigests while the digest key is being rotated: the same data's digests under the previous key.
inline constexpr std::string_view kManagedPreviousKeyDigestsKey = "previousKeyDigests";
// The only kind an entry names today: rollout hashes follow Secrets only (core/consumed_keys.h).
inline constexpr std::string_view kManagedKindSecret = "Secret";

// Credential Secret keys (upstream compatible).
inline constexpr std::string_view kClientIdKey = "clientId";
inline constexpr std::string_view kClientSecretKey = "clientSecret";
inline constexpr std::string_view kServiceTokenKey = "infisicalToken";
inline constexpr std::string_view kLdapUsernameKey = "username";
inline constexpr std::string_view kLdapPasswordKey = "password";

// Global configuration.
inline constexpr std::string_view kDefaultOperatorNamespace = "infisical-operator-system";
inline constexpr std::string_view kGlobalConfigMapName = "infisical-config";
inline constexpr std::string_view kGlobalConfigHostKey = "hostAPI";
inline constexpr std::string_view kDefaultHostApi = "https://app.infisical.com/api";
inline constexpr std::string_view kDigestKeySecretName = "infisical-operator-digest-key";
inline constexpr std::string_view kDigestKeyDataKey = "key";  // data key holding the raw HMAC key bytes
// During a key rotation (docs/security.md#rotating-the-digest-key): the key that was current before.
// Workloads stamped under it are up to date, so a new key rolls no pod; removing it ends the rotation.
inline constexpr std::string_view kDigestKeyPreviousDataKey = "previous";

// Field managers for server-side bookkeeping.
inline constexpr std::string_view kSyncerFieldManager = "infisical-syncer";
inline constexpr std::string_view kWebhookFieldManager = "infisical-webhook";
inline constexpr std::string_view kCertsGenFieldManager = "infisical-certs-gen";

// certs-gen's two Secrets: the webhook's kubernetes.io/tls serving Secret (tls.crt, tls.key, ca.crt) and
// the Opaque CA Secret (ca.crt, ca.key: the signing CA key for renewals), which only certs-gen reads.
inline constexpr std::string_view kSecretTypeTls = "kubernetes.io/tls";
inline constexpr std::string_view kSecretTypeOpaque = "Opaque";
inline constexpr std::string_view kTlsCertKey = "tls.crt";
inline constexpr std::string_view kTlsPrivateKeyKey = "tls.key";
inline constexpr std::string_view kCaCertKey = "ca.crt";
inline constexpr std::string_view kCaPrivateKeyKey = "ca.key";

// Admission webhook.
inline constexpr std::string_view kAdmissionApiVersion = "admission.k8s.io/v1";
inline constexpr std::string_view kAdmissionReviewKind = "AdmissionReview";
inline constexpr std::string_view kValidatePath = "/validate-infisicalsecret";
inline constexpr std::string_view kMutatePath = "/mutate-workload";
inline constexpr std::string_view kWebhookServiceName = "infisical-webhook";
inline constexpr std::string_view kWebhookTlsSecretName = "infisical-webhook-tls";
inline constexpr std::string_view kWebhookCaSecretName = "infisical-webhook-ca";
inline constexpr std::string_view kValidatingWebhookConfigName = "infisical-secrets-operator-validating";
inline constexpr std::string_view kMutatingWebhookConfigName = "infisical-secrets-operator-mutating";

}  // namespace ifo::core
