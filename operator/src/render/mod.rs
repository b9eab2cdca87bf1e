//! The plugins of one DaemonSet → the operator's pipeline file, `plugins.conf` and a content
//! hash.
//!
//! Pure and deterministic: plugins are sorted by (namespace, name), every line is written the
//! same way, and the same input gives the same bytes.
//!
//! **The DaemonSet's own config includes the operator's file; the operator never rewrites it.**
//! The owner adds one line to the main config (classic `@INCLUDE
//! /fluent-bit/etc/fbplugin/pipeline.conf`, YAML `includes:
//! [/fluent-bit/etc/fbplugin/pipeline.yaml]`, see [`include_path`]) and the operator mounts
//! its ConfigMap as a directory at [`CONFIG_DIR`]. The classic pipeline file holds a
//! `[SERVICE]` section with `Plugins_File` (a repeated `[SERVICE]` section merges with the
//! main one; left out when only filters are included, since `plugins.conf` lists only `.so`
//! files), then one section per instance; the YAML one a `plugins:` list, `customs:` and
//! `pipeline:`. With no plugin the file is still there, holding nothing (a comment, and `{}` in
//! YAML): Fluent Bit 5.1.1 fails to start when an `@INCLUDE` or `includes` target is missing.
//!
//! **Section order.** Sections follow the plugins' (namespace, name) order, each plugin's
//! instances in spec order, whatever their type. Fluent Bit routes by tag, so the order of
//! inputs and outputs does not matter; filters, however, run in the order they appear in the
//! config: the operator's filters run where the DaemonSet's config includes the file. To chain
//! WASM filters in a given order, name the objects so they sort that way (`10-redact`,
//! `20-label`), or use the instances of one object.
//!
//! **WASM filters** (`type: filter`) render as `[FILTER]` with `Name wasm` and the lines of
//! [`filter`] (module path, function, event format, heap and stack size); the `.wasm` file is
//! not listed in `plugins.conf`, which Fluent Bit `dlopen`s.
//!
//! The pipeline file is its own file for Fluent Bit's classic reader, which fixes the indent
//! string per file: it always uses four spaces, whatever the DaemonSet's config uses.

use fbplugin_crds::{FluentBitPlugin, Instance, LogLevel, PluginType, RetryLimit, StorageType};
use sha2::{Digest, Sha256};

use crate::validate::{self, Problem, Reason};

pub mod filter;
pub mod yaml;

/// The paths and file names of the rendered files, re-exported from their home
/// [`crate::layout`].
pub use crate::layout::{
    CONFIG_DIR, PIPELINE_CONF, PIPELINE_YAML, PLUGIN_DIR, PLUGINS_CONF, include_path,
    plugin_file_path,
};
/// How many hex digits of the hash name a revision's ConfigMap keys ([`Rendered::key`]).
pub const KEY_HASH_LEN: usize = 16;

/// The rendered files of one DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Whether the files are for a YAML config.
    pub yaml: bool,
    /// The file the DaemonSet's config includes ([`include_path`]): the operator's sections.
    pub pipeline: String,
    /// Classic configs with a plugin `.so`: `[PLUGINS]` with one `Path` per plugin file (YAML
    /// lists them in the pipeline file).
    pub plugins_conf: Option<String>,
    /// Lowercase hex sha256 of the files and every artifact (image, path, sha256, pull
    /// policy, pull secrets): any change rolls the pods.
    pub hash: String,
}

impl Rendered {
    /// The files as (name in [`CONFIG_DIR`], content).
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        let pipeline = if self.yaml {
            PIPELINE_YAML
        } else {
            PIPELINE_CONF
        };
        let mut files = vec![(pipeline, self.pipeline.as_str())];
        if let Some(conf) = &self.plugins_conf {
            files.push((PLUGINS_CONF, conf.as_str()));
        }
        files
    }

    /// The ConfigMap key of one of this revision's files: `pipeline-<hash>.conf` for
    /// `pipeline.conf`. Every revision has its own keys, so pods of an older pod template keep
    /// reading their own files while the ConfigMap holds the new ones.
    pub fn key(&self, file: &str) -> String {
        revision_key(file, &self.hash)
    }
}

