#!/usr/bin/env bash
# The test harness's own guarantees that the e2e tests rely on (scripts/lib/free-port,
# scripts/lib/sandbox.sh): a port given to a server is one no outgoing connection and no other test can
# take before the server binds it, and a server that dies while starting fails its test at once,
# naming its exit status, instead of after the readiness limit.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../check_lib.sh
source "$root/tests/check_lib.sh"
free_port="$root/scripts/lib/free-port"
low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)"
reservations="ifo-reserved-ports-$(id -u)"

# Ports from 10000 up to the ephemeral range, with reservations in a directory of this test's own.
below_range() {
  ((low - 10000 >= 1000)) || { echo "the ephemeral range starts at $low: no room below it (free-port falls back)"; return 0; }
  local ports p
  ports="$(TMPDIR="$tmp" "$free_port" 20)" || return 1
  [ "$(sort -u <<<"$ports" | wc -l)" -eq 20 ] || { echo "not 20 distinct ports:"; echo "$ports"; return 1; }
  for p in $ports; do
    ((p >= 10000 && p < low)) || { echo "port $p is not in [10000, $low)"; return 1; }
    [ -e "$tmp/$reservations/$p" ] || { echo "port $p was not reserved"; return 1; }
    python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$p" ||
      { echo "port $p is not free to bind"; return 1; }
  done
}

# Every port below the range reserved but three (and one of those held by a listener): the answer is one
# of the two left, whichever port the search starts from.
skips_reserved() {
  ((low - 10000 >= 1000)) || return 0
  local dir="$tmp/reserved-test" got
  mkdir -p "$dir/$reservations"
  python3 - "$dir/$reservations" "$low" >"$dir/free" <<'EOF' || return 1
import os, random, socket, sys, time
d, low = sys.argv[1], int(sys.argv[2])
free = []
while len(free) < 3:
    p = random.randrange(10000, low)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); free.append(p)
    except OSError:
        pass
    finally:
        s.close()
for p in range(10000, low):
    if p not in free:
        open(os.path.join(d, str(p)), "w").close()
print(*free)
EOF
  read -r a b held <"$dir/free"
  python3 -c 'import socket, sys, time; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$held" &
  local listener=$!
  sleep 0.3
  for _ in 1 2; do
    got="$(TMPDIR="$dir" "$free_port")" || { kill "$listener"; return 1; }
    [ "$got" = "$a" ] || [ "$got" = "$b" ] || { kill "$listener"; echo "got $got, wanted $a or $b (held: $held)"; return 1; }
  done
  # Both are reserved now; make a's reservation an hour and a second old: a is the answer again.
  touch -d '-3601 seconds' "$dir/$reservations/$a"
  rm -f "$dir/$reservations/$held"  # unreserved but still bound: not an answer
  got="$(TMPDIR="$dir" "$free_port")"
  kill "$listener"
  [ "$got" = "$a" ] || { echo "got $got, wanted $a, whose reservation expired"; return 1; }
}

# Where no reservation can be written (/proc takes no new directory, even from root), a free port
# below the range all the same.
unwritable_reservations() {
  ((low - 10000 >= 1000)) || return 0
  local p
  p="$(TMPDIR=/proc/self "$free_port")" || return 1
  ((p >= 10000 && p < low)) || { echo "port $p is not in [10000, $low)"; return 1; }
}

# A process that exits while the sandbox waits for it to be ready fails the wait at once.
wait_ready_fails_fast() {
  (
    # shellcheck source=../../scripts/lib/sandbox.sh
    source "$root/scripts/lib/sandbox.sh"
    SANDBOX_DIR="$tmp"
    sandbox_spawn quitter bash -c 'echo "cannot listen on 127.0.0.1:1: Permission denied" >&2; exit 3'
    start=$SECONDS
    if sandbox_wait_ready quitter 60 "quitter to be ready" false 2>"$tmp/wait.err"; then echo "the wait succeeded"; exit 1; fi
    cat "$tmp/wait.err"
    ((SECONDS - start < 5)) || { echo "took $((SECONDS - start)) s"; exit 1; }
    grep -q "quitter exited (status 3) before quitter to be ready ($tmp/quitter.log)" "$tmp/wait.err" || exit 1
    sandbox_spawn sleeper sleep 30
    sandbox_wait_ready sleeper 10 "sleeper to be ready" true || exit 1
    sandbox_kill sleeper
  )
}

check "free-port: distinct ports below the ephemeral range, reserved, free to bind" below_range
check "free-port: skips reserved and bound ports, takes over an expired reservation" skips_reserved
check "free-port: reservations that cannot be written leave a free port all the same" unwritable_reservations
check "sandbox_wait_ready: a process that exits fails the wait at once with its status" wait_ready_fails_fast
finish_checks
