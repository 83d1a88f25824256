#!/usr/bin/env bash
# The image scripts/build-image writes, run as a container runtime would run it: the OCI layout is
# unpacked with umoci and each binary runs from that root filesystem as user 65532 (chroot
# --userspec), so a library, file or permission missing from the image fails here. The image comes
# from $IFO_IMAGE_DIR (scripts/test builds it before the suites) or, when unset, scripts/build-image
# builds it (build-image/, a release build: minutes on two cores).
# Why chroot: CI runs as root, and chroot --userspec gives what the kubelet gives the Pod (the
# image's root, uid/gid 65532 from the image config) while sharing the host's network, so kube-sim
# and kubectl on loopback reach the webhook without network namespaces. unshare --user would map
# 65532 only with subordinate ids configured; the test therefore needs root and skips (77) without.
# Prints "# cases: N passed, N failed".
set -uo pipefail

src="${IFO_SOURCE_ROOT:?IFO_SOURCE_ROOT is not set}"
build="${IFO_BUILD_ROOT:?IFO_BUILD_ROOT is not set}"
sim="$build/tests/sim/kube/kube-sim"
helm="${HELM:-$src/.tools/bin/helm}"
data="$src/tests/e2e/testdata/webhook"
ns=infisical-operator-system
service=infisical-secrets-operator-webhook
# shellcheck source=lib.sh
source "$src/tests/e2e/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "# skipped: running the image's root filesystem as uid 65532 needs root (chroot --userspec)"
  exit 77
fi

e2e_scratch
hook_pid=""

version="$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$src/meson.build" | head -1)"
image="${IFO_IMAGE_DIR:-}"
if [ -z "$image" ] || [ ! -f "$image/oci/index.json" ]; then
  out="$("$src/scripts/build-image" 2>&1)"
  rc=$?
  image="${IFO_IMAGE_BUILD_DIR:-$src/build-image}/image"
  if [ $rc -ne 0 ]; then fail "scripts/build-image builds the image" "$(tail -20 <<<"$out")"; finish; fi
fi
[ -x "$sim" ] || { fail "prerequisite $sim is built"; finish; }

# --- the image: unpacked as a runtime does, its config -------------------------------------------
if out="$(umoci unpack --image "$image/oci:$version" "$work/bundle" 2>&1)"; then
  pass "umoci unpacks the image tagged $version"
else
  fail "umoci unpacks the image tagged $version" "$out"; finish
fi
rootfs="$work/bundle/rootfs"

# The runtime spec umoci derives from the image config (what runc would run), and the labels.
config_facts() {
  python3 - "$work/bundle/config.json" "$image/oci" "$version" <<'EOF'
import json, os, sys
spec, oci, tag = sys.argv[1:]
proc = json.load(open(spec))["process"]
def blob(d): return json.load(open(os.path.join(oci, "blobs", *d.split(":"))))
index = json.load(open(os.path.join(oci, "index.json")))
m = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
labels = blob(blob(m["digest"])["config"]["digest"])["config"]["Labels"]
print(proc["user"]["uid"], proc["user"]["gid"], proc["args"][0],
      labels["org.opencontainers.image.version"], labels["org.opencontainers.image.revision"],
      "source" if "org.opencontainers.image.source" in labels else "no-source")
EOF
}
facts="$(config_facts 2>&1)"
if [[ "$facts" =~ ^65532\ 65532\ /usr/local/bin/infisical-syncer\ $version\ [0-9a-f]{40}\ source$ ]]; then
  pass "image config: user 65532:65532, entrypoint the syncer, labels version $version, revision, source"
else
  fail "image config: user 65532:65532, entrypoint the syncer, labels version $version, revision, source" "$facts"
fi

