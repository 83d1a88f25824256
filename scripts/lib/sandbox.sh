# A local stand-in for a cluster with the operator installed, shared by scripts/demo and the e2e
# tests: kube-sim (the API server) and infisical-sim (Infisical), and the chart installed one of two
# ways, chosen by SANDBOX_INSTALL:
#   helm      as a user installs it: `helm install --wait --wait-for-jobs` into kube-sim running Pods
#             (--run-pods maps the chart's image to a root directory of the built binaries), so certs-gen
#             runs as the chart's Job, the webhook and the syncer as the chart's Pods, and kube-sim calls
#             the webhook through its Service. The examples' workload image (nginx) runs too, as a
#             stand-in that logs the environment it was started with and sleeps. scripts/demo uses this.
#   template  (the default) the chart rendered with helm template and applied with kubectl, certs-gen
#             run as the chart's install Job would (its arguments, a token of its own ServiceAccount),
#             and the webhook and syncer started as local processes with the arguments the chart gives
#             their containers; a test stops one (sandbox_kill) and restarts it with extra flags
#             (sandbox_start_syncer FLAG...). No Pods run: Deployments are ready at once.
#
#   source scripts/lib/sandbox.sh
#   sandbox_start DIR BUILD_DIR      # exports KUBECONFIG and the variables below
#   sandbox_kubectl get infisicalsecrets -A
#   sandbox_stop                     # also ends the Pods' processes (kube-sim stops them)
#
# Variables set: SANDBOX_MODE (helm or template), SANDBOX_DIR, INFISICAL_API (hostAPI), INFISICAL_ADMIN_TOKEN, WEBHOOK_PORT,
# SYNCER_HEALTH, SYNCER_METRICS, WEBHOOK_HEALTH, KUBE_SIM_URL. Under helm they name the host ports
# kube-sim gave the first Pod of each (DIR/pods/NS_POD/ports), as of the install.
# Optional inputs: SANDBOX_INSTALL (above), SANDBOX_ACCESS_RULES (kube-sim's access-rule table),
# SANDBOX_KUBE_SIM_ARGS and SANDBOX_HELM_ARGS (extra words for kube-sim and for helm), SANDBOX_BEFORE_INSTALL
# (a command run once kube-sim and infisical-sim answer and before the chart is installed: the cluster
# as it was before this operator, e.g. running upstream's).
# infisical-sim listens on loopback, which the operator refuses to connect to unless an admin allows
# it: the chart gets security.allowedAddressRanges={127.0.0.0/8}, as such an admin would set.

SANDBOX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SANDBOX_NS=infisical-operator-system
SANDBOX_RELEASE=infisical-secrets-operator
SANDBOX_PIDS=()
SANDBOX_MODE=template  # SANDBOX_INSTALL as sandbox_start found it

sandbox_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
sandbox_die() { printf 'sandbox: %s\n' "$*" >&2; return 1; }

# A loopback port for a server this sandbox starts: below the kernel's ephemeral range and reserved,
# so that no outgoing connection or parallel test takes it before the server binds it (scripts/lib/free-port).
sandbox_free_port() { "$SANDBOX_ROOT/scripts/lib/free-port"; }

# sandbox_wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
sandbox_wait_for() { sandbox_wait_ready "" "$@"; }

# sandbox_wait_ready NAME SECONDS DESCRIPTION COMMAND...: as sandbox_wait_for, for a process this
# sandbox spawned (NAME; "" for none); fails at once, with its exit status, when the process ends
# before COMMAND succeeds (a port it could not bind, a bad flag) instead of waiting out the limit.
sandbox_wait_ready() {
  local name="$1" limit="$2" what="$3"; shift 3
  local pid="" deadline=$((SECONDS + limit)) status
  [ -z "$name" ] || pid="$(sandbox_pid "$name")"
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null; status=$?
      sandbox_die "$name exited (status $status) before $what ($SANDBOX_DIR/$name.log)"; return 1
    fi
    if ((SECONDS >= deadline)); then sandbox_die "timed out after ${limit}s waiting for $what"; return 1; fi
    sleep 0.2
  done
}

