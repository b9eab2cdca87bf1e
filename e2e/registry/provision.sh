#!/usr/bin/env bash
# Provisions a local OCI registry: bookworm's `docker-registry` 2.8.2 (CNCF distribution), for
# the tests that push images built by `fbplugin-image` and pull them back by digest.
#
# The one package is fetched with `apt-get download` through a private apt configuration (the
# machine's apt sources and state are never touched; root is not needed) and unpacked with
# `dpkg-deb -x`. Its binary is a Go program linked against glibc only (bookworm's libc6 >=
# 2.34). Nothing is installed on the machine and no service is started: the tests start the
# binary themselves, bound to 127.0.0.1, with their own config and storage directory.
#
# Output: $FBPLUGIN_REGISTRY_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/registry-2.8.2)
#   bin/registry and a `complete` stamp naming the package version. About 5 MB, once; a later run
#   sees the stamp and returns at once.
#
# Environment: FBPLUGIN_REGISTRY_DIR, FBPLUGIN_DEBIAN_MIRROR (default
# http://deb.debian.org/debian), FBPLUGIN_APT_RETRIES (default 3).
#
# Exit codes: 0 ready; 3 the archive cannot be reached or a download was refused; anything else is
# a real failure.
set -euo pipefail

REGISTRY_VERSION=2.8.2
MIRROR=${FBPLUGIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin
DEST=${FBPLUGIN_REGISTRY_DIR:-$CACHE_ROOT/registry-$REGISTRY_VERSION}
WORK=$DEST.work
STAMP=$DEST/complete
started=$(date +%s)

log() { printf '[registry %3ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
unavailable() {
    log "ERROR: $*"
    log "The registry comes from Debian's archive ($MIRROR); this machine cannot reach it."
    log "Allow access to it or set FBPLUGIN_DEBIAN_MIRROR to a mirror."
    exit 3
}

if [[ -f $STAMP ]]; then
    log "registry already provisioned in $DEST: $(head -n 1 "$STAMP")"
    exit 0
fi

for tool in apt-get dpkg dpkg-deb flock; do
    command -v "$tool" >/dev/null ||
        unavailable "'$tool' is not installed; provisioning needs a Debian-based machine"
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
    log "registry provisioned by another process: $(head -n 1 "$STAMP")"
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
    log "fetching the bookworm package list into $APT_DIR"
    apt_fetch "the bookworm package list" update --error-on=any
    ls "$APT_DIR"/lists/*_dists_bookworm_main_binary-"${ARCH}"_Packages* >/dev/null 2>&1 ||
        unavailable "apt-get update did not fetch the bookworm list from $MIRROR"
    touch "$APT_DIR/lists.stamp"
fi

DEBS=$WORK/debs
if [[ ! -f $DEBS.stamp ]]; then
    log "downloading docker-registry (bookworm, about 5 MB)"
    rm -rf "$DEBS"
    mkdir -p "$DEBS"
    (cd "$DEBS" && apt_fetch "docker-registry" download docker-registry/bookworm)
    touch "$DEBS.stamp"
fi
deb=$(ls "$DEBS"/docker-registry_*.deb 2>/dev/null | head -n 1)
[[ -n $deb ]] || die "no docker-registry_*.deb in $DEBS after apt-get download"
PKG_VERSION=$(dpkg-deb -f "$deb" Version)
[[ $PKG_VERSION == "$REGISTRY_VERSION"* ]] ||
    die "bookworm's docker-registry is $PKG_VERSION, not $REGISTRY_VERSION; update REGISTRY_VERSION in this script and in the tests"

ROOT=$WORK/root
rm -rf "$ROOT"
mkdir -p "$ROOT" "$DEST/bin"
dpkg-deb -x "$deb" "$ROOT"
[[ -x $ROOT/usr/bin/docker-registry ]] || die "$deb unpacked without usr/bin/docker-registry"
install -m 0755 "$ROOT/usr/bin/docker-registry" "$DEST/bin/.registry.tmp"
mv -f "$DEST/bin/.registry.tmp" "$DEST/bin/registry"
"$DEST/bin/registry" --version >&2 || die "the unpacked registry does not run: $DEST/bin/registry --version failed"
printf 'docker-registry %s (bookworm)\n' "$PKG_VERSION" >"$STAMP"
log "done: $(head -n 1 "$STAMP"); binary in $DEST/bin; removing the work directory $WORK"
rm -rf "$WORK"
