//! Builds the copy program (`plugin-runtime/copy`) as a static x86_64 musl executable and puts
//! it in `$OUT_DIR/copy`, where `src/image.rs` embeds it: every image the tool writes carries
//! the same bytes at `/fbplugin/copy`.
//!
//! The inner cargo gets its own target directory (so it never waits on the lock of the cargo
//! running this script) and a scrubbed environment: no wrapper (clippy), no flags or profile
//! settings of the outer build, only the fixed release settings below, and source paths remapped
//! so the binary does not depend on where the workspace is checked out.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "x86_64-unknown-linux-musl";

fn main() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("the workspace root above plugin-runtime/image");
    let copy_crate = workspace.join("plugin-runtime/copy");
    for path in ["Cargo.toml", "src"] {
        println!("cargo:rerun-if-changed={}", copy_crate.join(path).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target_dir = out_dir.join("copy-target");
    check_target_installed();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut remap = format!("--remap-path-prefix={}=/fbplugin", workspace.display());
    if let Some(home) = &cargo_home {
        remap.push_str(&format!(
            "\x1f--remap-path-prefix={}=/cargo",
            home.display()
        ));
    }
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--locked", "-p", "fbplugin-copy"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&workspace);
    // Nothing of the outer build leaks in: wrappers (clippy-driver), flags, profile overrides.
    // RUSTC (the compiler the outer build uses) stays, so both use the same toolchain.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_TARGET_")
            || key.starts_with("CARGO_ENCODED_")
            || key.starts_with("RUSTC_")
            || key.starts_with("RUSTFLAGS")
            || key.starts_with("RUSTDOCFLAGS")
            || key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || key == "CARGO_PRIMARY_PACKAGE"
            || key == "CARGO_MAKEFLAGS"
            || key == "DEBUG"
            || key == "OPT_LEVEL"
            || key == "PROFILE"
            || key == "TARGET"
            || key == "HOST"
            || key == "NUM_JOBS"
            || key == "OUT_DIR"
        {
            command.env_remove(key.as_ref());
        }
    }
    command
        .env("CARGO_ENCODED_RUSTFLAGS", remap)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false");
    let output = command
        .output()
        .expect("running cargo for the copy program");
    if !output.status.success() {
        panic!(
            "building the copy program (cargo build --release -p fbplugin-copy --target {TARGET}) failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let built = target_dir.join(TARGET).join("release/fbplugin-copy");
    let dest = out_dir.join("copy");
    std::fs::copy(&built, &dest)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), dest.display()));
}

fn check_target_installed() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .is_dir()
    {
        panic!(
            "fbplugin-image embeds a static copy program built for {TARGET}, and that target is \
             not installed for the toolchain at {sysroot:?}: run `rustup target add {TARGET}`"
        );
    }
}
