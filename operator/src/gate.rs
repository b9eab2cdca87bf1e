//! The operator is a gate: who may put which code into which DaemonSet. Pure.
//!
//! A plugin is native code inside the log collector, which reads every log on every node, and
//! the operator writes with its own account. So before anything is applied:
//!
//! - **The DaemonSet's owner opts in** ([`opt_in`]), on the DaemonSet itself:
//!   - label [`OPT_IN_LABEL`]`: "true"`: plugins may be added to this DaemonSet;
//!   - annotation [`CONTAINER_ANNOTATION`]: the one container plugins may use;
//!   - annotation [`CONFIG_PATH_ANNOTATION`]: the main config file Fluent Bit reads, which the
//!     owner makes include the operator's pipeline file ([`crate::layout::include_path`]);
//!     the operator reads it (never writes it) to check that include;
//!   - annotation [`PULL_SECRETS_ANNOTATION`] (optional): comma-separated Secret names a plugin
//!     may add as image pull secrets of the DaemonSet's pods; none when absent.
//!
//!   A DaemonSet without the label, or with it but without the two annotations, gets nothing
//!   added (the plugins' status names what the owner must add); the only
//!   write it can see is the removal of fields the operator added while it was opted in. A
//!   plugin asking for another container, config path or pull secret is refused
//!   ([`admit`]). Plugins target DaemonSets of their own namespace only: there is no
//!   cross-namespace targeting, so the namespaces a DaemonSet accepts plugins from are exactly
//!   its own.
//! - **Images come from repositories the admin allowed** ([`ImagePolicy`], the operator's
//!   `--allowed-image-repository` flags). Empty refuses every image: no registry is trusted
//!   by default, because trusting one (say `ghcr.io/`) would let anyone who can push there
//!   and create a `FluentBitPlugin` run code in the collector.
//!
//! (Object names that would clash with or not fit the verify steps' container names are
//! single-object rules: [`fbplugin_crds::rules::RESERVED_NAME_PREFIX`] and
//! [`fbplugin_crds::rules::MAX_OBJECT_NAME_LEN`], checked by the CRD and by validation.)

use std::collections::BTreeMap;

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;

use crate::validate::{Problem, Reason};

/// The opt-in label and annotations, re-exported from their home [`crate::layout`].
pub use crate::layout::{
    CONFIG_PATH_ANNOTATION, CONTAINER_ANNOTATION, OPT_IN_LABEL, PULL_SECRETS_ANNOTATION,
};
/// Whether a problem is the gate's, re-exported from [`crate::validate`] (which needs it for
/// the `Accepted` condition).
pub use crate::validate::is_gate_reason;

/// What the DaemonSet's owner allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptIn {
    /// The container plugins may use ([`CONTAINER_ANNOTATION`]).
    pub container: String,
    /// The main config file Fluent Bit reads ([`CONFIG_PATH_ANNOTATION`]).
    pub config_path: String,
    /// Secrets plugins may name as pull secrets ([`PULL_SECRETS_ANNOTATION`]).
    pub pull_secrets: Vec<String>,
}

/// The DaemonSet has not opted in (or not completely); the message says what its owner must
/// add.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "DaemonSet {daemonset} does not accept plugins: its owner must add {missing} (the operator \
     writes only to DaemonSets that opt in; with the official fluent-bit chart set them through \
     its `labels` and `annotations` values)"
)]
pub struct NotOptedIn {
    /// `namespace/name`.
    pub daemonset: String,
    /// What is missing, e.g. ``the label `fbplugin.dev/accept-plugins: "true"` ``.
    pub missing: String,
}

/// Reads the owner's opt-in from the DaemonSet's metadata.
pub fn opt_in(ds: &DaemonSet) -> Result<OptIn, NotOptedIn> {
    let empty = BTreeMap::new();
    let labels = ds.metadata.labels.as_ref().unwrap_or(&empty);
    let annotations = ds.metadata.annotations.as_ref().unwrap_or(&empty);
    let daemonset = format!(
        "{}/{}",
        ds.metadata.namespace.as_deref().unwrap_or_default(),
        ds.metadata.name.as_deref().unwrap_or_default()
    );
    let mut missing = Vec::new();
    if labels.get(OPT_IN_LABEL).map(String::as_str) != Some("true") {
        missing.push(format!("the label `{OPT_IN_LABEL}: \"true\"`"));
    }
    let annotation = |key: &str| {
        annotations
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let container = annotation(CONTAINER_ANNOTATION);
    if container.is_none() {
        missing.push(format!(
            "the annotation `{CONTAINER_ANNOTATION}: <the Fluent Bit container>`"
        ));
    }
    let config_path = annotation(CONFIG_PATH_ANNOTATION);
    if config_path.is_none() {
        missing.push(format!(
            "the annotation `{CONFIG_PATH_ANNOTATION}: <the main config file it reads>`"
        ));
    }
    match (container, config_path) {
        (Some(container), Some(config_path)) if missing.is_empty() => Ok(OptIn {
            container,
            config_path,
            pull_secrets: annotation(PULL_SECRETS_ANNOTATION)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }),
        _ => Err(NotOptedIn {
            daemonset,
            missing: missing.join(" and "),
        }),
    }
}

/// The image repositories the admin allows (`--allowed-image-repository`).
///
/// An entry is a repository (`ghcr.io/acme/out-jsonl`: that repository only) or a prefix
/// ending in `/` (`ghcr.io/acme/`: every repository below it). Docker Hub names are
/// normalized on both sides (`busybox` is `docker.io/library/busybox`). The tag and digest of
/// an image are not part of its repository; digests stay mandatory ([`crate::validate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePolicy {
    entries: Vec<String>,
}

