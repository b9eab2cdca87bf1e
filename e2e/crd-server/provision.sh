#!/usr/bin/env bash
# Provisions the CRD-serving API server of a current Kubernetes (k8s.io/apiextensions-apiserver
# 1.36) and etcd from Debian sid's package archive, for the tests that decide whether the CRD
# installs on a current cluster and what its CEL rules accept.
#
# Why this server: Debian carries no full kube-apiserver newer than 1.20.2, but sid carries the Go
# source of apiextensions-apiserver, which is the code a 1.36 cluster runs for CRDs and custom
# resources (structural schema, pruning, defaulting, OpenAPI, CEL compilation, the CEL cost
# estimator and CEL evaluation). Facts behind every step: docs/testing.md.
#
# Everything is resolved with a private apt configuration against an empty dpkg status, so apt
# downloads the whole dependency closure instead of trusting what the machine has; every .deb is
# unpacked with dpkg-deb -x into one root directory. Nothing is installed on the machine.
#
# Output: $FBPLUGIN_CRD_SERVER_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/crd-server-1.36)
#   bin/{apiextensions-apiserver,etcd,yaml2json} and a `complete` stamp naming the versions built.
# The first run takes a long time (about 410 MB of packages, a Go build of about 8 CPU minutes:
# 10-20 minutes on 2 cores); a later run sees the stamp and returns at once. Safe to re-run
# after a partial failure: downloads and the Go build cache resume.
#
# Environment: FBPLUGIN_CRD_SERVER_DIR, FBPLUGIN_DEBIAN_MIRROR (default
# http://deb.debian.org/debian), FBPLUGIN_APT_RETRIES (default 3).
#
# Exit codes: 0 ready; 3 the archive cannot be reached or a download was refused; anything else is
# a real failure. CI treats both as failures: the CRD tests never skip silently.
set -euo pipefail