/// The ConfigMap key of `file` (a name in [`CONFIG_DIR`]) in the revision with this rendered
/// hash (the `fbplugin.dev/config-hash` annotation): `pipeline-<first 16 hex>.conf`.
pub fn revision_key(file: &str, hash: &str) -> String {
    let hash = hash.get(..KEY_HASH_LEN).unwrap_or(hash);
    match file.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{hash}.{ext}"),
        None => format!("{file}-{hash}"),
    }
}

/// What happened to one plugin of the DaemonSet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginOutcome {
    /// Everything found wrong (own rules, conflicts, base config); report on its status.
    pub problems: Vec<Problem>,
    /// Whether the plugin is in the rendered files (no blocking problem).
    pub included: bool,
}

/// The result for one DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSetRender {
    /// The files (with no plugin included, the empty pipeline), or `None` when the DaemonSet
    /// cannot take the operator's files (the plan says why).
    pub rendered: Option<Rendered>,
    /// Index-aligned with the `plugins` given to [`render_daemonset`].
    pub outcomes: Vec<PluginOutcome>,
}

impl DaemonSetRender {
    /// The included plugins, sorted by (namespace, name): what the workload intent needs.
    pub fn included<'a>(&self, plugins: &[&'a FluentBitPlugin]) -> Vec<&'a FluentBitPlugin> {
        let mut included: Vec<&FluentBitPlugin> = plugins
            .iter()
            .zip(&self.outcomes)
            .filter(|(_, o)| o.included)
            .map(|(p, _)| *p)
            .collect();
        included.sort_by_key(|p| sort_key(p));
        included
    }
}

/// Validates, cross-checks and renders every plugin that targets one DaemonSet.
///
/// `base_config` is the text of the DaemonSet's own main config (the file at
/// `spec.target.configPath`, e.g. the `fluent-bit.conf` key of the Helm chart's ConfigMap).
/// Invalid plugins are left out and reported; the others render.
pub fn render_daemonset(base_config: &str, plugins: &[&FluentBitPlugin]) -> DaemonSetRender {
    render_daemonset_admitted(base_config, plugins, |_| Vec::new())
}

/// The DaemonSet's own config as Fluent Bit runs it: the main config text, and the container
/// argument that turns hot reload on, if any (`-Y` or `--enable-hot-reload`, which the
/// workload finds in the container's command and args).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaseConfig<'a> {
    /// The main config file's text.
    pub text: &'a str,
    /// The Fluent Bit container's argument that enables hot reload.
    pub hot_reload_flag: Option<&'a str>,
    /// Whether the config is YAML, when the DaemonSet says (its opt-in config path); `None`
    /// decides by the plugins' `spec.target.configPath`.
    pub yaml: Option<bool>,
    /// Whether `text` is the DaemonSet's real config, so a missing include of the operator's
    /// pipeline is a problem; `false` offline without the DaemonSet's config.
    pub known: bool,
}

impl<'a> From<&'a str> for BaseConfig<'a> {
    fn from(text: &'a str) -> Self {
        BaseConfig {
            text,
            hot_reload_flag: None,
            yaml: None,
            // An empty text is no config at all: the include is not checked.
            known: !text.trim().is_empty(),
        }
    }
}

impl BaseConfig<'_> {
    /// Why Fluent Bit will run a classic config with hot reload on, for a status note; `None`
    /// when it will not.
    pub fn hot_reload(&self) -> Option<String> {
        self.hot_reload_in(false)
    }

    /// [`BaseConfig::hot_reload`] for a YAML (`yaml`) or classic config.
    pub fn hot_reload_in(&self, yaml: bool) -> Option<String> {
        let line = if yaml {
            yaml::hot_reload_line(self.text)
        } else {
            hot_reload_line(self.text)
        };
        match (line, self.hot_reload_flag) {
            (Some(line), _) => Some(format!(
                "the DaemonSet's config enables hot reload (line {line})"
            )),
            (None, Some(flag)) => Some(format!(
                "the Fluent Bit container's argument {flag} enables hot reload"
            )),
            (None, None) => None,
        }
    }
}

