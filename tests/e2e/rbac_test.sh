#!/usr/bin/env bash
# Each component's RBAC, end to end: kube-sim with --authorization-mode=RBAC (it authorizes every
# request from the stored Roles/ClusterRoles and bindings, as kube-apiserver does), the chart's
# ServiceAccounts and RBAC objects applied with kubectl, a token minted for each component's
# ServiceAccount (kubectl create token), then:
#   1. `kubectl auth can-i --list` for each token, in a namespace other than the operator's (the
#      cluster-wide grants) and in the operator's namespace `ops`, is exactly the list documented in
#      docs/security.md "RBAC: what each component may do, and why" (written out below);
#   2. the webhook's list has no `secrets` verb (none of certs-gen's Secret rules either) and no verb on
#      the webhook configurations;
#   3. each component works with exactly those rules: certs-gen (the install Job's and the renewal
#      CronJob's args), the webhook and the syncer run with their own ServiceAccount's token against
#      infisical-sim; an InfisicalSecret syncs, an opted-in Deployment rolls, and none of their
#      requests is refused (kube-sim logs every request's status);
#   4. their /metrics pass promtool and their JSON log lines parse (what monitoring reads).
# Prints "# cases: N passed, N failed" (and "# pending: N", 0 now that no known gap is tolerated).
set -uo pipefail

src="${IFO_SOURCE_ROOT:?IFO_SOURCE_ROOT is not set}"
build="${IFO_BUILD_ROOT:?IFO_BUILD_ROOT is not set}"
sim="$build/tests/sim/kube/kube-sim"
infisical_sim="$build/tests/sim/infisical/infisical-sim"
syncer="$build/src/syncer/infisical-syncer"
webhook="$build/src/webhook/infisical-webhook"
certsgen="$build/certs-gen/certs-gen"
helm="${HELM:-$src/.tools/bin/helm}"
chart="${IFO_RBAC_CHART:-$src/charts/infisical-secrets-operator}"  # IFO_RBAC_CHART: try a changed copy
ns=ops
full=rel-infisical-secrets-operator  # the chart's fullname for release "rel"
# shellcheck source=lib.sh
source "$src/tests/e2e/lib.sh"

e2e_scratch

pending=0
pending_case() { pending=$((pending + 1)); echo "ok - $1 # TODO pending: $2"; }
finish_rbac() { echo "# pending: $pending"; finish; }
lines() { sed '2,$s/^/#   /'; }  # a multi-line detail for fail (which prefixes the first line)

for f in "$sim" "$helm"; do
  [ -x "$f" ] || { fail "prerequisite $f is built"; finish_rbac; }
done

