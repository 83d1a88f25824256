#!/usr/bin/env bash
# The trust boundary end to end (docs/security.md), with the real kubectl against kube-sim enforcing a
# tenant's RBAC: user "tenant" may manage InfisicalSecrets and Secrets in namespace team-a and nothing
# else (in particular not read namespace shared's Secrets, nor mint service-account tokens). The three
# escalations that upstream allows are tried twice: through the webhook (refused at kubectl
# apply/patch) and with the webhook absent (stored, then refused by the syncer itself). A listener
# standing for the tenant's own host must receive zero connections in all of them. Then the granted
# path: an InfisicalReferenceGrant added by the admin lets the same spec sync within one resync.
# Last, rollout hashes across namespaces: the tenant, here also allowed to write its own
# InfisicalSecrets' status, publishes key digests for a Secret of namespace shared; an opted-in
# workload in shared is stamped from them only while shared grants team-a that Secret.
set -uo pipefail
root="${IFO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${IFO_BUILD_ROOT:-$root/build}"
export PATH="$root/.tools/bin:$PATH"
# shellcheck source=../../scripts/lib/sandbox.sh
source "$root/scripts/lib/sandbox.sh"
work="$(mktemp -d /tmp/ifo-e2e-trust.XXXXXX)"
listener_pid=""
trap 'kill $listener_pid 2>/dev/null; sandbox_stop; rm -rf "$work"' EXIT

