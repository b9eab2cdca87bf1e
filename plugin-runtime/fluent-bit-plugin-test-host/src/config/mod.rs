//! Fluent Bit's configuration formats, parsed as 5.1.1 parses them: classic
//! (`docs/fluent-bit-config.md` section 3.2) and YAML (section 3.4, by the `.yaml`/`.yml`
//! extension), plus the `plugins_file`.
//!
//! ```no_run
//! let cfg = fluent_bit_plugin_test_host::config::Config::load("fluent-bit.conf")?;
//! for s in cfg.sections_of(fluent_bit_plugin_test_host::config::SectionKind::Output) {
//!     println!("{} at {}:{}", s.get("name").unwrap_or("?"), s.file.display(), s.line);
//! }
//! # Ok::<(), fluent_bit_plugin_test_host::config::ConfigError>(())
//! ```
//!
//! A config written for a container (e.g. one whose main file has
//! `@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf`, or YAML
//! `includes: [/fluent-bit/etc/fbplugin/pipeline.yaml]`) is read with [`Config::load_under`]:
//! every absolute path the loader opens (`@INCLUDE` targets, plain and glob, YAML `includes`,
//! then in [`Config::plugin_paths_under`] the `plugins_file`, its `Path` entries and YAML
//! `plugins`) is looked up under the root directory, as if that were the container's
//! filesystem. Relative paths follow Fluent Bit's rules unchanged.

mod classic;
mod expand;
mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use expand::expand_vars;

/// Whether Fluent Bit 5.1.1 reads `path` as YAML: an extension `.yaml` or `.yml`, any case.
pub fn is_yaml(path: &Path) -> bool {
    path.to_str()
        .and_then(|p| p.rsplit_once('.'))
        .is_some_and(|(_, e)| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// `p` as looked up with `root`: an absolute `p` under `root`, anything else unchanged.
pub(crate) fn under_root(root: Option<&Path>, p: &Path) -> PathBuf {
    match (root, p.strip_prefix("/")) {
        (Some(root), Ok(rest)) => root.join(rest),
        _ => p.to_owned(),
    }
}

/// A configuration error with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, or 0 when the whole file is meant.
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Section types, matched like `flb_cf_section_type`: by case-insensitive prefix of the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `[SERVICE]` (repeated sections are merged).
    Service,
    /// `[INPUT]`/`[INPUTS]`.
    Input,
    /// `[FILTER]`/`[FILTERS]`.
    Filter,
    /// `[OUTPUT]`/`[OUTPUTS]`.
    Output,
    /// `[CUSTOM]`/`[CUSTOMS]`.
    Custom,
    /// `[PARSER]` (an error in a main config).
    Parser,
    /// `[MULTILINE_PARSER]` (an error in a main config).
    MultilineParser,
    /// `[STREAM_PROCESSOR]`.
    StreamProcessor,
    /// `[PLUGINS]` (only valid in a `plugins_file`).
    Plugins,
    /// `[UPSTREAM_SERVERS]`.
    UpstreamServers,
    /// Anything else (accepted silently, as Fluent Bit does).
    Other,
}

/// One `key value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, lowercased (`flb_cf_key_translate`).
    pub key: String,
    /// The value, trimmed, with `${VAR}` expanded.
    pub value: String,
    /// Where it was written.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

/// A `[GROUP]` inside a section (keys at double indentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Name as written between the brackets.
    pub name: String,
    /// Its entries.
    pub entries: Vec<Entry>,
}

/// A section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The type.
    pub kind: SectionKind,
    /// The name as written between `[` and the first `]`.
    pub name: String,
    /// Entries in order (duplicates kept).
    pub entries: Vec<Entry>,
    /// Groups in order.
    pub groups: Vec<Group>,
    /// Where the section header is.
    pub file: PathBuf,
    /// 1-based line of the header.
    pub line: usize,
}

impl Section {
    /// The first value for `key` (case-insensitive), like a plugin's `get_property`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .map(|e| e.value.as_str())
    }

    /// The entry for `key` that the core would use (the last one).
    pub fn get_last(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// All properties except `name`, in order, as `(key, value)`.
    pub fn properties(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .filter(|e| e.key != "name")
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    }
}

/// A parsed main configuration (all includes resolved, variables expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Sections in file order; at most one `Service` (repeats merged into the first).
    pub sections: Vec<Section>,
    /// `@SET` variables in order.
    pub vars: Vec<(String, String)>,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
    /// Non-fatal findings (unset variables, ignored meta commands).
    pub warnings: Vec<String>,
    /// The top-level file.
    pub path: PathBuf,
}

