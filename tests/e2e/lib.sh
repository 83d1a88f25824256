# Sourced by the e2e shell tests that drive the real kubectl against kube-sim: case counting (and the
# "# cases: N passed, N failed" line), polling with a deadline, the kubectl binary, and starting kube-sim.
# The test sets `sim` (the kube-sim executable) and calls e2e_scratch (or sets `work` and cleans up
# itself) before using k or e2e_start_kube_sim.

kubectl_bin=/usr/lib/google-cloud-sdk/bin/kubectl.1.32  # the direct binary, past the gcloud dispatcher
[ -x "$kubectl_bin" ] || kubectl_bin="$(command -v kubectl)"

passed=0
failed=0
sim_pid=""
pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
finish() { echo "# cases: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

# eventually SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline passes.
eventually() {
  local deadline=$(($(date +%s) + $1)); shift
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# A loopback port for a server the test starts (below the ephemeral range, reserved: scripts/lib/free-port).
free_port() { "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/free-port"; }

k() { "$kubectl_bin" --cache-dir "$work/cache" --request-timeout=20s "$@"; }

# e2e_scratch: a scratch directory in $work; at exit every process in e2e_pids (the test appends what it
# starts) and kube-sim ($sim_pid) are stopped and waited for, and $work is removed.
e2e_pids=()
e2e_scratch() {
  work="$(mktemp -d)"
  trap e2e_cleanup EXIT
}
e2e_cleanup() {
  local p
  for p in "${e2e_pids[@]}" $sim_pid; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}

# e2e_start_kube_sim SECONDS [FLAG]...: starts kube-sim writing $work/kubeconfig (exported as KUBECONFIG)
# and $work/port, output in $work/sim.out and sim.err; when it is not up within SECONDS the case
# "kube-sim starts" fails and the test finishes.
e2e_start_kube_sim() {
  local limit="$1"; shift
  "$sim" --kubeconfig "$work/kubeconfig" --port-file "$work/port" "$@" >"$work/sim.out" 2>"$work/sim.err" &
  sim_pid=$!
  if ! eventually "$limit" test -s "$work/kubeconfig" -a -s "$work/port"; then
    fail "kube-sim starts" "$(tail -5 "$work/sim.err")"
    finish
  fi
  export KUBECONFIG="$work/kubeconfig"
}