k() { sandbox_kubectl "$@"; }
tenant_token="tenant-$RANDOM$RANDOM"
kt() { sandbox_kubectl --token="$tenant_token" "$@"; }  # kubectl as the tenant
ready_reason() { k -n team-a get infisicalsecret "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}'; }

# The tenant's host: counts every TCP connection it accepts (a TLS handshake or a plain request alike).
listener_port="$(sandbox_free_port)"
python3 - "$listener_port" "$work/listener.count" <<'PY' &
import socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(64)
n = 0
open(out, "w").write("0")
while True:
    c, _ = s.accept(); n += 1
    open(out, "w").write(str(n)); c.close()
PY
listener_pid=$!
tenant_host="https://127.0.0.1:$listener_port/api"
listener_untouched() { [ "$(cat "$work/listener.count" 2>/dev/null)" = 0 ]; }

export SANDBOX_ACCESS_RULES="allow group:system:masters * * * *
allow user:tenant * secrets team-a *
allow user:tenant * infisicalsecrets.secrets.infisical.com team-a *
allow user:tenant * infisicalsecrets.secrets.infisical.com/status team-a *
allow user:tenant get events team-a *
allow user:tenant list events team-a *
deny user:tenant * * * *
allow * * * * *"
export SANDBOX_KUBE_SIM_ARGS="--authorize-requests --token $tenant_token=tenant:tenants"
sandbox_start_for_test "$work/sandbox" "$build" "$work/start.log"
admin_token="$(k config view --raw -o 'jsonpath={.users[0].user.token}')"
token_requests() {  # kube-sim's count of TokenRequests since start
  curl -fsSk -H "Authorization: Bearer $admin_token" "$KUBE_SIM_URL/sim/counters" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"].get("create serviceaccounts/token", 0))'
}

# As the admin: namespace shared grants InfisicalSecrets of team-a its Secret SECRET (grant NAME).
grant_team_a() {  # NAME SECRET
  k apply -f - <<EOF
apiVersion: secrets.infisical.com/v1alpha1
kind: InfisicalReferenceGrant
metadata: {name: $1, namespace: shared}
spec:
  from: [{namespace: team-a}]
  to: [{kind: Secret, name: $2}]
EOF
}

# The cluster as the admin set it up: team-a (the tenant), shared (another team's credentials, and
# credentials shared with team-a on purpose), a powerful ServiceAccount in team-a.
setup() {
  # (kubectl create sends protobuf, which kube-sim refuses: objects go through apply.)
  local n
  for n in team-a shared; do k create namespace "$n" --dry-run=client -o yaml | k apply -f - || return 1; done
  k -n shared create secret generic other-team-creds --from-literal=clientId=demo-client-id \
    --from-literal=clientSecret=demo-client-secret --dry-run=client -o yaml | k apply -f - &&
    k -n shared create secret generic team-a-creds --from-literal=clientId=demo-client-id \
      --from-literal=clientSecret=demo-client-secret --dry-run=client -o yaml | k apply -f - &&
    k -n team-a create serviceaccount deployer --dry-run=client -o yaml | k apply -f - &&
    grant_team_a team-a-creds team-a-creds || return 1
  # The tenant model holds: its own namespace yes, the other namespace and token minting no.
  kt -n team-a get secrets && ! kt -n shared get secret other-team-creds &&
    [[ "$(kt auth can-i create serviceaccounts --subresource=token -n team-a)" == no* ]] &&
    [ "$(kt auth can-i create infisicalsecrets.secrets.infisical.com -n team-a)" = yes ]
}
sandbox_check "setup: the tenant may use team-a only, and may not mint tokens (kube-sim enforces RBAC)" setup

# Universal auth with credentials in namespace shared: NAME CREDENTIALS-SECRET.
spec_universal() {
  cat <<EOF
apiVersion: secrets.infisical.com/v1alpha1
kind: InfisicalSecret
metadata: {name: $1, namespace: team-a}
spec:
  resyncInterval: 5
  authentication:
    universalAuth:
      credentialsRef: {secretName: $2, secretNamespace: shared}
      secretsScope: {projectSlug: demo-project, envSlug: dev, secretsPath: /app}
  managedSecretReference: {secretName: $1, secretNamespace: team-a}
EOF
}
# 1: another namespace's credentials (not granted).
spec_cross_ns() { spec_universal "$1" other-team-creds; }
# 2: Kubernetes auth for a powerful ServiceAccount, token sent to the tenant's host.
spec_token_theft() {
  cat <<EOF
apiVersion: secrets.infisical.com/v1alpha1
kind: InfisicalSecret
metadata: {name: $1, namespace: team-a}
spec:
  hostAPI: $tenant_host
  resyncInterval: 5
  authentication:
    kubernetesAuth:
      identityId: 11111111-2222-4333-8444-555555555555
      serviceAccountRef: {name: deployer, namespace: team-a}
      secretsScope: {projectSlug: demo-project, envSlug: dev, secretsPath: /app}
  managedSecretReference: {secretName: $1, secretNamespace: team-a}
EOF
}
# 3: the admin's resource using shared credentials (granted), which the tenant then points elsewhere.
spec_admin() { spec_universal "$1" team-a-creds; }
hostapi_patch="{\"spec\":{\"hostAPI\":\"$tenant_host\"}}"

admin_resource_syncs() {
  spec_admin admin-app | k apply -f - &&
    sandbox_wait_for 60 "admin-app Ready" k -n team-a wait --for=condition=Ready infisicalsecret/admin-app --timeout=1s &&
    [ "$(k -n team-a get secret admin-app -o jsonpath='{.data.API_KEY}' | base64 -d)" = initial-api-key ]
}
sandbox_check "the admin's resource with granted cross-namespace credentials syncs" admin_resource_syncs

# --- With the webhook: each escalation is refused at kubectl apply/patch.
refused_at_apply() {  # NAME SPEC-FUNCTION EXPECTED-TEXT...
  local name="$1" fn="$2"; shift 2
  ! "$fn" "$name" | kt apply -f - >"$work/apply.out" 2>&1 || { cat "$work/apply.out"; return 1; }
  cat "$work/apply.out"
  grep -q 'denied the request' "$work/apply.out" || return 1
  local t; for t in "$@"; do grep -qF -- "$t" "$work/apply.out" || { echo "missing: $t"; return 1; }; done
  ! k -n team-a get infisicalsecret "$name" 2>/dev/null
}
sandbox_check "1 (webhook): another namespace's credentials are refused at kubectl apply" \
  refused_at_apply esc1 spec_cross_ns spec.authentication.universalAuth.credentialsRef
sandbox_check "2 (webhook): Kubernetes auth for a ServiceAccount the tenant may not mint, to its own host, is refused" \
  refused_at_apply esc2 spec_token_theft spec.authentication.kubernetesAuth.serviceAccountRef spec.hostAPI
patch_refused() {
  ! kt -n team-a patch infisicalsecret admin-app --type=merge -p "$hostapi_patch" >"$work/patch.out" 2>&1 ||
    { cat "$work/patch.out"; return 1; }
  cat "$work/patch.out"
  grep -q 'denied the request' "$work/patch.out" && grep -q 'spec.hostAPI' "$work/patch.out" &&
    [ -z "$(k -n team-a get infisicalsecret admin-app -o jsonpath='{.spec.hostAPI}')" ]
}
sandbox_check "3 (webhook): the tenant's patch of hostAPI on the admin's resource is refused" patch_refused
sandbox_check "the tenant's host received no connection (webhook phase)" listener_untouched

# --- Without the webhook (as before install, while it is down, or with webhook.enabled=false): the
# same specs are stored, and the syncer refuses each itself.
webhook_removed() {
  local name; name="$(k get validatingwebhookconfigurations -o name)"
  [ -n "$name" ] && k delete $name && [ -z "$(k get validatingwebhookconfigurations -o name)" ]
}
sandbox_check "the validating webhook is removed" webhook_removed
tokens_before="$(token_requests)"
stored_and_refused() {  # NAME SPEC-FUNCTION REASON
  "$2" "$1" | kt apply -f - || return 1
  sandbox_wait_for 30 "reason $3 on $1" bash -c "[ \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' -n team-a get infisicalsecret '$1' -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}')\" = '$3' ]" || return 1
  ! k -n team-a get secret "$1" 2>/dev/null || { echo "the managed Secret was written"; return 1; }
  # The reason shows where a user looks first.
  kt -n team-a get infisicalsecrets | tee /dev/stderr | grep -E "^$1 +False +$3"
}
sandbox_check "1 (no webhook): the syncer refuses another namespace's credentials: ReferenceNotGranted" \
  stored_and_refused esc1 spec_cross_ns ReferenceNotGranted
sandbox_check "2 (no webhook): the syncer mints no token and sends nothing to a host that is not allowed: HostNotAllowed" \
  stored_and_refused esc2 spec_token_theft HostNotAllowed
no_token_minted() {
  k -n team-a get infisicalsecret esc2 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].message}' | tee /dev/stderr |
    grep -q ServiceAccount &&
    [ "$(token_requests)" = "$tokens_before" ]
}
sandbox_check "2 (no webhook): the ServiceAccount's missing opt-in is named too, and no TokenRequest was made" no_token_minted
patched_and_refused() {
  local before; before="$(k -n team-a get secret admin-app -o jsonpath='{.data}')"
  kt -n team-a patch infisicalsecret admin-app --type=merge -p "$hostapi_patch" || return 1
  sandbox_wait_for 30 "HostNotAllowed on admin-app" bash -c "[ \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' -n team-a get infisicalsecret admin-app -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}')\" = HostNotAllowed ]" || return 1
  kt -n team-a get infisicalsecrets | tee /dev/stderr | grep -E "^admin-app +False +HostNotAllowed" &&
    [ "$(k -n team-a get secret admin-app -o jsonpath='{.data}')" = "$before" ]
}
sandbox_check "3 (no webhook): after the tenant's hostAPI patch the syncer sends nothing and keeps the Secret: HostNotAllowed" \
  patched_and_refused