# The Dockerfile's build stage runs the script (--rootfs) and its final stage is that root filesystem
# alone, with the image config's user, PATH and entrypoint: Docker users get the same image.
dockerfile_matches() {
  python3 - "$src/Dockerfile" "$image/oci" "$version" <<'EOF'
import json, os, re, sys
dockerfile, oci, tag = sys.argv[1:]
text = re.sub(r"\\\n", " ", open(dockerfile).read())
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
last = max(i for i, l in enumerate(lines) if l.startswith("FROM "))
final = [l for l in lines[last:] if not l.startswith(("ARG ", "LABEL "))]
def blob(d): return json.load(open(os.path.join(oci, "blobs", *d.split(":"))))
index = json.load(open(os.path.join(oci, "index.json")))
m = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
config = blob(blob(m["digest"])["config"]["digest"])["config"]
expected = ["FROM scratch", "COPY --from=build /rootfs/ /", "ENV " + " ".join(config["Env"]),
            "USER " + config["User"], "ENTRYPOINT " + json.dumps(config["Entrypoint"])]
builds = [l for l in lines[:last] if re.match(r"RUN scripts/build-image .*--rootfs /rootfs$", l)]
labels = set(re.findall(r"org\.opencontainers\.image\.\w+", " ".join(lines[last:])))
if final != expected or len(builds) != 1 or labels != set(config["Labels"]):
    print("final stage:", final, "expected:", expected, "build-image runs:", builds,
          "labels:", sorted(labels), "image labels:", sorted(config["Labels"]))
    sys.exit(1)
EOF
}
if out="$(dockerfile_matches 2>&1)"; then
  pass "the Dockerfile builds the script's root filesystem with the same user, PATH, entrypoint and labels"
else
  fail "the Dockerfile builds the script's root filesystem with the same user, PATH, entrypoint and labels" "$out"
fi

# No shell or package manager; the only programs are the three binaries and the chart's /bin/sleep.
programs="$(cd "$rootfs" && find . -type f -perm -u+x ! -name '*.so*' | sort | tr '\n' ' ')"
shells="$(cd "$rootfs" && find . \( -name sh -o -name bash -o -name dash -o -name busybox -o -name 'apt*' -o -name 'dpkg*' \) | tr '\n' ' ')"
expected="./bin/sleep ./usr/local/bin/certs-gen ./usr/local/bin/infisical-syncer ./usr/local/bin/infisical-webhook "
if [ ! -e "$rootfs/bin/sh" ] && [ -z "$shells" ] && [ "$programs" = "$expected" ]; then
  pass "no shell or package manager: the programs are the three binaries and /bin/sleep"
else
  fail "no shell or package manager: the programs are the three binaries and /bin/sleep" \
    "programs: $programs" "shell/package manager: $shells"
fi
if [ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ] && grep -q '^nonroot:x:65532:65532:' "$rootfs/etc/passwd" &&
   grep -q '^nonroot:x:65532:' "$rootfs/etc/group" && [ "$(stat -c %a "$rootfs/tmp")" = 1777 ]; then
  pass "CA certificates, user and group nonroot (65532), /tmp (1777)"
else
  fail "CA certificates, user and group nonroot (65532), /tmp (1777)" "$(ls -la "$rootfs/etc" "$rootfs/tmp" 2>&1)"
fi

# Every program the chart's Pods exec (command: and preStop) is in the image.
commands="$("$helm" template rel "$src/charts/infisical-secrets-operator" -n $ns 2>&1 |
  python3 -c 'import re,sys; print(" ".join(sorted(set(re.findall(r"command: \[\"([^\"]+)\"", sys.stdin.read())))))')"
missing=""
for c in $commands; do [ -x "$rootfs$c" ] || missing="$missing $c"; done
if [ -n "$commands" ] && [ -z "$missing" ]; then pass "every program the chart execs is in the image: $commands"
else fail "every program the chart execs is in the image" "chart: $commands" "missing:$missing"; fi

# --- each binary from the root filesystem, as uid 65532 ------------------------------------------
in_image() { chroot --userspec=65532:65532 "$rootfs" "$@"; }
# --version prints "NAME VERSION (commit C)"; C is where the image's revision label points.
revision="$(awk '{print $5}' <<<"$facts")"
for b in infisical-syncer infisical-webhook certs-gen; do
  out="$(in_image "/usr/local/bin/$b" --version 2>"$work/version.err")"; rc=$?
  commit="$(sed -n 's/.*(commit \([0-9a-f]\{7,\}\)).*/\1/p' <<<"$out")"
  if [ $rc -eq 0 ] && grep -q "^$b $version" <<<"$out" && [ -n "$commit" ] && [[ "$revision" == "$commit"* ]]; then
    pass "$b --version in the image: $out"
  else
    fail "$b --version in the image exits 0 and prints '$b $version (commit ${revision:0:12})'" \
      "rc=$rc stdout: $out" "$(head -3 "$work/version.err")"
  fi
