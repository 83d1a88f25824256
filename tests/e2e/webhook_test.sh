#!/usr/bin/env bash
# The admission webhook end to end: the real kubectl against kube-sim, which calls infisical-webhook
# over TLS with the caBundle that `certs-gen ensure` put into the webhook configurations of
# deploy/webhook-config (the chart's, for 1.25). Invalid InfisicalSecrets are rejected with their
# field paths, a user without rights cannot point into another namespace, opted-in Deployments get
# the rollout hash and a re-apply makes no new revision; with the webhook stopped Deployments are
# still admitted and InfisicalSecrets are refused naming the webhook. Prints "# cases: N passed, N failed".
set -uo pipefail

src="${IFO_SOURCE_ROOT:?IFO_SOURCE_ROOT is not set}"
build="${IFO_BUILD_ROOT:?IFO_BUILD_ROOT is not set}"
sim="$build/tests/sim/kube/kube-sim"
webhook="$build/src/webhook/infisical-webhook"
certsgen="$build/certs-gen/certs-gen"
data="$src/tests/e2e/testdata/webhook"
crd="$src/deploy/crds/infisicalsecrets.secrets.infisical.com.yaml"
grant_crd="$src/deploy/crds/infisicalreferencegrants.secrets.infisical.com.yaml"
ns=infisical-operator-system
# shellcheck source=lib.sh
source "$src/tests/e2e/lib.sh"

e2e_scratch
hook_pid=""

for f in "$sim" "$webhook" "$certsgen"; do
  [ -x "$f" ] || { fail "prerequisite $f is built"; finish; }
done

# --- kube-sim with a webhook Service mapping, two users and a SubjectAccessReview rule table -----
wport="$(free_port)"
hport="$(free_port)"
e2e_start_kube_sim 30 \
  --token "admin-token=admin:system:masters" --token "alice-token=alice:devs" \
  --access-rules-file "$data/access-rules.txt" \
  --webhook-service "$ns/infisical-secrets-operator-webhook:443=127.0.0.1:$wport"

# (kubectl create sends protobuf, which kube-sim refuses: namespaces go through apply.)
out="$( { k apply -f "$crd" -f "$grant_crd" &&
          for n in $ns apps vault shared; do k create namespace "$n" --dry-run=client -o yaml | k apply -f - || exit 1; done &&
          k apply -f "$src/deploy/webhook-config/webhook-configurations.yaml"; } 2>&1)"
if [ $? -eq 0 ]; then pass "CRD, namespaces and webhook configurations applied"; else fail "setup applied" "$out"; fi

# --- certs-gen ensure: the TLS Secret, the caBundles, the PEM files for the webhook ---------------
out="$("$certsgen" ensure --kubeconfig "$work/kubeconfig" --namespace $ns --service infisical-secrets-operator-webhook \
        --validating-config infisical-secrets-operator-validate \
        --mutating-config infisical-secrets-operator-mutate --out-dir "$work/pki" 2>&1)"; rc=$?
bundle="$(k get validatingwebhookconfiguration infisical-secrets-operator-validate -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null)"
secret_ca="$(k -n $ns get secret infisical-webhook-tls -o jsonpath='{.data.ca\.crt}' 2>/dev/null)"
if [ $rc -eq 0 ] && [ -n "$bundle" ] && [ "$bundle" = "$secret_ca" ] && [ -s "$work/pki/tls.crt" ] &&
   [ "$(k -n $ns get secret infisical-webhook-tls -o jsonpath='{.type}')" = kubernetes.io/tls ]; then
  pass "certs-gen ensure created the kubernetes.io/tls Secret and set caBundle"
else
  fail "certs-gen ensure created the kubernetes.io/tls Secret and set caBundle" "rc=$rc" "$out"
