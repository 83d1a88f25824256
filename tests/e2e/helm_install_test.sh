#!/usr/bin/env bash
# The chart as a user installs it: `helm install` into kube-sim running Pods (--run-pods maps the
# chart's image to a root directory holding the built infisical-syncer, infisical-webhook and
# certs-gen), so the chart's own Pod specs run: certs-gen's Job completes, `kubectl rollout status` of
# the syncer and the webhook succeeds on real readiness probes, an invalid InfisicalSecret is rejected
# by the webhook reached through its Service (no --webhook-service mapping), `helm upgrade` rolls the
# changed Deployment and runs certs-gen again (reusing the serving certificate), the renewal CronJob's
# Job (created by hand: kube-sim schedules no CronJob) completes, and `helm uninstall`
# removes the workloads (their processes end) but keeps the CRDs (keepCRDsOnUninstall).
# Prints "# cases: N passed, N failed".
set -uo pipefail

src="${IFO_SOURCE_ROOT:?IFO_SOURCE_ROOT is not set}"
build="${IFO_BUILD_ROOT:?IFO_BUILD_ROOT is not set}"
sim="$build/tests/sim/kube/kube-sim"
helm="${HELM:-$src/.tools/bin/helm}"
chart="$src/charts/infisical-secrets-operator"
# shellcheck source=lib.sh
source "$src/tests/e2e/lib.sh"
# shellcheck source=../../scripts/lib/sandbox.sh
source "$src/scripts/lib/sandbox.sh"

e2e_scratch

# The image: its root filesystem as the Dockerfile lays it out (the sandbox's, as scripts/demo runs it);
# the Pods' files in $work/pods.
SANDBOX_BUILD="$build"
sandbox_pods_setup "$work" || fail "the images' root directories are made (scripts/lib/sandbox.sh)"
e2e_start_kube_sim 20 "${SANDBOX_POD_FLAGS[@]}"
sandbox_helm_home "$work/helm"
h() {  # helm, without its notes about the chart's CRD symlinks
  local rc=0
  "$helm" "$@" >"$work/helm.out" 2>&1 || rc=$?
  grep -v 'found symbolic link in path' "$work/helm.out"
  return "$rc"
}
ns=ops
deploy_syncer=rel-infisical-secrets-operator-syncer
deploy_webhook=rel-infisical-secrets-operator-webhook
certs_gen_jobs="app.kubernetes.io/instance=rel,app.kubernetes.io/component=certs-gen"

# case NAME COMMAND...: COMMAND's output is shown when it fails.
case_() {
  local name="$1"; shift
  if "$@" >"$work/out" 2>&1; then pass "$name"; else fail "$name" "$(tail -8 "$work/out")"; fi
}

case_ "kubectl create namespace (a protobuf body) works" k create namespace "$ns"
# --wait: helm waits for the Deployments' Ready Pods and the Services' cluster IPs, --wait-for-jobs
# for certs-gen's Job.
case_ "helm install --wait --wait-for-jobs succeeds" h install rel "$chart" -n "$ns" --wait --wait-for-jobs --timeout 120s
case_ "certs-gen's Job completes" k -n "$ns" wait --for=condition=complete job -l "$certs_gen_jobs" --timeout=60s
case_ "kubectl rollout status of the syncer succeeds" k -n "$ns" rollout status "deploy/$deploy_syncer" --timeout=60s
case_ "kubectl rollout status of the webhook succeeds" k -n "$ns" rollout status "deploy/$deploy_webhook" --timeout=60s

pods_ready() {  # every Pod of the release Running and Ready, the Job's Succeeded
  k -n "$ns" get pods -l app.kubernetes.io/instance=rel \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
    >"$work/pods.txt" || return 1
  cat "$work/pods.txt"
  [ "$(grep -c 'Running True' "$work/pods.txt")" = 3 ] && [ "$(grep -c 'Succeeded' "$work/pods.txt")" = 1 ]
}
case_ "the syncer's Pod and both webhook Pods run and are Ready; certs-gen's Pod Succeeded" pods_ready

rejected() {
  ! k apply -f "$src/examples/invalid-infisicalsecret.yaml" >"$work/apply.txt" 2>&1 || return 1
  cat "$work/apply.txt"
  grep -q 'admission webhook "validate.infisicalsecrets.secrets.infisical.com" denied the request' "$work/apply.txt"
}
case_ "an invalid InfisicalSecret is rejected through the webhook Service" rejected

