//! The plugins of one DaemonSet → `plugins.conf`, `fluent-bit.conf` and a content hash.
//!
//! Pure and deterministic: plugins are sorted by (namespace, name), every line is written the
//! same way, and the same input gives the same bytes. The rendered `fluent-bit.conf` is the
//! DaemonSet's own config text verbatim, then an appended `[SERVICE]` section with
//! `Plugins_File` (repeated `[SERVICE]` sections merge; left out when only filters are
//! included, since `plugins.conf` lists only `.so` files), then one section per instance.
//!
//! **Section order.** Sections follow the plugins' (namespace, name) order, each plugin's
//! instances in spec order, whatever their type. Fluent Bit routes by tag, so the order of
//! inputs and outputs does not matter; filters, however, run in the order they appear in the
//! config, after the base config's own `[FILTER]`s. To chain WASM filters in a given order,
//! name the objects so they sort that way (`10-redact`, `20-label`), or use the instances of
//! one object.
//!
//! **WASM filters** (`type: filter`) render as `[FILTER]` with `Name wasm` and the lines of
//! [`filter`] (module path, function, event format, heap and stack size); the `.wasm` file is
//! not listed in `plugins.conf`, which Fluent Bit `dlopen`s.
//!
//! One deviation from a fixed indent: Fluent Bit fixes the indent string of a file at its first
//! indented line, and treats exactly twice that indent as group content. The appended sections
//! therefore reuse the base config's indent (four spaces when it has none); a fixed four
//! spaces after a two-space base config would be read as group lines and fail to load.

use fbplugin_crds::{FluentBitPlugin, Instance, LogLevel, PluginType, RetryLimit, StorageType};
use sha2::{Digest, Sha256};

use crate::validate::{self, Problem, Reason};

pub mod filter;
pub mod yaml;

pub use fbplugin_crds::layout::{CONFIG_DIR, PLUGIN_DIR};
/// ConfigMap key and file name of the rendered plugin list.
pub const PLUGINS_CONF: &str = "plugins.conf";
/// ConfigMap key and file name of the rendered main config.
pub const FLUENT_BIT_CONF: &str = "fluent-bit.conf";

/// The rendered files of one DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `[PLUGINS]` with one `Path` per plugin file.
    pub plugins_conf: String,
    /// The base config plus the operator's sections.
    pub fluent_bit_conf: String,
    /// Lowercase hex sha256 of both files and every artifact (image, path, sha256, pull
    /// policy, pull secrets): any change rolls the pods.
    pub hash: String,
}

/// What happened to one plugin of the DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOutcome {
    /// Everything found wrong (own rules, conflicts, base config); report on its status.
    pub problems: Vec<Problem>,
    /// Whether the plugin is in the rendered files (no blocking problem).
    pub included: bool,
}

/// The result for one DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSetRender {
    /// The files, or `None` when no plugin is included: apply the empty intent (which gives the
    /// DaemonSet back its own config) and delete the ConfigMap.
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
/// argument that turns hot reload on, if any (`-Y` or `--enable-hot-reload`, see
/// [`crate::workload::hot_reload_flag`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaseConfig<'a> {
    /// The main config file's text.
    pub text: &'a str,
    /// The Fluent Bit container's argument that enables hot reload.
    pub hot_reload_flag: Option<&'a str>,
}

