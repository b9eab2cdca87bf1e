//! Checks of what a user installs: the Helm chart `charts/fbplugin-operator`, the images'
//! Dockerfiles and the kind flow script. The tests live in `tests/`; this library holds what
//! they share, and what other suites (e2e) can use to render the chart:
//!
//! - [`helm`]: a real helm v4 binary, from `PATH` or fetched once into a cache.
//! - [`manifest`]: rendered YAML → typed `k8s-openapi` objects, unknown fields being errors.
//! - [`classic`]: Fluent Bit classic-config grammar checks for the rendered `fluent-bit.conf`.
//! - [`template`]: `helm template` of the chart with value overrides, parsed.

pub mod classic;
pub mod helm;
pub mod manifest;

use std::path::{Path, PathBuf};

use manifest::Object;

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    workspace_root().join("charts").join("fbplugin-operator")
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Renders the chart (with its CRD) as release `release` in `namespace` with `--set`
/// overrides, and parses every object strictly. `Err` carries helm's or the parser's message.
pub fn template(
    helm: &Path,
    release: &str,
    namespace: &str,
    sets: &[&str],
) -> Result<Vec<Object>, String> {
    let chart = chart_dir();
    let chart = chart.to_string_lossy();
    let mut args = vec![
        "template",
        release,
        &chart,
        "--namespace",
        namespace,
        "--include-crds",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let out = helm::run(helm, &args).map_err(|e| format!("cannot run {}: {e}", helm.display()))?;
    if !out.success {
        return Err(format!("helm {}: {}", args.join(" "), out.stderr.trim()));
    }
    manifest::parse(&out.stdout).map_err(|e| format!("helm {}: {e}", args.join(" ")))
}