serving_cert() { k -n "$ns" get secret rel-infisical-secrets-operator-webhook-tls -o jsonpath='{.data.tls\.crt}'; }
cert_before="$(serving_cert 2>/dev/null)"
job_before="$(k -n "$ns" get job -l "$certs_gen_jobs" -o name 2>/dev/null)"
case_ "helm upgrade with a changed syncer setting succeeds" \
  h upgrade rel "$chart" -n "$ns" --reuse-values --set syncer.workers=3
case_ "after the upgrade, kubectl rollout status of the syncer succeeds" \
  k -n "$ns" rollout status "deploy/$deploy_syncer" --timeout=60s
new_syncer_pod() {
  k -n "$ns" get pods -l app.kubernetes.io/component=syncer -o jsonpath='{range .items[*]}{.spec.containers[0].args}{"\n"}{end}' \
    >"$work/args.txt" || return 1
  cat "$work/args.txt"
  [ "$(wc -l <"$work/args.txt")" = 1 ] && grep -q -- '--workers=3' "$work/args.txt"
}
upgraded_syncer() {
  [ "$(k -n "$ns" get rs -l app.kubernetes.io/component=syncer -o name | wc -l)" = 2 ] &&
    eventually 30 new_syncer_pod && new_syncer_pod
}
case_ "the upgrade made a new syncer ReplicaSet; its one Pod (the old one gone) has the new args" upgraded_syncer
new_job() {
  local now; now="$(k -n "$ns" get job -l "$certs_gen_jobs" -o name)"
  echo "before: $job_before now: $now"
  [ -n "$now" ] && [ "$now" != "$job_before" ] &&
    k -n "$ns" wait --for=condition=complete "$now" --timeout=60s
}
case_ "helm upgrade runs certs-gen again in a new Job (the old one deleted), which completes" new_job
cert_same() { [ -n "$cert_before" ] && [ "$(serving_cert)" = "$cert_before" ]; }
case_ "certs-gen reused the valid serving certificate on upgrade" cert_same
case_ "after the upgrade the webhook still rejects an invalid InfisicalSecret" rejected

# The renewal CronJob's Pod spec, run now as an admin would (kube-sim schedules no CronJob): its Job
# completes under certs-gen's ServiceAccount and keeps the certificate, which is still valid. The Job
# is the one `kubectl create job --from=cronjob/...` makes (the jobTemplate, the manual-instantiation
# annotation, the CronJob as owner), sent as JSON: kubectl sends it as protobuf, which kube-sim does
# not decode for Jobs (tests/sim/kube/README.md).
renew_now() {
  k -n "$ns" get cronjob rel-infisical-secrets-operator-certs-renew -o json >"$work/cronjob.json" &&
    python3 - "$work/cronjob.json" >"$work/renew-now.json" <<'PY' &&
import json, sys
cj = json.load(open(sys.argv[1]))
tmpl = cj["spec"]["jobTemplate"]
meta = {"name": "renew-now", "namespace": cj["metadata"]["namespace"],
        "labels": tmpl.get("metadata", {}).get("labels", {}),
        "annotations": dict(tmpl.get("metadata", {}).get("annotations", {}), **{"cronjob.kubernetes.io/instantiate": "manual"}),
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cj["metadata"]["name"],
                             "uid": cj["metadata"]["uid"], "controller": True}]}
print(json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": tmpl["spec"]}))
PY
    k create -f "$work/renew-now.json" &&
    k -n "$ns" wait --for=condition=complete job/renew-now --timeout=60s && cert_same
}
case_ "the renewal CronJob's Job (as kubectl create job --from=cronjob makes it) completes and keeps the valid certificate" \
  renew_now

case_ "helm uninstall succeeds" h uninstall rel -n "$ns"
gone() {
  [ -z "$(k -n "$ns" get deploy,rs,pods,jobs,svc -o name 2>&1)" ] &&
    [ -z "$(k get validatingwebhookconfigurations,mutatingwebhookconfigurations -o name 2>&1)" ]
}
case_ "helm uninstall removes the Deployments, their Pods, the Jobs, the Services and the webhook configurations" \
  eventually 30 gone
processes_gone() { [ -z "$(ls -A "$work/pods")" ] && ! pgrep -f -- "--tls-cert-file=$work/pods/" >/dev/null; }
case_ "the Pods' processes ended" eventually 40 processes_gone
crds_kept() { k get crd infisicalsecrets.secrets.infisical.com infisicalreferencegrants.secrets.infisical.com; }
case_ "the CRDs are kept (keepCRDsOnUninstall)" crds_kept

finish