# --- the documented rules (docs/security.md, "RBAC: what each component may do, and why") ----------
# One line per table row: API-GROUP (core for "") RESOURCES NAMES (- for any) VERBS, lists comma-separated.
syncer_clusterrole='
secrets.infisical.com infisicalsecrets - get,list,watch,patch
secrets.infisical.com infisicalsecrets/status - get,update,patch
secrets.infisical.com infisicalreferencegrants - get,list,watch
core secrets - get,list,watch,create,update,patch
core configmaps - get,create,update
apps deployments,statefulsets,daemonsets - get,list,watch,patch
core serviceaccounts - get
core serviceaccounts/token - create
core,events.k8s.io events - create,patch'
syncer_own_role='
coordination.k8s.io leases - get,list,watch,create,update,patch
core configmaps infisical-config get,list,watch
core configmaps - list,watch
core secrets - get,create,list,watch'
webhook_clusterrole='
secrets.infisical.com infisicalsecrets - list,watch
authorization.k8s.io subjectaccessreviews - create
core serviceaccounts - get
secrets.infisical.com infisicalreferencegrants - list,watch'
webhook_role='
core configmaps infisical-config get'
# certs-gen: the Secret rows are in the release namespace (the serving Secret and the CA Secret); the
# webhook configurations cluster-wide. The names are the chart's for release "rel".
certsgen_role="
core secrets - create
core secrets $full-webhook-tls,$full-webhook-ca get,update"
certsgen_clusterrole="
admissionregistration.k8s.io validatingwebhookconfigurations $full-validate get,update
admissionregistration.k8s.io mutatingwebhookconfigurations $full-mutate get,update"
# What every authenticated ServiceAccount has in any cluster (the bootstrap ClusterRoles
# system:basic-user, system:discovery, system:public-info-viewer, system:service-account-issuer-discovery).
bootstrap='
authentication.k8s.io selfsubjectreviews - create
authorization.k8s.io selfsubjectaccessreviews,selfsubjectrulesreviews - create
url /api,/api/*,/apis,/apis/*,/healthz,/livez,/openapi,/openapi/*,/readyz,/version,/version/ - get
url /.well-known/openid-configuration,/.well-known/openid-configuration/,/openid/v1/jwks,/openid/v1/jwks/ - get'

cat >"$work/rules.py" <<'PY'
# expand: documented rows -> one "GROUP RESOURCE NAME VERB" per combination ("url PATH - VERB" for
# non-resource URLs). table: `kubectl auth can-i --list` output -> the same lines. Sorted, unique.
import re, sys
out = set()
if sys.argv[1] == "expand":
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        groups, resources, names, verbs = (x.split(",") for x in f)
        for g in groups:
            for r in resources:
                for n in names:
                    for v in verbs:
                        out.add(" ".join(["url" if g == "url" else ("core" if g == "core" else g), r, n, v]))
else:
    lines = sys.stdin.read().splitlines()
    for line in lines[1:]:
        if not line.strip():
            continue
        cols = re.findall(r"\[[^\]]*\]|\S+", line)
        if line[0] == " ":  # a non-resource row: [URL] [] [VERBS]
            urls, verbs = cols[0], cols[-1]
            for u in urls.strip("[]").split():
                for v in verbs.strip("[]").split():
                    out.add(f"url {u} - {v}")
            continue
        res, names, verbs = cols[0], cols[2], cols[3]
        base, _, sub = res.partition("/")
        resource, _, group = base.partition(".")
        if sub:
            resource += "/" + sub
        for n in names.strip("[]").split() or ["-"]:
            for v in verbs.strip("[]").split():
                out.add(f"{group or 'core'} {resource} {n} {v}")
print("\n".join(sorted(out)))
PY
expand() { printf '%s\n' "$@" | python3 "$work/rules.py" expand; }
as_rules() { python3 "$work/rules.py" table; }

# --- kube-sim in RBAC mode, the chart's ServiceAccounts and RBAC --------------------------------------
wport="$(free_port)"
e2e_start_kube_sim 30 --token "admin-token=admin:system:masters" --authorization-mode=RBAC --log-requests \
  --webhook-service "$ns/$full-webhook:443=127.0.0.1:$wport"

render() {
  "$helm" template rel "$chart" -n $ns "$@" 2>/dev/null
}
out="$( { for n in $ns apps; do k create namespace "$n" --dry-run=client -o yaml | k apply -f - || exit 1; done &&
          render --show-only templates/serviceaccounts.yaml --show-only templates/syncer-rbac.yaml \
                 --show-only templates/webhook-rbac.yaml --show-only templates/certs-gen-rbac.yaml | k apply -f -; } 2>&1)"
if [ $? -eq 0 ]; then pass "namespaces, ServiceAccounts and RBAC objects of the chart applied"; else fail "chart RBAC applied" "$out"; finish_rbac; fi

declare -A token
for c in syncer webhook certs-gen; do
  token[$c]="$(k create token "$full-$c" -n $ns --duration=2h 2>"$work/token.err")"
  if [ -n "${token[$c]}" ]; then pass "kubectl create token for $full-$c"; else fail "kubectl create token for $full-$c" "$(cat "$work/token.err")"; fi
done
[ -n "${token[syncer]}" ] && [ -n "${token[webhook]}" ] && [ -n "${token[certs-gen]}" ] || finish_rbac

whoami="$(k auth whoami --token "${token[syncer]}" -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}' 2>&1)"
if [ "$whoami" = "system:serviceaccount:$ns:$full-syncer [\"system:serviceaccounts\",\"system:serviceaccounts:$ns\",\"system:authenticated\"]" ]; then
  pass "kubectl auth whoami: the token is the ServiceAccount, with its groups"
else
  fail "kubectl auth whoami: the token is the ServiceAccount, with its groups" "$whoami"
fi

# can_i COMPONENT NAMESPACE: its `kubectl auth can-i --list` (also saved to $work/can-i-COMPONENT-NS).
can_i() {
  k auth can-i --list --token "${token[$1]}" -n "$2" >"$work/can-i-$1-$2" 2>&1 || { cat "$work/can-i-$1-$2" >&2; return 1; }
  as_rules <"$work/can-i-$1-$2"
}

# same_rules NAME ACTUAL EXPECTED: passes when equal, else fails with the difference.
same_rules() {
  if [ "$2" = "$3" ]; then pass "$1"; return; fi
  local d; d="$(diff <(echo "$3") <(echo "$2") | grep '^[<>]' | sed -e 's/^</missing:/' -e 's/^>/extra:  /')"
  fail "$1" "${d//$'\n'/$'\n'#   }"
}

# --- 1. the lists ---------------------------------------------------------------------------------------
# kubectl auth can-i --list always names a namespace (a SelfSubjectRulesReview needs one); "apps" has no
# RoleBinding, so its list is the cluster-wide grants.
other=apps
declare -A list  # [COMPONENT/NAMESPACE] -> its rules
for c in syncer webhook certs-gen; do
  for n in $other $ns; do list[$c/$n]="$(can_i "$c" "$n")"; done
done
for c in syncer webhook certs-gen; do
  echo "# --- kubectl auth can-i --list --token <$c> -n $ns"
  sed 's/^/#   /' "$work/can-i-$c-$ns"
done

same_rules "syncer: can-i --list outside $ns is the documented ClusterRole $full-syncer" \
  "${list[syncer/$other]}" "$(expand "$syncer_clusterrole" "$bootstrap")"
same_rules "syncer: can-i --list in $ns is the ClusterRole plus the Role $full-syncer-own" \
  "${list[syncer/$ns]}" "$(expand "$syncer_clusterrole" "$syncer_own_role" "$bootstrap")"
same_rules "certs-gen: can-i --list outside $ns is the webhook configurations, by name" \
  "${list[certs-gen/$other]}" "$(expand "$certsgen_clusterrole" "$bootstrap")"
same_rules "certs-gen: can-i --list in $ns adds the serving Secret and the CA Secret" \
  "${list[certs-gen/$ns]}" "$(expand "$certsgen_clusterrole" "$certsgen_role" "$bootstrap")"

# The webhook: exactly the documented list; certs-gen's rules belong to certs-gen's ServiceAccount only.
same_rules "webhook: can-i --list outside $ns is the documented ClusterRole $full-webhook" "${list[webhook/$other]}" \
  "$(expand "$webhook_clusterrole" "$bootstrap")"
same_rules "webhook: can-i --list in $ns is the ClusterRole plus the Role $full-webhook" "${list[webhook/$ns]}" \
  "$(expand "$webhook_clusterrole" "$webhook_role" "$bootstrap")"

# --- 2. what the webhook must not have ------------------------------------------------------------------
webhook_all="$(printf '%s\n%s\n' "${list[webhook/$other]}" "${list[webhook/$ns]}" | sort -u)"
secret_verbs="$(grep '^core secrets ' <<<"$webhook_all")"
config_verbs="$(grep -E '^admissionregistration.k8s.io (validating|mutating)webhookconfigurations ' <<<"$webhook_all")"
# The webhook reads no Secret (its digests come from InfisicalSecret status) and runs no certs-gen:
# any secrets verb fails, and certs-gen's Secret rules (create; get/update/patch of the serving or the
# CA Secret) are named on their own, since they would hand the webhook the CA key.
name="webhook: none of certs-gen's Secret rules (create; get/update/patch of the serving or the CA Secret)"
certsgen_like="$(grep -E "^core secrets (- create|- (get|update|patch)|$full-webhook-(tls|ca) (get|update|patch))$" <<<"$secret_verbs")"
if [ -z "$certsgen_like" ]; then pass "$name"; else fail "$name" "${certsgen_like//$'\n'/$'\n'#   }"; fi
name="webhook: no verb on secrets"
if [ -z "$secret_verbs" ]; then pass "$name"; else fail "$name" "${secret_verbs//$'\n'/$'\n'#   }"; fi
name="webhook: no verb on validatingwebhookconfigurations/mutatingwebhookconfigurations"
if [ -z "$config_verbs" ]; then pass "$name"; else fail "$name" "${config_verbs//$'\n'/$'\n'#   }"; fi

# docs/security.md: "no wildcards, no delete anywhere, no write on grants or ServiceAccounts".
bad="$(printf '%s\n' "${list[syncer/$ns]}" "${list[webhook/$ns]}" "${list[certs-gen/$ns]}" |
       grep -v '^url ' | grep -E ' (\*|delete|deletecollection|escalate|bind|impersonate)$|^\S+ \* |^\* |^\S+ (infisicalreferencegrants|serviceaccounts) - (create|update|patch)$')"
if [ -z "$bad" ]; then pass "no component has a wildcard, a delete, or a write on grants or ServiceAccounts"
else fail "no component has a wildcard, a delete, or a write on grants or ServiceAccounts" "$bad"; fi

# The lists are what the API server enforces: real requests with the tokens.
enforced() {
  local out
  k get secrets -A --token "${token[syncer]}" >/dev/null || return 1
  out="$(k delete secret nothing -n $other --token "${token[syncer]}" 2>&1)"; [ $? -ne 0 ] &&
    grep -q "secrets \"nothing\" is forbidden: User \"system:serviceaccount:$ns:$full-syncer\" cannot delete resource \"secrets\" in API group \"\" in the namespace \"$other\"" <<<"$out" || { echo "$out"; return 1; }
  out="$(k get configmaps -n $ns --token "${token[webhook]}" 2>&1)"; [ $? -ne 0 ] &&
    grep -q "cannot list resource \"configmaps\" in API group \"\" in the namespace \"$ns\"" <<<"$out" || { echo "$out"; return 1; }
  [ "$(k auth can-i get configmap/infisical-config -n $ns --token "${token[webhook]}" 2>&1)" = yes ] &&
    [ "$(k auth can-i get configmap/other -n $ns --token "${token[webhook]}" 2>&1)" = no ] &&
    [ "$(k auth can-i create secrets -n $other --token "${token[certs-gen]}" 2>&1)" = no ] &&
    [ "$(k auth can-i create secrets -n $ns --token "${token[certs-gen]}" 2>&1)" = yes ] &&
    [ "$(k auth can-i update secret/other -n $ns --token "${token[certs-gen]}" 2>&1)" = no ] &&
    [ "$(k auth can-i list secrets -A --token "${token[certs-gen]}" 2>&1)" = no ] &&
    [ "$(k auth can-i list secrets -A --token "${token[webhook]}" 2>&1)" = no ] &&
    [ "$(k auth can-i watch secrets -A --token "${token[webhook]}" 2>&1)" = no ] &&
    [ "$(k auth can-i list secrets -A --token "${token[syncer]}" 2>&1)" = yes ]
}
if out="$(enforced 2>&1)"; then pass "kube-sim enforces those rules on the tokens' requests (403 with the apiserver's message)"
else fail "kube-sim enforces those rules on the tokens' requests (403 with the apiserver's message)" "$out"; fi

# certs-gen's rights are its own: the CA Secret and the webhook configurations, by name, for certs-gen
# and never for the webhook. can WANT COMPONENT ARGS...: `kubectl auth can-i ARGS` with its token.
can() {
  local want="$1" c="$2" got; shift 2
  got="$(k auth can-i "$@" --token "${token[$c]}" 2>/dev/null)"  # (stderr: kubectl's warnings)
  [ "$got" = "$want" ] || { echo "$c: kubectl auth can-i $*: $got (want $want)"; return 1; }
}
certs_gen_only() {
  local out
  can yes certs-gen get secret/$full-webhook-ca -n $ns && can no webhook get secret/$full-webhook-ca -n $ns &&
    can yes certs-gen update secret/$full-webhook-tls -n $ns && can no webhook update secret/$full-webhook-tls -n $ns &&
    can no webhook create secrets -n $ns &&
    can yes certs-gen update validatingwebhookconfiguration/$full-validate &&
    can yes certs-gen update mutatingwebhookconfiguration/$full-mutate &&
    can no certs-gen update validatingwebhookconfiguration/other &&
    can no webhook update validatingwebhookconfiguration/$full-validate &&
    can no webhook update mutatingwebhookconfiguration/$full-mutate || return 1
  # A real request: the webhook's token reading the CA Secret is refused before the Secret is looked up.
  out="$(k -n $ns get secret "$full-webhook-ca" --token "${token[webhook]}" 2>&1)"; [ $? -ne 0 ] &&
    grep -q "User \"system:serviceaccount:$ns:$full-webhook\" cannot get resource \"secrets\" in API group \"\" in the namespace \"$ns\"" <<<"$out" ||
    { echo "$out"; return 1; }
}
if out="$(certs_gen_only 2>&1)"; then pass "only certs-gen may read the CA Secret and set caBundle (the webhook's token may not)"
else fail "only certs-gen may read the CA Secret and set caBundle (the webhook's token may not)" "$out"; fi

# --- 3. each component works with its own ServiceAccount's rules ----------------------------------------
for f in "$infisical_sim" "$syncer" "$webhook" "$certsgen"; do
  [ -x "$f" ] || { fail "prerequisite $f is built"; finish_rbac; }
done
"$infisical_sim" --seed "$src/examples/infisical-seed.json" --ports-file "$work/infisical.json" >"$work/infisical.log" 2>&1 &
e2e_pids+=($!)
eventually 30 test -s "$work/infisical.json" || { fail "infisical-sim starts" "$(tail -5 "$work/infisical.log")"; finish_rbac; }
api="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["apiUrl"])' "$work/infisical.json")"
infisical_admin="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["adminToken"])' "$work/infisical.json")"

# The whole chart, as the sandbox renders it (hostAPI on infisical-sim, loopback allowed), applied by the admin.
out="$(render --set hostAPI="$api" --set syncer.replicas=1 --set 'security.allowedAddressRanges={127.0.0.0/8}' \
         >"$work/chart.yaml" && k apply -f "$work/chart.yaml" 2>&1)"
if [ $? -eq 0 ] && eventually 30 k get infisicalsecrets -A; then pass "the whole chart applied"
else fail "the whole chart applied" "$out"; finish_rbac; fi

# A kubeconfig per component with its ServiceAccount's token instead of the admin's.
kc_ok=1
for c in syncer webhook certs-gen; do
  k config view --raw --minify >"$work/kc-$c" &&
    KUBECONFIG="$work/kc-$c" "$kubectl_bin" config set-credentials "$(k config view -o jsonpath='{.users[0].name}')" \
      --token="${token[$c]}" >/dev/null &&
    ! grep -q admin-token "$work/kc-$c" &&
    [ "$(KUBECONFIG="$work/kc-$c" "$kubectl_bin" --cache-dir "$work/cache" auth whoami -o jsonpath='{.status.userInfo.username}')" = \
      "system:serviceaccount:$ns:$full-$c" ] || kc_ok=0
done
if [ $kc_ok = 1 ]; then pass "a kubeconfig per component authenticates as its ServiceAccount"
else fail "a kubeconfig per component authenticates as its ServiceAccount"; finish_rbac; fi
args_of() {  # DEPLOYMENT JSONPATH-TO-CONTAINER: the chart's args, one per line
  k -n $ns get deployment "$1" -o "jsonpath={range $2.args[*]}{@}{\"\\n\"}{end}"
}
refused() { grep -- '-> 403' "$work/sim.err" | sed -n "$(( $1 + 1 )),\$p"; }  # 403s logged after line N
mark() { grep -c -- '-> 403' "$work/sim.err"; }

phase3="$(mark)"
start="$phase3"
# (the refusals of the enforcement case above are in the log: the 403 check below can see one)
[ "$phase3" -gt 0 ] || fail "kube-sim --log-requests logs refused requests as '-> 403'" "$(tail -3 "$work/sim.err")"
# The install Job (its name carries a hash: found by its label), run as the Job's Pod would run it.
mapfile -t cg_args < <(k -n $ns get jobs -l app.kubernetes.io/component=certs-gen \
  -o 'jsonpath={range .items[0].spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}')
job_sa="$(k -n $ns get jobs -l app.kubernetes.io/component=certs-gen -o 'jsonpath={.items[0].spec.template.spec.serviceAccountName}')"
out="$("$certsgen" "${cg_args[@]}" --kubeconfig="$work/kc-certs-gen" --out-dir="$work/certs" 2>&1)"; rc=$?
bundle="$(k get validatingwebhookconfiguration "$full-validate" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null)"
if [ $rc -eq 0 ] && [ "$job_sa" = "$full-certs-gen" ] && [ -n "$bundle" ] && [ -s "$work/certs/tls.crt" ] && [ -z "$(refused "$start")" ]; then
  pass "certs-gen (the install Job's args) works with the certs-gen ServiceAccount's rules"
else
  fail "certs-gen (the install Job's args) works with the certs-gen ServiceAccount's rules" "rc=$rc sa=$job_sa" "$(lines <<<"$out")" "$(refused "$start" | lines)"
fi
# The Secret the webhook mounts holds no CA key: the serving pair and the bundle; the key is in the
# CA Secret (which the webhook's token may not get, above).
keys_of() { k -n $ns get secret "$1" -o json | python3 -c 'import json,sys; print(",".join(sorted(json.load(sys.stdin)["data"])))'; }
if [ "$(keys_of "$full-webhook-tls")" = ca.crt,tls.crt,tls.key ] && [ "$(keys_of "$full-webhook-ca")" = ca.crt,ca.key ]; then
  pass "certs-gen wrote the CA key into the CA Secret only"
else
  fail "certs-gen wrote the CA key into the CA Secret only" "serving: $(keys_of "$full-webhook-tls")" "ca: $(keys_of "$full-webhook-ca")"
fi

start="$(mark)"
hport="$(free_port)"
mapfile -t wh_args < <(args_of "$full-webhook" '.spec.template.spec.containers[0]' | sed \
  -e "s|^--port=.*|--port=$wport|" -e "s|^--health-port=.*|--health-port=$hport|"  \
  -e "s|^--tls-cert-file=.*|--tls-cert-file=$work/certs/tls.crt|" -e "s|^--tls-private-key-file=.*|--tls-private-key-file=$work/certs/tls.key|")
"$webhook" "${wh_args[@]}" --kubeconfig="$work/kc-webhook" --bind-address=127.0.0.1 >"$work/webhook.log" 2>&1 &
e2e_pids+=($!)
if eventually 60 curl -fsS "http://127.0.0.1:$hport/readyz"; then pass "the webhook is ready with the webhook ServiceAccount's rules"
else fail "the webhook is ready with the webhook ServiceAccount's rules" "$(tail -10 "$work/webhook.log" | lines)" "$(refused "$start" | lines)"; fi

sport="$(free_port)"
mport="$(free_port)"
mapfile -t sy_args < <(args_of "$full-syncer" '.spec.template.spec.containers[0]' | sed \
  -e "s|^--metrics-bind-address=.*|--metrics-bind-address=127.0.0.1:$mport|" \
  -e "s|^--health-probe-bind-address=.*|--health-probe-bind-address=127.0.0.1:$sport|")
"$syncer" "${sy_args[@]}" --kubeconfig="$work/kc-syncer" >"$work/syncer.log" 2>&1 &
e2e_pids+=($!)
if eventually 60 curl -fsS "http://127.0.0.1:$sport/readyz"; then pass "the syncer is ready with the syncer ServiceAccount's rules"
else fail "the syncer is ready with the syncer ServiceAccount's rules" "$(tail -10 "$work/syncer.log" | lines)" "$(refused "$start" | lines)"; fi

secret_value() { k -n default get secret app-secrets -o "jsonpath={.data.$1}" | base64 -d; }
revision() { k -n default get deployment web -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}'; }
synced() {
  k apply -f "$src/examples/credentials.yaml" -f "$src/examples/infisicalsecret.yaml" &&
    eventually 60 k -n default get secret app-secrets &&
    [ "$(secret_value DB_PASSWORD)" = initial-db-password ] &&
    eventually 30 k -n default wait --for=condition=Ready infisicalsecret/app-secrets --timeout=1s
}
if out="$(synced 2>&1)"; then pass "an InfisicalSecret syncs (the webhook admitted it, the syncer wrote the Secret and its status)"
else fail "an InfisicalSecret syncs (the webhook admitted it, the syncer wrote the Secret and its status)" "$(lines <<<"$out")" \
       "$(k -n default get infisicalsecret app-secrets -o jsonpath='{.status.conditions}' 2>&1)" "$(grep -iE 'forbidden|error' "$work/syncer.log" | tail -5 | lines)"; fi

rolled() {
  k apply -f "$src/examples/deployment.yaml" && k -n default rollout status deployment/web --timeout=30s || return 1
  [ "$(revision)" = 1 ] || { echo "revision $(revision) after the first apply"; return 1; }
  curl -fsS -X POST -H "Authorization: Bearer $infisical_admin" -H 'Content-Type: application/json' \
    --data '{"project":"demo-project","environment":"dev","path":"/app","key":"DB_PASSWORD","value":"rotated"}' \
    "${api%/api}/sim/secrets" >/dev/null || return 1
  eventually 60 bash -c "[ \"\$(\"$kubectl_bin\" --cache-dir '$work/cache' -n default get deployment web -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}')\" = 2 ]" ||
    { echo "revision $(revision), want 2"; return 1; }
}
if out="$(rolled 2>&1)"; then pass "an opted-in Deployment rolls when a consumed key changes (the webhook's hash, the syncer's patch)"
else fail "an opted-in Deployment rolls when a consumed key changes (the webhook's hash, the syncer's patch)" "$(lines <<<"$out")" \
       "$(grep -iE 'forbidden|error' "$work/syncer.log" "$work/webhook.log" | tail -5 | lines)"; fi

# 4. What monitoring reads: each component's /metrics passes `promtool check metrics` (Debian's
# prometheus package; scripts/install-tools unpacks it) and carries the families dashboards written for
# controller-runtime operators expect; every log line both printed is one JSON object in the chart's
# format (ts, level in debug|info|warn|error, logger, msg).
promtool="${PROMTOOL:-$(command -v promtool || echo "$src/.tools/bin/promtool")}"
check_metrics() {  # URL -> promtool's complaints, if any; the text itself in $work/scraped
  curl -fsS "$1" >"$work/scraped" || { echo "cannot scrape $1"; return 1; }
  "$promtool" check metrics <"$work/scraped" 2>&1
}
has_series() { grep -qE "^$1( |\{)" "$work/scraped" || { echo "missing: $1"; return 1; }; }
if out="$(check_metrics "http://127.0.0.1:$mport/metrics" 2>&1)" &&
   out="$(for f in controller_runtime_reconcile_total controller_runtime_reconcile_errors_total \
            controller_runtime_reconcile_time_seconds_bucket controller_runtime_max_concurrent_reconciles \
            workqueue_depth workqueue_adds_total workqueue_queue_duration_seconds_count \
            workqueue_work_duration_seconds_count rest_client_requests_total \
            leader_election_master_status process_cpu_seconds_total process_resident_memory_bytes \
            process_open_fds process_start_time_seconds infisical_syncer_build_info \
            infisical_syncer_infisical_fetch_duration_seconds_count; do has_series "$f"; done 2>&1)" &&
   grep -q '^controller_runtime_reconcile_total{controller="infisicalsecret",result="requeue_after"} [1-9]' "$work/scraped" &&
   grep -q '^infisicalsecret_status_condition{condition="Ready",name="app-secrets",namespace="default",status="True"} 1$' "$work/scraped" &&
   grep -q '^infisicalsecret_status_condition{condition="Ready",name="app-secrets",namespace="default",status="False"} 0$' "$work/scraped"; then
  pass "the syncer's /metrics passes promtool and has controller-runtime's, process_* and per-resource Ready series"
else
  fail "the syncer's /metrics passes promtool and has controller-runtime's, process_* and per-resource Ready series" \
    "$(lines <<<"$out")" "$(grep -E '^(controller_runtime_reconcile_total|infisicalsecret_status_condition)' "$work/scraped" | head -6 | lines)"
fi
if out="$(check_metrics "http://127.0.0.1:$hport/metrics" 2>&1)" &&
   out="$(for f in infisical_webhook_requests_total process_cpu_seconds_total process_resident_memory_bytes \
            infisical_webhook_build_info; do has_series "$f"; done 2>&1)"; then
  pass "the webhook's /metrics passes promtool and has process_* and build info"
else
  fail "the webhook's /metrics passes promtool and has process_* and build info" "$(lines <<<"$out")"
fi
out="$(python3 - "$work/syncer.log" "$work/webhook.log" <<'PY' 2>&1
import json, sys
bad, total = [], 0
for path in sys.argv[1:]:
    for n, line in enumerate(open(path, encoding="utf-8", errors="strict"), 1):
        total += 1
        try:
            o = json.loads(line)
            ok = (isinstance(o, dict) and isinstance(o.get("ts"), str) and o.get("level") in ("debug", "info", "warn", "error")
                  and isinstance(o.get("logger"), str) and isinstance(o.get("msg"), str))
        except ValueError as e:
            ok = False
        if not ok:
            bad.append(f"{path.rsplit('/', 1)[-1]}:{n}: {line.strip()[:160]}")
print(f"{total} lines")
if bad or total == 0:
    print("\n".join(bad[:5]))
    sys.exit(1)
PY
)"
if [ $? -eq 0 ]; then pass "every log line of the syncer and the webhook is one JSON object with ts, level, logger and msg ($out)"
else fail "every log line of the syncer and the webhook is one JSON object with ts, level, logger and msg" "$(lines <<<"$out")"; fi

# The renewal CronJob runs certs-gen under the certs-gen ServiceAccount (nothing is due: it reuses).
start="$(mark)"
mapfile -t renew_args < <(k -n $ns get cronjob "$full-certs-renew" \
  -o 'jsonpath={range .spec.jobTemplate.spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}')
out="$("$certsgen" "${renew_args[@]}" --kubeconfig="$work/kc-certs-gen" 2>&1)"; rc=$?
if [ $rc -eq 0 ] && [ ${#renew_args[@]} -gt 0 ] && [ -z "$(refused "$start")" ]; then
  pass "certs-gen (the renewal CronJob's args) works with the certs-gen ServiceAccount's rules"
else
  fail "certs-gen (the renewal CronJob's args) works with the certs-gen ServiceAccount's rules" "rc=$rc" "$(lines <<<"$out")" "$(refused "$start" | lines)"
fi

# Everything the components asked for was allowed (kubectl's own requests above are the admin's).
all_refused="$(refused "$phase3")"
if [ -z "$all_refused" ]; then pass "no request of certs-gen, the webhook or the syncer was refused"
else
  fail "no request of certs-gen, the webhook or the syncer was refused" "${all_refused//$'\n'/$'\n'#   }" \
    "$(grep -ih 'forbidden' "$work/syncer.log" "$work/webhook.log" | sed 's/^[0-9TZ:.-]* //' | sort | uniq -c | head -10 | lines)"
fi

finish_rbac
