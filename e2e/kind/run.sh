#!/usr/bin/env bash
# The fbplugin end to end on a real cluster: kind.
#
# NEEDS: docker (a running daemon, with BuildKit), kind, kubectl, helm (v3.8+ or v4), and
# network access for the base images and fluent/fluent-bit. It does not run in this project's
# CI (no Docker there); CI checks it statically (bash -n, shellcheck).
#
#   e2e/kind/run.sh            # create cluster, build, install, test, delete cluster
#   KEEP=1 e2e/kind/run.sh     # leave the cluster up afterwards (kind delete cluster --name fbplugin-e2e)
#
# What it does: creates a kind cluster; builds the operator and the example plugin images and
# loads them into the cluster; helm installs the chart (operator + prepared Fluent Bit
# DaemonSet); applies examples/in-generator and examples/out-jsonl with the digests and the
# .so checksums it just built; waits for the DaemonSet rollout; checks that the generator's
# records reach the jsonl file on the node; checks the `kubectl get fbp` columns; changes a
# property and sees a new config hash and rollout; deletes the plugins and checks that the
# DaemonSet spec and its ConfigMap are exactly what they were before.
set -euo pipefail

CLUSTER=${CLUSTER:-fbplugin-e2e}
NS=logging
RELEASE=fbplugin
DS=fluent-bit
TAG=${TAG:-e2e}
TIMEOUT=${TIMEOUT:-300s}

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'kind e2e: %s\n' "$*" >&2; exit 1; }

missing=()
for tool in docker kind kubectl helm; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    die "this script needs docker, kind, kubectl and helm; missing: ${missing[*]}"
fi
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (docker info failed)"

