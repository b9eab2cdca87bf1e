//! The STAND-IN Fluent Bit image for the real node: no Fluent Bit binary can be installed on
//! this machine, so the image runs this project's test host (`fb-test-host`, crate
//! `fluent-bit-plugin-test-host`) on the config the pod is given. It is not Fluent Bit: it
//! runs the proxy plugins the config names and skips (with `--skip-builtin`) the built-in
//! ones. What it proves on a real kubelet and runc: the chart's `@INCLUDE` of the operator's
//! pipeline file and the operator's directory mount load in a real pod, the delivered plugins
//! load there, and records flow from an input plugin to an output plugin.
//!
//! The image holds the cargo-built `fb-test-host` at [`STANDIN_BINARY`] and every shared
//! library it and the given plugin files need (as `ldd` resolves them on this machine, the
//! dynamic loader included) at their absolute paths; nothing else (no shell, no
//! `/etc/ld.so.cache`: glibc's loader searches its system directories without one).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cluster::Cluster;
use crate::error::{Error, Result};

/// The stand-in's reference in the node's containerd (imported, never pulled: use it with
/// `imagePullPolicy: Never`).
pub const STANDIN_IMAGE: &str = concat!(
    "fbplugin.dev/e2e/fluent-bit-standin:",
    env!("CARGO_PKG_VERSION")
);
/// Where the stand-in image holds the test host (beside where a real Fluent Bit image holds
/// `/fluent-bit/bin/fluent-bit`).
pub const STANDIN_BINARY: &str = "/fluent-bit/bin/fb-test-host";

/// The stand-in image as built: its reference, its files and its size.
#[derive(Debug, Clone)]
pub struct StandIn {
    /// [`STANDIN_IMAGE`].
    pub reference: String,
    /// The image's files (absolute paths in the image) with their sizes in bytes.
    pub files: Vec<(String, u64)>,
    /// The image's size: its layer, config and manifest blobs (the layer is an uncompressed
    /// tar), in bytes.
    pub size: u64,
    image: fbplugin_image::Image,
}

impl StandIn {
    /// Builds the stand-in: the `fb-test-host` binary built with its `wasm` feature
    /// ([`wasm_test_host`]: `[FILTER] Name wasm` sections run in it) plus the shared libraries
    /// of it and of each of `plugins` (dlopen'ed plugins need their libc and libgcc_s in the
    /// image too).
    pub fn build(plugins: &[&Path]) -> Result<StandIn> {
        let binary = wasm_test_host()?;
        let mut objects: Vec<&Path> = vec![&binary];
        objects.extend_from_slice(plugins);
        let mut files: Vec<(String, u32, Vec<u8>)> = vec![(
            STANDIN_BINARY.trim_start_matches('/').to_owned(),
            0o555,
            read(&binary)?,
        )];
        for library in shared_libraries(&objects)? {
            files.push((
                library
                    .display()
                    .to_string()
                    .trim_start_matches('/')
                    .to_owned(),
                0o555,
                read(&library)?,
            ));
        }
        let image = fbplugin_image::Image::from_files(
            "fluent-bit STAND-IN: fbplugin's fb-test-host (e2e only, not Fluent Bit)",
            &files,
            vec![STANDIN_BINARY.to_owned()],
            "0:0",
        )
        .map_err(|e| Error::Invalid(format!("building the stand-in image: {e}")))?;
        Ok(StandIn {
            reference: STANDIN_IMAGE.to_owned(),
            files: files
                .iter()
                .map(|(path, _, bytes)| (format!("/{path}"), bytes.len() as u64))
                .collect(),
            size: image.size(),
            image,
        })
    }

    /// Imports the image into the real node's containerd as [`STANDIN_IMAGE`] (like the pause
    /// image: `ctr -n k8s.io images import`).
    pub fn import(&self, cluster: &Cluster) -> Result<()> {
        let node = cluster
            .node
            .as_ref()
            .ok_or_else(|| Error::Invalid("the stand-in image needs a real node".into()))?;
        let dir = cluster
            .dir()
            .ok_or_else(|| Error::Invalid("no cluster directory".into()))?
            .join("node");
        let archive = fbplugin_image::layout::archive_bytes(&self.image, Some(&self.reference))
            .map_err(|e| Error::Invalid(format!("writing the stand-in image archive: {e}")))?;
        let file = dir.join("fluent-bit-standin.tar");
        std::fs::write(&file, archive).map_err(Error::io(format!("writing {}", file.display())))?;
        let imported = node.ctr_import(&file);
        let _ = std::fs::remove_file(&file);
        imported
    }
}