/// [`render_daemonset`] with the gate's problems ([`crate::gate::admit`]) for each plugin
/// added to its own: a plugin the gate refuses is left out like an invalid one, before the
/// conflict check (so it never keeps another plugin out).
pub fn render_daemonset_admitted<'a>(
    base: impl Into<BaseConfig<'a>>,
    plugins: &[&FluentBitPlugin],
    admit: impl Fn(&FluentBitPlugin) -> Vec<Problem>,
) -> DaemonSetRender {
    let base = base.into();
    let base_config = base.text;
    let mut outcomes: Vec<PluginOutcome> = plugins
        .iter()
        .map(|p| {
            let mut problems = validate::validate(p);
            problems.extend(admit(p));
            PluginOutcome {
                problems,
                included: false,
            }
        })
        .collect();
    // Conflicts only among individually valid plugins: an invalid one is out anyway.
    let valid: Vec<usize> = (0..plugins.len())
        .filter(|&i| outcomes[i].problems.is_empty())
        .collect();
    let candidates: Vec<&FluentBitPlugin> = valid.iter().map(|&i| plugins[i]).collect();
    for (&i, problems) in valid.iter().zip(validate::conflicts(&candidates)) {
        outcomes[i].problems.extend(problems);
    }
    let yaml = base
        .yaml
        .unwrap_or_else(|| is_yaml_target(plugins, &outcomes));
    if base.known && !includes_pipeline(base_config, yaml) {
        let (how, format) = if yaml {
            (
                format!("an `includes:` entry {:?}", include_path(true)),
                "YAML",
            )
        } else {
            (
                format!("the line `@INCLUDE {}`", include_path(false)),
                "classic",
            )
        };
        for outcome in outcomes.iter_mut() {
            outcome.problems.push(Problem::new(
                "spec.target",
                Reason::PipelineNotIncluded,
                format!(
                    "the DaemonSet's own config does not include the operator's pipeline, so \
                     Fluent Bit would never load this plugin: add {how} to that {format} config \
                     (in the main file itself, not in a file it includes)"
                ),
            ));
        }
    }
    // A YAML config's own plugins_file is loaded besides the operator's `plugins:` list.
    if let Some(line) = plugins_file_line(base_config).filter(|_| !yaml) {
        // Filters are not loaded through plugins.conf, so they do not need Plugins_File.
        let loaded_by_plugins_file = plugins
            .iter()
            .map(|p| p.spec.plugin_type != PluginType::Filter);
        for (outcome, _) in outcomes
            .iter_mut()
            .zip(loaded_by_plugins_file)
            .filter(|(_, so)| *so)
        {
            outcome.problems.push(Problem::new(
                "spec.target",
                Reason::BaseConfigSetsPluginsFile,
                format!(
                    "the DaemonSet's own config sets Plugins_File (line {line}); the operator's \
                     Plugins_File would replace it. Move its [PLUGINS] paths into \
                     FluentBitPlugins or remove that line"
                ),
            ));
        }
    }
    let hot_reload = base.hot_reload_in(yaml);
    if let Some(why) = &hot_reload {
        for (plugin, outcome) in plugins.iter().zip(outcomes.iter_mut()) {
            outcome.problems.extend(workers_dropped(plugin, why));
        }
    }
    for outcome in outcomes.iter_mut() {
        outcome.included = outcome.problems.iter().all(|p| !p.blocking);
    }
    let mut result = DaemonSetRender {
        rendered: None,
        outcomes,
    };
    let included = result.included(plugins);
    result.rendered = Some(render_with(&included, hot_reload.is_some(), yaml));
    result
}