sandbox_bin() {  # the path of a built executable
  local name="$1" p
  for p in "$SANDBOX_BUILD/tests/sim/kube/$name" "$SANDBOX_BUILD/tests/sim/infisical/$name" \
           "$SANDBOX_BUILD/src/syncer/$name" "$SANDBOX_BUILD/src/webhook/$name" "$SANDBOX_BUILD/certs-gen/$name"; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  sandbox_die "$name is not built in $SANDBOX_BUILD"
}

sandbox_kubectl() { kubectl --cache-dir "$SANDBOX_DIR/kube-cache" "$@"; }

sandbox_helm() { "${HELM:-$SANDBOX_ROOT/.tools/bin/helm}" "$@"; }

# Starts a process in the background with its output in DIR/NAME.log and remembers its pid.
sandbox_spawn() {
  local name="$1"; shift
  "$@" >"$SANDBOX_DIR/$name.log" 2>&1 &
  local pid=$!
  SANDBOX_PIDS+=("$pid")
  eval "SANDBOX_PID_${name//-/_}=$pid"
}

sandbox_pid() { local v="SANDBOX_PID_${1//-/_}"; echo "${!v:-}"; }

sandbox_kill() {  # sandbox_kill NAME [SIGNAL]: stops one process and waits for it
  local pid; pid="$(sandbox_pid "$1")"
  [ -n "$pid" ] || return 0
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# The args of a container of a Deployment, as the applied chart gives them, one per line.
sandbox_container_args() {  # DEPLOYMENT JSONPATH-TO-CONTAINER
  sandbox_kubectl -n "$SANDBOX_NS" get deployment "$1" -o "jsonpath={range $2.args[*]}{@}{\"\\n\"}{end}"
}

# A kubeconfig for the chart's ServiceAccount NAME-COMPONENT: kube-sim's address, a token minted for it.
sandbox_component_kubeconfig() {  # COMPONENT OUTPUT
  local token user
  token="$(sandbox_kubectl -n "$SANDBOX_NS" create token "$SANDBOX_RELEASE-$1" --duration=2h)" || return 1
  user="$(sandbox_kubectl config view -o 'jsonpath={.users[0].name}')"
  sandbox_kubectl config view --raw --minify >"$2" &&
    KUBECONFIG="$2" kubectl config set-credentials "$user" --token="$token" >/dev/null
}

# Runs certs-gen with the install Job's arguments under certs-gen's ServiceAccount, never the webhook's
# (which may not touch the webhook configurations or the CA Secret); extra flags follow.
sandbox_run_certs_gen() {
  local args=() a
  while IFS= read -r a; do args+=("$a"); done < <(sandbox_kubectl -n "$SANDBOX_NS" get jobs \
    -l app.kubernetes.io/component=certs-gen -o 'jsonpath={range .items[0].spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}')
  ((${#args[@]})) || { sandbox_die "the chart rendered no certs-gen Job"; return 1; }
  sandbox_component_kubeconfig certs-gen "$SANDBOX_DIR/kubeconfig-certs-gen" || return 1
  "$(sandbox_bin certs-gen)" "${args[@]}" --kubeconfig="$SANDBOX_DIR/kubeconfig-certs-gen" "$@" \
    >>"$SANDBOX_DIR/certs-gen.log" 2>&1 || { cat "$SANDBOX_DIR/certs-gen.log"; return 1; }
}

sandbox_start_syncer() {
  local args=() a
  while IFS= read -r a; do
    case "$a" in
      --metrics-bind-address=*) a="--metrics-bind-address=127.0.0.1:$SYNCER_METRICS_PORT" ;;
      --health-probe-bind-address=*) a="--health-probe-bind-address=127.0.0.1:$SYNCER_HEALTH_PORT" ;;
      --log-format=*) a="--log-format=text" ;;
    esac
    args+=("$a")
  done < <(sandbox_container_args "$SANDBOX_RELEASE-syncer" '.spec.template.spec.containers[0]')
  ((${#args[@]})) || { sandbox_die "the syncer Deployment has no args"; return 1; }
  sandbox_spawn syncer "$(sandbox_bin infisical-syncer)" "${args[@]}" --kubeconfig="$KUBECONFIG" "$@"
  sandbox_wait_ready syncer 60 "the syncer to be ready ($SANDBOX_DIR/syncer.log)" curl -fsS "$SYNCER_HEALTH/readyz" || return 1
}

sandbox_start_webhook() {
  local args=() a
  while IFS= read -r a; do
    case "$a" in
      --port=*) a="--port=$WEBHOOK_PORT" ;;
      --health-port=*) a="--health-port=$WEBHOOK_HEALTH_PORT" ;;
      --tls-cert-file=*) a="--tls-cert-file=$SANDBOX_DIR/certs/tls.crt" ;;
      --tls-private-key-file=*) a="--tls-private-key-file=$SANDBOX_DIR/certs/tls.key" ;;
      --log-format=*) a="--log-format=text" ;;
    esac
    args+=("$a")
  done < <(sandbox_container_args "$SANDBOX_RELEASE-webhook" '.spec.template.spec.containers[0]')
  sandbox_spawn webhook "$(sandbox_bin infisical-webhook)" "${args[@]}" --kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1
  sandbox_wait_ready webhook 60 "the webhook to be ready ($SANDBOX_DIR/webhook.log)" curl -fsS "$WEBHOOK_HEALTH/readyz" || return 1
}

