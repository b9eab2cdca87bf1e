#!/usr/bin/env bash
# Proves examples/template stands alone (issue 14): copies it to a temporary directory outside
# the workspace, points its version dependencies at this checkout with [patch.crates-io] (what a
# user does for an unreleased SDK; once the crates are on crates.io the copy needs nothing),
# then builds, tests and packages it the way its Dockerfile does: the Dockerfile's build
# command verbatim (`cargo build --release --locked -p <crate>`), the `.so` and its sha256 laid
# out as the image holds them (/plugins/lib<crate>.so and .sha256), and `docker build` itself
# when Docker is available. (A plugin is shipped as an image, not published as a crate.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The build cache lives with this checkout's target dir, so reruns are quick; the crate itself
# is outside the workspace (cargo would otherwise refuse or adopt it).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/template-standalone"

crate="$work/my-output"
cp -r "$root/examples/template" "$crate"
rm -rf "$crate/target" "$crate/Cargo.lock"
case "$crate" in "$root"/*) echo "the copy must be outside the workspace" >&2; exit 1 ;; esac
cat >>"$crate/Cargo.toml" <<TOML

[patch.crates-io]
fluent-bit-plugin-sdk = { path = "$root/plugin-runtime/fluent-bit-plugin-sdk" }
fluent-bit-plugin-test-host = { path = "$root/plugin-runtime/fluent-bit-plugin-test-host" }
TOML

cd "$crate"
# The README's rename recipe, verbatim.
sed -i 's/plugin-template/my-output/g; s/plugin_template/my_output/g' Cargo.toml Dockerfile deploy/fluentbitplugin.yaml tests/*.rs
# No workspace above it: cargo must treat the copy as its own root.
test "$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["workspace_root"])')" = "$crate"
cargo build
cargo test
# The Dockerfile's build command, verbatim, with the crate directory as the build context.
cargo build --release --locked -p my-output
so="$CARGO_TARGET_DIR/release/libmy_output.so"
test -s "$so"
mkdir -p "$work/image/plugins"
cp "$so" "$work/image/plugins/"
(cd "$work/image/plugins" && sha256sum libmy_output.so | tee libmy_output.so.sha256)
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    docker build -q -t my-output:standalone-ci .
else
    echo "docker unavailable: the image build step was not run"
fi
echo "template builds, tests and packages outside the workspace"
