#!/usr/bin/env bash
# Provisions a local Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler 1.20.2 and etcd 3.4) and the node's kubelet 1.20.2 from Debian's package
# archive, for the e2e harness. (containerd, runc and CNI come from e2e/node/provision.sh.)
#
# Facts behind every step: docs/testing.md.
#   - Kubernetes 1.20.2 is the newest full server source in Debian (bookworm's `kubernetes`
#     source package); it must be built with Go 1.15 (bullseye's golang-1.15), newer Go builds an
#     apiserver that crashes on its first JSON response.
#   - etcd comes from bookworm's etcd-server package, unpacked with dpkg -x (no root needed).
# A private apt configuration lives in the work directory, so the machine's own apt sources and
# state are never touched. Works as root or not.
#
# Output: $FBPLUGIN_KUBE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/kube-1.20.2)
#   bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,etcd} and a `complete`
#   stamp whose lines name what was built; the kubelet has a line of its own (`kubelet ...`).
# The first run takes minutes (downloads ~80 MB, builds ~4 min on 2 idle cores, 15-25 on busy
# ones); a later run sees the stamp and returns at once. Safe to re-run after a partial failure:
# every step resumes.
#
# The four Kubernetes binaries are built by ONE `make WHAT=...`, so they share one Go build
# cache (the kubelet adds 1 to 4 minutes to the control plane's build). A cache made before the
# kubelet was added (a stamp without a `kubelet` line) is extended, not rebuilt: the same source
# tree is fetched again and only cmd/kubelet is built into it; the three control-plane binaries
# already there are left as they are (they come from the same tree and Go, so nothing differs),
# and tests using them keep running while the kubelet builds.
#
# Environment: FBPLUGIN_KUBE_DIR (output directory), FBPLUGIN_DEBIAN_MIRROR (default
# http://deb.debian.org/debian), FBPLUGIN_APT_RETRIES (default 3).
#
# Exit codes: 0 ready; 3 a download was refused or the archive is unreachable (the harness treats
# this as "control plane unavailable here"); anything else is a real failure.
set -euo pipefail