/// Whether the DaemonSet's own config includes the operator's pipeline file in its main file:
/// classic, a line `@INCLUDE <path>` (`@INCLUDE ` in column 0, any case, then the path exactly:
/// Fluent Bit does not trim it); YAML, a top-level `includes` list (any case) holding the path,
/// in any document. A pattern is not accepted: `*.conf` in the operator's directory would read
/// `plugins.conf` as part of the main config.
pub fn includes_pipeline(base_config: &str, yaml: bool) -> bool {
    let path = include_path(yaml);
    if !yaml {
        return base_config.lines().any(|l| {
            let l = l.strip_suffix('\r').unwrap_or(l);
            l.get(..9)
                .is_some_and(|head| head.eq_ignore_ascii_case("@INCLUDE "))
                && l[9..] == path
        });
    }
    // Parse only what can hold the path, and only as deep as a config nests: the text is the
    // DaemonSet owner's, and must not make the operator spin.
    if !base_config.contains(path.as_str()) || yaml::too_deep(base_config).is_some() {
        return false;
    }
    use serde::Deserialize;
    for doc in serde_norway::Deserializer::from_str(base_config) {
        // A document that does not parse ends the stream (the iterator repeats the error).
        let Ok(value) = serde_norway::Value::deserialize(doc) else {
            return false;
        };
        let Some(top) = value.as_mapping() else {
            continue;
        };
        let listed = top.iter().any(|(k, v)| {
            k.as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case("includes"))
                && v.as_sequence()
                    .is_some_and(|list| list.iter().any(|i| i.as_str() == Some(path.as_str())))
        });
        if listed {
            return true;
        }
    }
    false
}

/// Notes (not blocking) for the `workers` of an output left out because the base config enables
/// hot reload. Fluent Bit 5.1.1 starts a proxy output's worker pool twice
/// (`flb_plugin_proxy.c` and `flb_output.c` both call `flb_output_enable_multi_threading`); the
/// first pool is never stopped, and after a hot reload it touches the freed configuration and
/// Fluent Bit crashes (seen within 1 to 4 reloads, 3 runs of 3). Without `Workers` a proxy output
/// has no pool and flushes on Fluent Bit's own threads, which reloads safely.
fn workers_dropped(plugin: &FluentBitPlugin, why: &str) -> Vec<Problem> {
    if plugin.spec.plugin_type != PluginType::Output {
        return Vec::new();
    }
    plugin
        .spec
        .instances
        .iter()
        .enumerate()
        .filter(|(_, inst)| inst.workers.is_some_and(|w| w > 0))
        .map(|(i, _)| Problem {
            blocking: false,
            ..Problem::new(
                format!("spec.instances[{i}].workers"),
                Reason::WorkersWithHotReload,
                format!(
                    "workers is not rendered: {why}, and Fluent Bit 5.1.1 starts a plugin \
                     output's worker pool twice and crashes on a reload while they run; the \
                     output flushes without workers. Set workers: 0 (or remove it) to clear this \
                     note, or turn hot reload off to use workers"
                ),
            )
        })
        .collect()
}

/// The 1-based line of the base config that turns hot reload on (`Hot_Reload` set to a value
/// Fluent Bit reads as true: `on`, `true` or `yes`, any case), when the last `Hot_Reload` line
/// does. Fluent Bit 5.1.1 has hot reload off unless this or `-Y`/`--enable-hot-reload` says so.
pub fn hot_reload_line(base_config: &str) -> Option<usize> {
    let last = base_config
        .lines()
        .enumerate()
        .filter_map(|(n, l)| {
            let mut words = l.split_whitespace();
            let key = words.next()?;
            key.eq_ignore_ascii_case("hot_reload")
                .then(|| (n + 1, words.next().unwrap_or_default()))
        })
        .last();
    let (line, value) = last?;
    reads_as_true(value).then_some(line)
}