sandbox_check "the tenant's host received no connection (no-webhook phase)" listener_untouched

# --- The granted path: the admin grants team-a the other credentials; the same spec syncs.
granted_syncs() {
  grant_team_a team-a-other-creds other-team-creds || return 1
  k -n shared get infisicalreferencegrants | tee /dev/stderr | grep -q team-a-other-creds &&
    # resyncInterval is 5 s: within one resync (plus the grant cache) it is Ready.
    sandbox_wait_for 20 "esc1 Ready" k -n team-a wait --for=condition=Ready infisicalsecret/esc1 --timeout=1s &&
    [ "$(k -n team-a get secret esc1 -o jsonpath='{.data.API_KEY}' | base64 -d)" = initial-api-key ]
}
sandbox_check "granted: after an InfisicalReferenceGrant is added the same spec syncs within one resync" granted_syncs

preflight_lists() {
  "$(sandbox_bin infisical-syncer)" preflight --kubeconfig="$KUBECONFIG" >"$work/preflight.out" 2>&1
  local rc=$?
  cat "$work/preflight.out"
  [ "$rc" = 1 ] && grep -q 'team-a/esc2' "$work/preflight.out" && grep -q 'team-a/admin-app' "$work/preflight.out" &&
    ! grep -q 'team-a/esc1' "$work/preflight.out"
}
sandbox_check "infisical-syncer preflight lists the resources the rules refuse" preflight_lists

