//! Checks of what a user installs: the Helm chart `charts/fbplugin-operator`, the images'
//! Dockerfiles and the kind flow script. The tests live in `tests/`; this library holds what
//! they share, and what other suites (e2e) can use to render the chart:
//!
//! - [`helm`]: a real helm v4 binary, from `PATH` or fetched once into a cache.
//! - [`manifest`]: rendered YAML → typed `k8s-openapi` objects, unknown fields being errors.
//! - [`classic`]: Fluent Bit classic-config grammar checks for the rendered `fluent-bit.conf`.
//! - [`template`], [`template_values`], [`template_chart`]: `helm template` of the chart (or a
//!   copy of it) with value overrides, parsed.

pub mod classic;
pub mod helm;
pub mod manifest;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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
    template_chart(helm, &chart_dir(), release, namespace, None, sets)
}

/// [`template`] with a values file (its YAML text) before the `--set` overrides, for values
/// `--set` cannot spell well (lists of objects, multi-line strings).
pub fn template_values(
    helm: &Path,
    release: &str,
    namespace: &str,
    values: &str,
    sets: &[&str],
) -> Result<Vec<Object>, String> {
    template_chart(helm, &chart_dir(), release, namespace, Some(values), sets)
}

/// [`template`] of the chart in `chart` (a copy, say), with an optional values file.
pub fn template_chart(
    helm: &Path,
    chart: &Path,
    release: &str,
    namespace: &str,
    values: Option<&str>,
    sets: &[&str],
) -> Result<Vec<Object>, String> {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let values_file = values
        .map(|text| {
            let n = FILES.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "fbplugin-chart-values-{}-{n}.yaml",
                std::process::id()
            ));
            std::fs::write(&path, text)
                .map(|()| path.to_string_lossy().into_owned())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        })
        .transpose()?;
    let chart = chart.to_string_lossy();
    let mut args = vec![
        "template",
        release,
        &chart,
        "--namespace",
        namespace,
        "--include-crds",
    ];
    if let Some(file) = &values_file {
        args.extend(["--values", file]);
    }
    for set in sets {
        args.extend(["--set", set]);
    }
    let out = helm::run(helm, &args);
    if let Some(file) = &values_file {
        let _ = std::fs::remove_file(file);
    }
    let out = out.map_err(|e| format!("cannot run {}: {e}", helm.display()))?;
    if !out.success {
        return Err(format!("helm {}: {}", args.join(" "), out.stderr.trim()));
    }
    manifest::parse(&out.stdout).map_err(|e| format!("helm {}: {e}", args.join(" ")))
}
