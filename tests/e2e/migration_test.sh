#!/usr/bin/env bash
# Migrating from upstream v0.11 with the real kubectl (docs/migration.md): the cluster starts as one
# running upstream's operator, with upstream's own InfisicalSecret CRD (tests/e2e/testdata/
# upstream-v0.11), a resource using `syncConfig` and a `template` on `managedKubeSecretReferences`,
# the Secret upstream rendered from it, upstream's finalizer on the resource, and two opted-in
# Deployments already running on that Secret. Then this chart is applied and its syncer runs. Nothing
# may be lost: not a stored field, not a rendered key; no workload rolls until a key it consumes
# changes; deleting the resource completes.
set -uo pipefail
root="${IFO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${IFO_BUILD_ROOT:-$root/build}"
export PATH="$root/.tools/bin:$PATH"
# shellcheck source=../../scripts/lib/sandbox.sh
source "$root/scripts/lib/sandbox.sh"
work="$(mktemp -d /tmp/ifo-e2e-migration.XXXXXX)"
trap 'sandbox_stop; rm -rf "$work"' EXIT

k() { sandbox_kubectl "$@"; }
secret_value() { k get secret app-secrets -o "jsonpath={.data.$1}" | base64 -d; }
secret_keys() { k get secret app-secrets -o json | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin).get("data", {}))))'; }
generation() { k get deployment "$1" -o 'jsonpath={.metadata.generation}'; }
spec_json() { k get infisicalsecret app-secrets -o json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["spec"], sort_keys=True))'; }
b64() { printf '%s' "$1" | base64 -w0; }