impl ImagePolicy {
    /// A policy allowing exactly `entries` (empty: no image at all).
    pub fn new<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Self {
        ImagePolicy {
            entries: entries
                .into_iter()
                .map(|e| e.as_ref().trim().to_string())
                .filter(|e| !e.is_empty())
                .map(|e| match e.strip_suffix('/') {
                    // `registry.example/` is a registry, `acme/` a Docker Hub namespace.
                    Some(prefix) if is_registry(prefix.split('/').next().unwrap_or_default()) => {
                        format!("{}/", prefix.to_ascii_lowercase())
                    }
                    Some(prefix) => format!("docker.io/{}/", prefix.to_ascii_lowercase()),
                    None => normalize(&e),
                })
                .collect(),
        }
    }

    /// The entries, normalized.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Whether `image` (a full reference) comes from an allowed repository.
    pub fn allows(&self, image: &str) -> bool {
        let repository = normalize(repository_of(image));
        self.entries.iter().any(|e| match e.strip_suffix('/') {
            Some(prefix) => repository
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/')),
            None => *e == repository,
        })
    }
}

/// The repository of an image reference: without `@digest` and without `:tag`.
pub fn repository_of(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or_default();
    match name.rfind(':') {
        // A colon after the last slash is a tag; before it, a registry port.
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

/// Whether the first component of a reference names a registry (rather than a Docker Hub
/// namespace), as Docker decides it.
fn is_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

fn normalize(repository: &str) -> String {
    let repository = repository.to_ascii_lowercase();
    let first = repository.split('/').next().unwrap_or_default();
    let has_registry = repository.contains('/') && is_registry(first);
    if has_registry {
        repository
    } else if repository.contains('/') {
        format!("docker.io/{repository}")
    } else {
        format!("docker.io/library/{repository}")
    }
}

/// Everything that keeps one plugin out of a DaemonSet although its spec is valid: the image
/// is not allowed, or it asks for a container, config path or pull secret the DaemonSet's
/// owner did not list (`opt_in` is `None` when the DaemonSet is not known, as offline).
pub fn admit(
    plugin: &FluentBitPlugin,
    opt_in: Option<&OptIn>,
    images: &ImagePolicy,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let image = &plugin.spec.artifact.image;
    if !images.allows(image) {
        let allowed = if images.entries().is_empty() {
            "the operator allows no image repository yet: the cluster admin must list the \
             trusted ones (operator flag --allowed-image-repository, chart value \
             allowedImageRepositories)"
                .to_string()
        } else {
            format!(
                "the operator allows only {}: push the image there, or ask the cluster admin \
                 to add its repository (--allowed-image-repository, chart value \
                 allowedImageRepositories)",
                images.entries().join(", ")
            )
        };
        problems.push(Problem::new(
            "spec.artifact.image",
            Reason::ImageNotAllowed,
            format!(
                "repository {} is not allowed; {allowed}",
                repository_of(image)
            ),
        ));
    }
    let Some(opt_in) = opt_in else {
        return problems;
    };
    let target = &plugin.spec.target;
    let daemonset = &target.daemon_set;
    if target.container_name() != opt_in.container {
        problems.push(Problem::new(
            "spec.target.container",
            Reason::TargetNotAllowed,
            format!(
                "DaemonSet {daemonset} lets plugins use container {:?} only (annotation \
                 {CONTAINER_ANNOTATION}); set spec.target.container: {}, or ask the \
                 DaemonSet's owner to change the annotation",
                opt_in.container, opt_in.container
            ),
        ));
    }
    if target.config_path() != opt_in.config_path {
        problems.push(Problem::new(
            "spec.target.configPath",
            Reason::TargetNotAllowed,
            format!(
                "DaemonSet {daemonset} lets plugins extend {} only (annotation \
                 {CONFIG_PATH_ANNOTATION}); set spec.target.configPath: {}, or ask the \
                 DaemonSet's owner to change the annotation",
                opt_in.config_path, opt_in.config_path
            ),
        ));
    }
    for (i, secret) in plugin.spec.artifact.image_pull_secrets.iter().enumerate() {
        if !opt_in.pull_secrets.contains(&secret.name) {
            problems.push(Problem::new(
                format!("spec.artifact.imagePullSecrets[{i}].name"),
                Reason::PullSecretNotAllowed,
                format!(
                    "DaemonSet {daemonset}'s owner does not let plugins use Secret {:?} as a \
                     pull secret (annotation {PULL_SECRETS_ANNOTATION} lists {}): remove it, or \
                     ask the owner to list it",
                    secret.name,
                    if opt_in.pull_secrets.is_empty() {
                        "none".to_string()
                    } else {
                        opt_in.pull_secrets.join(", ")
                    }
                ),
            ));
        }
    }
    problems
}