KUBE_MINOR=1.36
MIRROR=${FBPLUGIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin
DEST=${FBPLUGIN_CRD_SERVER_DIR:-$CACHE_ROOT/crd-server-$KUBE_MINOR}
WORK=$DEST.work
STAMP=$DEST/complete
started=$(date +%s)

log() { printf '[crd-server %4ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
unavailable() {
    log "ERROR: $*"
    log "The 1.36 CRD server is built from Debian sid ($MIRROR); this machine cannot reach it."
    log "Allow access to it or set FBPLUGIN_DEBIAN_MIRROR to a mirror."
    exit 3
}

if [[ -f $STAMP ]]; then
    log "CRD server already provisioned in $DEST: $(head -n 1 "$STAMP")"
    exit 0
fi

for tool in apt-get dpkg-deb flock; do
    command -v "$tool" >/dev/null ||
        unavailable "'$tool' is not installed; provisioning needs a Debian-based machine"
done
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
    unavailable "/usr/share/keyrings/debian-archive-keyring.gpg is missing (package debian-archive-keyring)"

mkdir -p "$DEST" "$WORK"
# Concurrent test processes may all find the stamp missing: one builds, the others wait.
exec 9>"$DEST.lock"
if ! flock -n 9; then
    log "another process is provisioning $DEST; waiting for it"
    flock 9
fi
if [[ -f $STAMP ]]; then
    log "CRD server provisioned by another process: $(head -n 1 "$STAMP")"
    exit 0
fi

# ---- private apt configuration (sid only, empty dpkg status) -------------------------------
APT_DIR=$WORK/apt
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/etc/preferences.d"
ARCH=$(dpkg --print-architecture)
cat >"$APT_DIR/sources.list" <<EOF
deb [arch=$ARCH signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR sid main
EOF
: >"$APT_DIR/status"
APT_OPTS=(
    -o "Dir::Etc::sourcelist=$APT_DIR/sources.list"
    -o "Dir::Etc::sourceparts=/dev/null"
    -o "Dir::Etc::preferencesparts=$APT_DIR/etc/preferences.d"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::State::status=$APT_DIR/status"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "Dir::Cache::archives=$APT_DIR/cache/archives"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=$(id -un)"
    -o "Debug::NoLocking=true"
    -o "APT::Install-Recommends=false"
    -o "Acquire::Retries=${FBPLUGIN_APT_RETRIES:-3}"
)
apt_private() { apt-get -q "${APT_OPTS[@]}" "$@"; }
apt_fetch() {
    local what=$1
    shift
    local out
    if ! out=$(apt_private "$@" 2>&1); then
        printf '%s\n' "$out" | tail -n 15 >&2
        unavailable "downloading $what failed (apt-get $*)"
    fi
}

if [[ ! -f $APT_DIR/lists.stamp ]]; then
    log "fetching the sid package list into $APT_DIR"
    apt_fetch "the sid package list" update --error-on=any
    ls "$APT_DIR"/lists/*_dists_sid_main_binary-"${ARCH}"_Packages* >/dev/null 2>&1 ||
        unavailable "apt-get update did not fetch the sid list from $MIRROR"
    touch "$APT_DIR/lists.stamp"
fi

# sid moves: take the Go that golang-k8s-apiextensions-apiserver-dev is built with today, the
# newest golang-1.NN-go sid has.
GO_PKG=$(apt-cache "${APT_OPTS[@]}" search --names-only '^golang-1\.[0-9]+-go$' 2>/dev/null |
    awk '{print $1}' | sort -t. -k2 -n | tail -n 1)
[[ -n $GO_PKG ]] || die "sid has no golang-1.NN-go package"
GO_MINOR=${GO_PKG#golang-}
GO_MINOR=${GO_MINOR%-go}
PACKAGES=(golang-k8s-apiextensions-apiserver-dev "$GO_PKG" etcd-server)

if [[ ! -f $WORK/download.stamp ]]; then
    log "downloading ${PACKAGES[*]} and their dependency closure (about 410 MB, once)"
    apt_fetch "the CRD server's packages" install --download-only -y "${PACKAGES[@]}"
    touch "$WORK/download.stamp"
fi

ROOT=$WORK/root
if [[ ! -f $ROOT.stamp ]]; then
    count=$(ls "$APT_DIR"/cache/archives/*.deb | wc -l)
    log "unpacking $count packages into $ROOT"
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    for deb in "$APT_DIR"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
    touch "$ROOT.stamp"
fi

version_of() {
    dpkg-deb -f "$(ls "$APT_DIR"/cache/archives/"$1"_*.deb | head -n 1)" Version
}
APIEXT_VERSION=$(version_of golang-k8s-apiextensions-apiserver-dev)
ETCD_VERSION=$(version_of etcd-server)
GO_VERSION=$(version_of "$GO_PKG")
# 0.36.4-1 -> v1.36.4: the Go module's minor is Kubernetes' minor.
upstream=${APIEXT_VERSION%%-*}
upstream=${upstream%%+*}
KUBE_VERSION=v1.${upstream#0.}
[[ $KUBE_VERSION == v$KUBE_MINOR.* ]] ||
    die "sid's apiextensions-apiserver is $APIEXT_VERSION ($KUBE_VERSION), not $KUBE_MINOR; update KUBE_MINOR in this script and the tests"

GOROOT=$ROOT/usr/lib/go-$GO_MINOR
[[ -x $GOROOT/bin/go ]] || die "$GO_PKG unpacked without bin/go in $GOROOT"
mkdir -p "$WORK/gocache" "$WORK/home" "$DEST/bin"
log "building apiextensions-apiserver $KUBE_VERSION ($APIEXT_VERSION) with Go $GO_VERSION (10-20 minutes on 2 cores the first time)"
build_log=$WORK/build.log
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
if ! env -i PATH="$GOROOT/bin:/usr/bin:/bin" HOME="$WORK/home" GOROOT="$GOROOT" \
    GOPATH="$ROOT/usr/share/gocode" GOCACHE="$WORK/gocache" GO111MODULE=off GOTOOLCHAIN=local \
    GOPROXY=off GOFLAGS= CGO_ENABLED=0 \
    go build -p 2 -o "$DEST/bin/.apiextensions-apiserver.tmp" \
    -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/apiextensions-apiserver >"$build_log" 2>&1; then
    tail -n 30 "$build_log" >&2
    die "building apiextensions-apiserver failed; full log: $build_log"
fi
mv -f "$DEST/bin/.apiextensions-apiserver.tmp" "$DEST/bin/apiextensions-apiserver"
# yaml2json (this directory): manifests decoded as kubectl and Helm decode them.
tool_src=$ROOT/usr/share/gocode/src/fbplugin.dev/yaml2json
mkdir -p "$tool_src"
cp "$(dirname "${BASH_SOURCE[0]}")/yaml2json.go" "$tool_src/main.go"
if ! env -i PATH="$GOROOT/bin:/usr/bin:/bin" HOME="$WORK/home" GOROOT="$GOROOT" \
    GOPATH="$ROOT/usr/share/gocode" GOCACHE="$WORK/gocache" GO111MODULE=off GOTOOLCHAIN=local \
    GOPROXY=off GOFLAGS= CGO_ENABLED=0 \
    go build -o "$DEST/bin/yaml2json" fbplugin.dev/yaml2json >>"$build_log" 2>&1; then
    tail -n 30 "$build_log" >&2
    die "building yaml2json failed; full log: $build_log"
fi
install -m 0755 "$ROOT/usr/bin/etcd" "$DEST/bin/.etcd.tmp" && mv -f "$DEST/bin/.etcd.tmp" "$DEST/bin/etcd"
"$DEST/bin/etcd" --version | head -n 1 >&2
printf 'apiextensions-apiserver %s (golang-k8s-apiextensions-apiserver-dev %s, Go %s)\netcd %s\n' \
    "$KUBE_VERSION" "$APIEXT_VERSION" "$GO_VERSION" "$ETCD_VERSION" >"$STAMP"
log "done: $(head -n 1 "$STAMP"); binaries in $DEST/bin; removing the work directory $WORK"
rm -rf "$WORK"
