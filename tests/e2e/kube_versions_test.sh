#!/usr/bin/env bash
# The chart and deploy/install.yaml on every Kubernetes version they claim, with the real kubectl
# (strict field validation) against kube-sim emulating that version: rendered for 1.25 the chart has
# no matchConditions and applies to a 1.25 server; rendered for 1.31 it has them and applies to 1.31;
# deploy/install.yaml applies to both; a render with matchConditions forced on is refused by 1.25 with
# kube-apiserver's text. Prints "# cases: N passed, N failed".
set -uo pipefail

src="${IFO_SOURCE_ROOT:?IFO_SOURCE_ROOT is not set}"
build="${IFO_BUILD_ROOT:?IFO_BUILD_ROOT is not set}"
sim="$build/tests/sim/kube/kube-sim"
helm="${HELM:-$src/.tools/bin/helm}"
chart="$src/charts/infisical-secrets-operator"
# shellcheck source=lib.sh
source "$src/tests/e2e/lib.sh"

base="$(mktemp -d)"
stop_sim() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; fi
  sim_pid=""
}
trap 'stop_sim; rm -rf "$base"' EXIT

# render KUBE_VERSION [FLAG]...: the chart as `helm template` renders it for that cluster version.
render() { "$helm" template rel "$chart" -n ops --kube-version "$1" "${@:2}" 2>/dev/null; }
# A namespace without kubectl create (protobuf): through apply.
namespace() { k create namespace "$1" --dry-run=client -o yaml | k apply -f - >/dev/null; }

for version in 1.25 1.31; do
  work="$base/$version"; mkdir -p "$work"
  e2e_start_kube_sim 20 --emulate-version "$version"

  out="$(k version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
  if [ "$out" = "v$version.0-kube-sim" ]; then pass "$version: kubectl version reports the emulated server"
  else fail "$version: kubectl version reports the emulated server" "$out"; fi

  render "$version.0" >"$work/chart.yaml"
  n="$(grep -c '^    matchConditions:' "$work/chart.yaml")"
  want=0; [ "$version" = 1.31 ] && want=1
  if [ "$n" = "$want" ]; then pass "$version: the chart rendered for $version has $want matchConditions"
  else fail "$version: the chart rendered for $version has $want matchConditions" "found $n"; fi

  namespace ops
  if out="$(k apply -f "$work/chart.yaml" 2>&1)" && ! grep -qi 'warning\|error' <<<"$out" &&
     k get mutatingwebhookconfiguration rel-infisical-secrets-operator-mutate -o json >"$work/mutate.json"; then
    pass "$version: kubectl apply of the chart rendered for $version succeeds, no warning"
  else
    fail "$version: kubectl apply of the chart rendered for $version succeeds, no warning" "$(grep -i 'warning\|error' <<<"$out" | head -3)"
  fi
  stored="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["webhooks"][0].get("matchConditions", [])))' "$work/mutate.json" 2>&1)"
  if [ "$stored" = "$want" ]; then pass "$version: the server keeps the mutating webhook's $want matchConditions"
  else fail "$version: the server keeps the mutating webhook's $want matchConditions" "$stored"; fi

  if out="$(k apply -f "$src/deploy/install.yaml" 2>&1)" && ! grep -qi 'warning\|error' <<<"$out" &&
     grep -q 'mutatingwebhookconfiguration.admissionregistration.k8s.io/infisical-secrets-operator-mutate created' <<<"$out"; then
    pass "$version: kubectl apply -f deploy/install.yaml succeeds, no warning"
  else
    fail "$version: kubectl apply -f deploy/install.yaml succeeds, no warning" "$(tail -3 <<<"$out")"
  fi

  if [ "$version" = 1.25 ]; then
    # The failure mode the chart avoids: matchConditions forced on, sent to a 1.25 server.
    namespace forced
    "$helm" template forced "$chart" -n forced --kube-version 1.25.0 --set webhook.matchConditions=enabled \
      --show-only templates/webhook-configurations.yaml >"$work/forced.yaml" 2>/dev/null
    out="$(k apply -f "$work/forced.yaml" 2>&1)"; rc=$?
    if [ $rc -ne 0 ] && grep -qF 'Error from server (BadRequest): error when creating "'"$work/forced.yaml"'": MutatingWebhookConfiguration in version "v1" cannot be handled as a MutatingWebhookConfiguration: strict decoding error: unknown field "webhooks[0].matchConditions"' <<<"$out" &&
       ! k get mutatingwebhookconfiguration forced-infisical-secrets-operator-mutate >/dev/null 2>&1; then
      pass "1.25: kubectl apply of matchConditions is refused: strict decoding error: unknown field"
    else
      fail "1.25: kubectl apply of matchConditions is refused: strict decoding error: unknown field" "rc=$rc" "$out"
    fi
    # helm install's path (no fieldValidation, the server's default Warn): dropped, with a warning.
    out="$(k apply --validate=warn -f "$work/forced.yaml" 2>&1)"; rc=$?
    if [ $rc -eq 0 ] && grep -qF 'Warning: unknown field "webhooks[0].matchConditions"' <<<"$out" &&
       [ -z "$(k get mutatingwebhookconfiguration forced-infisical-secrets-operator-mutate \
                 -o jsonpath='{.webhooks[0].matchConditions}')" ]; then
      pass "1.25: with fieldValidation=Warn the field is dropped and a warning shown"
    else
      fail "1.25: with fieldValidation=Warn the field is dropped and a warning shown" "rc=$rc" "$out"
    fi
  fi
  stop_sim
done

finish