fi
rv1="$(k -n $ns get secret infisical-webhook-tls -o jsonpath='{.metadata.resourceVersion}')"
out="$("$certsgen" ensure --kubeconfig "$work/kubeconfig" --namespace $ns --service infisical-secrets-operator-webhook \
        --validating-config infisical-secrets-operator-validate \
        --mutating-config infisical-secrets-operator-mutate 2>&1)"; rc=$?
rv2="$(k -n $ns get secret infisical-webhook-tls -o jsonpath='{.metadata.resourceVersion}')"
if [ $rc -eq 0 ] && [ "$rv1" = "$rv2" ] && grep -q "reused" <<<"$out" && grep -q "caBundle already current" <<<"$out"; then
  pass "a second ensure reuses everything and writes nothing"
else
  fail "a second ensure reuses everything and writes nothing" "rc=$rc rv $rv1 -> $rv2" "$out"
fi

keys_of() { k -n $ns get secret "$1" -o json | python3 -c 'import json,sys; print(",".join(sorted(json.load(sys.stdin)["data"])))'; }
if [ "$(keys_of infisical-webhook-tls 2>&1)" = ca.crt,tls.crt,tls.key ] && [ "$(keys_of infisical-webhook-ca 2>&1)" = ca.crt,ca.key ]; then
  pass "the CA key is in the CA Secret only; the serving Secret has tls.crt, tls.key and ca.crt"
else
  fail "the CA key is in the CA Secret only; the serving Secret has tls.crt, tls.key and ca.crt" \
    "infisical-webhook-tls: $(keys_of infisical-webhook-tls 2>&1)" "infisical-webhook-ca: $(keys_of infisical-webhook-ca 2>&1)"
fi

# An install from before the split: ca.key in the serving Secret and no CA Secret. ensure moves that CA
# (which the caBundles trust) instead of minting one; the serving certificate stays.
legacy_moved() {
  local ca_key cert bundle
  ca_key="$(k -n $ns get secret infisical-webhook-ca -o 'jsonpath={.data.ca\.key}')" &&
    cert="$(k -n $ns get secret infisical-webhook-tls -o 'jsonpath={.data.tls\.crt}')" &&
    bundle="$(k get validatingwebhookconfiguration infisical-secrets-operator-validate -o 'jsonpath={.webhooks[0].clientConfig.caBundle}')" &&
    k -n $ns patch secret infisical-webhook-tls --type merge -p "{\"data\":{\"ca.key\":\"$ca_key\"}}" &&
    k -n $ns delete secret infisical-webhook-ca &&
    [ "$(keys_of infisical-webhook-tls)" = ca.crt,ca.key,tls.crt,tls.key ] || return 1
  "$certsgen" ensure --kubeconfig "$work/kubeconfig" --namespace $ns --service infisical-secrets-operator-webhook \
    --validating-config infisical-secrets-operator-validate --mutating-config infisical-secrets-operator-mutate || return 1
  [ "$(k -n $ns get secret infisical-webhook-ca -o 'jsonpath={.data.ca\.key}')" = "$ca_key" ] &&
    [ "$(k -n $ns get secret infisical-webhook-tls -o 'jsonpath={.data.tls\.crt}')" = "$cert" ] &&
    [ "$(k get validatingwebhookconfiguration infisical-secrets-operator-validate -o 'jsonpath={.webhooks[0].clientConfig.caBundle}')" = "$bundle" ] &&
    [ "$(keys_of infisical-webhook-tls)" = ca.crt,tls.crt,tls.key ]
}
if out="$(legacy_moved 2>&1)"; then
  pass "upgrade from one Secret: the CA moves to its own Secret, same CA, caBundle and certificate"
else
  fail "upgrade from one Secret: the CA moves to its own Secret, same CA, caBundle and certificate" "$out"
fi

k apply -f "$data/managed-secret.yaml" >/dev/null 2>&1