work=$(mktemp -d)
created=0
cleanup() {
    status=$?
    if [ "$status" -ne 0 ] && [ "$created" -eq 1 ]; then
        printf '\n==> failed; state for debugging\n' >&2
        kubectl -n "$NS" get fbp,ds,pods -o wide >&2 || true
        kubectl -n "$NS" describe fbp >&2 || true
        kubectl -n "$NS" logs "deployment/$RELEASE-fbplugin-operator" --tail=50 >&2 || true
    fi
    if [ "$created" -eq 1 ] && [ "${KEEP:-0}" != 1 ]; then
        kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

step "kind cluster $CLUSTER"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    die "a kind cluster named $CLUSTER exists already; delete it or set CLUSTER"
fi
kind create cluster --name "$CLUSTER" --wait 180s
created=1
kubectl config use-context "kind-$CLUSTER" >/dev/null
node="$CLUSTER-control-plane"

step "images"
docker build -f operator/Dockerfile -t "docker.io/fbplugin/operator:$TAG" .
# The shell-free plugin images (scratch, /fbplugin/copy and the plugin): the operator's init
# containers run /fbplugin/copy with argv only.
for example in in-generator out-jsonl; do
    docker build -f "examples/$example/Dockerfile" -t "docker.io/fbplugin/$example:$TAG" .
done
kind load docker-image --name "$CLUSTER" "docker.io/fbplugin/operator:$TAG" \
    "docker.io/fbplugin/in-generator:$TAG" "docker.io/fbplugin/out-jsonl:$TAG"

# The digest the node knows the image by (what a pod spec pins), read from its container runtime.
node_digest() {
    docker exec "$node" crictl inspecti -o json "$1" \
        | grep -o '"[^"]*@sha256:[0-9a-f]\{64\}"' | head -n 1 | tr -d '"'
}

step "helm install"
helm install "$RELEASE" charts/fbplugin-operator --namespace "$NS" --create-namespace \
    --set image.repository=docker.io/fbplugin/operator --set image.tag="$TAG" \
    --set image.pullPolicy=Never --wait --timeout "$TIMEOUT"
kubectl -n "$NS" rollout status "deployment/$RELEASE-fbplugin-operator" --timeout "$TIMEOUT"
kubectl -n "$NS" rollout status "daemonset/$DS" --timeout "$TIMEOUT"
kubectl -n "$NS" get "daemonset/$DS" -o jsonpath='{.spec}' >"$work/ds-before.json"
kubectl -n "$NS" get "configmap/$DS" -o jsonpath='{.data}' >"$work/cm-before.json"

step "apply the examples with the images just built"
for example in in-generator out-jsonl; do
    lib=lib${example//-/_}.so
    ref=$(node_digest "docker.io/fbplugin/$example:$TAG")
    [ -n "$ref" ] || die "no digest for docker.io/fbplugin/$example:$TAG on $node"
    cid=$(docker create "docker.io/fbplugin/$example:$TAG")
    sum=$(docker cp "$cid:/plugins/$lib" - | tar -xO | sha256sum | cut -d' ' -f1)
    docker rm "$cid" >/dev/null
    [ "${#sum}" -eq 64 ] || die "no sha256 in the $example image: got '$sum'"
    sed -e "s|^\(    image: \).*|\1$ref|" \
        -e "s|^\(    path: .*\)|\1\n    sha256: $sum|" \
        -e "/^    imagePullPolicy:/d" \
        "examples/$example/deploy/fluentbitplugin.yaml" >"$work/$example.yaml"
    grep -q "sha256: $sum" "$work/$example.yaml" || die "could not set the checksum in $example"
    echo "$example: $ref (sha256 $sum)"
done
kubectl apply -f "$work/in-generator.yaml" -f "$work/out-jsonl.yaml"

wait_ready() {
    for plugin in in-generator out-jsonl; do
        kubectl -n "$NS" wait "fbp/$plugin" --for=condition=Ready --timeout "$TIMEOUT"
    done
}

hash_now() {
    kubectl -n "$NS" get "daemonset/$DS" \
        -o jsonpath='{.spec.template.metadata.annotations.fbplugin\.dev/config-hash}'
}

step "rollout"
for _ in $(seq 60); do
    [ -n "$(hash_now)" ] && break
    sleep 2
done
first_hash=$(hash_now)
[ -n "$first_hash" ] || die "the operator did not annotate the DaemonSet's pod template"
kubectl -n "$NS" rollout status "daemonset/$DS" --timeout "$TIMEOUT"
wait_ready

step "records reach the jsonl file"
found=0
for _ in $(seq 30); do
    if docker exec "$node" sh -c 'cat /var/log/fbplugin/gen.jsonl 2>/dev/null' \
        | grep -q '"message":"hello from a Rust input"'; then
        found=1
        break
    fi
    sleep 2
done
[ "$found" -eq 1 ] || die "no generator record in /var/log/fbplugin/gen.jsonl on $node"
docker exec "$node" sh -c 'tail -n 2 /var/log/fbplugin/gen.jsonl'

step "kubectl get fbp"
kubectl -n "$NS" get fbp | tee "$work/fbp.txt"
awk 'NR == 1 {
         if ($1 != "NAME" || $2 != "TYPE" || $3 != "DAEMONSET" || $4 != "READY" || $5 != "ROLLOUT") {
             print "unexpected columns: " $0; bad = 1
         }
         next
     }
     {
         split($5, n, "/")
         if ($4 != "True" || n[1] != n[2] || n[1] < 1) { print "not rolled out: " $0; bad = 1 }
         rows++
     }
     END { if (rows != 2) { print "expected 2 plugins, got " rows; bad = 1 } exit bad }' \
    "$work/fbp.txt" || die "kubectl get fbp does not show both plugins Ready and rolled out"

step "change a property: new hash, new rollout"
kubectl -n "$NS" patch fbp out-jsonl --type=json \
    -p '[{"op": "replace", "path": "/spec/instances/0/properties/2/value", "value": "20M"}]'
for _ in $(seq 60); do
    [ "$(hash_now)" != "$first_hash" ] && break
    sleep 2
done
[ "$(hash_now)" != "$first_hash" ] || die "the config hash did not change after the update"
kubectl -n "$NS" rollout status "daemonset/$DS" --timeout "$TIMEOUT"
wait_ready

step "delete the plugins: the DaemonSet and its ConfigMap are as before"
kubectl -n "$NS" delete fbp in-generator out-jsonl --wait --timeout "$TIMEOUT"
restored=0
for _ in $(seq 60); do
    kubectl -n "$NS" get "daemonset/$DS" -o jsonpath='{.spec}' >"$work/ds-after.json"
    if cmp -s "$work/ds-before.json" "$work/ds-after.json"; then
        restored=1
        break
    fi
    sleep 2
done
if [ "$restored" -ne 1 ]; then
    diff <(tr ',' '\n' <"$work/ds-before.json") <(tr ',' '\n' <"$work/ds-after.json") >&2 || true
    die "the DaemonSet spec differs from before the plugins"
fi
kubectl -n "$NS" get "configmap/$DS" -o jsonpath='{.data}' >"$work/cm-after.json"
cmp -s "$work/cm-before.json" "$work/cm-after.json" || die "the base ConfigMap changed"
if kubectl -n "$NS" get "configmap/$DS-fbplugin" >/dev/null 2>&1; then
    die "the rendered ConfigMap $DS-fbplugin is still there"
fi
kubectl -n "$NS" rollout status "daemonset/$DS" --timeout "$TIMEOUT"

step "kind e2e passed"
