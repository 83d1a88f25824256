#!/usr/bin/env bash
# One flag parser and one duration syntax for every shipped binary: an unknown flag and a bad duration
# exit 2 with one line naming the flag (and the value), and Go's "1m30s" is a duration everywhere.
set -uo pipefail
root="${IFO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${IFO_BUILD_ROOT:?set IFO_BUILD_ROOT to the build directory}"
# shellcheck source=../check_lib.sh
source "$root/tests/check_lib.sh"

# refused WANT_TEXT... -- COMMAND...: exit 2, stdout empty, one stderr line containing every WANT_TEXT.
refused() {
  local want=()
  while [ "$1" != -- ]; do want+=("$1"); shift; done
  shift
  local rc
  timeout 10 "$@" >"$tmp/stdout" 2>"$tmp/stderr"; rc=$?
  [ "$rc" -eq 2 ] || { echo "exit $rc, want 2"; cat "$tmp/stderr"; return 1; }
  [ ! -s "$tmp/stdout" ] || { echo "printed to stdout:"; cat "$tmp/stdout"; return 1; }
  [ "$(wc -l <"$tmp/stderr")" -eq 1 ] || { echo "not one line:"; cat "$tmp/stderr"; return 1; }
  for w in "${want[@]}"; do grep -qF -- "$w" "$tmp/stderr" || { echo "no \"$w\" in:"; cat "$tmp/stderr"; return 1; }; done
  cat "$tmp/stderr"
}
# accepted COMMAND...: flags parsed, exit 0 (with --help the binary prints usage and starts nothing).
accepted() { timeout 10 "$@" >"$tmp/stdout" 2>&1 || { cat "$tmp/stdout"; return 1; }; }

syncer="$build/src/syncer/infisical-syncer"
webhook="$build/src/webhook/infisical-webhook"
certs="$build/certs-gen/certs-gen"
tls=(--tls-cert-file=/nonexistent/tls.crt --tls-private-key-file=/nonexistent/tls.key)

check "syncer: unknown flag" refused "unknown flag --leader-elect-lease" -- "$syncer" --leader-elect-lease=15s
check "syncer: bad duration names flag and value" \
  refused "--leader-elect-retry-period" '"2x"' -- "$syncer" --leader-elect-retry-period=2x
check "syncer: 1m30s is a duration" accepted "$syncer" --leader-elect-lease-duration=1m30s \
  --leader-elect-renew-deadline 1m --leader-elect-retry-period=1.5s --infisical-request-timeout=45 --help

check "webhook: unknown flag" refused "unknown flag --bogus" -- "$webhook" "${tls[@]}" --bogus=1
check "webhook: bad duration names flag and value" \
  refused "--shutdown-grace" '"10"' "add a unit" -- "$webhook" "${tls[@]}" --shutdown-grace 10
check "webhook: 1m30s is a duration" accepted "$webhook" "${tls[@]}" --shutdown-grace=1m30s \
  --authorization-timeout 2.5s --help

check "certs-gen: unknown flag" refused "unknown flag --bogus" -- "$certs" files --out-dir "$tmp/c" --bogus
check "certs-gen: bad duration names flag and value" \
  refused "--renew-before" '"720"' -- "$certs" files --out-dir "$tmp/c" --renew-before=720
check "certs-gen: 1m30s is a duration, and certificates are written" accepted "$certs" files --out-dir "$tmp/c" \
  --validity=2h30m --renew-before 1m30s --clock-skew=1.5m
check "certs-gen: the serving certificate lives 2h30m" \
  bash -c "openssl x509 -in '$tmp/c/tls.crt' -noout -checkend 8000 && ! openssl x509 -in '$tmp/c/tls.crt' -noout -checkend 9100"

finish_checks
