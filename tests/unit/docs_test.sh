#!/usr/bin/env bash
# The user documentation against the code it describes: docs/api.md is what scripts/gen-api-docs makes
# of the CRDs today, and docs/troubleshooting.md has a section for every condition and Event reason of
# src/core/constants.h. Pure and fast (no build, no cluster): the unit suite.
set -uo pipefail
root="${IFO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
check_detail_lines=40
# shellcheck source=../check_lib.sh
source "$root/tests/check_lib.sh"

api_reference_current() {
  python3 "$root/scripts/gen-api-docs" "$tmp/api.md" || return 1
  diff -u "$root/docs/api.md" "$tmp/api.md" ||
    { echo "docs/api.md is not the rendering of deploy/crds/: run scripts/gen-api-docs and commit it"; return 1; }
}
check "docs/api.md is scripts/gen-api-docs' rendering of the CRDs" api_reference_current

api_reference_complete() {  # every kind, and every field of the spec, has a row (the generator walks them all)
  local crd kind n
  for crd in "$root"/deploy/crds/*.yaml; do
    kind="$(sed -n 's/^    kind: //p' "$crd" | head -1)"
    grep -qx "## $kind" "$root/docs/api.md" || { echo "no section for $kind ($crd)"; return 1; }
  done
  for field in spec.resyncInterval spec.authentication.kubernetesAuth.serviceAccountRef.name \
               'spec.managedKubeSecretReferences[].creationPolicy' 'status.conditions[].reason' 'spec.to[].kind'; do
    grep -qF "| \`$field\` |" "$root/docs/api.md" || { echo "no row for $field"; return 1; }
  done
  n="$(grep -c '^| `' "$root/docs/api.md")"
  [ "$n" -ge 100 ] || { echo "only $n field rows"; return 1; }
}
check "docs/api.md has a section per CRD kind and a row per field" api_reference_complete

reasons_documented() {  # a heading per reason, so a new reason without its section fails here
  local reasons missing=() r
  reasons="$(sed -n 's/^inline constexpr std::string_view kReason[A-Za-z]* = "\([^"]*\)";.*/\1/p' "$root/src/core/constants.h")"
  [ "$(wc -w <<<"$reasons")" -ge 15 ] || { echo "found only these reason constants: $reasons"; return 1; }
  for r in $reasons; do
    grep -qE "^#{2,4} (.*[^A-Za-z])?\`$r\`" "$root/docs/troubleshooting.md" || missing+=("$r")
  done
  ((${#missing[@]} == 0)) ||
    { echo "docs/troubleshooting.md has no section (a heading naming \`Reason\`) for: ${missing[*]}"; return 1; }
}
check "docs/troubleshooting.md has a section for every reason in src/core/constants.h" reasons_documented

finish_checks