KUBE_VERSION=1.20.2
KUBE_SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1
MIRROR=${FBPLUGIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin
DEST=${FBPLUGIN_KUBE_DIR:-$CACHE_ROOT/kube-$KUBE_VERSION}
WORK=$DEST.work
STAMP=$DEST/complete
started=$(date +%s)

log() { printf '[provision %3ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
unavailable() {
    log "ERROR: $*"
    log "The control plane is built from Debian's archive ($MIRROR); this machine cannot reach"
    log "it. Allow access to it, set FBPLUGIN_DEBIAN_MIRROR to a mirror, or point the e2e tests"
    log "at an existing cluster with E2E_KUBECONFIG=<kubeconfig>."
    exit 3
}

# Complete means: the stamp exists, names the kubelet, and every binary is there.
provisioned() {
    [[ -f $STAMP ]] && grep -q '^kubelet ' "$STAMP" || return 1
    local b
    for b in kube-apiserver kube-controller-manager kube-scheduler kubelet etcd; do
        [[ -x $DEST/bin/$b ]] || return 1
    done
}
if provisioned; then
    log "control plane and kubelet $KUBE_VERSION already provisioned in $DEST"
    exit 0
fi

for tool in apt-get dpkg dpkg-deb make flock tar; do
    command -v "$tool" >/dev/null ||
        unavailable "'$tool' is not installed; provisioning needs a Debian-based machine"
done

mkdir -p "$DEST" "$WORK"
# Concurrent test processes may all find the stamp missing: one builds, the others wait.
exec 9>"$DEST.lock"
if ! flock -n 9; then
    log "another process is provisioning $DEST; waiting for it"
    flock 9
fi
if provisioned; then
    log "control plane and kubelet $KUBE_VERSION provisioned by another process"
    exit 0
fi
# An older cache holds the control plane without the kubelet: build only what is missing.
components=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
if [[ -f $STAMP ]] && [[ -x $DEST/bin/kube-apiserver && -x $DEST/bin/kube-controller-manager &&
    -x $DEST/bin/kube-scheduler && -x $DEST/bin/etcd ]]; then
    components=(kubelet)
    log "$DEST has the control plane but no kubelet (a cache from before the node): building only the kubelet"
fi

# ---- private apt configuration -------------------------------------------------------------
APT_DIR=$WORK/apt
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/etc/preferences.d"
ARCH=$(dpkg --print-architecture)
cat >"$APT_DIR/sources.list" <<EOF
deb [arch=$ARCH signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm main
deb [arch=$ARCH signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bullseye main
EOF
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
    unavailable "/usr/share/keyrings/debian-archive-keyring.gpg is missing (package debian-archive-keyring)"
APT_OPTS=(
    -o "Dir::Etc::sourcelist=$APT_DIR/sources.list"
    -o "Dir::Etc::sourceparts=/dev/null"
    -o "Dir::Etc::preferencesparts=$APT_DIR/etc/preferences.d"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=$(id -un)"
    -o "Debug::NoLocking=true"
    -o "Acquire::Retries=${FBPLUGIN_APT_RETRIES:-3}"
    -o "APT::Get::Only-Source=true"
)
apt_private() { apt-get -q "${APT_OPTS[@]}" "$@"; }

# Runs an apt command that downloads; on failure shows apt's own words and classifies it.
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
    log "fetching package lists for bookworm (with sources) and bullseye into $APT_DIR"
    lists_complete() {
        ls "$APT_DIR"/lists/*_dists_bookworm_main_binary-"${ARCH}"_Packages* \
            "$APT_DIR"/lists/*_dists_bullseye_main_binary-"${ARCH}"_Packages* \
            "$APT_DIR"/lists/*_dists_bookworm_main_source_Sources* >/dev/null 2>&1
    }
    # Without --error-on=any, apt-get update exits 0 when a list cannot be fetched. A mirror
    # caught mid-sync can still drop one list; a second pass fetches it.
    for attempt in 1 2; do
        apt_fetch "package lists" update --error-on=any
        lists_complete && break
        log "apt-get update left a list out (attempt $attempt); fetching again"
    done
    lists_complete ||
        unavailable "apt-get update did not fetch the bookworm (binary and source) and bullseye lists from $MIRROR"
    touch "$APT_DIR/lists.stamp"
fi

# ---- Go 1.15 (bullseye) ----------------------------------------------------------------------
GO_DIR=$WORK/go
if [[ ! -f $GO_DIR/stamp ]]; then
    log "downloading Go 1.15 (golang-1.15-go, golang-1.15-src from bullseye)"
    rm -rf "$GO_DIR"
    mkdir -p "$GO_DIR/debs"
    (cd "$GO_DIR/debs" && apt_fetch "Go 1.15" download golang-1.15-go/bullseye golang-1.15-src/bullseye)
    for deb in "$GO_DIR"/debs/*.deb; do dpkg -x "$deb" "$GO_DIR/root"; done
    [[ -x $GO_DIR/root/usr/lib/go-1.15/bin/go ]] || die "Go 1.15 unpacked without bin/go in $GO_DIR/root"
    touch "$GO_DIR/stamp"
fi
GOROOT=$GO_DIR/root/usr/lib/go-1.15

# ---- etcd (bookworm) -------------------------------------------------------------------------
ETCD_DIR=$WORK/etcd
if [[ ! -f $ETCD_DIR/stamp ]]; then
    log "downloading etcd (etcd-server from bookworm)"
    rm -rf "$ETCD_DIR"
    mkdir -p "$ETCD_DIR/debs"
    (cd "$ETCD_DIR/debs" && apt_fetch "etcd-server" download etcd-server/bookworm)
    dpkg -x "$ETCD_DIR"/debs/etcd-server_*.deb "$ETCD_DIR/root"
    [[ -x $ETCD_DIR/root/usr/bin/etcd ]] || die "etcd-server unpacked without usr/bin/etcd"
    touch "$ETCD_DIR/stamp"
fi

# ---- build helpers: rsync (copies generated files), jq -----------------------------------------
# When missing, each is unpacked privately with the libraries a minimal bookworm lacks, so no
# root is needed; a wrapper puts those libraries on the library path for that tool alone.
TOOLS=$WORK/tools
mkdir -p "$TOOLS/bin"
private_tool() {
    local tool=$1
    shift
    command -v "$tool" >/dev/null && return 0
    [[ -f $TOOLS/$tool.stamp ]] && return 0
    log "downloading $tool (bookworm; not installed on this machine)"
    local root=$TOOLS/$tool
    rm -rf "$root"
    mkdir -p "$root/debs"
    (cd "$root/debs" && apt_fetch "$tool" download "$@")
    for deb in "$root"/debs/*.deb; do dpkg -x "$deb" "$root/root"; done
    local libs
    libs=$(find "$root/root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
        "$libs" "$root/root/usr/bin/$tool" >"$TOOLS/bin/$tool"
    chmod +x "$TOOLS/bin/$tool"
    "$TOOLS/bin/$tool" --version >/dev/null ||
        die "the unpacked $tool does not run: $("$TOOLS/bin/$tool" --version 2>&1 | head -n 3)"
    touch "$TOOLS/$tool.stamp"
}
private_tool rsync rsync/bookworm libpopt0/bookworm libxxhash0/bookworm
private_tool jq jq/bookworm libjq1/bookworm libonig5/bookworm

# ---- Kubernetes source -----------------------------------------------------------------------
SRC_DIR=$WORK/src
TREE=$WORK/tree
if [[ ! -f $SRC_DIR/stamp ]]; then
    log "downloading the Kubernetes $KUBE_VERSION source package (kubernetes=$KUBE_SRC_VERSION, ~34 MB)"
    mkdir -p "$SRC_DIR"
    (cd "$SRC_DIR" && apt_fetch "the kubernetes source package" source --download-only "kubernetes=$KUBE_SRC_VERSION")
    touch "$SRC_DIR/stamp"
fi
if [[ ! -f $TREE.stamp ]]; then
    orig=$(ls "$SRC_DIR"/kubernetes_*.orig.tar.* 2>/dev/null | head -n 1)
    [[ -n $orig ]] || die "no kubernetes_*.orig.tar.* in $SRC_DIR after apt-get source"
    log "unpacking $(basename "$orig")"
    rm -rf "$TREE"
    mkdir -p "$TREE"
    tar -xf "$orig" -C "$TREE" --strip-components=1
    [[ -d $TREE/cmd/kube-apiserver && -d $TREE/vendor ]] ||
        die "$orig does not hold a Kubernetes source tree with vendor/"
    touch "$TREE.stamp"
fi

# ---- build -----------------------------------------------------------------------------------
# The Go build cache lives in the work directory, so a build interrupted halfway resumes.
mkdir -p "$TREE/.go/src/k8s.io" "$WORK/home" "$WORK/gocache"
ln -sfn ../../.. "$TREE/.go/src/k8s.io/kubernetes"
# The tarball has no .git: without this file the binaries would report a placeholder version.
cat >"$WORK/version.env" <<EOF
KUBE_GIT_COMMIT=''
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_VERSION='v$KUBE_VERSION'
KUBE_GIT_MAJOR='${KUBE_VERSION%%.*}'
KUBE_GIT_MINOR='$(cut -d. -f2 <<<"$KUBE_VERSION")'
EOF
what=()
for c in "${components[@]}"; do what+=("cmd/$c"); done
log "building ${components[*]} with Go 1.15 in one make (about 5 minutes on 2 idle cores, 15-25 on busy ones)"
build_log=$WORK/build.log
# A failed build leaves empty stamp files in _output that make takes as done; start from a clean
# _output every time (the Go build cache keeps the compiled packages).
rm -rf "$TREE/_output"
if ! (
    cd "$TREE/.go/src/k8s.io/kubernetes" &&
        env PATH="$GOROOT/bin:$TOOLS/bin:$PATH" GOROOT="$GOROOT" GOPATH="$TREE/.go" GOCACHE="$WORK/gocache" \
            CGO_ENABLED=0 KUBE_STATIC_OVERRIDES=kubelet HOME="$WORK/home" KUBE_GIT_VERSION_FILE="$WORK/version.env" \
            make WHAT="${what[*]}"
) >"$build_log" 2>&1; then
    tail -n 30 "$build_log" >&2
    die "building Kubernetes failed; full log: $build_log"
fi

# ---- install into the cache ------------------------------------------------------------------
mkdir -p "$DEST/bin"
for c in "${components[@]}"; do
    built=$TREE/_output/bin/$c
    [[ -x $built ]] || die "the build did not produce $built (log: $build_log)"
    install -m 0755 "$built" "$DEST/bin/.$c.tmp" && mv -f "$DEST/bin/.$c.tmp" "$DEST/bin/$c"
done
install -m 0755 "$ETCD_DIR/root/usr/bin/etcd" "$DEST/bin/.etcd.tmp" && mv -f "$DEST/bin/.etcd.tmp" "$DEST/bin/etcd"
"$DEST/bin/kube-apiserver" --version >&2
"$DEST/bin/etcd" --version | head -n 1 >&2
"$DEST/bin/kubelet" --version >&2
# The stamp is rewritten last (atomically), so a reader sees either the old one or the full one.
{
    if [[ ${#components[@]} -eq 1 ]]; then
        grep -v '^kubelet ' "$STAMP"
    else
        printf 'kubernetes %s (%s)\netcd %s\n' "$KUBE_VERSION" "$KUBE_SRC_VERSION" \
            "$(dpkg-deb -f "$ETCD_DIR"/debs/etcd-server_*.deb Version)"
    fi
    printf 'kubelet %s (%s)\n' "$KUBE_VERSION" "$KUBE_SRC_VERSION"
} >"$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
log "done: binaries in $DEST/bin; removing the work directory $WORK"
rm -rf "$WORK"
