#!/usr/bin/env bash
# Checks of the Helm chart with the real helm: lint --strict is clean, the render is stable and
# hook-free (GitOps), the values schema rejects bad input, RBAC is least privilege, the pods meet the
# restricted Pod Security Standard, matchConditions follow the target version, and deploy/install.yaml
# and deploy/webhook-config are in sync with the chart.
set -uo pipefail
root="${IFO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
helm="${HELM:-$root/.tools/bin/helm}"
chart="$root/charts/infisical-secrets-operator"
# shellcheck source=../check_lib.sh
source "$root/tests/check_lib.sh"
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
  for want in "2 kind: CustomResourceDefinition" "2 kind: Deployment" "1 kind: Job" "1 kind: CronJob" \
              "1 kind: ValidatingWebhookConfiguration" "1 kind: MutatingWebhookConfiguration" \
              "1 kind: PodDisruptionBudget" "3 kind: ServiceAccount"; do
    grep -qF "$want" <<<"$kinds" || { echo "missing: $want"; echo "$kinds"; return 1; }
  done
}
check "default render has both CRDs, both Deployments, certs-gen's Job and CronJob, webhooks and PDB" default_objects

crds_kept_on_uninstall() {
  local out; out="$(render --show-only templates/crd.yaml)"
  [ "$(grep -c 'helm.sh/resource-policy: keep' <<<"$out")" -eq 2 ] &&
    grep -q 'name: infisicalsecrets.secrets.infisical.com$' <<<"$out" &&
    grep -q 'name: infisicalreferencegrants.secrets.infisical.com$' <<<"$out"
}
check "both CRDs (InfisicalSecret, InfisicalReferenceGrant) are kept on uninstall" crds_kept_on_uninstall