# sandbox_pods_setup DIR: the images kube-sim runs Pods of, as root directories under DIR, and
# SANDBOX_POD_FLAGS, kube-sim's flags for them (the Pods' files in DIR/pods). The chart's image is laid
# out as the Dockerfile lays it out (the binaries symlinks to the ones in $SANDBOX_BUILD, /bin/sleep for
# the webhook's preStop hook, the Dockerfile's ENTRYPOINT); nginx, the image of examples/deployment.yaml,
# is a stand-in whose entrypoint logs the environment the container got (DIR/pods/NS_POD/CONTAINER.log)
# and sleeps, so a rollout's new Pods show the values they started with.
sandbox_pods_setup() {
  local dir="$1"
  mkdir -p "$dir/image/usr/local/bin" "$dir/image/bin" "$dir/nginx/bin" "$dir/pods" &&
    ln -sf "$(sandbox_bin infisical-syncer)" "$(sandbox_bin infisical-webhook)" "$(sandbox_bin certs-gen)" \
      "$dir/image/usr/local/bin/" &&
    ln -sf /bin/sleep "$dir/image/bin/sleep" &&
    ln -sf /bin/sh "$dir/nginx/bin/sh" || return 1
  SANDBOX_POD_FLAGS=(--run-pods "infisical-secrets-operator=$dir/image,nginx=$dir/nginx"
    --image-entrypoint infisical-secrets-operator=/usr/local/bin/infisical-syncer
    --image-entrypoint 'nginx=/bin/sh,-c,env | sort; exec sleep infinity'
    --pod-dir "$dir/pods")
}

# sandbox_helm_home DIR: helm's cache, configuration and data in DIR, not the user's.
sandbox_helm_home() {
  export HELM_CACHE_HOME="$1/cache" HELM_CONFIG_HOME="$1/config" HELM_DATA_HOME="$1/data"
}

# The directory kube-sim keeps Pod NAME's files in (helm mode): CONTAINER.log, ports, volumes/.
sandbox_pod_dir() {  # NAME [NAMESPACE]
  echo "$SANDBOX_DIR/pods/${2:-default}_$1"
}

# The names of the Pods a label selector picks that are not being deleted, one per line.
sandbox_pods() {  # SELECTOR [NAMESPACE]
  sandbox_kubectl -n "${2:-default}" get pods -l "$1" \
    -o 'jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' | awk 'NF == 1 { print $1 }'
}

