#!/usr/bin/env bash
# Provisions the container runtime of the e2e harness's real node: containerd and runc, the CNI
# plugins (all from bookworm's packages, unpacked privately with dpkg-deb -x, never installed)
# and a static pause image for the pod sandbox. The kubelet itself is built with the control
# plane by e2e/control-plane/provision.sh (one make, one Go cache).
#
# Facts behind every piece (docs/testing.md, "The real node"):
#   - containerd 1.6 / runc 1.1 from bookworm; runc links libseccomp2, which every bookworm
#     has (libseccomp2 is Priority: important); containerd and the CNI plugins are Go programs.
#   - kubelet 1.20 makes containerd use the sandbox image k8s.gcr.io/pause:3.2, which cannot be
#     pulled here: a 30-line static C program (pause.c beside this script) built with
#     `gcc -static -Os` is the image; the harness imports it into containerd at each start.
# Nothing is started here: the harness starts containerd and the kubelet per test run with
# private configs, and removes what they leave.
#
# Output: $FBPLUGIN_NODE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/node-<versions>)
#   bin/{containerd,containerd-shim-runc-v2,ctr,runc}, cni/<plugins>, pause/pause and a
#   `complete` stamp naming the package versions. About 60 MB, once (about 40 s); a later run sees
#   the stamp and returns at once.
#
# Environment: FBPLUGIN_NODE_DIR, FBPLUGIN_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# FBPLUGIN_APT_RETRIES (default 3).
#
# Exit codes: 0 ready; 3 the archive cannot be reached or a tool is missing (the harness fails
# with these words); anything else is a real failure.
set -euo pipefail

