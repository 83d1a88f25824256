#!/usr/bin/env bash
# The real kubectl against kube-sim over HTTPS: the project's CRD, a valid InfisicalSecret (defaults
# filled in), an invalid one (schema error wording), strict unknown-field rejection, printer columns,
# a Deployment rolled out and patched to revision 2, an owner deleted and its owned Secret collected,
# the 401 path, and kube-sim's own flags. Prints "# cases: N passed, N failed".
set -uo pipefail

src="${IFO_SOURCE_ROOT:?IFO_SOURCE_ROOT is not set}"
build="${IFO_BUILD_ROOT:?IFO_BUILD_ROOT is not set}"
sim="$build/tests/sim/kube/kube-sim"
data="$src/tests/e2e/testdata/kube_sim"
crd="$src/deploy/crds/infisicalsecrets.secrets.infisical.com.yaml"
# shellcheck source=lib.sh
source "$src/tests/e2e/lib.sh"

e2e_scratch

# --- kube-sim's own command line ----------------------------------------------------------------
help_out="$("$sim" --help)"; rc=$?
if [ $rc -eq 0 ] && grep -q -- "--kubeconfig" <<<"$help_out" && grep -q -- "--token-auth-file" <<<"$help_out"; then
  pass "kube-sim --help documents its flags"
else
  fail "kube-sim --help documents its flags" "rc=$rc"
fi
err="$("$sim" --no-such-flag 2>&1 >/dev/null)"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -q 'unknown flag --no-such-flag' <<<"$err"; then
  pass "a wrong flag exits 2 with one clear line"
else
  fail "a wrong flag exits 2 with one clear line" "rc=$rc" "$err"
fi

# --- start kube-sim -------------------------------------------------------------------------------
e2e_start_kube_sim 20 --namespace e2e

if grep -q "certificate-authority-data:" "$work/kubeconfig" && grep -q "server: https://127.0.0.1:" "$work/kubeconfig"; then
  pass "the kubeconfig names an https loopback server and its CA"
else
  fail "the kubeconfig names an https loopback server and its CA" "$(grep server: "$work/kubeconfig")"
fi

out="$("$kubectl_bin" --cache-dir "$work/cache-bad" --token=not-a-token get secrets 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q "error: You must be logged in to the server" <<<"$out"; then
  pass "a wrong token is refused (401 Unauthorized)"
else
  fail "a wrong token is refused (401 Unauthorized)" "$out"
fi

out="$(k create namespace e2e --dry-run=client -o yaml | k apply -f - 2>&1)"
if [ $? -eq 0 ]; then pass "namespace applied"; else fail "namespace applied" "$out"; fi

# --- the CRD and InfisicalSecrets ------------------------------------------------------------------
out="$(k apply -f "$crd" 2>&1)"
if [ $? -eq 0 ] && k wait --for condition=established --timeout=20s crd/infisicalsecrets.secrets.infisical.com >/dev/null 2>&1; then
  pass "the project's CRD applies and becomes Established"
else
  fail "the project's CRD applies and becomes Established" "$out"
fi

out="$(k apply -f "$data/infisicalsecret-valid.yaml" 2>&1)"
interval="$(k get infisicalsecret demo -o 'jsonpath={.spec.resyncInterval}' 2>&1)"
policy="$(k get infisicalsecret demo -o 'jsonpath={.spec.managedSecretReference.creationPolicy}' 2>&1)"
if grep -q "infisicalsecret.secrets.infisical.com/demo created" <<<"$out" && [ "$interval" = 60 ] && [ "$policy" = Orphan ]; then
  pass "a valid InfisicalSecret is created with its defaults filled in"
else
  fail "a valid InfisicalSecret is created with its defaults filled in" "$out" "resyncInterval=$interval creationPolicy=$policy"
fi

out="$(k apply -f "$data/infisicalsecret-valid.yaml" 2>&1)"
if grep -q "demo unchanged" <<<"$out"; then pass "re-applying it is 'unchanged'"; else fail "re-applying it is 'unchanged'" "$out"; fi

out="$(k apply -f "$data/infisicalsecret-invalid.yaml" 2>&1)"; rc=$?
want='The InfisicalSecret "too-fast" is invalid: spec.resyncInterval: Invalid value: 1: spec.resyncInterval in body should be greater than or equal to 5'
if [ $rc -ne 0 ] && grep -qF "$want" <<<"$out"; then
  pass "an invalid InfisicalSecret is refused with the apiserver's schema wording"
else
  fail "an invalid InfisicalSecret is refused with the apiserver's schema wording" "rc=$rc" "$out"
fi

out="$(k apply -f "$data/infisicalsecret-unknown-field.yaml" 2>&1)"; rc=$?
want='strict decoding error: unknown field "spec.resyncIntervall"'
if [ $rc -ne 0 ] && grep -qF "$want" <<<"$out"; then
  pass "an unknown field is refused under kubectl's default strict validation"
else
  fail "an unknown field is refused under kubectl's default strict validation" "rc=$rc" "$out"
fi