# --- the webhook ------------------------------------------------------------------------------------
start_webhook() {
  "$webhook" --tls-cert-file "$work/pki/tls.crt" --tls-private-key-file "$work/pki/tls.key" \
    --bind-address 127.0.0.1 --port "$wport" --health-port "$hport" --kubeconfig "$work/kubeconfig" \
    --operator-namespace $ns --allowed-hosts infisical.example.com >>"$work/webhook.log" 2>&1 &
  hook_pid=$!
  e2e_pids+=("$hook_pid")
  eventually 30 curl -sf "http://127.0.0.1:$hport/readyz"
}
if start_webhook; then pass "the webhook becomes ready (certificate loaded, managed-Secret cache synced)"
else fail "the webhook becomes ready" "$(tail -5 "$work/webhook.log")"; finish; fi
limits="$(awk '/^Max core file size/ {print $5, $6}' "/proc/$hook_pid/limits")"  # soft, hard
if [ "$limits" = "0 0" ]; then
  pass "the webhook runs with core dumps off (it holds the serving key)"
else
  fail "the webhook runs with core dumps off (it holds the serving key)" "$limits"
fi

out="$(k apply -f "$data/two-auth.yaml" 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q 'admission webhook "validate.infisicalsecrets.secrets.infisical.com" denied the request' <<<"$out" &&
   grep -q "spec.authentication: exactly one authentication method is required" <<<"$out"; then
  pass "two auth blocks are rejected and kubectl prints the field path"
else
  fail "two auth blocks are rejected and kubectl prints the field path" "rc=$rc" "$out"
fi

out="$(k apply -f "$data/owner-other-ns.yaml" 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q "spec.managedSecretReference.secretNamespace" <<<"$out"; then
  pass "creationPolicy Owner with another namespace is rejected naming the field"
else
  fail "creationPolicy Owner with another namespace is rejected naming the field" "rc=$rc" "$out"
fi

out="$(k --token alice-token apply -f "$data/cross-ns.yaml" 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q 'user \\\?"alice\\\?" may not get secrets' <<<"$out" &&
   grep -q "spec.authentication.universalAuth.credentialsRef" <<<"$out"; then
  pass "authorize: a user without rights in another namespace cannot point there"
else
  fail "authorize: a user without rights in another namespace cannot point there" "rc=$rc" "$out"
fi
out="$(k apply -f "$data/cross-ns.yaml" 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q "no InfisicalReferenceGrant in namespace vault" <<<"$out" &&
   grep -q "spec.authentication.universalAuth.credentialsRef" <<<"$out"; then
  pass "grants: even a user with those rights cannot point there until namespace vault grants it"
else
  fail "grants: even a user with those rights cannot point there until namespace vault grants it" "rc=$rc" "$out"
fi
out="$( { k apply -f "$data/grant-vault-to-apps.yaml" && k apply -f "$data/cross-ns.yaml"; } 2>&1)"; rc=$?
if [ $rc -eq 0 ]; then pass "authorize + grant: a user with those rights (system:masters) may, once vault grants it"
else fail "authorize + grant: a user with those rights (system:masters) may, once vault grants it" "$out"; fi

