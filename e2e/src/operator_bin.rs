//! Finding (and when needed building) the real `operator` binary the suites run, and the copy
//! program (`fbplugin-copy`) that plays the plugin images' `/fbplugin/copy`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::error::{Error, Result};

/// The workspace root (the directory holding `operator/`, `crds/`, `charts/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `target/<profile>` directory the running executable was built into: a test binary lives
/// in `target/<profile>/deps/`, the demo in `target/<profile>/`.
pub(crate) fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(Error::io("finding the running executable"))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no parent", exe.display())))?
        .to_owned();
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.pop();
    }
    Ok(dir)
}

fn newest_source(dir: &Path, newest: &mut SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                newest_source(&path, newest);
            }
        } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified())
            && modified > *newest
        {
            *newest = modified;
        }
    }
}

fn is_current(binary: &Path, root: &Path, sources: &[&str]) -> bool {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return false;
    };
    let mut newest = SystemTime::UNIX_EPOCH;
    for part in sources {
        let path = root.join(part);
        if path.is_dir() {
            newest_source(&path, &mut newest);
        } else if let Ok(modified) = path.metadata().and_then(|m| m.modified()) {
            newest = newest.max(modified);
        }
    }
    built >= newest
}

/// Whether `file` exists and was written after every file under `sources` (paths relative to
/// the workspace root; directories are walked, skipping `target/`): what decides whether a
/// built binary or plugin can be used as it is.
pub fn built_after_sources(file: &Path, sources: &[&str]) -> bool {
    is_current(file, &workspace_root(), sources)
}

/// The `operator` binary of the profile this executable was built with
/// (`target/<profile>/operator`), or of the cargo profile named by `E2E_OPERATOR_PROFILE`
/// (`release` for `target/release/operator`, the figures the scale suite reports for users;
/// `dev`/`debug`, or a custom profile). When it is missing or older than the operator's or the
/// CRD crate's sources or `Cargo.lock` (a dependency update), runs
/// `cargo build -p operator --bin operator` with that profile and the same target directory first (nextest does not hold the cargo lock while tests run, and cargo
/// serializes concurrent builds itself; a cold release build takes minutes).
pub fn operator_binary() -> Result<PathBuf> {
    let dir = match std::env::var(OPERATOR_PROFILE_ENV) {
        Ok(profile) if !profile.is_empty() => target_dir()?.join(profile_dir_name(&profile)?),
        _ => profile_dir()?,
    };
    cargo_binary_in(
        &dir,
        "operator",
        "operator",
        &[
            "operator/src",
            "operator/Cargo.toml",
            "crds/src",
            "crds/Cargo.toml",
            "Cargo.lock",
        ],
    )
}

/// The copy program the plugin images carry at `/fbplugin/copy` (crate `fbplugin-copy`), built
/// like [`operator_binary`] (`target/<profile>/fbplugin-copy`): what the suites run where they
/// play the kubelet on the operator's init containers.
pub fn copy_program_binary() -> Result<PathBuf> {
    cargo_binary(
        "fbplugin-copy",
        "fbplugin-copy",
        &[
            "plugin-runtime/copy/src",
            "plugin-runtime/copy/Cargo.toml",
            "Cargo.lock",
        ],
    )
}

/// The environment variable naming the cargo profile of the operator binary the suites run.
const OPERATOR_PROFILE_ENV: &str = "E2E_OPERATOR_PROFILE";

/// The target directory (the parent of [`profile_dir`]).
fn target_dir() -> Result<PathBuf> {
    let dir = profile_dir()?;
    dir.parent()
        .map(Path::to_owned)
        .ok_or_else(|| Error::Invalid(format!("{} has no parent", dir.display())))
}

/// The directory under `target/` cargo builds `profile` into: `dev` and `test` go to `debug`,
/// `bench` to `release`, a custom profile to its own name.
fn profile_dir_name(profile: &str) -> Result<&str> {
    let valid = profile
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(Error::Invalid(format!(
            "{OPERATOR_PROFILE_ENV}={profile:?} is no cargo profile name (release, dev, or a custom profile)"
        )));
    }
    Ok(match profile {
        "dev" | "test" | "debug" => "debug",
        "bench" => "release",
        other => other,
    })
}

/// `cargo build -p <package> --bin <bin> [--features ...]` into `profile_dir` (its target
/// directory and profile), from the workspace root; and that profile's name.
pub(crate) fn cargo_build(
    profile_dir: &Path,
    package: &str,
    bin: &str,
    features: &[&str],
) -> Result<(Command, String)> {
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no parent", profile_dir.display())))?;
    let profile = profile_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "debug".into());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", target_dir);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    match profile.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    Ok((command, profile))
}

fn cargo_binary(package: &str, bin: &str, sources: &[&str]) -> Result<PathBuf> {
    cargo_binary_in(&profile_dir()?, package, bin, sources)
}

fn cargo_binary_in(
    profile_dir: &Path,
    package: &str,
    bin: &str,
    sources: &[&str],
) -> Result<PathBuf> {
    let binary = profile_dir.join(bin);
    let root = workspace_root();
    if is_current(&binary, &root, sources) {
        return Ok(binary);
    }
    let (mut command, profile) = cargo_build(profile_dir, package, bin, &[])?;
    let target_dir = profile_dir.parent().unwrap_or(profile_dir);
    eprintln!(
        "e2e: {} is missing or older than its sources; building it ({profile})",
        binary.display()
    );
    let status = command
        .status()
        .map_err(Error::io(format!("running cargo build -p {package}")))?;
    if !status.success() || !binary.is_file() {
        return Err(Error::Invalid(format!(
            "cargo build -p {package} --bin {bin} ({profile}, CARGO_TARGET_DIR={}) failed ({status}); \
             build it by hand to see why",
            target_dir.display()
        )));
    }
    Ok(binary)
}