/// Whether Fluent Bit reads a `Hot_Reload` value as true: `on`, `true` or `yes`, any case.
pub(crate) fn reads_as_true(value: &str) -> bool {
    ["on", "true", "yes"]
        .iter()
        .any(|t| value.eq_ignore_ascii_case(t))
}

/// A DaemonSet targeted by plugins: (namespace, name).
pub type DaemonSetKey = (String, String);

/// Groups plugins by the DaemonSet they target (their namespace + `spec.target.daemonSet`),
/// in key order. A reconcile renders one group at a time.
pub fn by_daemonset<'a>(
    plugins: impl IntoIterator<Item = &'a FluentBitPlugin>,
) -> std::collections::BTreeMap<DaemonSetKey, Vec<&'a FluentBitPlugin>> {
    let mut groups: std::collections::BTreeMap<DaemonSetKey, Vec<&FluentBitPlugin>> =
        Default::default();
    for p in plugins {
        let namespace = p.metadata.namespace.clone().unwrap_or_default();
        groups
            .entry((namespace, p.spec.target.daemon_set.clone()))
            .or_default()
            .push(p);
    }
    groups
}

fn sort_key(p: &FluentBitPlugin) -> (&str, &str) {
    (
        p.metadata.namespace.as_deref().unwrap_or_default(),
        p.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// Whether the DaemonSet's config is YAML ([`yaml::is_yaml_path`]), decided by the
/// `spec.target.configPath` of the first plugin in (namespace, name) order without problems so
/// far (the plugins of one DaemonSet must agree on it: `TargetMismatch`), else of the first.
fn is_yaml_target(plugins: &[&FluentBitPlugin], outcomes: &[PluginOutcome]) -> bool {
    let mut order: Vec<usize> = (0..plugins.len()).collect();
    order.sort_by_key(|&i| sort_key(plugins[i]));
    order
        .iter()
        .find(|&&i| outcomes.get(i).is_some_and(|o| o.problems.is_empty()))
        .or(order.first())
        .is_some_and(|&i| yaml::is_yaml_path(plugins[i].spec.target.config_path()))
}

/// Renders already validated plugins (sorted by (namespace, name)). Prefer
/// [`render_daemonset`], which validates first. The format (YAML or classic) follows the
/// plugins' `spec.target.configPath`; `base_config` only decides whether hot reload is on.
pub fn render(base_config: &str, plugins: &[&FluentBitPlugin]) -> Rendered {
    let yaml = plugins
        .first()
        .is_some_and(|p| yaml::is_yaml_path(p.spec.target.config_path()));
    let hot_reload = if yaml {
        yaml::hot_reload_line(base_config)
    } else {
        hot_reload_line(base_config)
    };
    render_with(plugins, hot_reload.is_some(), yaml)
}

/// [`render`]; `hot_reload` leaves the `Workers` of plugin outputs out (see `workers_dropped`);
/// `yaml` renders the YAML pipeline ([`yaml`]).
fn render_with(plugins: &[&FluentBitPlugin], hot_reload: bool, yaml: bool) -> Rendered {
    let shared_objects: Vec<&&FluentBitPlugin> = plugins
        .iter()
        .filter(|p| p.spec.plugin_type != PluginType::Filter)
        .collect();
    if yaml {
        let pipeline = yaml_pipeline(plugins, &shared_objects, hot_reload);
        return hashed(true, pipeline, None, plugins);
    }
    let plugins_conf = (!shared_objects.is_empty()).then(|| {
        let mut conf =
            String::from("# Generated by the fbplugin operator. Do not edit.\n[PLUGINS]\n");
        for plugin in &shared_objects {
            line(&mut conf, INDENT, "Path", &plugin_file_path(plugin));
        }
        conf
    });
    let pipeline = classic_pipeline(plugins, plugins_conf.is_some(), hot_reload);
    hashed(false, pipeline, plugins_conf, plugins)
}

/// The indent of the operator's classic files.
const INDENT: &str = "    ";

/// The first line of every pipeline file.
const GENERATED: &str = "# Generated by the fbplugin operator and included by the DaemonSet's own config. Do not edit.\n";

/// The YAML pipeline: `plugins:`, `customs:` and `pipeline:`, or `{}` with no plugin.
fn yaml_pipeline(
    plugins: &[&FluentBitPlugin],
    shared_objects: &[&&FluentBitPlugin],
    hot_reload: bool,
) -> String {
    let paths: Vec<String> = shared_objects.iter().map(|p| plugin_file_path(p)).collect();
    let mut entries = Vec::new();
    for plugin in plugins {
        let spec = &plugin.spec;
        for (i, instance) in spec.instances.iter().enumerate() {
            let mut entry = yaml::Entry::new();
            section_keys(plugin, instance, hot_reload, &mut |k, v| entry.push(k, v));
            entries.push((*plugin, i, entry));
        }
    }
    let mut out = String::from(GENERATED);
    let body = yaml::document(&paths, &entries);
    out.push_str(if body.is_empty() { "{}\n" } else { &body });
    out
}

/// The classic pipeline: `[SERVICE]` with `Plugins_File` when there is a `.so`, then one
/// section per instance; only the comment with no plugin.
fn classic_pipeline(
    plugins: &[&FluentBitPlugin],
    has_shared_objects: bool,
    hot_reload: bool,
) -> String {
    let mut conf = String::with_capacity(128 + 256 * plugins.len());
    conf.push_str(GENERATED);
    if has_shared_objects {
        conf.push_str("[SERVICE]\n");
        line(
            &mut conf,
            INDENT,
            "Plugins_File",
            &format!("{CONFIG_DIR}/{PLUGINS_CONF}"),
        );
    }
    for plugin in plugins {
        let spec = &plugin.spec;
        let section = match spec.plugin_type {
            PluginType::Input => "INPUT",
            PluginType::Output => "OUTPUT",
            PluginType::Filter => "FILTER",
            // Validation refuses Unsupported; render it as CUSTOM rather than panic.
            PluginType::Custom | PluginType::Unsupported => "CUSTOM",
        };
        for (i, instance) in spec.instances.iter().enumerate() {
            conf.push_str(&format!(
                "\n# {}/{} instance {i}\n[{section}]\n",
                plugin.metadata.namespace.as_deref().unwrap_or("default"),
                plugin.metadata.name.as_deref().unwrap_or_default(),
            ));
            section_keys(plugin, instance, hot_reload, &mut |k, v| {
                line(&mut conf, INDENT, k, v)
            });
        }
    }
    conf
}

/// The files with their hash.
fn hashed(
    yaml: bool,
    pipeline: String,
    plugins_conf: Option<String>,
    plugins: &[&FluentBitPlugin],
) -> Rendered {
    let mut rendered = Rendered {
        yaml,
        pipeline,
        plugins_conf,
        hash: String::new(),
    };
    let mut hasher = Sha256::new();
    for (name, content) in rendered.files() {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(content.as_bytes());
        hasher.update([0]);
    }
    for plugin in plugins {
        let a = &plugin.spec.artifact;
        for field in [
            a.image.as_str(),
            a.path.as_str(),
            a.sha256.as_deref().unwrap_or_default(),
            a.pull_policy().as_str(),
        ] {
            hasher.update(field.as_bytes());
            hasher.update([0]);
        }
        for secret in &a.image_pull_secrets {
            hasher.update(secret.name.as_bytes());
            hasher.update([0]);
        }
    }
    rendered.hash = hex(&hasher.finalize());
    rendered
}

/// Every key of one instance's section, in order, given to `push(key, value)`: `Name`, the
/// core keys and properties, and for a WASM filter its `WASM_*` keys.
fn section_keys(
    plugin: &FluentBitPlugin,
    instance: &Instance,
    hot_reload: bool,
    push: &mut dyn FnMut(&str, &str),
) {
    let spec = &plugin.spec;
    if spec.plugin_type == PluginType::Filter {
        push("Name", "wasm");
        instance_lines(push, instance, false);
        for (key, value) in filter::wasm_lines(plugin) {
            push(key, &value);
        }
    } else {
        push("Name", spec.plugin_name());
        // See `workers_dropped`: no worker pool for a plugin output under hot reload.
        let drop_workers = hot_reload && spec.plugin_type == PluginType::Output;
        instance_lines(push, instance, drop_workers);
    }
}

/// The core keys of one instance, then its properties, each given to `push(key, value)`.
fn instance_lines(push: &mut dyn FnMut(&str, &str), inst: &Instance, drop_workers: bool) {
    let mut opt = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            push(key, v);
        }
    };
    opt("Tag", &inst.tag);
    opt("Match", &inst.match_);
    opt("Match_Regex", &inst.match_regex);
    opt("Alias", &inst.alias);
    if let Some(workers) = inst.workers.filter(|_| !drop_workers) {
        push("Workers", &workers.to_string());
    }
    match &inst.retry_limit {
        Some(RetryLimit::Count(n)) => push("Retry_Limit", &n.to_string()),
        Some(RetryLimit::Keyword(k)) => push("Retry_Limit", k),
        None => {}
    }
    if let Some(storage) = inst.storage_type {
        let value = match storage {
            StorageType::Memory => "memory",
            StorageType::Filesystem => "filesystem",
            StorageType::Memrb => "memrb",
        };
        push("storage.type", value);
    }
    if let Some(v) = &inst.storage_total_limit_size {
        push("storage.total_limit_size", v);
    }
    if let Some(v) = &inst.mem_buf_limit {
        push("Mem_Buf_Limit", v);
    }
    if let Some(level) = inst.log_level {
        let value = match level {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        };
        push("Log_Level", value);
    }
    for prop in &inst.properties {
        push(&prop.name, &prop.value);
    }
}

