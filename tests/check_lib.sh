# Sourced by the shell tests made of independent checks (tests/e2e/chart_test.sh, version_test.sh, flags_test.sh,
# tests/unit/docs_test.sh): a scratch directory $tmp removed on exit, `check NAME COMMAND...` running
# one case (its output shown, indented, only when it fails; at most $check_detail_lines lines), and
# `finish_checks` printing the "# cases: N passed, N failed" line scripts/summarize-tests counts.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check_detail_lines="${check_detail_lines:-20}"
check() {  # check NAME COMMAND...: one case
  local name="$1"; shift
  if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$tmp/out" | head -"$check_detail_lines"; fi
}
finish_checks() {
  echo "# cases: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