# --- Rollout hashes across namespaces. The chart gives infisicalsecrets/status to the syncer only; a
# tenant who has it anyway (or a bug) can publish any digests in its own InfisicalSecret's status.
new_workload_hash() {  # a new opted-in Deployment in shared reading shared/shared-app's API_KEY: its hash
  local name="web-$RANDOM$RANDOM"
  k apply -f - >/dev/null <<EOF || return 1
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name, namespace: shared, annotations: {secrets.infisical.com/auto-reload: "true"}}
spec:
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec:
      containers:
      - name: app
        image: app
        env:
        - name: API_KEY
          valueFrom: {secretKeyRef: {name: shared-app, key: API_KEY}}
EOF
  k -n shared get deployment "$name" -o jsonpath='{.spec.template.metadata.annotations.secrets\.infisical\.com/rollout-hash}'
}
missing_hash=""  # the hash of a workload whose Secret has no digests the webhook counts
hash_is() { [ "$(new_workload_hash)" = "$1" ]; }
hash_is_not() { local h; h="$(new_workload_hash)" && [[ "$h" =~ ^[0-9a-f]{64}$ ]] && [ "$h" != "$1" ]; }
ready_is() { [ "$(ready_reason "$1")" = "$2" ]; }
foreign_claim_ignored() {
  missing_hash="$(new_workload_hash)" && [[ "$missing_hash" =~ ^[0-9a-f]{64}$ ]] || return 1
  # An InfisicalSecret the syncer refuses (ungranted credentials), so no sync rewrites its status.
  spec_universal steer no-such-creds | kt apply -f - &&
    sandbox_wait_for 30 "steer refused" ready_is steer ReferenceNotGranted || return 1
  local digest; digest="$(printf 'a%.0s' $(seq 64))"
  kt -n team-a patch infisicalsecret steer --subresource=status --type merge -p \
    "{\"status\":{\"managedKeyDigests\":[{\"kind\":\"Secret\",\"namespace\":\"shared\",\"name\":\"shared-app\",\"keyDigests\":{\"API_KEY\":\"$digest\"}}]}}" &&
    [ "$(k -n team-a get infisicalsecret steer -o jsonpath='{.status.managedKeyDigests[0].namespace}')" = shared ] &&
    hash_is "$missing_hash"
}
sandbox_check "tenant's digests for namespace shared's Secret: a new workload in shared is not stamped from them" \
  foreign_claim_ignored
claim_counts_when_granted() {
  grant_team_a team-a-shared-app shared-app || return 1
  sandbox_wait_for 20 "a hash from team-a's digests" hash_is_not "$missing_hash"
}
sandbox_check "granted by shared: the same digests now make the workload's hash" claim_counts_when_granted
claim_ignored_when_revoked() {
  # The webhook has the claim (the hash above came from it): only the grant's removal can undo that.
  k -n shared delete infisicalreferencegrant team-a-shared-app &&
    sandbox_wait_for 20 "the hash of a Secret without counted digests" hash_is "$missing_hash"
}
sandbox_check "revoked: the tenant's digests stop counting at once" claim_ignored_when_revoked

# Control: the listener does count a connection, so its zero above means none was made.
listener_counts() {
  curl -sk --max-time 2 "$tenant_host/v1/auth/universal-auth/login" >/dev/null 2>&1
  sandbox_wait_for 5 "the listener to count" bash -c "[ \"\$(cat '$work/listener.count')\" = 1 ]"
}
sandbox_check "control: a connection to the tenant's listener is counted" listener_counts

sandbox_finish
