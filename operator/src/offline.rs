//! `operator render`: CR files in, ConfigMaps and DaemonSet apply intents out, no cluster.
//!
//! The same pure path the controller uses: group the plugins by target DaemonSet, then
//! [`crate::plan::plan`] per DaemonSet (validation, the gate, render and the workload
//! intents). Input is read as strictly as the API server would: see [`parse_plugins`].

use std::path::{Path, PathBuf};

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use serde::Deserialize;
use serde_json::Value;

use crate::gate::ImagePolicy;
use crate::plan::{self, ConfigMapStep, Observed, Target};
use crate::render::yaml::too_deep;
use crate::status::ApplyState;
use crate::workload;

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

/// Largest input file `operator render` reads (the API server takes at most about 3 MiB per
/// request and etcd 1.5 MiB per object; a FluentBitPlugin is far smaller).
pub const MAX_INPUT_BYTES: u64 = 1024 * 1024;
/// Deepest nesting accepted in a document, re-exported from [`crate::render::yaml`] (which
/// bounds the DaemonSet owner's YAML config the same way).
pub use crate::render::yaml::MAX_DEPTH;

/// Reads every `FluentBitPlugin` in the given files and directories (recursively, `*.yaml` and
/// `*.yml`, in name order). Documents of other kinds are skipped. Files larger than
/// [`MAX_INPUT_BYTES`] are refused before they are read.
pub fn load_plugins(paths: &[PathBuf]) -> Result<Vec<Source>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files)?;
    }
    let mut out = Vec::new();
    for file in files {
        let text = read_bounded(&file)?;
        out.extend(parse_plugins(&file.display().to_string(), &text)?);
    }
    Ok(out)
}

/// Reads a text file of at most [`MAX_INPUT_BYTES`].
pub fn read_bounded(file: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    let io = |source| LoadError::Io {
        path: file.to_path_buf(),
        source,
    };
    let handle = std::fs::File::open(file).map_err(io)?;
    let mut text = String::new();
    handle
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(LoadError::Decode {
            origin: file.display().to_string(),
            message: format!(
                "the file is larger than {MAX_INPUT_BYTES} bytes; split it or remove what is \
                 not a FluentBitPlugin"
            ),
        });
    }
    Ok(text)
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