# Re-authorisation on UPDATE: changing the host of a resource whose credentials live in another
# namespace is checked against the user making the change; a harmless change is not.
out="$(k --token alice-token -n apps patch infisicalsecret cross-ns --type merge \
        -p '{"spec":{"hostAPI":"https://app.infisical.com/api"}}' 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q 'may not get secrets' <<<"$out" &&
   [ "$(k -n apps get infisicalsecret cross-ns -o jsonpath='{.spec.hostAPI}')" = https://infisical.example.com/api ]; then
  pass "UPDATE: a user without rights in the referenced namespace cannot change the host"
else
  fail "UPDATE: a user without rights in the referenced namespace cannot change the host" "rc=$rc" "$out"
fi
out="$(k --token alice-token -n apps patch infisicalsecret cross-ns --type merge -p '{"spec":{"resyncInterval":300}}' 2>&1)"; rc=$?
if [ $rc -eq 0 ]; then pass "UPDATE: a change that touches no reference, host, auth or target is admitted"
else fail "UPDATE: a change that touches no reference, host, auth or target is admitted" "$out"; fi
out="$(sed 's#https://infisical.example.com/api#https://collector.evil.example/api#' "$data/valid.yaml" | k apply -f - 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q 'spec.hostAPI: hostAPI host collector.evil.example is not on' <<<"$out"; then
  pass "a hostAPI that is not on the allow-list is refused at apply"
else
  fail "a hostAPI that is not on the allow-list is refused at apply" "rc=$rc" "$out"
fi

out="$(k --token alice-token apply -f "$data/valid.yaml" 2>&1)"; rc=$?
if [ $rc -eq 0 ] && k -n apps get infisicalsecret valid >/dev/null 2>&1; then pass "a valid spec is admitted"
else fail "a valid spec is admitted" "$out"; fi

# What the syncer publishes after a sync (there is no syncer here): the key digests of the managed
# Secret in the InfisicalSecret's status, which is all the webhook reads for rollout hashes.
publish_digests() {  # DB_PASSWORD's digest digit
  local d1 d2
  d1="$(printf '1%.0s' $(seq 64))"; d2="$(printf "$1%.0s" $(seq 64))"
  k -n apps patch infisicalsecret valid --subresource=status --type merge -p \
    "{\"status\":{\"managedKeyDigests\":[{\"kind\":\"Secret\",\"namespace\":\"apps\",\"name\":\"app-secrets\",\"keyDigests\":{\"API_KEY\":\"$d1\",\"DB_PASSWORD\":\"$d2\"}}]}}"
}
out="$(publish_digests 2 2>&1)"; rc=$?
if [ $rc -eq 0 ] && [ -n "$(k -n apps get infisicalsecret valid -o jsonpath='{.status.managedKeyDigests[0].keyDigests.DB_PASSWORD}')" ]; then
  pass "status.managedKeyDigests is kept by the CRD's status schema"
else
  fail "status.managedKeyDigests is kept by the CRD's status schema" "rc=$rc" "$out"
fi

hash_of() { k -n apps get deployment "$1" -o jsonpath='{.spec.template.metadata.annotations.secrets\.infisical\.com/rollout-hash}'; }
revision_of() { k -n apps get deployment "$1" -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}/{.metadata.generation}'; }
out="$(k apply -f "$data/deployment.yaml" 2>&1)"; rc=$?
h1="$(hash_of web)"
if [ $rc -eq 0 ] && [[ "$h1" =~ ^[0-9a-f]{64}$ ]]; then pass "an opted-in Deployment is created with the rollout hash"
else fail "an opted-in Deployment is created with the rollout hash" "rc=$rc hash='$h1'" "$out"; fi
eventually 10 test -n "$(revision_of web | cut -d/ -f1)"
r1="$(revision_of web)"
out="$(k apply -f "$data/deployment.yaml" 2>&1)"; rc=$?
r2="$(revision_of web)"
if [ $rc -eq 0 ] && [ "$r1" = "$r2" ] && [ "$(hash_of web)" = "$h1" ]; then
  pass "re-applying the same manifest changes nothing (revision/generation $r2)"
else
  fail "re-applying the same manifest changes nothing" "before $r1 after $r2" "$out"
fi
out="$(k apply -f "$data/plain-deployment.yaml" 2>&1)"
if [ -z "$(k -n apps get deployment plain -o jsonpath='{.spec.template.metadata.annotations}')" ]; then
  pass "a Deployment without the opt-in annotation is not mutated"
else
  fail "a Deployment without the opt-in annotation is not mutated" "$out"
fi

# The hash follows the digests the InfisicalSecret publishes for the consumed key, from the watch-fed
# cache (the webhook may not read the Secret itself).
publish_digests 3 >/dev/null
probe_differs() {
  sed 's/name: web$/name: probe/' "$data/deployment.yaml" | k apply -f - >/dev/null 2>&1 || return 1
  local h; h="$(hash_of probe)"
  [ "$h" != "$h1" ] && return 0
  k -n apps delete deployment probe --wait=false >/dev/null 2>&1
  return 1
}
if eventually 15 probe_differs; then pass "a changed digest of the consumed key gives a new hash for a new Deployment"
else fail "a changed digest of the consumed key gives a new hash for a new Deployment" "$(hash_of probe)"; fi

metrics="$(curl -s "http://127.0.0.1:$hport/metrics")"
if grep -q 'infisical_webhook_requests_total{path="/validate-infisicalsecret",result="denied"}' <<<"$metrics" &&
   grep -q 'infisical_webhook_requests_total{path="/mutate-workload",result="patched"}' <<<"$metrics" &&
   grep -q '^infisical_webhook_serving_certificate_expiry_timestamp_seconds [1-9]' <<<"$metrics" &&
   grep -q '^infisical_webhook_digest_cache_synced 1' <<<"$metrics"; then
  pass "/metrics counts requests by path and result and exports the certificate expiry"
else
  fail "/metrics counts requests by path and result and exports the certificate expiry" "$(head -20 <<<"$metrics")"
fi
if grep -q -E '1111|2222|3333|YQ==|Yg==' "$work/webhook.log"; then fail "the webhook log holds no digests or Secret data"
else pass "the webhook log holds no digests or Secret data"; fi

# One address past its connection cap (64 by default): the extra connections are closed at accept and
# counted on /metrics, and the webhook still answers once they are gone.
refused_before="$(curl -s "http://127.0.0.1:$hport/metrics" | awk '$1 == "infisical_webhook_connections_refused_peer_limit_total" {print $2}')"
held=()
for _ in $(seq 1 72); do exec {fd}<>"/dev/tcp/127.0.0.1/$wport" && held+=("$fd"); done
refused_count() { curl -s "http://127.0.0.1:$hport/metrics" | awk '$1 == "infisical_webhook_connections_refused_peer_limit_total" {print $2}'; }
over_cap() { [ "$(refused_count)" -ge $(( ${refused_before:-0} + 8 )) ] 2>/dev/null; }
eventually 10 over_cap; capped=$?
for fd in "${held[@]}"; do exec {fd}>&-; done
out="$(sed 's/name: valid$/name: after-flood/' "$data/valid.yaml" | k apply -f - 2>&1)"; rc=$?
if [ $capped -eq 0 ] && [ "${refused_before:-x}" = 0 ] && [ $rc -eq 0 ]; then
  pass "72 connections from one address: 8 or more closed at accept and counted on /metrics; admission still answers"
else
  fail "72 connections from one address: 8 or more closed at accept and counted on /metrics; admission still answers" \
    "before=${refused_before:-none} after=$(refused_count) rc=$rc" "$out"
fi

# --- webhook stopped -------------------------------------------------------------------------------
kill "$hook_pid"; wait "$hook_pid" 2>/dev/null; hook_pid=""
out="$(sed 's/name: web$/name: while-down/' "$data/deployment.yaml" | k apply -f - 2>&1)"; rc=$?
if [ $rc -eq 0 ] && k -n apps get deployment while-down >/dev/null 2>&1; then
  pass "webhook stopped: Deployments are still admitted (failurePolicy Ignore)"
else
  fail "webhook stopped: Deployments are still admitted (failurePolicy Ignore)" "$out"
fi
out="$(sed 's/name: valid$/name: while-down/' "$data/valid.yaml" | k apply -f - 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q 'failed calling webhook "validate.infisicalsecrets.secrets.infisical.com"' <<<"$out"; then
  pass "webhook stopped: InfisicalSecrets are rejected with the error naming the webhook"
else
  fail "webhook stopped: InfisicalSecrets are rejected with the error naming the webhook" "rc=$rc" "$out"
fi
finish