done

# --- certs-gen and the webhook against kube-sim, the webhook config the chart renders -------------
wport="$(free_port)"
hport="$(free_port)"
e2e_start_kube_sim 30 --webhook-service "$ns/$service:443=127.0.0.1:$wport"
out="$( { k apply -f "$src/deploy/crds/" &&
          for n in $ns apps; do k create namespace "$n" --dry-run=client -o yaml | k apply -f - || exit 1; done &&
          k apply -f "$src/deploy/webhook-config/webhook-configurations.yaml"; } 2>&1)" ||
  { fail "CRDs, namespaces and webhook configurations applied" "$out"; finish; }
# The kubeconfig (server on loopback, CA data inline) where the image's programs can read it.
install -m 0644 "$work/kubeconfig" "$rootfs/tmp/kubeconfig"

out="$(in_image /usr/local/bin/certs-gen ensure --kubeconfig /tmp/kubeconfig --namespace $ns --service $service \
        --validating-config infisical-secrets-operator-validate --mutating-config infisical-secrets-operator-mutate \
        --out-dir /tmp/pki 2>&1)"; rc=$?
bundle="$(k get validatingwebhookconfiguration infisical-secrets-operator-validate -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null)"
if [ $rc -eq 0 ] && [ -n "$bundle" ] && [ -s "$rootfs/tmp/pki/tls.crt" ] && [ "$(stat -c %u "$rootfs/tmp/pki/tls.key")" = 65532 ]; then
  pass "certs-gen ensure in the image: TLS over the kube API, caBundle set, PEM files written as 65532"
else
  fail "certs-gen ensure in the image: TLS over the kube API, caBundle set, PEM files written as 65532" "rc=$rc" "$out"
fi

chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/infisical-webhook --tls-cert-file /tmp/pki/tls.crt --tls-private-key-file /tmp/pki/tls.key \
  --bind-address 127.0.0.1 --port "$wport" --health-port "$hport" --kubeconfig /tmp/kubeconfig \
  --operator-namespace $ns --allowed-hosts infisical.example.com >"$work/webhook.log" 2>&1 &
hook_pid=$!; e2e_pids+=("$hook_pid")  # chroot (not a function: no subshell) execs the webhook, so this is the webhook's pid
if eventually 30 curl -sf "http://127.0.0.1:$hport/readyz"; then pass "the webhook in the image becomes ready"
else fail "the webhook in the image becomes ready" "$(tail -5 "$work/webhook.log")"; finish; fi

ids="$(awk '/^(Uid|Gid):/ {print $1, $2, $3, $4, $5}' "/proc/$hook_pid/status" | tr '\n' ' ')"
if [ "$ids" = "Uid: 65532 65532 65532 65532 Gid: 65532 65532 65532 65532 " ] &&
   [ "$(readlink "/proc/$hook_pid/root")" = "$rootfs" ] && [ "$(readlink "/proc/$hook_pid/exe")" = "$rootfs/usr/local/bin/infisical-webhook" ]; then
  pass "the webhook runs as uid/gid 65532 (real, effective, saved, fs) from the image's root"
else
  fail "the webhook runs as uid/gid 65532 from the image's root" "$ids" "root: $(readlink "/proc/$hook_pid/root")"
fi

# One AdmissionReview over TLS: the API server calls the webhook Service with the caBundle certs-gen set.
out="$(k apply -f "$data/two-auth.yaml" 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q 'admission webhook "validate.infisicalsecrets.secrets.infisical.com" denied the request' <<<"$out" &&
   grep -q "spec.authentication: exactly one authentication method is required" <<<"$out"; then
  pass "an AdmissionReview over TLS: the webhook in the image denies two auth blocks with the field path"
else
  fail "an AdmissionReview over TLS: the webhook in the image denies two auth blocks with the field path" "rc=$rc" "$out"
fi
finish
