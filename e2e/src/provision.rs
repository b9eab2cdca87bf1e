//! Finding the control-plane binaries, provisioning them on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The Kubernetes version the local control plane runs.
pub const KUBE_VERSION: &str = "1.20.2";

/// The provisioning script shipped with this crate.
pub const PROVISION_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/control-plane/provision.sh");

/// Where the four binaries live once provisioned.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `etcd`
    pub etcd: PathBuf,
    /// `kube-apiserver`
    pub apiserver: PathBuf,
    /// `kube-controller-manager`
    pub controller_manager: PathBuf,
    /// `kube-scheduler`
    pub scheduler: PathBuf,
    /// `kubelet` (absent in a cache from before the real node: [`ensure_kubelet`] builds it).
    pub kubelet: PathBuf,
}

/// The per-version cache directory: `$FBPLUGIN_KUBE_DIR`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/kube-1.20.2` (the same rule as the script).
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FBPLUGIN_KUBE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    Ok(cache_root()?.join(format!("kube-{KUBE_VERSION}")))
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin`: where every provisioned tool is cached per version.
pub(crate) fn cache_root() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".cache"),
            None => {
                return Err(Error::Unavailable(
                    "neither XDG_CACHE_HOME nor HOME is set, so there is no cache for the control plane binaries".into(),
                ));
            }
        },
    };
    Ok(base.join("fbplugin"))
}

fn binaries_in(dir: &Path) -> Option<Binaries> {
    let bin = dir.join("bin");
    let found = Binaries {
        etcd: bin.join("etcd"),
        apiserver: bin.join("kube-apiserver"),
        controller_manager: bin.join("kube-controller-manager"),
        scheduler: bin.join("kube-scheduler"),
        kubelet: bin.join("kubelet"),
    };
    let all = [
        &found.etcd,
        &found.apiserver,
        &found.controller_manager,
        &found.scheduler,
    ];
    (dir.join("complete").is_file() && all.iter().all(|p| p.is_file())).then_some(found)
}

/// Returns the binaries, running the provisioning script first when the cache is not complete.
///
/// The script's progress goes to this process's stderr (it takes minutes the first time). Its
/// exit code 3 (download refused, not Debian) becomes [`Error::Unavailable`].
pub fn ensure_binaries() -> Result<Binaries> {
    ensure(false)
}

/// Like [`ensure_binaries`], and the kubelet too: a cache from before the real node (no
/// kubelet) makes the script build only the kubelet into it.
pub fn ensure_kubelet() -> Result<Binaries> {
    ensure(true)
}

fn ensure(kubelet: bool) -> Result<Binaries> {
    let dir = cache_dir()?;
    if let Some(found) = binaries_in(&dir)
        && (!kubelet || found.kubelet.is_file())
    {
        return Ok(found);
    }
    eprintln!(
        "e2e: control plane {KUBE_VERSION} not in {}; provisioning it with {PROVISION_SCRIPT}",
        dir.display()
    );
    let status = Command::new("bash")
        .arg(PROVISION_SCRIPT)
        .env("FBPLUGIN_KUBE_DIR", &dir)
        .status()
        .map_err(|e| Error::Unavailable(format!("cannot run bash {PROVISION_SCRIPT}: {e}")))?;
    match status.code() {
        Some(0) => binaries_in(&dir)
            .filter(|b| !kubelet || b.kubelet.is_file())
            .ok_or_else(|| {
            Error::Invalid(format!(
                "{PROVISION_SCRIPT} succeeded but {} lacks bin/{{etcd,kube-apiserver,kube-controller-manager,kube-scheduler}} or the `complete` stamp",
                dir.display()
            ))
        }),
        Some(3) => Err(Error::Unavailable(format!(
            "{PROVISION_SCRIPT} could not download what it needs (its output above says what)"
        ))),
        _ => Err(Error::Invalid(format!(
            "{PROVISION_SCRIPT} failed with {status}; its output above says where (the build log is under {}.work)",
            dir.display()
        ))),
    }
}
