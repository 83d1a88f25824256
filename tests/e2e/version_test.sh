#!/usr/bin/env bash
# Every shipped binary answers --version with its name, the project version and the commit it was built
# from ("infisical-syncer 0.1.0 (commit 5be3318a1b2c)"; "commit unknown" only outside a git checkout),
# exits 0 and starts nothing else; --help names the flag.
set -uo pipefail
root="${IFO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
build="${IFO_BUILD_ROOT:?set IFO_BUILD_ROOT to the build directory}"
# shellcheck source=../check_lib.sh
source "$root/tests/check_lib.sh"

version="$(sed -n "s/^  version : '\([^']*\)',.*/\1/p" "$root/meson.build" | head -1)"
in_git=false
git -C "$root" rev-parse --verify -q HEAD >/dev/null 2>&1 && in_git=true

prints_version() {  # prints_version NAME PATH
  local name="$1" exe="$2" out rc commit
  [ -x "$exe" ] || { echo "not built: $exe"; return 1; }
  out="$(timeout 10 "$exe" --version 2>"$tmp/stderr")"; rc=$?
  [ "$rc" -eq 0 ] || { echo "exit $rc"; cat "$tmp/stderr"; return 1; }
  [ "$(wc -l <<<"$out")" -eq 1 ] || { echo "not one line: $out"; return 1; }
  [[ "$out" =~ ^$name\ ([0-9]+\.[0-9]+\.[0-9]+[^ ]*)\ \(commit\ ([0-9a-f]{7,40}|unknown)\)$ ]] ||
    { echo "unexpected: $out"; return 1; }
  [ "${BASH_REMATCH[1]}" = "$version" ] || { echo "version ${BASH_REMATCH[1]}, meson.build says $version"; return 1; }
  commit="${BASH_REMATCH[2]}"
  if $in_git; then  # built from this checkout: a commit of it, not the fallback
    [ "$commit" != unknown ] && git -C "$root" cat-file -e "$commit^{commit}" ||
      { echo "commit $commit is not a commit of $root"; return 1; }
  fi
  echo "$out"
}
help_names_flag() { timeout 10 "$@" --help | grep -q -- '--version'; }

for bin in infisical-syncer:src/syncer/infisical-syncer infisical-webhook:src/webhook/infisical-webhook \
           certs-gen:certs-gen/certs-gen; do
  name="${bin%%:*}" exe="$build/${bin#*:}"
  check "$name --version prints name, version and commit and exits 0" prints_version "$name" "$exe"
  check "$name --help lists --version" help_names_flag "$exe"
done

finish_checks
