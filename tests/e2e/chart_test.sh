#!/usr/bin/env bash
# Checks of the Helm chart with the real helm: lint --strict is clean, the render is stable and
# hook-free (GitOps), the values schema rejects bad input, RBAC is least privilege, the pods meet the
# restricted Pod Security Standard, and deploy/install.yaml is in sync with the chart.
set -uo pipefail
root="${IFO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
helm="${HELM:-$root/.tools/bin/helm}"
chart="$root/charts/infisical-secrets-operator"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # check NAME COMMAND...: one case
  local name="$1"; shift
  if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$tmp/out" | head -20; fi
}
render() { "$helm" template rel "$chart" -n ops "$@" 2>/dev/null; }

lint_clean() {
  "$helm" lint --strict "$chart" >"$tmp/lint" 2>&1 || { cat "$tmp/lint"; return 1; }
  ! grep -E '^\[(WARNING|ERROR)\]' "$tmp/lint"
}
check "helm lint --strict is clean" lint_clean

stable_and_hook_free() {
  render >"$tmp/a.yaml" && render >"$tmp/b.yaml" && cmp "$tmp/a.yaml" "$tmp/b.yaml" &&
    ! grep -n 'helm.sh/hook' "$tmp/a.yaml"
}
check "helm template output is stable and uses no Helm hooks" stable_and_hook_free

default_objects() {
  local kinds
  kinds="$(render | grep '^kind:' | sort | uniq -c | tr -s ' ')"
  for want in "1 kind: CustomResourceDefinition" "2 kind: Deployment" "1 kind: CronJob" \
              "1 kind: ValidatingWebhookConfiguration" "1 kind: MutatingWebhookConfiguration" \
              "1 kind: PodDisruptionBudget" "3 kind: ServiceAccount"; do
    grep -qF "$want" <<<"$kinds" || { echo "missing: $want"; echo "$kinds"; return 1; }
  done
}
check "default render has the CRD, both Deployments, the renewal CronJob, webhooks and PDB" default_objects

crd_kept_on_uninstall() { render --show-only templates/crd.yaml | grep -q 'helm.sh/resource-policy: keep'; }
check "the CRD is kept on uninstall" crd_kept_on_uninstall

schema_rejects() {
  ! render --set webhook.crossNamespacePolicy=sometimes >/dev/null &&
    ! render --set notAValue=1 >/dev/null &&
    ! render --set hostAPI=ftp://x >/dev/null &&
    ! render --set 'namespaces={Bad_Name}' >/dev/null
}
check "values.schema.json rejects unknown keys, bad enums, URLs and namespace names" schema_rejects

restricted_pods() {
  local out; out="$(render)"
  [ "$(grep -c 'runAsNonRoot: true' <<<"$out")" -ge 3 ] &&
    [ "$(grep -c 'readOnlyRootFilesystem: true' <<<"$out")" -ge 4 ] &&
    [ "$(grep -c 'allowPrivilegeEscalation: false' <<<"$out")" -ge 4 ] &&
    [ "$(grep -c 'type: RuntimeDefault' <<<"$out")" -ge 3 ]
}
check "every pod runs as non-root, read-only, no escalation, seccomp RuntimeDefault" restricted_pods

least_privilege() {
  local rbac; rbac="$(render --show-only templates/syncer-rbac.yaml --show-only templates/webhook-rbac.yaml)"
  ! grep -nE "verbs: \[?.*\"?\*\"?" <<<"$rbac" && ! grep -n "resources:.*\"\*\"" <<<"$rbac" &&
    ! grep -n '^  - delete' <<<"$rbac" && grep -q 'resourceNames:' <<<"$rbac"
}
check "RBAC has no wildcards, no delete, and certs-gen is limited by resource name" least_privilege

scoped_namespaces() {
  local out; out="$(render --set 'namespaces={team-a,team-b}')"
  grep -q -- '--namespaces=team-a,team-b' <<<"$out" &&
    [ "$(grep -c 'namespace: team-' <<<"$out")" -ge 4 ] && ! grep -q 'name: rel-infisical-secrets-operator-syncer$' <<<"$(grep -A3 'kind: ClusterRole$' <<<"$out")"
}
check "namespaces= scopes the syncer and its RBAC to those namespaces" scoped_namespaces

cert_manager_path() {
  local out; out="$(render --set certificates.provider=cert-manager)"
  grep -q 'kind: Certificate' <<<"$out" && grep -q 'cert-manager.io/inject-ca-from' <<<"$out" &&
    ! grep -q 'kind: CronJob' <<<"$out" && ! grep -q 'name: certs-gen' <<<"$out"
}
check "certificates.provider=cert-manager replaces certs-gen with a Certificate and CA injection" cert_manager_path

install_manifest_in_sync() {
  HELM="$helm" "$root/scripts/render-install-manifest" "$tmp/install.yaml" &&
    diff -u "$root/deploy/install.yaml" "$tmp/install.yaml"
}
check "deploy/install.yaml is in sync with the chart (scripts/render-install-manifest)" install_manifest_in_sync

echo "# cases: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