# What upstream v0.11 left in the cluster. Its Secret holds exactly the keys the template rendered,
# with upstream's bookkeeping annotations; the workloads carry upstream's reload annotation.
upstream_cluster() {
  k apply -f "$root/tests/e2e/testdata/upstream-v0.11/secrets.infisical.com_infisicalsecrets.yaml" &&
    sandbox_wait_for 30 "upstream's CRD to be served" k get infisicalsecrets -A &&
    k apply -f "$root/examples/credentials.yaml" || return 1
  k apply -f - <<'EOF' || return 1
apiVersion: secrets.infisical.com/v1alpha1
kind: InfisicalSecret
metadata:
  name: app-secrets
  namespace: default
  finalizers: ["secrets.finalizers.infisical.com"]
spec:
  syncConfig:
    resyncInterval: 10s
  authentication:
    universalAuth:
      credentialsRef: {secretName: universal-auth-credentials, secretNamespace: default}
      secretsScope: {projectSlug: demo-project, envSlug: dev, secretsPath: /app}
  managedKubeSecretReferences:
    - secretName: app-secrets
      secretNamespace: default
      creationPolicy: Orphan
      template:
        includeAllSecrets: false
        data:
          DSN: "postgres://app:{{ .DB_PASSWORD.Value }}@db:5432/app"
          LOG_LEVEL: "{{ .LOG_LEVEL.Value }}"
EOF
  k apply -f - <<EOF || return 1
apiVersion: v1
kind: Secret
metadata:
  name: app-secrets
  namespace: default
  annotations:
    secrets.infisical.com/managed-labels: ""
    secrets.infisical.com/managed-annotations: ""
    secrets.infisical.com/version: 'W/"secrets-58-1C0F3A7B"'
type: Opaque
data:
  DSN: $(b64 postgres://app:initial-db-password@db:5432/app)
  LOG_LEVEL: $(b64 info)
EOF
  local d key
  for d in web:DSN logger:LOG_LEVEL; do
    key="${d#*:}"; d="${d%%:*}"
    k apply -f - <<EOF || return 1
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $d
  namespace: default
  annotations:
    secrets.infisical.com/auto-reload: "true"
    secrets.infisical.com/managed-secret.app-secrets: 'W/"secrets-58-1C0F3A7B"'
spec:
  replicas: 1
  selector:
    matchLabels: {app: $d}
  template:
    metadata:
      labels: {app: $d}
      annotations:
        secrets.infisical.com/managed-secret.app-secrets: 'W/"secrets-58-1C0F3A7B"'
    spec:
      containers:
        - name: $d
          image: busybox:1.36
          env:
            - name: $key
              valueFrom:
                secretKeyRef: {name: app-secrets, key: $key}
EOF
  done
  sandbox_wait_for 30 "the Deployments' first revision" bash -c \
    "[ \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get deploy web logger -o 'jsonpath={.items[*].metadata.annotations.deployment\.kubernetes\.io/revision}')\" = '1 1' ]" || return 1
  spec_json >"$work/spec.before"
}
export SANDBOX_BEFORE_INSTALL=upstream_cluster

sandbox_start_for_test "$work/sandbox" "$build" "$work/start.log"

stored_fields_kept() {  # every field stored under upstream's schema reads back equal (defaults may be added)
  spec_json >"$work/spec.after"
  python3 - "$work/spec.before" "$work/spec.after" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
def lost(b, a, path):
    if isinstance(b, dict) and isinstance(a, dict):
        return [x for key in b for x in (lost(b[key], a[key], f"{path}.{key}") if key in a else [f"{path}.{key}"])]
    return [] if b == a else [f"{path}: {b!r} became {a!r}"]
missing = lost(before, after, "spec")
print("\n".join(missing) or "nothing lost")
sys.exit(1 if missing or "template" not in json.dumps(after) or "syncConfig" not in after else 0)
PY
}
sandbox_check "after the chart replaces upstream's CRD, the stored spec reads back whole (template, syncConfig)" stored_fields_kept

rendered_keys_kept() {
  sandbox_wait_for 60 "Ready=True" k wait --for=condition=Ready infisicalsecret/app-secrets --timeout=1s || return 1
  k get infisicalsecret app-secrets
  [ "$(secret_keys)" = "DSN LOG_LEVEL" ] || { echo "keys: $(secret_keys)"; return 1; }
  [ "$(secret_value DSN)" = postgres://app:initial-db-password@db:5432/app ] && [ "$(secret_value LOG_LEVEL)" = info ]
}
sandbox_check "the syncer adopts upstream's Secret and keeps exactly the rendered keys and values" rendered_keys_kept

no_rollout_on_install() {
  sleep 3  # a rollout, if one were (wrongly) triggered, is written right after the Secret is claimed
  for d in web logger; do
    [ "$(generation "$d")" = 1 ] && [ "$(sandbox_revision "$d")" = 1 ] ||
      { echo "$d: generation $(generation "$d"), revision $(sandbox_revision "$d")"; return 1; }
  done
}
sandbox_check "installing the operator rolls none of the already running workloads" no_rollout_on_install

finalizer_dropped() {
  sandbox_wait_for 30 "upstream's finalizer to go" bash -c \
    "[ -z \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get infisicalsecret app-secrets -o 'jsonpath={.metadata.finalizers}')\" ]"
}
sandbox_check "upstream's finalizer is removed from the resource" finalizer_dropped

rerender_and_roll_consumer_only() {
  sandbox_set_secret DB_PASSWORD rotated-db-password
  sandbox_wait_for 60 "DSN to be re-rendered" bash -c \
    "[ \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get secret app-secrets -o jsonpath='{.data.DSN}' | base64 -d)\" = postgres://app:rotated-db-password@db:5432/app ]" || return 1
  [ "$(secret_keys)" = "DSN LOG_LEVEL" ] || { echo "keys: $(secret_keys)"; return 1; }
  sandbox_wait_for 60 "web to roll" bash -c "[ \"\$(kubectl --cache-dir '$SANDBOX_DIR/kube-cache' get deploy web -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}')\" = 2 ]" || return 1
  sleep 2
  [ "$(sandbox_revision logger)" = 1 ] || { echo "logger rolled to revision $(sandbox_revision logger) though LOG_LEVEL did not change"; return 1; }
  [ "$(sandbox_revision web)" = 2 ] || { echo "web rolled more than once: revision $(sandbox_revision web)"; return 1; }
}
sandbox_check "a change in Infisical re-renders the template, and rolls only the workload consuming that key" rerender_and_roll_consumer_only

delete_completes() {
  k delete infisicalsecret app-secrets --wait=true --timeout=30s || return 1
  ! k get infisicalsecret app-secrets && k get secret app-secrets  # Orphan: the Secret stays
}
sandbox_check "deleting the migrated resource completes, and its Orphan Secret stays" delete_completes

sandbox_finish