/// The test host's program built with the crate's `wasm` feature, copied to
/// `target/<profile>/fb-test-host-wasm` (the workspace's own build of `fb-test-host` has no
/// WASM interpreter). cargo decides what to rebuild; a fresh build is a no-op of about a
/// second.
pub fn wasm_test_host() -> Result<PathBuf> {
    let profile_dir = crate::operator_bin::profile_dir()?;
    let (mut command, profile) = crate::operator_bin::cargo_build(
        &profile_dir,
        "fluent-bit-plugin-test-host",
        "fb-test-host",
        &["wasm"],
    )?;
    let out = command.output().map_err(Error::io(
        "running cargo build -p fluent-bit-plugin-test-host",
    ))?;
    let built = profile_dir.join("fb-test-host");
    if !out.status.success() || !built.is_file() {
        return Err(Error::Invalid(format!(
            "cargo build -p fluent-bit-plugin-test-host --features wasm --bin fb-test-host \
             ({profile}) failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    // Copied at once: a later build of the workspace puts the plain one (no wasm) there again.
    let copy = profile_dir.join("fb-test-host-wasm");
    std::fs::copy(&built, &copy).map_err(Error::io(format!(
        "copying {} to {}",
        built.display(),
        copy.display()
    )))?;
    Ok(copy)
}

/// Runs a real Fluent Bit image in the stand-in suites instead of the stand-in: an image
/// reference the node's containerd can pull (the node's registry `127.0.0.1:<port>` over plain
/// HTTP, other registries over HTTPS when the machine has network), or the path of an image
/// archive (OCI layout or `docker save`) that is imported into the node's containerd. The
/// image must run `/fluent-bit/bin/fluent-bit -c <path>` (the official image's layout,
/// [`FLUENT_BIT_BINARY`]).
pub const FLUENT_BIT_IMAGE_ENV: &str = "E2E_FLUENT_BIT_IMAGE";

/// Where a Fluent Bit image holds its binary: the official image's layout.
pub const FLUENT_BIT_BINARY: &str = "/fluent-bit/bin/fluent-bit";

/// What the Fluent Bit container runs in the suites that run the rendered config: the
/// STAND-IN ([`StandIn`]) or, with [`FLUENT_BIT_IMAGE_ENV`], a given Fluent Bit image. Both
/// get the same pod, the same config path and the same checks; only the image, the command
/// and the pull policy differ.
#[derive(Debug, Clone)]
pub enum FluentBit {
    /// The stand-in image, imported into the node's containerd.
    StandIn(Box<StandIn>),
    /// [`FLUENT_BIT_IMAGE_ENV`]'s value: an image reference or an archive's path.
    Given(String),
}

/// The Fluent Bit container's image, pull policy and command, for [`FluentBit::container`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluentBitContainer {
    /// The image reference the pod uses.
    pub image: String,
    /// `Never` for imported images, `IfNotPresent` for a reference to pull.
    pub pull_policy: &'static str,
    /// The container's `command` (its argv; no `args`).
    pub command: Vec<String>,
    /// True for the stand-in (it is not Fluent Bit: it skips the built-in plugins).
    pub is_standin: bool,
}

impl FluentBit {
    /// [`FLUENT_BIT_IMAGE_ENV`] when set (not empty), else the stand-in built for `plugins`
    /// ([`StandIn::build`]).
    pub fn from_env(plugins: &[&Path]) -> Result<FluentBit> {
        match std::env::var(FLUENT_BIT_IMAGE_ENV) {
            Ok(given) if !given.trim().is_empty() => Ok(FluentBit::Given(given.trim().to_owned())),
            _ => Ok(FluentBit::StandIn(Box::new(StandIn::build(plugins)?))),
        }
    }

    /// Makes the image available to the real node of `cluster` (imports the stand-in or a
    /// given archive) and returns the container that runs the config at `config`.
    pub fn container(&self, cluster: &Cluster, config: &str) -> Result<FluentBitContainer> {
        match self {
            FluentBit::StandIn(standin) => {
                standin.import(cluster)?;
                Ok(FluentBitContainer {
                    image: standin.reference.clone(),
                    pull_policy: "Never",
                    command: [
                        STANDIN_BINARY,
                        "run",
                        "-c",
                        config,
                        "--duration",
                        "24h",
                        "--skip-builtin",
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                    is_standin: true,
                })
            }
            FluentBit::Given(given) => {
                let archive = Path::new(given);
                let (image, pull_policy) = if archive.is_file() {
                    let node = cluster.node.as_ref().ok_or_else(|| {
                        Error::Invalid(format!(
                            "{FLUENT_BIT_IMAGE_ENV}: no real node to import into"
                        ))
                    })?;
                    let names = node.ctr_import_names(archive)?;
                    let name = names.first().cloned().ok_or_else(|| {
                        Error::Invalid(format!(
                            "{FLUENT_BIT_IMAGE_ENV}={given}: the archive names no image"
                        ))
                    })?;
                    (name, "Never")
                } else {
                    (given.clone(), "IfNotPresent")
                };
                Ok(FluentBitContainer {
                    image,
                    pull_policy,
                    command: vec![
                        FLUENT_BIT_BINARY.to_owned(),
                        "-c".to_owned(),
                        config.to_owned(),
                    ],
                    is_standin: false,
                })
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())))
}

/// The shared libraries `objects` (executables or shared objects) load, as `ldd` resolves
/// them here, the dynamic loader included; each path once, in first-seen order.
pub fn shared_libraries(objects: &[&Path]) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = Vec::new();
    for object in objects {
        let out = Command::new("ldd")
            .arg(object)
            .output()
            .map_err(Error::io(format!("running ldd {}", object.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "ldd {} failed ({}): {text}{}",
                object.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        for library in parse_ldd(&text)
            .map_err(|e| Error::Invalid(format!("ldd {}: {e}\n{text}", object.display())))?
        {
            if !found.contains(&library) {
                found.push(library);
            }
        }
    }
    Ok(found)
}

/// The absolute paths in `ldd` output: `name => /path (0x…)` and the loader's `/path (0x…)`;
/// the vDSO (no file) is left out, `not found` is an error.
fn parse_ldd(text: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.contains("statically linked") {
            continue;
        }
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(format!("{} is not found", name.trim()));
                }
                rest
            }
            None => line,
        };
        let path = target.split_whitespace().next().unwrap_or_default();
        if path.starts_with('/') {
            paths.push(PathBuf::from(path));
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_the_libraries_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f40)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f41)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f42)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
        assert!(parse_ldd("\tlibfoo.so => not found\n").is_err());
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
    }
}