crds_single_source() {  # every CRD of deploy/crds is the chart's file, byte for byte, and is rendered
  local f n=0 out; out="$(render --show-only templates/crd.yaml)"
  for f in "$root"/deploy/crds/*.yaml; do
    n=$((n + 1))
    cmp "$f" "$chart/files/$(basename "$f")" || return 1
    grep -q "name: $(basename "$f" .yaml)\$" <<<"$out" || { echo "not rendered: $f"; return 1; }
  done
  [ "$n" -eq "$(ls "$chart"/files/*.yaml | wc -l)" ]
}
check "the chart's CRDs are deploy/crds (single source) and all are rendered" crds_single_source

schema_rejects() {
  ! render --set webhook.crossNamespacePolicy=sometimes >/dev/null &&
    ! render --set notAValue=1 >/dev/null &&
    ! render --set hostAPI=ftp://x >/dev/null &&
    ! render --set 'namespaces={Bad_Name}' >/dev/null &&
    ! render --set security.crossNamespaceReferences=sometimes >/dev/null &&
    ! render --set 'security.allowedHosts={https://app.infisical.com}' >/dev/null &&
    ! render --set 'security.allowedAddressRanges={localhost}' >/dev/null
}
check "values.schema.json rejects unknown keys, bad enums, URLs and namespace names" schema_rejects

restricted_pods() {
  local out; out="$(render)"
  [ "$(grep -c 'runAsNonRoot: true' <<<"$out")" -ge 4 ] &&
    [ "$(grep -c 'readOnlyRootFilesystem: true' <<<"$out")" -ge 4 ] &&
    [ "$(grep -c 'allowPrivilegeEscalation: false' <<<"$out")" -ge 4 ] &&
    [ "$(grep -c 'type: RuntimeDefault' <<<"$out")" -ge 4 ]
}
check "every pod runs as non-root, read-only, no escalation, seccomp RuntimeDefault" restricted_pods

# The webhook Deployment's Pod spec as JSON (helm's YAML through python, no yq on the machine).
webhook_pod() {
  render --show-only templates/webhook-deployment.yaml "$@" | python3 -c '
import json, sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d["kind"] == "Deployment":
        print(json.dumps(d["spec"]["template"]["spec"]))'
}

key_volume_owner_only() {  # the serving pair only, mode 0400 (decimal 256), an fsGroup to read it by
  webhook_pod "$@" | python3 -c '
import json, sys
pod = json.load(sys.stdin)
vols = pod["volumes"]
assert [v["secret"]["secretName"] for v in vols] == ["rel-infisical-secrets-operator-webhook-tls"], vols
secret = vols[0]["secret"]
assert secret["defaultMode"] == 0o400, secret
assert secret["items"] == [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}], secret
assert not secret.get("optional"), "the kubelet must wait for the Secret"
assert pod["securityContext"].get("fsGroup") is not None, pod["securityContext"]
assert "initContainers" not in pod, pod.get("initContainers")
'
}
check "the webhook mounts only tls.crt/tls.key of its serving Secret (0400, fsGroup), no init container" key_volume_owner_only
check "the webhook Pod keeps an fsGroup when podSecurityContext leaves it out" key_volume_owner_only --set podSecurityContext.fsGroup=null

certs_gen_own_identity() {  # the Job and the CronJob, certs-gen's ServiceAccount, the two Secrets
  local a b c
  a="$(render --show-only templates/certs-gen-jobs.yaml)" && b="$(render --show-only templates/certs-gen-jobs.yaml)" &&
    c="$(render --show-only templates/certs-gen-jobs.yaml --set image.tag=0.2.0)" || return 1
  python3 - "$a" "$c" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(sys.argv[1]) if d]
job = next(d for d in docs if d["kind"] == "Job")
cron = next(d for d in docs if d["kind"] == "CronJob")
other = next(d for d in yaml.safe_load_all(sys.argv[2]) if d and d["kind"] == "Job")
pods = [job["spec"]["template"]["spec"], cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
for pod in pods:
    assert pod["serviceAccountName"] == "rel-infisical-secrets-operator-certs-gen", pod["serviceAccountName"]
    args = pod["containers"][0]["args"]
    for want in ["ensure", "--secret-name=rel-infisical-secrets-operator-webhook-tls",
                 "--ca-secret-name=rel-infisical-secrets-operator-webhook-ca",
                 "--validating-config=rel-infisical-secrets-operator-validate",
                 "--mutating-config=rel-infisical-secrets-operator-mutate"]:
        assert want in args, (want, args)
assert pods[0] == pods[1], "the Job and the CronJob run the same Pod"
assert job["metadata"]["name"].startswith("rel-infisical-secrets-operator-certs-gen-"), job["metadata"]["name"]
assert not job["metadata"].get("annotations"), "no Helm hook"
# A Job's template is immutable: another Pod spec is another Job name.
assert other["metadata"]["name"] != job["metadata"]["name"]
PY
  [ "$a" = "$b" ]
}
check "certs-gen runs as a Job (name from its Pod spec) and the CronJob, under its own ServiceAccount" certs_gen_own_identity

certs_gen_rbac_own() {  # bound to certs-gen's ServiceAccount only; the webhook has none of it
  local cg wh
  cg="$(render --show-only templates/certs-gen-rbac.yaml)" && wh="$(render --show-only templates/webhook-rbac.yaml)" || return 1
  python3 - "$cg" <<'PY' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(sys.argv[1]) if d]
for d in docs:
    if d["kind"].endswith("Binding"):
        assert [s["name"] for s in d["subjects"]] == ["rel-infisical-secrets-operator-certs-gen"], d["subjects"]
role = next(d for d in docs if d["kind"] == "Role")["rules"]
assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]} in role, role
named = [r for r in role if r.get("resourceNames")]
assert named == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "update"], "resourceNames":
                  ["rel-infisical-secrets-operator-webhook-tls", "rel-infisical-secrets-operator-webhook-ca"]}], named
assert len(role) == 2, role
for r in next(d for d in docs if d["kind"] == "ClusterRole")["rules"]:
    assert r["resources"][0].endswith("webhookconfigurations") and len(r["resourceNames"]) == 1, r
PY
  ! grep -nE 'webhookconfigurations|certs-gen|webhook-tls|webhook-ca' <<<"$wh"
}
check "certs-gen's RBAC (Secrets and caBundles by name) is bound to certs-gen alone, none in the webhook's" certs_gen_rbac_own

ca_secret_name_distinct() {
  ! render --set certificates.secretName=same --set certificates.caSecretName=same >/dev/null 2>&1 &&
    render --set certificates.caSecretName=my-ca | grep -q -- '--ca-secret-name=my-ca$'
}
check "certificates.caSecretName is passed on and may not equal the serving Secret's name" ca_secret_name_distinct

webhook_drains_before_stop() {  # preStop sleep within the grace period; 0 turns it off
  local out off; out="$(render --show-only templates/webhook-deployment.yaml --set webhook.shutdownDelaySeconds=7)"
  off="$(render --show-only templates/webhook-deployment.yaml --set webhook.shutdownDelaySeconds=0)"
  grep -qF 'command: ["/bin/sleep", "7"]' <<<"$out" && grep -q 'terminationGracePeriodSeconds: 22$' <<<"$out" &&
    ! grep -q 'lifecycle:' <<<"$off" && ! render --set webhook.shutdownDelaySeconds=-1 >/dev/null 2>&1
}
check "a terminating webhook keeps serving for webhook.shutdownDelaySeconds (preStop), inside its grace period" webhook_drains_before_stop

authorization_timeout_below_webhook_timeout() {  # the webhook denies "could not verify" before the API server times out
  render --show-only templates/webhook-deployment.yaml | grep -q -- '--authorization-timeout=3000ms$' &&
    render --show-only templates/webhook-deployment.yaml --set webhook.timeoutSeconds=10 \
      --set webhook.authorizationTimeoutMilliseconds=9500 | grep -q -- '--authorization-timeout=9500ms$' &&
    ! render --set webhook.authorizationTimeoutMilliseconds=5000 >/dev/null 2>&1 &&
    ! render --set webhook.timeoutSeconds=2 >/dev/null 2>&1
}
check "webhook.authorizationTimeoutMilliseconds is passed on and must be below webhook.timeoutSeconds" authorization_timeout_below_webhook_timeout

certs_gen_durations_go_syntax() {  # what the schema allows is certs-gen's syntax (Go's, plus d); others refused
  local out
  out="$(render --show-only templates/certs-gen-jobs.yaml --set certificates.certsGen.validity=2160h30m \
    --set certificates.certsGen.renewBefore=1.5h --set certificates.certsGen.caValidity=3650d)" || return 1
  grep -q -- '--validity=2160h30m$' <<<"$out" && grep -q -- '--renew-before=1.5h$' <<<"$out" &&
    grep -q -- '--ca-validity=3650d$' <<<"$out" &&
    ! render --set certificates.certsGen.validity=8760 >/dev/null 2>&1 &&
    ! render --set certificates.certsGen.renewBefore=1y >/dev/null 2>&1 &&
    ! render --set certificates.certsGen.caValidity=-1h >/dev/null 2>&1
}
check "certs-gen durations in the values take Go's syntax (1h30m, 1.5h) and are passed on; plain numbers are refused" certs_gen_durations_go_syntax

log_levels_reach_every_binary() {  # the parsers' side is tests/unit/logging_test.cpp (same enum, same names)
  local levels lvl out
  levels="$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["properties"]["logLevel"]["enum"]))' \
            "$chart/values.schema.json")" || return 1
  [ -n "$levels" ] || return 1
  for lvl in $levels; do
    out="$(render --set logLevel="$lvl")" || { echo "logLevel=$lvl does not render"; return 1; }
    # syncer, webhook, certs-gen's Job and its renewal CronJob
    [ "$(grep -c -- "- --log-level=$lvl\$" <<<"$out")" -eq 4 ] || { echo "logLevel=$lvl not passed to every binary"; return 1; }
  done
  ! render --set logLevel=verbose >/dev/null 2>&1
}
check "every schema-allowed logLevel renders and reaches syncer, webhook and certs-gen; others are refused" log_levels_reach_every_binary

least_privilege() {
  local rbac; rbac="$(render --show-only templates/syncer-rbac.yaml --show-only templates/webhook-rbac.yaml \
                      --show-only templates/certs-gen-rbac.yaml)"
  ! grep -nE "verbs: \[?.*\"?\*\"?" <<<"$rbac" && ! grep -n "resources:.*\"\*\"" <<<"$rbac" &&
    ! grep -n '^  - delete' <<<"$rbac" && grep -q 'resourceNames:' <<<"$rbac"
}
check "RBAC has no wildcards, no delete, and certs-gen is limited by resource name" least_privilege

# The args of the container named $1 in a render, one per line.
container_args() {
  awk -v c="$1" '$0 ~ "- name: "c"$" {on=1; next} on && /^ +- name: / {on=0} on && /^ +- --/ {sub(/^ +- /, ""); print}'
}

trust_boundary_flags() {
  local out syncer webhook
  out="$(render)"; syncer="$(container_args syncer <<<"$out")"; webhook="$(container_args webhook <<<"$out")"
  for a in --cross-namespace-references=grant --allowed-hosts=app.infisical.com,us.infisical.com,eu.infisical.com \
           --allow-insecure-http=false; do
    grep -qx -- "$a" <<<"$syncer" && grep -qx -- "$a" <<<"$webhook" || { echo "missing $a"; return 1; }
  done
  ! grep -q -- --allowed-address-ranges <<<"$syncer$webhook" || return 1
  out="$(render --set security.crossNamespaceReferences=allow --set security.allowInsecureHttp=true \
    --set 'security.allowedHosts={*.example.com,infisical.internal:8443}' --set 'security.allowedAddressRanges={127.0.0.0/8}')"
  syncer="$(container_args syncer <<<"$out")"; webhook="$(container_args webhook <<<"$out")"
  for a in --cross-namespace-references=allow --allowed-hosts=*.example.com,infisical.internal:8443 \
           --allow-insecure-http=true; do
    grep -qxF -- "$a" <<<"$syncer" && grep -qxF -- "$a" <<<"$webhook" || { echo "missing $a"; return 1; }
  done
  grep -qx -- --allowed-address-ranges=127.0.0.0/8 <<<"$syncer" && ! grep -q -- --allowed-address-ranges <<<"$webhook"
}
check "security.* values reach the syncer (all four) and the webhook (three), grants by default" trust_boundary_flags

trust_boundary_rbac() {
  local syncer webhook
  syncer="$(render --show-only templates/syncer-rbac.yaml)"
  webhook="$(render --show-only templates/webhook-rbac.yaml)"
  rule() { grep -A1 -F "resources: [\"$2\"]" <<<"$1" | grep -qF "verbs: [$3]" || { echo "no $2 $3"; return 1; }; }
  rule "$syncer" serviceaccounts '"get"' && rule "$syncer" infisicalreferencegrants '"get", "list", "watch"' &&
    rule "$webhook" serviceaccounts '"get"' && rule "$webhook" infisicalreferencegrants '"list", "watch"'
}
check "RBAC lets syncer and webhook read grants and ServiceAccount opt-ins (read only)" trust_boundary_rbac

upstream_mode_warned() {  # NOTES.txt is not rendered by helm template: render it as a template
  local c="$tmp/notes-chart"
  rm -rf "$c" && cp -rL "$chart" "$c" &&
    { echo '{{- define "test.notes" }}'; cat "$chart/templates/NOTES.txt"; echo '{{- end }}'; } >"$c/templates/_notes.tpl" &&
    printf 'notes: |\n  {{- include "test.notes" . | nindent 2 }}\n' >"$c/templates/notes.yaml" &&
    "$helm" template rel "$c" -n ops --show-only templates/notes.yaml 2>/dev/null >"$tmp/notes-grant" &&
    "$helm" template rel "$c" -n ops --show-only templates/notes.yaml \
      --set security.crossNamespaceReferences=allow 2>/dev/null >"$tmp/notes-allow" &&
    ! grep -q 'trust boundary is off' "$tmp/notes-grant" && grep -q 'WARNING: .*trust boundary is off' "$tmp/notes-allow"
}
check "NOTES.txt warns when security.crossNamespaceReferences=allow, and only then" upstream_mode_warned

scoped_namespaces() {
  local out; out="$(render --set 'namespaces={team-a,team-b}')"
  grep -q -- '--namespaces=team-a,team-b' <<<"$out" &&
    [ "$(grep -c 'namespace: team-' <<<"$out")" -ge 4 ] && ! grep -q 'name: rel-infisical-secrets-operator-syncer$' <<<"$(grep -A3 'kind: ClusterRole$' <<<"$out")"
}
check "namespaces= scopes the syncer and its RBAC to those namespaces" scoped_namespaces

cert_manager_path() {
  local out; out="$(render --set certificates.provider=cert-manager)"
  grep -q 'kind: Certificate' <<<"$out" && grep -q 'cert-manager.io/inject-ca-from' <<<"$out" &&
    ! grep -qE '^kind: (Cron)?Job' <<<"$out" && ! grep -v '^ *#' <<<"$out" | grep -q 'certs-gen'
}
check "certificates.provider=cert-manager replaces certs-gen with a Certificate and CA injection" cert_manager_path

# webhook.matchConditions: auto follows the target version (pre-release suffixes included), the
# schema refuses other words. The API server's side is tests/e2e/kube_versions_test.sh.
match_conditions_follow_kube_version() {
  mc() { render --show-only templates/webhook-configurations.yaml "$@" | grep -c '^    matchConditions:'; }
  [ "$(mc --kube-version 1.25.0)" = 0 ] && [ "$(mc --kube-version v1.27.9)" = 0 ] &&
    [ "$(mc --kube-version 1.28.0)" = 1 ] && [ "$(mc --kube-version v1.28.3-eks-a1b2c3)" = 1 ] &&
    [ "$(mc --kube-version 1.31.1)" = 1 ] &&
    [ "$(mc --kube-version 1.25.0 --set webhook.matchConditions=enabled)" = 1 ] &&
    [ "$(mc --kube-version 1.31.1 --set webhook.matchConditions=disabled)" = 0 ] &&
    ! render --set webhook.matchConditions=true >/dev/null 2>&1
}
check "webhook.matchConditions=auto renders them for Kubernetes >= 1.28.0-0 only; enabled/disabled force" \
  match_conditions_follow_kube_version

install_manifest_in_sync() {
  HELM="$helm" "$root/scripts/render-install-manifest" "$tmp/deploy" &&
    diff -u "$root/deploy/install.yaml" "$tmp/deploy/install.yaml" &&
    ! grep -n matchConditions "$root/deploy/install.yaml"
}
check "deploy/install.yaml is in sync with the chart rendered for 1.25 (scripts/render-install-manifest)" install_manifest_in_sync

webhook_config_is_the_charts() {  # deploy/webhook-config: the chart's rendering, nothing else
  [ -d "$tmp/deploy/webhook-config" ] || HELM="$helm" "$root/scripts/render-install-manifest" "$tmp/deploy" || return 1
  diff -ru --exclude=README.md "$root/deploy/webhook-config" "$tmp/deploy/webhook-config" || return 1
  # the same objects as install.yaml's, naming the Service the chart creates
  python3 - "$root/deploy/install.yaml" "$root/deploy/webhook-config/webhook-configurations.yaml" <<'PY'
import sys, yaml
def docs(p): return [d for d in yaml.safe_load_all(open(p)) if d]
install, hooks = docs(sys.argv[1]), docs(sys.argv[2])
services = {d["metadata"]["name"] for d in install if d["kind"] == "Service"}
for h in hooks:
    assert h in install, h["metadata"]["name"]
    for w in h["webhooks"]:
        assert w["clientConfig"]["service"]["name"] in services, (w["clientConfig"], services)
assert sorted(h["kind"] for h in hooks) == ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
PY
}
check "deploy/webhook-config is the chart's rendering (1.25 and 1.28) and names the chart's Service" webhook_config_is_the_charts

# The opt-in monitoring objects: the PrometheusRule's rules pass promtool and its alerts fire on the
# series the binaries really export (a promtool rule unit test); the dashboard is valid JSON whose
# queries name only families the binaries export (docs/metrics.md lists them).
promtool="${PROMTOOL:-$(command -v promtool || echo "$root/.tools/bin/promtool")}"
prometheus_rule_works() {
  render --set metrics.prometheusRule.enabled=true --show-only templates/prometheusrule.yaml >"$tmp/rule.yaml" || return 1
  python3 - "$tmp/rule.yaml" "$tmp/rules.yaml" <<'PY' || return 1
import sys, yaml
rule = yaml.safe_load(open(sys.argv[1]))
assert rule["kind"] == "PrometheusRule", rule["kind"]
yaml.safe_dump({"groups": rule["spec"]["groups"]}, open(sys.argv[2], "w"))
PY
  "$promtool" check rules "$tmp/rules.yaml" || return 1
  cat >"$tmp/rules_test.yaml" <<'YAML'
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'infisicalsecret_status_condition{condition="Ready",name="app",namespace="shop",status="False"}'
        values: '1x30'
      - series: 'infisicalsecret_status_condition{condition="Ready",name="ok",namespace="shop",status="False"}'
        values: '0x30'
      - series: 'infisical_webhook_serving_certificate_expiry_timestamp_seconds{pod="w"}'
        values: '86400x120'
    alert_rule_test:
      - eval_time: 10m
        alertname: InfisicalSecretNotReady
        exp_alerts: []
      - eval_time: 20m
        alertname: InfisicalSecretNotReady
        exp_alerts:
          - exp_labels: {severity: warning, condition: Ready, name: app, namespace: shop, status: "False"}
            exp_annotations:
              summary: InfisicalSecret shop/app has not been Ready for 15m.
              description: "Its managed Secret is left as it was, but no longer follows Infisical. The Ready condition's reason says why: kubectl -n shop describe isec app (docs/troubleshooting.md explains each reason)."
      - eval_time: 90m
        alertname: InfisicalWebhookCertificateExpiresSoon
        exp_alerts:
          - exp_labels: {severity: warning, pod: w}
            exp_annotations:
              summary: The webhook's serving certificate expires in less than 14 days.
              description: "certs-gen's renewal CronJob (or cert-manager) should have renewed it. When it expires the API server cannot call the webhook and every InfisicalSecret write is rejected (failurePolicy: Fail)."
YAML
  (cd "$tmp" && "$promtool" test rules rules_test.yaml)
}
check "the opt-in PrometheusRule passes promtool check rules and its alerts fire (promtool test rules)" prometheus_rule_works

dashboard_valid() {
  render --set metrics.grafanaDashboard.enabled=true --show-only templates/grafana-dashboard.yaml >"$tmp/dash.yaml" || return 1
  python3 - "$tmp/dash.yaml" "$root/src" <<'PY'
import json, pathlib, re, sys, yaml
cm = yaml.safe_load(open(sys.argv[1]))
assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
dash = json.loads(cm["data"]["infisical-secrets-operator.json"])
exported = set()
for f in pathlib.Path(sys.argv[2]).rglob("*"):
    if f.suffix in (".h", ".cpp"):
        exported |= set(re.findall(r'"((?:infisical_|infisicalsecret_|controller_runtime_|workqueue_|rest_client_|leader_election_|process_)[a-z_]+)"', f.read_text()))
exported |= {"process_resident_memory_bytes", "process_cpu_seconds_total"}  # core/process_metrics.cpp formats these
names = set()
for p in dash["panels"]:
    for t in p["targets"]:
        for n in re.findall(r"\b([a-z_]+)(?:\{|\[)", t["expr"]):
            names.add(re.sub(r"_(bucket|sum|count)$", "", n))
unknown = sorted(n for n in names if n not in exported and n not in ("rate", "increase", "sum", "max", "min"))
assert not unknown, f"the dashboard queries families no binary exports: {unknown}"
assert len(dash["panels"]) >= 10
PY
}
check "the opt-in Grafana dashboard is valid JSON and queries only exported families" dashboard_valid

finish_checks
