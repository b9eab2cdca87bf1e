//! `operator render`: CR files in, ConfigMaps and DaemonSet apply intents out, no cluster.
//!
//! The same pure path the controller uses: group the plugins by target DaemonSet,
//! [`render_daemonset`], then [`workload`] intents.

use std::path::{Path, PathBuf};

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use serde::Deserialize;
use serde_json::Value;

use crate::render::render_daemonset;
use crate::workload::{self, Owner};

/// A plugin and where it was read from.
#[derive(Debug, Clone)]
pub struct Source {
    /// `file` or `file#N` for the N-th document (from 1) of a multi-document file.
    pub origin: String,
    /// The object, with `metadata.namespace` defaulted to `default`.
    pub plugin: FluentBitPlugin,
}

/// Reading the inputs failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A document is not YAML, or not a FluentBitPlugin / DaemonSet of the expected shape.
    #[error("{origin}: {message}")]
    Decode {
        /// `file#N`.
        origin: String,
        /// What the decoder said.
        message: String,
    },
}

/// Reads every `FluentBitPlugin` in the given files and directories (recursively, `*.yaml` and
/// `*.yml`, in name order). Documents of other kinds are skipped.
pub fn load_plugins(paths: &[PathBuf]) -> Result<Vec<Source>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files)?;
    }
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
            path: file.clone(),
            source,
        })?;
        out.extend(parse_plugins(&file.display().to_string(), &text)?);
    }
    Ok(out)
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for entry in entries {
        let yaml = matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if entry.is_dir() || yaml {
            collect_files(&entry, out)?;
        }
    }
    Ok(())
}

/// Parses the `FluentBitPlugin` documents of one YAML text.
pub fn parse_plugins(file: &str, text: &str) -> Result<Vec<Source>, LoadError> {
    let mut out = Vec::new();
    for (n, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let origin = format!("{file}#{}", n + 1);
        let decode = |e: &dyn std::fmt::Display| LoadError::Decode {
            origin: origin.clone(),
            message: e.to_string(),
        };
        let value = Value::deserialize(document).map_err(|e| decode(&e))?;
        if value.is_null() || value.get("kind").and_then(Value::as_str) != Some("FluentBitPlugin") {
            continue;
        }
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if api_version != "fbplugin.dev/v1alpha1" {
            return Err(decode(&format!(
                "apiVersion {api_version:?} is not fbplugin.dev/v1alpha1"
            )));
        }
        let mut plugin: FluentBitPlugin = serde_json::from_value(value).map_err(|e| decode(&e))?;
        plugin
            .metadata
            .namespace
            .get_or_insert_with(|| "default".into());
        out.push(Source { origin, plugin });
    }
    Ok(out)
}

/// Parses a DaemonSet YAML document.
pub fn parse_daemonset(file: &str, text: &str) -> Result<DaemonSet, LoadError> {
    serde_norway::from_str(text).map_err(|e| LoadError::Decode {
        origin: file.into(),
        message: format!("not a DaemonSet: {e}"),
    })
}

/// The result of an offline render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The manifests, as a multi-document YAML stream (ConfigMap, then DaemonSet intent, per
    /// DaemonSet in (namespace, name) order).
    pub manifests: String,
    /// One line per problem: `origin: namespace/name: field: message (Reason)`; notes that do
    /// not block are prefixed with `note: `.
    pub messages: Vec<String>,
    /// True when at least one plugin was left out.
    pub failed: bool,
}

/// Renders every DaemonSet the plugins target. `daemonset`, when given, supplies the owner uid
/// of its ConfigMap and is checked for the target container; `base_config` is the DaemonSet's
/// own main config text (empty when not given).
pub fn render(
    sources: &[Source],
    daemonset: Option<&DaemonSet>,
    base_config: &str,
) -> Result<Output, serde_norway::Error> {
    let groups = crate::render::by_daemonset(sources.iter().map(|s| &s.plugin));
    let mut output = Output {
        manifests: String::new(),
        messages: Vec::new(),
        failed: false,
    };
    for ((namespace, ds_name), plugins) in groups {
        let group: Vec<&Source> = plugins
            .iter()
            .filter_map(|p| sources.iter().find(|s| std::ptr::eq(&s.plugin, *p)))
            .collect();
        let result = render_daemonset(base_config, &plugins);
        let ds = daemonset.filter(|d| {
            d.metadata.name.as_deref() == Some(ds_name.as_str())
                && d.metadata.namespace.as_deref().unwrap_or("default") == namespace
        });
        let mut target_error = None;
        if let (Some(ds), Some(first)) = (ds, result.included(&plugins).first()) {
            let t = &first.spec.target;
            target_error = workload::base_config_source(ds, t.container_name(), t.config_path())
                .err()
                .map(|e| e.to_string());
        }
        for (source, outcome) in group.iter().zip(&result.outcomes) {
            let who = crate::validate::object_key(&source.plugin);
            for p in &outcome.problems {
                let note = if p.blocking { "" } else { "note: " };
                output
                    .messages
                    .push(format!("{note}{}: {who}: {p}", source.origin));
            }
            output.failed |= !outcome.included;
        }
        if let Some(err) = target_error {
            output
                .messages
                .push(format!("DaemonSet {namespace}/{ds_name}: {err}"));
            output.failed = true;
            continue;
        }
        let owner = ds.and_then(|d| {
            Some(Owner {
                name: ds_name.clone(),
                uid: d.metadata.uid.clone()?,
            })
        });
        let intent = match &result.rendered {
            Some(rendered) => {
                let cm = workload::configmap_intent(&ds_name, &namespace, owner.as_ref(), rendered);
                push_document(&mut output.manifests, &cm)?;
                workload::daemonset_intent(
                    &ds_name,
                    &namespace,
                    &result.included(&plugins),
                    &rendered.hash,
                )
            }
            None => workload::empty_daemonset_intent(&ds_name, &namespace),
        };
        push_document(&mut output.manifests, &intent)?;
    }
    Ok(output)
}

fn push_document(out: &mut String, value: &Value) -> Result<(), serde_norway::Error> {
    out.push_str("---\n");
    out.push_str(&serde_norway::to_string(value)?);
    Ok(())
}