# The host port where port PORT_NAME of the first Pod of the chart's COMPONENT is reached (helm
# mode): kube-sim gives each Pod's containerPorts host ports of their own and lists them in the Pod's
# ports file (kubectl port-forward is not served).
sandbox_component_port() {  # COMPONENT PORT_NAME
  local pod container_port host_port
  pod="$(sandbox_pods "app.kubernetes.io/component=$1" "$SANDBOX_NS" | head -1)"
  [ -n "$pod" ] || { sandbox_die "no Pod of $1"; return 1; }
  container_port="$(sandbox_kubectl -n "$SANDBOX_NS" get pod "$pod" \
    -o "jsonpath={.spec.containers[0].ports[?(@.name==\"$2\")].containerPort}")"
  host_port="$(awk -v p="$container_port" '$1 == p { print $2 }' "$(sandbox_pod_dir "$pod" "$SANDBOX_NS")/ports")"
  [ -n "$host_port" ] || { sandbox_die "no host port for port $2 ($container_port) of $pod"; return 1; }
  echo "$host_port"
}

# The log of the chart's COMPONENT (syncer, webhook): its process's under template, its first Pod's
# container's under helm.
sandbox_log_file() {  # COMPONENT
  if [ "$SANDBOX_MODE" = helm ]; then
    local pod; pod="$(sandbox_pods "app.kubernetes.io/component=$1" "$SANDBOX_NS" 2>/dev/null | head -1)"
    echo "$(sandbox_pod_dir "$pod" "$SANDBOX_NS")/$1.log"
  else
    echo "$SANDBOX_DIR/$1.log"
  fi
}

# The chart's values every install gets: Infisical at infisical-sim, loopback allowed, one syncer.
sandbox_chart_values() {
  SANDBOX_CHART_VALUES=(--set hostAPI="$INFISICAL_API" --set syncer.replicas=1
    --set 'security.allowedAddressRanges={127.0.0.0/8}')
}

sandbox_install_template() {
  sandbox_log "installing the chart: helm template | kubectl apply (hostAPI=$INFISICAL_API)"
  sandbox_helm template "$SANDBOX_RELEASE" "$SANDBOX_ROOT/charts/infisical-secrets-operator" -n "$SANDBOX_NS" \
    "${SANDBOX_CHART_VALUES[@]}" ${SANDBOX_HELM_ARGS:-} 2>/dev/null >"$SANDBOX_DIR/chart.yaml"
  # cert-manager's and prometheus-operator's kinds are not in the default render; everything is applied.
  sandbox_kubectl apply -f "$SANDBOX_DIR/chart.yaml" >"$SANDBOX_DIR/apply.log" || { cat "$SANDBOX_DIR/apply.log"; return 1; }
  sandbox_wait_for 30 "the CRD to be served" sandbox_kubectl get infisicalsecrets -A || return 1

  sandbox_log "certs-gen ensure, as the chart's install Job runs it (certs-gen's ServiceAccount)"
  sandbox_run_certs_gen --out-dir="$SANDBOX_DIR/certs" || return 1

  sandbox_log "starting infisical-webhook and infisical-syncer with the chart's arguments"
  sandbox_start_webhook || return 1
  sandbox_start_syncer || return 1
}

sandbox_install_helm() {
  sandbox_log "installing the chart: helm install --wait --wait-for-jobs (hostAPI=$INFISICAL_API)"
  # kube-sim has no ServiceAccount controller; a cluster's namespaces come with a default one, which
  # the examples' Pods run as.
  sandbox_kubectl -n default create serviceaccount default --dry-run=client -o yaml |
    sandbox_kubectl apply -f - >/dev/null || return 1
  sandbox_helm_home "$SANDBOX_DIR/helm"
  # --wait: the Deployments' Pods Ready (real readiness probes); --wait-for-jobs: certs-gen's Job done.
  sandbox_helm install "$SANDBOX_RELEASE" "$SANDBOX_ROOT/charts/infisical-secrets-operator" -n "$SANDBOX_NS" \
    "${SANDBOX_CHART_VALUES[@]}" ${SANDBOX_HELM_ARGS:-} --wait --wait-for-jobs --timeout 180s \
    >"$SANDBOX_DIR/helm-install.log" 2>&1 || { grep -v 'found symbolic link' "$SANDBOX_DIR/helm-install.log"; return 1; }
  sandbox_kubectl -n "$SANDBOX_NS" get pods >&2 \
    -o 'custom-columns=POD:.metadata.name,PHASE:.status.phase,READY:.status.conditions[?(@.type=="Ready")].status'
  local syncer_health syncer_metrics webhook_health
  syncer_health="$(sandbox_component_port syncer health)" &&
    syncer_metrics="$(sandbox_component_port syncer metrics)" &&
    webhook_health="$(sandbox_component_port webhook health)" &&
    WEBHOOK_PORT="$(sandbox_component_port webhook https)" || return 1
  SYNCER_HEALTH="http://127.0.0.1:$syncer_health"
  SYNCER_METRICS="http://127.0.0.1:$syncer_metrics"
  WEBHOOK_HEALTH="http://127.0.0.1:$webhook_health"
}

sandbox_start() {
  SANDBOX_DIR="$1"
  SANDBOX_BUILD="$2"
  mkdir -p "$SANDBOX_DIR"
  SANDBOX_MODE="${SANDBOX_INSTALL:-template}"
  [ "$SANDBOX_MODE" = helm ] || [ "$SANDBOX_MODE" = template ] ||
    { sandbox_die "SANDBOX_INSTALL is helm or template, not \"$SANDBOX_MODE\""; return 1; }
  local kube_sim_mode=()
  WEBHOOK_PORT="$(sandbox_free_port)"
  WEBHOOK_HEALTH_PORT="$(sandbox_free_port)"
  SYNCER_HEALTH_PORT="$(sandbox_free_port)"
  SYNCER_METRICS_PORT="$(sandbox_free_port)"
  WEBHOOK_HEALTH="http://127.0.0.1:$WEBHOOK_HEALTH_PORT"
  SYNCER_HEALTH="http://127.0.0.1:$SYNCER_HEALTH_PORT"
  SYNCER_METRICS="http://127.0.0.1:$SYNCER_METRICS_PORT"
  export KUBECONFIG="$SANDBOX_DIR/kubeconfig"

  sandbox_log "starting kube-sim (the Kubernetes API server stand-in)"
  # A user without rights outside their own namespace, for the cross-namespace admission checks.
  # SANDBOX_ACCESS_RULES replaces this table (a test's own tenant model).
  if [ -n "${SANDBOX_ACCESS_RULES:-}" ]; then
    printf '%s\n' "$SANDBOX_ACCESS_RULES" >"$SANDBOX_DIR/access-rules"
  else
    cat >"$SANDBOX_DIR/access-rules" <<RULES
allow user:dev * * team-dev *
deny user:dev * * * *
allow * * * * *
RULES
  fi
  if [ "$SANDBOX_MODE" = helm ]; then
    # Pods run; the API server reaches the webhook through its Service, at a Ready Pod.
    sandbox_pods_setup "$SANDBOX_DIR" || return 1
    kube_sim_mode=("${SANDBOX_POD_FLAGS[@]}")
  else
    # The webhook runs as a local process on WEBHOOK_PORT.
    kube_sim_mode=(--webhook-service "$SANDBOX_NS/$SANDBOX_RELEASE-webhook:443=127.0.0.1:$WEBHOOK_PORT")
  fi
  sandbox_spawn kube-sim "$(sandbox_bin kube-sim)" --port-file "$SANDBOX_DIR/kube.port" \
    --kubeconfig "$KUBECONFIG" \
    --token "admin-$RANDOM$RANDOM=admin:system:masters" --token "dev-token=dev:developers" \
    --access-rules-file "$SANDBOX_DIR/access-rules" \
    "${kube_sim_mode[@]}" ${SANDBOX_KUBE_SIM_ARGS:-}
  sandbox_wait_ready kube-sim 30 "kube-sim to start ($SANDBOX_DIR/kube-sim.log)" test -s "$KUBECONFIG" || return 1
  KUBE_SIM_URL="https://127.0.0.1:$(cat "$SANDBOX_DIR/kube.port")"
  sandbox_wait_ready kube-sim 30 "kube-sim to answer" sandbox_kubectl get namespaces || return 1

  sandbox_log "starting infisical-sim (the Infisical API stand-in) seeded from examples/infisical-seed.json"
  sandbox_spawn infisical-sim "$(sandbox_bin infisical-sim)" --seed "$SANDBOX_ROOT/examples/infisical-seed.json" \
    --ports-file "$SANDBOX_DIR/infisical.json"
  sandbox_wait_ready infisical-sim 30 "infisical-sim to start ($SANDBOX_DIR/infisical-sim.log)" test -s "$SANDBOX_DIR/infisical.json" || return 1
  INFISICAL_API="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["apiUrl"])' "$SANDBOX_DIR/infisical.json")"
  INFISICAL_ADMIN_TOKEN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["adminToken"])' "$SANDBOX_DIR/infisical.json")"

  if [ -n "${SANDBOX_BEFORE_INSTALL:-}" ]; then
    sandbox_log "before the install: $SANDBOX_BEFORE_INSTALL"
    $SANDBOX_BEFORE_INSTALL || { sandbox_die "$SANDBOX_BEFORE_INSTALL failed"; return 1; }
  fi

  sandbox_kubectl create namespace "$SANDBOX_NS" --dry-run=client -o yaml | sandbox_kubectl apply -f - >/dev/null
  sandbox_chart_values
  "sandbox_install_$SANDBOX_MODE" || return 1
}

# For an e2e test: sandbox_start DIR BUILD with its output in START_LOG; when it fails, prints that
# output and the end of each process's log, reports the test's one failed case and exits.
sandbox_start_for_test() {
  local dir="$1" build="$2" start_log="$3"
  sandbox_start "$dir" "$build" >"$start_log" 2>&1 && return 0
  cat "$start_log"
  tail -n 20 "$dir"/*.log  # -n: the obsolete "-20" form refuses more than one file
  echo "# cases: 0 passed, 1 failed"
  exit 1
}

# The processes still running in a Pod's directory (kube-sim starts each container there), "PID ARGS"
# a line.
sandbox_pod_processes() {
  local p
  for p in /proc/[0-9]*; do
    case "$(readlink "$p/cwd" 2>/dev/null)" in
      "$SANDBOX_DIR/pods/"*) echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" ;;
    esac
  done
}

# Stops what sandbox_start started. Under helm kube-sim ends the Pods' processes as it stops; one that
# outlives it is named and makes this fail.
sandbox_stop() {
  local pid left
  for pid in "${SANDBOX_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SANDBOX_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  SANDBOX_PIDS=()
  [ "$SANDBOX_MODE" = helm ] || return 0
  left="$(sandbox_pod_processes)"
  [ -z "$left" ] || { sandbox_die "processes of Pods outlived kube-sim:"$'\n'"$left"; return 1; }
}

# Infisical admin calls (infisical-sim's /sim endpoint).
sandbox_infisical_admin() {  # METHOD PATH JSON
  curl -fsS -X "$1" -H "Authorization: Bearer $INFISICAL_ADMIN_TOKEN" -H 'Content-Type: application/json' \
    --data "${3:-{\}}" "${INFISICAL_API%/api}$2"
}

sandbox_set_secret() {  # KEY VALUE (project demo-project, env dev, path /app)
  sandbox_infisical_admin POST /sim/secrets \
    "{\"project\":\"demo-project\",\"environment\":\"dev\",\"path\":\"/app\",\"key\":\"$1\",\"value\":\"$2\"}" >/dev/null
}

sandbox_revision() {  # DEPLOYMENT [NAMESPACE]: the deployment.kubernetes.io/revision annotation
  sandbox_kubectl -n "${2:-default}" get deployment "$1" \
    -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}'
}

# Test cases over a sandbox (the e2e user-flow and trust-boundary tests): sandbox_check NAME COMMAND...
# runs one case, prints "ok" or "FAIL" with the case's output and the components' log tails, and
# counts it; sandbox_finish prints "# cases: N passed, N failed" and fails when any case failed.
SANDBOX_PASSED=0
SANDBOX_FAILED=0
sandbox_check() {
  local name="$1" out="$SANDBOX_DIR/case.out" l; shift
  if "$@" >"$out" 2>&1; then SANDBOX_PASSED=$((SANDBOX_PASSED + 1)); echo "ok   $name"
  else SANDBOX_FAILED=$((SANDBOX_FAILED + 1)); echo "FAIL $name"; sed 's/^/     /' "$out" | tail -30
    for l in syncer webhook; do echo "     --- $l.log (tail)"; grep -v " debug " "$(sandbox_log_file $l)" 2>/dev/null | tail -8 | sed 's/^/     /'; done
  fi
}
sandbox_finish() {
  echo "# cases: $SANDBOX_PASSED passed, $SANDBOX_FAILED failed"
  [ "$SANDBOX_FAILED" -eq 0 ]
}