fn line(out: &mut String, indent: &str, key: &str, value: &str) {
    out.push_str(indent);
    out.push_str(key);
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// The 1-based line of the base config that sets `Plugins_File`, if any.
pub fn plugins_file_line(base_config: &str) -> Option<usize> {
    base_config.lines().enumerate().find_map(|(n, l)| {
        let key = l.trim_start().split([' ', '\t']).next().unwrap_or_default();
        key.eq_ignore_ascii_case("plugins_file").then_some(n + 1)
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_plugins_file_case_insensitively() {
        assert_eq!(
            plugins_file_line("[SERVICE]\n    plugins_FILE /x\n"),
            Some(2)
        );
        assert_eq!(plugins_file_line("[SERVICE]\n    Parsers_File /x\n"), None);
    }

    #[test]
    fn the_pipeline_is_included_only_by_its_exact_path() {
        let classic = "[SERVICE]\n    Flush 1\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n";
        assert!(includes_pipeline(classic, false));
        assert!(includes_pipeline(
            &classic.replace("@INCLUDE", "@include"),
            false
        ));
        for not in [
            "[SERVICE]\n    Flush 1\n",
            "@INCLUDE /fluent-bit/etc/fbplugin/*.conf\n",
            "@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf \n",
            "    @INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
            "# @INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
        ] {
            assert!(!includes_pipeline(not, false), "{not:?}");
        }
        let yaml = "service:\n  flush: 1\nincludes:\n  - /fluent-bit/etc/fbplugin/pipeline.yaml\n";
        assert!(includes_pipeline(yaml, true));
        assert!(includes_pipeline(
            &format!("pipeline: {{}}\n---\nIncludes: [{}]\n", include_path(true)),
            true
        ));
        for not in [
            "service:\n  flush: 1\n",
            "includes:\n  - /fluent-bit/etc/fbplugin/pipeline.conf\n",
            "service:\n  includes: [/fluent-bit/etc/fbplugin/pipeline.yaml]\n",
            ": not yaml [ /fluent-bit/etc/fbplugin/pipeline.yaml",
        ] {
            assert!(!includes_pipeline(not, true), "{not:?}");
        }
    }
}
