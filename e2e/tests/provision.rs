//! The provisioning script: a refused download is reported as such, a cached run is instant.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Error, PROVISION_SCRIPT, cache_dir, ensure_binaries};

#[test]
fn a_refused_download_exits_3_with_a_message_saying_what_to_do() -> Result<(), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::Invalid(e.to_string()))?;
    let target = dir.path().join("kube");
    // Nothing listens on port 9 of loopback: every download is refused at once.
    let output = Command::new("bash")
        .arg(PROVISION_SCRIPT)
        .env("FBPLUGIN_KUBE_DIR", &target)
        .env("FBPLUGIN_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
        .env("FBPLUGIN_APT_RETRIES", "0")
        .output()
        .map_err(|e| Error::Invalid(format!("running {PROVISION_SCRIPT}: {e}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("downloading package lists failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("E2E_KUBECONFIG"),
        "the message offers the way out: {stderr}"
    );
    assert!(!target.join("complete").exists());
    Ok(())
}

#[test]
fn a_provisioned_cache_is_reused_in_seconds() -> Result<(), Error> {
    let bins = match ensure_binaries() {
        Ok(bins) => bins,
        Err(e) => return e2e::skip_unavailable(e),
    };
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(PROVISION_SCRIPT)
        .env("FBPLUGIN_KUBE_DIR", cache_dir()?)
        .output()
        .map_err(|e| Error::Invalid(format!("running {PROVISION_SCRIPT}: {e}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("already provisioned"), "{stderr}");
    assert!(
        // Well under a second in practice; building the binaries takes many minutes.
        started.elapsed() < Duration::from_secs(60),
        "a cached run took {:?}",
        started.elapsed()
    );
    let version = Command::new(&bins.apiserver)
        .arg("--version")
        .output()
        .map_err(|e| Error::Invalid(format!("running {}: {e}", bins.apiserver.display())))?;
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("Kubernetes v{}", e2e::KUBE_VERSION)
    );
    Ok(())
}

/// Runs the cached-reuse test of this binary in a child process whose control plane cannot be
/// provisioned (empty cache, refused downloads).
fn run_unprovisionable(ci: Option<&str>) -> Result<(bool, String), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::Invalid(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| Error::Invalid(e.to_string()))?;
    let mut command = Command::new(exe);
    command
        .args([
            "--exact",
            "a_provisioned_cache_is_reused_in_seconds",
            "--nocapture",
        ])
        .env("FBPLUGIN_KUBE_DIR", dir.path().join("kube"))
        .env("FBPLUGIN_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
        .env("FBPLUGIN_APT_RETRIES", "0")
        .env_remove("E2E_REQUIRE_CLUSTER")
        .env_remove("CI");
    if let Some(value) = ci {
        command.env("CI", value);
    }
    let output = command
        .output()
        .map_err(|e| Error::Invalid(format!("running the child test: {e}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

#[test]
fn without_a_control_plane_tests_skip_loudly_and_ci_fails_them() -> Result<(), Error> {
    let (passed, output) = run_unprovisionable(None)?;
    assert!(passed, "{output}");
    assert!(
        output.contains(
            "SKIPPED a_provisioned_cache_is_reused_in_seconds: local control plane unavailable"
        ),
        "the skip names the test and the reason: {output}"
    );
    let (passed, output) = run_unprovisionable(Some("true"))?;
    assert!(
        !passed,
        "under CI an unavailable control plane fails the test: {output}"
    );
    assert!(
        output.contains("local control plane unavailable"),
        "{output}"
    );
    Ok(())
}