CONTAINERD_VERSION=1.6.20
RUNC_VERSION=1.1.5
MIRROR=${FBPLUGIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin
DEST=${FBPLUGIN_NODE_DIR:-$CACHE_ROOT/node-containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION}
WORK=$DEST.work
STAMP=$DEST/complete
HERE=$(cd "$(dirname "$0")" && pwd)
started=$(date +%s)

log() { printf '[node %3ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
unavailable() {
    log "ERROR: $*"
    log "The node's runtime comes from Debian's archive ($MIRROR); this machine cannot reach it."
    log "Allow access to it or set FBPLUGIN_DEBIAN_MIRROR to a mirror."
    exit 3
}

if [[ -f $STAMP ]]; then
    log "node runtime already provisioned in $DEST: $(paste -sd' ' "$STAMP")"
    exit 0
fi

for tool in apt-get dpkg dpkg-deb flock gcc; do
    command -v "$tool" >/dev/null ||
        unavailable "'$tool' is not installed; provisioning the node needs a Debian-based machine with gcc (package gcc, libc6-dev) for the static pause program"
done
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
    unavailable "/usr/share/keyrings/debian-archive-keyring.gpg is missing (package debian-archive-keyring)"

mkdir -p "$DEST" "$WORK"
# Concurrent test processes may all find the stamp missing: one provisions, the others wait.
exec 9>"$DEST.lock"
if ! flock -n 9; then
    log "another process is provisioning $DEST; waiting for it"
    flock 9
fi
if [[ -f $STAMP ]]; then
    log "node runtime provisioned by another process"
    exit 0
fi

# ---- private apt configuration (bookworm only) -----------------------------------------------
APT_DIR=$WORK/apt
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/etc/preferences.d"
ARCH=$(dpkg --print-architecture)
cat >"$APT_DIR/sources.list" <<SOURCES
deb [arch=$ARCH signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm main
SOURCES
: >"$APT_DIR/status"
APT_OPTS=(
    -o "Dir::Etc::sourcelist=$APT_DIR/sources.list"
    -o "Dir::Etc::sourceparts=/dev/null"
    -o "Dir::Etc::preferencesparts=$APT_DIR/etc/preferences.d"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::State::status=$APT_DIR/status"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=$(id -un)"
    -o "Debug::NoLocking=true"
    -o "Acquire::Retries=${FBPLUGIN_APT_RETRIES:-3}"
)
apt_fetch() {
    local what=$1
    shift
    local out
    if ! out=$(apt-get -q "${APT_OPTS[@]}" "$@" 2>&1); then
        printf '%s\n' "$out" | tail -n 15 >&2
        unavailable "downloading $what failed (apt-get $*)"
    fi
}

if [[ ! -f $APT_DIR/lists.stamp ]]; then
    log "fetching the bookworm package list into $APT_DIR"
    apt_fetch "the bookworm package list" update --error-on=any
    ls "$APT_DIR"/lists/*_dists_bookworm_main_binary-"${ARCH}"_Packages* >/dev/null 2>&1 ||
        unavailable "apt-get update did not fetch the bookworm list from $MIRROR"
    touch "$APT_DIR/lists.stamp"
fi

PACKAGES=(containerd runc containernetworking-plugins)
DEBS=$WORK/debs
if [[ ! -f $DEBS.stamp ]]; then
    log "downloading ${PACKAGES[*]} (bookworm, about 40 MB)"
    rm -rf "$DEBS"
    mkdir -p "$DEBS"
    (cd "$DEBS" && apt_fetch "${PACKAGES[*]}" download "${PACKAGES[@]/%//bookworm}")
    touch "$DEBS.stamp"
fi

ROOT=$WORK/root
rm -rf "$ROOT"
mkdir -p "$ROOT"
for deb in "$DEBS"/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
version_of() { dpkg-deb -f "$(ls "$DEBS"/"$1"_*.deb)" Version; }
[[ $(version_of containerd) == "$CONTAINERD_VERSION"* ]] ||
    die "bookworm's containerd is $(version_of containerd), not $CONTAINERD_VERSION; update this script"
[[ $(version_of runc) == "$RUNC_VERSION"* ]] ||
    die "bookworm's runc is $(version_of runc), not $RUNC_VERSION; update this script"

mkdir -p "$DEST/bin" "$DEST/cni" "$DEST/pause"
for b in containerd containerd-shim-runc-v2 ctr; do
    [[ -x $ROOT/usr/bin/$b ]] || die "containerd unpacked without usr/bin/$b"
    install -m 0755 "$ROOT/usr/bin/$b" "$DEST/bin/$b"
done
runc=$ROOT/usr/sbin/runc
[[ -x $runc ]] || runc=$ROOT/usr/bin/runc
[[ -x $runc ]] || die "runc unpacked without usr/sbin/runc"
install -m 0755 "$runc" "$DEST/bin/runc"
[[ -d $ROOT/usr/lib/cni ]] || die "containernetworking-plugins unpacked without usr/lib/cni"
for plugin in bridge host-local loopback portmap; do
    [[ -x $ROOT/usr/lib/cni/$plugin ]] || die "containernetworking-plugins lacks usr/lib/cni/$plugin"
done
cp -a "$ROOT"/usr/lib/cni/. "$DEST/cni/"
"$DEST/bin/runc" --version >&2 || die "the unpacked runc does not run (it links libseccomp2: apt-get install libseccomp2)"
"$DEST/bin/containerd" --version >&2 || die "the unpacked containerd does not run"

log "building the static pause program ($HERE/pause.c) with gcc -static -Os"
gcc -static -Os -s -o "$DEST/pause/pause" "$HERE/pause.c" ||
    unavailable "gcc -static failed: the static C library is missing (apt-get install libc6-dev)"

printf 'containerd %s\nrunc %s\ncontainernetworking-plugins %s\npause %s\n' \
    "$(version_of containerd)" "$(version_of runc)" "$(version_of containernetworking-plugins)" \
    "$(sha256sum "$HERE/pause.c" | cut -c1-12)" >"$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
log "done: $(paste -sd' ' "$STAMP"); in $DEST; removing the work directory $WORK"
rm -rf "$WORK"