impl<'a> From<&'a str> for BaseConfig<'a> {
    fn from(text: &'a str) -> Self {
        BaseConfig {
            text,
            hot_reload_flag: None,
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
    let yaml = is_yaml_target(plugins, &outcomes);
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
    if !included.is_empty() {
        result.rendered = Some(render_with(
            base_config,
            &included,
            hot_reload.is_some(),
            yaml,
        ));
    }
    result
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

/// Where Fluent Bit loads a plugin's file from: `<PLUGIN_DIR>/<object name>/<file name>`.
/// The directory keeps two plugins with the same file name apart.
pub fn plugin_file_path(plugin: &FluentBitPlugin) -> String {
    format!(
        "{PLUGIN_DIR}/{}/{}",
        plugin.metadata.name.as_deref().unwrap_or_default(),
        fbplugin_crds::rules::file_name(&plugin.spec.artifact.path)
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
/// plugins' `spec.target.configPath`.
pub fn render(base_config: &str, plugins: &[&FluentBitPlugin]) -> Rendered {
    let yaml = plugins
        .first()
        .is_some_and(|p| yaml::is_yaml_path(p.spec.target.config_path()));
    let hot_reload = if yaml {
        yaml::hot_reload_line(base_config)
    } else {
        hot_reload_line(base_config)
    };
    render_with(base_config, plugins, hot_reload.is_some(), yaml)
}

/// [`render`]; `hot_reload` leaves the `Workers` of plugin outputs out (see `workers_dropped`);
/// `yaml` renders the operator's part as a YAML document ([`yaml`]).
fn render_with(
    base_config: &str,
    plugins: &[&FluentBitPlugin],
    hot_reload: bool,
    yaml: bool,
) -> Rendered {
    let mut plugins_conf =
        String::from("# Generated by the fbplugin operator. Do not edit.\n[PLUGINS]\n");
    let shared_objects: Vec<&&FluentBitPlugin> = plugins
        .iter()
        .filter(|p| p.spec.plugin_type != PluginType::Filter)
        .collect();
    for plugin in &shared_objects {
        line(&mut plugins_conf, "    ", "Path", &plugin_file_path(plugin));
    }

    let conf = if yaml {
        yaml_conf(base_config, plugins, &shared_objects, hot_reload)
    } else {
        classic_conf(base_config, plugins, !shared_objects.is_empty(), hot_reload)
    };
    hashed(plugins_conf, conf, plugins)
}

/// The YAML main file: the base text unchanged, then the operator's document.
fn yaml_conf(
    base_config: &str,
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
    let mut conf = String::with_capacity(base_config.len() + 256 * plugins.len());
    conf.push_str(base_config);
    if !conf.is_empty() && !conf.ends_with('\n') {
        conf.push('\n');
    }
    conf.push_str(&yaml::document(&paths, &entries));
    conf
}

/// The classic main file: the base text unchanged, then the operator's sections.
fn classic_conf(
    base_config: &str,
    plugins: &[&FluentBitPlugin],
    has_shared_objects: bool,
    hot_reload: bool,
) -> String {
    let indent = base_indent(base_config);
    let mut conf = String::with_capacity(base_config.len() + 256 * plugins.len());
    conf.push_str(base_config);
    if !conf.is_empty() && !conf.ends_with('\n') {
        conf.push('\n');
    }
    if !conf.is_empty() {
        conf.push('\n');
    }
    conf.push_str("# Appended by the fbplugin operator. Do not edit.\n");
    if has_shared_objects {
        conf.push_str("[SERVICE]\n");
        line(
            &mut conf,
            indent,
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
                line(&mut conf, indent, k, v)
            });
        }
    }
    conf
}

/// The files with their hash.
fn hashed(plugins_conf: String, conf: String, plugins: &[&FluentBitPlugin]) -> Rendered {
    let mut hasher = Sha256::new();
    for (name, content) in [(PLUGINS_CONF, &plugins_conf), (FLUENT_BIT_CONF, &conf)] {
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
    Rendered {
        plugins_conf,
        fluent_bit_conf: conf,
        hash: hex(&hasher.finalize()),
    }
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

/// The indent string Fluent Bit fixed for this file: the leading whitespace of its first
/// indented, non-comment line; four spaces when there is none.
pub fn base_indent(base_config: &str) -> &str {
    base_config
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .find_map(|l| {
            let content = l.trim_start_matches([' ', '\t']);
            let indent = &l[..l.len() - content.len()];
            (!indent.is_empty() && !content.is_empty() && !content.starts_with('#'))
                .then_some(indent)
        })
        .unwrap_or("    ")
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
    fn indent_follows_the_base_config() {
        assert_eq!(base_indent("[SERVICE]\n  Flush 1\n"), "  ");
        assert_eq!(base_indent("[SERVICE]\n\tFlush 1\n"), "\t");
        assert_eq!(base_indent("# c\n[SERVICE]\n    # x\n  Flush 1\n"), "  ");
        assert_eq!(base_indent(""), "    ");
    }

    #[test]
    fn finds_plugins_file_case_insensitively() {
        assert_eq!(
            plugins_file_line("[SERVICE]\n    plugins_FILE /x\n"),
            Some(2)
        );
        assert_eq!(plugins_file_line("[SERVICE]\n    Parsers_File /x\n"), None);
    }
}