k patch infisicalsecret demo --subresource=status --type=merge \
  -p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Synced","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}' >/dev/null 2>&1
out="$(k get infisicalsecrets 2>&1)"
header="$(head -1 <<<"$out")"
row="$(grep '^demo' <<<"$out")"
if [[ "$header" =~ NAME\ +READY\ +REASON\ +SECRET\ +LAST\ SYNC\ +AGE ]] && [[ "$row" =~ ^demo\ +True\ +Synced\ +managed ]]; then
  pass "get infisicalsecrets shows the printer columns"
else
  fail "get infisicalsecrets shows the printer columns" "$out"
fi

# kubectl names of users coming from the upstream operator and ESO: the short name, -o wide, the category.
out="$(k get isec 2>&1)"
header="$(head -1 <<<"$out")"
row="$(grep '^demo' <<<"$out")"
if [[ "$header" =~ ^NAME\ +READY\ +REASON\ +SECRET\ +LAST\ SYNC\ +AGE$ ]] && [[ "$row" =~ ^demo\ +True\ +Synced\ +managed ]]; then
  pass "get isec (the short name) shows the default columns, not the wide ones"
else
  fail "get isec (the short name) shows the default columns, not the wide ones" "$out"
fi
out="$(k get isec -o wide 2>&1)"
header="$(head -1 <<<"$out")"
row="$(grep '^demo' <<<"$out")"
if [[ "$header" =~ ^NAME\ +READY\ +REASON\ +SECRET\ +LAST\ SYNC\ +AGE\ +PROJECT\ +ENVIRONMENT\ +PATH$ ]] &&
  [[ "$row" =~ ^demo\ +True\ +Synced\ +managed\ .*\ demo-project\ +dev\ +/$ ]]; then
  pass "get isec -o wide adds the project, environment and path"
else
  fail "get isec -o wide adds the project, environment and path" "$out"
fi
out="$(k get infisical 2>&1)"; rc=$?
if [ $rc -eq 0 ] && grep -qE '^(infisicalsecret\.secrets\.infisical\.com/)?demo +True +Synced' <<<"$out" &&
  grep -qE '^NAME +READY +REASON' <<<"$out"; then
  pass "get infisical (the category) lists InfisicalSecrets with their columns"
else
  fail "get infisical (the category) lists InfisicalSecrets with their columns" "rc=$rc" "$out"
fi

# --- a Deployment rolled out, then patched to revision 2 --------------------------------------------
out="$(k apply -f "$data/deployment.yaml" 2>&1 && k rollout status deployment/web --timeout=30s 2>&1)"; rc=$?
if [ $rc -eq 0 ] && grep -q 'deployment "web" successfully rolled out' <<<"$out"; then
  pass "a Deployment applies and rollout status finishes"
else
  fail "a Deployment applies and rollout status finishes" "$out"
fi

out="$(k set env deployment/web MODE=two 2>&1 && k rollout status deployment/web --timeout=30s 2>&1)"; rc=$?
rev="$(k get deployment web -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}' 2>&1)"
rs_count="$(k get replicasets -l app=web -o name 2>/dev/null | wc -l)"
if [ $rc -eq 0 ] && [ "$rev" = 2 ] && [ "$rs_count" -eq 2 ]; then
  pass "patching the pod template makes revision 2 (two ReplicaSets)"
else
  fail "patching the pod template makes revision 2 (two ReplicaSets)" "$out" "revision=$rev replicasets=$rs_count"
fi

out="$(k patch deployment web --type=strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"EXTRA","value":"x"}]}]}}}}' 2>&1)"
envs="$(k get deployment web -o 'jsonpath={.spec.template.spec.containers[0].env[*].name}' 2>&1)"
if [ "$envs" = "MODE EXTRA" ]; then
  pass "a strategic merge patch merges env by name"
else
  fail "a strategic merge patch merges env by name" "$out" "env names: $envs"
fi

# --- garbage collection of an owned Secret -------------------------------------------------------------
k apply -f "$data/owner.yaml" >/dev/null 2>&1
uid="$(k get configmap owner -o 'jsonpath={.metadata.uid}' 2>/dev/null)"
cat >"$work/owned.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: owned
  namespace: e2e
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: owner
    uid: $uid
stringData:
  k: v
EOF
out="$(k apply -f "$work/owned.yaml" 2>&1 && k delete configmap owner 2>&1)"
if [ -n "$uid" ] && eventually 20 bash -c "! '$kubectl_bin' --cache-dir '$work/cache' get secret owned -n e2e >/dev/null 2>&1"; then
  pass "deleting an owner collects its owned Secret"
else
  fail "deleting an owner collects its owned Secret" "$out" "uid=$uid"
fi

out="$(k delete -f "$data/infisicalsecret-valid.yaml" 2>&1)"
if grep -q 'deleted' <<<"$out" && ! k get infisicalsecret demo >/dev/null 2>&1; then
  pass "delete -f removes the InfisicalSecret"
else
  fail "delete -f removes the InfisicalSecret" "$out"
fi

finish
