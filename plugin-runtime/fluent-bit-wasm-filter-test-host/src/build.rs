//! Building a workspace crate to `.wasm` from a test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::Error;

const TARGET: &str = "wasm32-unknown-unknown";

/// Builds package `package` of the calling crate's workspace with `cargo build --release --target
/// wasm32-unknown-unknown` and returns the path of its `.wasm`.
///
/// Uses its own target directory (`wasm-filters` under `CARGO_TARGET_DIR`, or under the
/// workspace's `target/`) so it never waits on the lock of the cargo running the tests. Builds
/// once per package per process.
pub fn build_wasm(package: &str) -> Result<PathBuf, Error> {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(package) {
        return Ok(path.clone());
    }
    check_target_installed()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = caller_workspace(&cargo);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("wasm-filters");
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", TARGET, "-p", package])
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .map_err(|e| Error::Build(format!("could not run cargo: {e}")))?;
    if !output.status.success() {
        return Err(Error::Build(format!(
            "cargo build --release --target {TARGET} -p {package} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let path = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if !path.is_file() {
        return Err(Error::Build(format!(
            "cargo built {package} but {} is missing: is its crate-type cdylib?",
            path.display()
        )));
    }
    built.insert(package.to_owned(), path.clone());
    Ok(path)
}

/// The workspace of the crate whose tests call [`build_wasm`]: cargo sets `CARGO_MANIFEST_DIR`
/// for a test process, and `cargo locate-project --workspace` finds that crate's workspace
/// root. Without it (not run by cargo), the workspace this crate was built in.
fn caller_workspace(cargo: &std::ffi::OsStr) -> PathBuf {
    let located = std::env::var_os("CARGO_MANIFEST_DIR").and_then(|dir| {
        let out = Command::new(cargo)
            .args(["locate-project", "--workspace", "--message-format", "plain"])
            .current_dir(dir)
            .output()
            .ok()?;
        let manifest = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        (out.status.success()).then(|| manifest.parent().map(Path::to_path_buf))?
    });
    located.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

fn check_target_installed() -> Result<(), Error> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| Error::Build(format!("could not run rustc: {e}")))?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .is_dir()
    {
        Ok(())
    } else {
        Err(Error::Build(format!(
            "the {TARGET} target is not installed for the toolchain at {sysroot}: run \
             `rustup target add {TARGET}`"
        )))
    }
}