/// Parses the `FluentBitPlugin` documents of one YAML text, as strictly as the API server:
/// at most [`MAX_INPUT_BYTES`], nesting at most [`MAX_DEPTH`], no duplicate keys (the API
/// server refuses them; a YAML decoder would keep the last silently), `metadata.name` a DNS
/// subdomain and `metadata.namespace` a DNS label (both end up in the rendered config).
pub fn parse_plugins(file: &str, text: &str) -> Result<Vec<Source>, LoadError> {
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(LoadError::Decode {
            origin: file.into(),
            message: format!("the input is larger than {MAX_INPUT_BYTES} bytes"),
        });
    }
    if let Some(line) = too_deep(text) {
        return Err(LoadError::Decode {
            origin: file.into(),
            message: format!(
                "line {line}: nested deeper than {MAX_DEPTH} levels; a FluentBitPlugin needs 6"
            ),
        });
    }
    let mut out = Vec::new();
    for (n, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let origin = format!("{file}#{}", n + 1);
        let decode = |e: &dyn std::fmt::Display| LoadError::Decode {
            origin: origin.clone(),
            message: e.to_string(),
        };
        // serde_norway's own Value refuses duplicate keys ("duplicate entry with key ...").
        let yaml = serde_norway::Value::deserialize(document).map_err(|e| decode(&e))?;
        if depth(&yaml) > MAX_DEPTH {
            return Err(decode(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let value = serde_json::to_value(&yaml).map_err(|e| decode(&e))?;
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
        if let Some(problem) = metadata_problem(&plugin) {
            return Err(decode(&problem));
        }
        out.push(Source { origin, plugin });
    }
    Ok(out)
}

/// What the API server would refuse in `metadata.name` / `metadata.namespace`.
fn metadata_problem(plugin: &FluentBitPlugin) -> Option<String> {
    let name = plugin.metadata.name.as_deref().unwrap_or_default();
    let namespace = plugin.metadata.namespace.as_deref().unwrap_or_default();
    if !is_dns_subdomain(name) {
        return Some(format!(
            "metadata.name {name:?} is not a DNS subdomain (1-253 characters of a-z 0-9 - ., \
             each part starting and ending with a letter or digit), as the API server requires"
        ));
    }
    if !fbplugin_crds::rules::is_dns_label(namespace) {
        return Some(format!(
            "metadata.namespace {namespace:?} is not a DNS label (1-63 characters of a-z 0-9 -, \
             starting and ending with a letter or digit), as the API server requires"
        ));
    }
    None
}

fn is_dns_subdomain(name: &str) -> bool {
    (1..=253).contains(&name.len()) && name.split('.').all(fbplugin_crds::rules::is_dns_label)
}

fn depth(value: &serde_norway::Value) -> usize {
    match value {
        serde_norway::Value::Sequence(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_norway::Value::Mapping(map) => {
            1 + map
                .iter()
                .map(|(k, v)| depth(k).max(depth(v)))
                .max()
                .unwrap_or(0)
        }
        serde_norway::Value::Tagged(tagged) => depth(&tagged.value),
        _ => 0,
    }
}

/// What a `--daemonset` file holds: one DaemonSet YAML, or what `helm template` prints (every
/// document; the DaemonSets and ConfigMaps are kept, other kinds skipped).
#[derive(Debug, Clone, Default)]
pub struct Workloads {
    /// The DaemonSets, in file order.
    pub daemonsets: Vec<DaemonSet>,
    /// The ConfigMaps, in file order: where a DaemonSet's own config is found.
    pub configmaps: Vec<k8s_openapi::api::core::v1::ConfigMap>,
}

impl Workloads {
    /// The DaemonSet to render for: the first one a plugin targets, else the only one.
    pub fn target(&self, sources: &[Source]) -> Option<&DaemonSet> {
        let targeted = self.daemonsets.iter().find(|ds| {
            sources.iter().any(|s| {
                Some(s.plugin.spec.target.daemon_set.as_str()) == ds.metadata.name.as_deref()
            })
        });
        targeted.or(match self.daemonsets.as_slice() {
            [only] => Some(only),
            _ => None,
        })
    }

    /// The text of `ds`'s own main config, read the way the controller reads it (the key of
    /// the ConfigMap its opted-in container mounts at its config path), with where it was
    /// found (`ConfigMap <name> key <key>`); `None` when this file does not hold it.
    pub fn base_config(&self, ds: &DaemonSet) -> Option<(String, String)> {
        let source = plan::base_config_source(ds)?;
        let namespace = ds.metadata.namespace.as_deref().unwrap_or("default");
        let cm = self.configmaps.iter().find(|cm| {
            cm.metadata.name.as_deref() == Some(source.configmap.as_str())
                && cm.metadata.namespace.as_deref().unwrap_or(namespace) == namespace
        })?;
        let text = cm.data.as_ref()?.get(&source.key)?.clone();
        Some((
            text,
            format!("ConfigMap {} key {}", source.configmap, source.key),
        ))
    }
}

/// Reads a `--daemonset` file: a DaemonSet, or several documents (`helm template` output).
/// Bounded like [`parse_plugins`].
pub fn parse_workloads(file: &str, text: &str) -> Result<Workloads, LoadError> {
    let decode = |origin: String, message: String| LoadError::Decode { origin, message };
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(decode(
            file.into(),
            format!("the input is larger than {MAX_INPUT_BYTES} bytes"),
        ));
    }
    if let Some(line) = too_deep(text) {
        return Err(decode(
            file.into(),
            format!("line {line}: nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut out = Workloads::default();
    for (n, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let origin = format!("{file}#{}", n + 1);
        let yaml = serde_norway::Value::deserialize(document)
            .map_err(|e| decode(origin.clone(), e.to_string()))?;
        let value =
            serde_json::to_value(&yaml).map_err(|e| decode(origin.clone(), e.to_string()))?;
        match value.get("kind").and_then(Value::as_str) {
            Some("DaemonSet") => out.daemonsets.push(
                serde_json::from_value(value)
                    .map_err(|e| decode(origin.clone(), format!("not a DaemonSet: {e}")))?,
            ),
            Some("ConfigMap") => out.configmaps.push(
                serde_json::from_value(value)
                    .map_err(|e| decode(origin.clone(), format!("not a ConfigMap: {e}")))?,
            ),
            _ => {}
        }
    }
    if out.daemonsets.is_empty() {
        return Err(decode(
            file.into(),
            "holds no DaemonSet (give the DaemonSet's YAML, or `helm template` output)".into(),
        ));
    }
    Ok(out)
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
/// own main config text (empty when not given). No image allow-list is applied: see
/// [`render_checked`].
pub fn render(
    sources: &[Source],
    daemonset: Option<&DaemonSet>,
    base_config: &str,
) -> Result<Output, serde_norway::Error> {
    render_checked(sources, daemonset, base_config, None)
}

/// [`render`] through the operator's gate ([`crate::gate`]): with `images`, plugins whose image
/// repository it does not allow are left out; with `daemonset`, the DaemonSet must have opted
/// in and the plugins must use the container, config path and pull secrets it lists.
pub fn render_checked(
    sources: &[Source],
    daemonset: Option<&DaemonSet>,
    base_config: &str,
    images: Option<&ImagePolicy>,
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
        let ds = daemonset.filter(|d| {
            d.metadata.name.as_deref() == Some(ds_name.as_str())
                && d.metadata.namespace.as_deref().unwrap_or("default") == namespace
        });
        let configmap = None;
        let observed = Observed {
            namespace: &namespace,
            name: &ds_name,
            daemonset: ds.map_or(Target::Unknown, Target::Present),
            base_config: (!base_config.trim().is_empty()).then_some(base_config),
            configmap,
            plugins: &plugins,
            images,
            release_unusable: false,
            offline: true,
        };
        if base_config.trim().is_empty() {
            output.messages.push(format!(
                "note: DaemonSet {namespace}/{ds_name}: rendered without its own config (give \
                 --base-config): not checked whether that config includes the operator's \
                 pipeline file, and hot reload is not looked for"
            ));
        }
        let planned = plan::plan(&observed);
        for (source, outcome) in group.iter().zip(&planned.render.outcomes) {
            let who = crate::validate::object_key(&source.plugin);
            for p in &outcome.problems {
                let note = if p.blocking { "" } else { "note: " };
                output
                    .messages
                    .push(format!("{note}{}: {who}: {p}", source.origin));
            }
            output.failed |= !outcome.included;
        }
        let target_error = match &planned.apply {
            ApplyState::NotOptedIn(e)
            | ApplyState::ContainerNotFound(e)
            | ApplyState::BaseConfigInvalid(e) => Some(e.clone()),
            _ => None,
        };
        if let Some(err) = target_error {
            output
                .messages
                .push(format!("DaemonSet {namespace}/{ds_name}: {err}"));
            output.failed = true;
            continue;
        }
        if let ConfigMapStep::Apply(cm) = &planned.configmap {
            push_document(&mut output.manifests, cm)?;
        }
        // The whole intent, also when the given DaemonSet file carries it already: the output
        // is what the operator applies, not what it would change.
        let intent = planned
            .intent
            .unwrap_or_else(|| workload::empty_daemonset_intent(&ds_name, &namespace));
        push_document(&mut output.manifests, &intent)?;
    }
    if let Some(ds) = daemonset {
        let ns = ds.metadata.namespace.as_deref().unwrap_or("default");
        let name = ds.metadata.name.as_deref().unwrap_or_default();
        let targeted = sources.iter().any(|s| {
            s.plugin.spec.target.daemon_set == name
                && s.plugin.metadata.namespace.as_deref().unwrap_or("default") == ns
        });
        if !targeted {
            output.messages.push(format!(
                "note: --daemonset is {ns}/{name}, which no plugin targets: it was not used \
                 (check spec.target.daemonSet and the namespace)"
            ));
        }
    }
    Ok(output)
}

fn push_document(out: &mut String, value: &Value) -> Result<(), serde_norway::Error> {
    out.push_str("---\n");
    out.push_str(&serde_norway::to_string(value)?);
    Ok(())
}