impl Config {
    /// Parses a main configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::load_under(path, None)
    }

    /// [`Config::load`] for a config written for a container: with `root`, absolute include
    /// targets (classic `@INCLUDE`, plain and glob; YAML `includes`) are looked up under
    /// `root`, as if it were the container's filesystem. `path` itself is a local path, and
    /// relative includes follow the same rules as without a root. The files recorded in
    /// [`Config::files`] and in each section and entry are the local files read. A missing
    /// target is an error naming the path as written and where it was looked up.
    pub fn load_under(path: impl AsRef<Path>, root: Option<&Path>) -> Result<Self, ConfigError> {
        if is_yaml(path.as_ref()) {
            let mut cfg = yaml::parse(path.as_ref(), root)?;
            expand::expand_all(&mut cfg);
            return Ok(cfg);
        }
        let mut cfg = classic::parse(path.as_ref(), root)?;
        for s in &cfg.sections {
            match s.kind {
                SectionKind::Parser | SectionKind::MultilineParser => {
                    return Err(ConfigError {
                        file: s.file.clone(),
                        line: s.line,
                        message: format!(
                            "[{}] is not allowed in a main config; put parsers in a file named by \
                             the [SERVICE] key parsers_file",
                            s.name
                        ),
                    });
                }
                SectionKind::Plugins => {
                    return Err(ConfigError {
                        file: s.file.clone(),
                        line: s.line,
                        message:
                            "[PLUGINS] in a classic main config makes Fluent Bit dlopen(\"path\") \
                                  and abort; put it in a separate file named by [SERVICE] \
                                  plugins_file"
                                .into(),
                    });
                }
                _ => {}
            }
        }
        expand::expand_all(&mut cfg);
        Ok(cfg)
    }

    /// Sections of one type.
    pub fn sections_of(&self, kind: SectionKind) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(move |s| s.kind == kind)
    }

    /// A `[SERVICE]` value; for the service the last occurrence wins.
    pub fn service(&self, key: &str) -> Option<&Entry> {
        self.sections_of(SectionKind::Service)
            .next()
            .and_then(|s| s.get_last(key))
    }

    /// Plugin paths from the `plugins_file` named in `[SERVICE]`, if any. A missing relative
    /// file is looked up next to the main config, as `flb_plugin_load_config_file` does.
    /// Each path is returned as written (`dlopen` gets it unchanged).
    pub fn plugin_paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        self.plugin_paths_under(None)
    }

    /// [`Config::plugin_paths`] for a config written for a container: with `root`, absolute
    /// paths (the `plugins_file` and each `Path`) are looked up under `root`, as if it were the
    /// container's filesystem.
    pub fn plugin_paths_under(&self, root: Option<&Path>) -> Result<Vec<PathBuf>, ConfigError> {
        let rooted = |p: PathBuf| under_root(root, &p);
        // YAML: top-level `plugins` lists, loaded besides any plugins_file.
        let mut listed: Vec<PathBuf> = self
            .sections_of(SectionKind::Plugins)
            .flat_map(|s| s.entries.iter().map(|e| rooted(PathBuf::from(&e.value))))
            .collect();
        let Some(entry) = self.service("plugins_file") else {
            return Ok(listed);
        };
        let mut file = rooted(PathBuf::from(&entry.value));
        if !file.exists() && file.is_relative() {
            let alt = self.path.parent().unwrap_or(Path::new(".")).join(&file);
            if alt.exists() {
                file = alt;
            }
        }
        if !file.exists() {
            return Err(ConfigError {
                file: entry.file.clone(),
                line: entry.line,
                message: if file.as_path() != Path::new(&entry.value) {
                    format!(
                        "plugins_file '{}' not found at {} (absolute paths are looked up under \
                         the root)",
                        entry.value,
                        file.display()
                    )
                } else if file.is_relative() {
                    format!(
                        "plugins_file '{}' not found (also looked next to the main config)",
                        entry.value
                    )
                } else {
                    format!("plugins_file '{}' not found", entry.value)
                },
            });
        }
        let plugins = classic::parse(&file, root)?;
        let mut out = std::mem::take(&mut listed);
        for s in plugins
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::Plugins)
        {
            for e in s.entries.iter().filter(|e| e.key == "path") {
                out.push(rooted(PathBuf::from(&e.value)));
            }
        }
        Ok(out)
    }
}
