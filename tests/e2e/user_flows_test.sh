#!/usr/bin/env bash
# The user flows of the README with the real kubectl and helm: the chart rendered and applied to
# kube-sim, certs-gen run as the install Job (with its ServiceAccount's token), the webhook and the
# syncer run with the chart's arguments against infisical-sim. Each flow is one case.
set -uo pipefail
root="${IFO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${IFO_BUILD_ROOT:-$root/build}"
export PATH="$root/.tools/bin:$PATH"
# shellcheck source=../../scripts/lib/sandbox.sh
source "$root/scripts/lib/sandbox.sh"
work="$(mktemp -d /tmp/ifo-e2e.XXXXXX)"
trap 'sandbox_stop; rm -rf "$work"' EXIT

k() { sandbox_kubectl "$@"; }
secret_value() { k -n "${2:-default}" get secret "${3:-app-secrets}" -o "jsonpath={.data.$1}" | base64 -d; }
ready_reason() { k get infisicalsecret "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}'; }

sandbox_start_for_test "$work/sandbox" "$build" "$work/start.log"

invalid_rejected() {
  ! k apply -f "$root/examples/invalid-infisicalsecret.yaml" >"$work/invalid.out" 2>&1 || return 1
  cat "$work/invalid.out"
  grep -q 'denied the request' "$work/invalid.out" &&
    grep -q 'spec.authentication' "$work/invalid.out" &&
    grep -q 'spec.managedSecretReference.secretNamespace' "$work/invalid.out" &&
    ! k get infisicalsecret broken
}
sandbox_check "kubectl apply of an invalid InfisicalSecret is rejected with the field paths" invalid_rejected

valid_synced() {
  k apply -f "$root/examples/credentials.yaml" -f "$root/examples/infisicalsecret.yaml" &&
    sandbox_wait_for 60 "the managed Secret" k get secret app-secrets &&
    [ "$(secret_value DB_PASSWORD)" = initial-db-password ] &&
    [ "$(secret_value API_KEY)" = initial-api-key ] &&
    [ "$(secret_value DB_URL)" = "postgres://app:initial-db-password@db:5432/app" ] &&
    sandbox_wait_for 30 "Ready=True" k wait --for=condition=Ready infisicalsecret/app-secrets --timeout=1s &&
    k get infisicalsecrets | tee /dev/stderr | grep -E '^app-secrets +True +Synced +app-secrets'
}
sandbox_check "a valid InfisicalSecret (universal auth) produces the managed Secret with Infisical's values" valid_synced

# The webhook reads no Secret: the syncer publishes each managed Secret's key digests in the
# InfisicalSecret's status (the same digests as the Secret's annotation), and never a value there.
digests_published() {
  k get infisicalsecret app-secrets -o json >"$work/is.json" &&
    k get secret app-secrets -o 'jsonpath={.metadata.annotations.secrets\.infisical\.com/key-digests}' >"$work/annotation.json" &&
    python3 - "$work/is.json" "$work/annotation.json" <<'PY'
import json, sys
status = json.load(open(sys.argv[1]))["status"]
annotation = json.load(open(sys.argv[2]))
entries = status.get("managedKeyDigests", [])
print(json.dumps(entries))
assert entries == [{"kind": "Secret", "namespace": "default", "name": "app-secrets", "keyDigests": annotation}], "not the annotation's digests"
assert sorted(annotation) == ["API_KEY", "DB_PASSWORD", "DB_URL", "LOG_LEVEL"], annotation
text = json.dumps(status)
for value in ("initial-db-password", "initial-api-key", "postgres://"):
    assert value not in text, "a secret value in status"
PY
}
sandbox_check "the InfisicalSecret's status publishes the managed Secret's key digests, never a value" digests_published

rolls_on_consumed_key_only() {
  k apply -f "$root/examples/deployment.yaml" && k rollout status deployment/web --timeout=30s &&
    [ "$(sandbox_revision web)" = 1 ] || return 1
  sandbox_set_secret LOG_LEVEL debug
  sandbox_wait_for 60 "LOG_LEVEL to sync" bash -c "[ \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get secret app-secrets -o jsonpath='{.data.LOG_LEVEL}' | base64 -d)\" = debug ]" || return 1
  sleep 2  # a rollout, if one were (wrongly) triggered, is written right after the Secret
  [ "$(sandbox_revision web)" = 1 ] || { echo "rolled on a key it does not consume"; return 1; }
  sandbox_set_secret DB_PASSWORD rotated-db-password
  sandbox_wait_for 60 "revision 2" bash -c "[ \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get deploy web -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}')\" = 2 ]" &&
    k rollout status deployment/web --timeout=30s
}
sandbox_check "an opted-in Deployment rolls when a consumed key changes, not when another key does" rolls_on_consumed_key_only

no_roll_on_restart_or_reapply() {
  local before; before="$(sandbox_revision web)"
  sandbox_kill syncer TERM && sandbox_start_syncer || return 1
  k apply -f "$root/examples/deployment.yaml" || return 1
  sleep 3
  [ "$(sandbox_revision web)" = "$before" ] || { echo "revision moved from $before to $(sandbox_revision web)"; return 1; }
}
sandbox_check "restarting the syncer or re-applying the Deployment rolls nothing" no_roll_on_restart_or_reapply

outage_keeps_secret() {
  local before; before="$(k get secret app-secrets -o jsonpath='{.data}')"
  sandbox_infisical_admin POST /sim/errors '{"status":503,"count":-1}' >/dev/null || return 1
  sandbox_set_secret API_KEY changed-during-outage
  sandbox_wait_for 60 "a failure reason" bash -c "kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get infisicalsecrets | grep -E 'app-secrets +False'" || return 1
  k get infisicalsecrets
  [ "$(k get secret app-secrets -o jsonpath='{.data}')" = "$before" ] || { echo "the Secret changed during the outage"; return 1; }
  sandbox_infisical_admin POST /sim/errors '{"status":0}' >/dev/null
  sandbox_wait_for 60 "recovery" bash -c "[ \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get secret app-secrets -o jsonpath='{.data.API_KEY}' | base64 -d)\" = changed-during-outage ]"
}
sandbox_check "an Infisical outage leaves the Secret unchanged and kubectl get shows why; recovery syncs" outage_keeps_secret

orphan_kept_owner_collected() {
  k delete infisicalsecret app-secrets --wait=true && sleep 1 && k get secret app-secrets || return 1
  sed -e 's/name: app-secrets$/name: owned/' -e 's/secretName: app-secrets/secretName: owned-secrets/' \
      -e 's/creationPolicy: Orphan/creationPolicy: Owner/' "$root/examples/infisicalsecret.yaml" >"$work/owned.yaml"
  k apply -f "$work/owned.yaml" && sandbox_wait_for 60 "the owned Secret" k get secret owned-secrets || return 1
  k get secret owned-secrets -o jsonpath='{.metadata.ownerReferences[0].kind}' | grep -q InfisicalSecret || return 1
  k delete infisicalsecret owned --wait=true &&
    sandbox_wait_for 30 "the owned Secret to be collected" bash -c "! kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get secret owned-secrets"
}
sandbox_check "deleting an Orphan InfisicalSecret keeps its Secret; an Owner one's Secret is collected" orphan_kept_owner_collected

uninstall_keeps_secrets() {
  # kubectl delete of the whole manifest also deletes the CRD (helm would keep it by policy): the
  # harshest uninstall. Orphan Secrets must survive it.
  sandbox_kill syncer TERM
  k delete -f "$SANDBOX_DIR/chart.yaml" --wait=true >/dev/null 2>&1
  sandbox_wait_for 30 "the CRD to go" bash -c "! kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get crd infisicalsecrets.secrets.infisical.com" &&
    [ "$(secret_value DB_PASSWORD)" = rotated-db-password ]
}
sandbox_check "uninstalling the operator keeps the managed Secrets" uninstall_keeps_secrets

sandbox_finish
