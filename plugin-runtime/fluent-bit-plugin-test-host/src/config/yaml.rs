//! Fluent Bit's YAML configuration format, read as 5.1.1 reads it
//! (`docs/fluent-bit-config.md` section 3.4), into the same sections as the classic format:
//! every document of every file, `includes` resolved against the including file's directory,
//! `service` at most once across all files, top-level `plugins` lists, `customs`, and
//! `pipeline` `inputs`/`filters`/`outputs`. `env` entries are variables for `${VAR}`.
//! `parsers`, `multiline_parsers` and other top-level keys are accepted and not used; nested
//! maps in a plugin entry (`processors`) are skipped. Lines are not tracked (0).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_norway::Value;

use super::{Config, ConfigError, Entry, Section, SectionKind, under_root};

fn err(file: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        line: 0,
        message: message.into(),
    }
}

/// Parses `path` and its includes; with `root`, absolute `includes` are looked up under
/// `root`.
pub(super) fn parse(path: &Path, root: Option<&Path>) -> Result<Config, ConfigError> {
    let mut cfg = Config {
        sections: Vec::new(),
        vars: Vec::new(),
        files: Vec::new(),
        warnings: Vec::new(),
        path: path.to_owned(),
    };
    let mut service_seen = false;
    read(path, &mut cfg, &mut service_seen, root)?;
    Ok(cfg)
}

/// `flb_cf_key_translate` for YAML: kept when not starting lowercase, lowercased with a `_`,
/// else camelCase to snake_case.
pub fn translate_key(key: &str) -> String {
    if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return key.to_owned();
    }
    if key.contains('_') {
        return key.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A scalar's text (Fluent Bit does not resolve tags: every scalar is a string).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn section(kind: SectionKind, name: &str, v: &Value, file: &Path) -> Result<Section, ConfigError> {
    let Some(map) = v.as_mapping() else {
        return Err(err(file, format!("{name}: each entry must be a map")));
    };
    let mut entries = Vec::new();
    for (k, v) in map {
        let key = scalar(k).ok_or_else(|| err(file, format!("{name}: a key must be a scalar")))?;
        let values: Vec<String> = match v {
            Value::Sequence(items) => items.iter().filter_map(scalar).collect(),
            Value::Mapping(_) => continue,
            other => scalar(other).into_iter().collect(),
        };
        for value in values {
            entries.push(Entry {
                key: translate_key(&key).trim().to_owned(),
                value: value.trim().to_owned(),
                file: file.to_owned(),
                line: 0,
            });
        }
    }
    Ok(Section {
        kind,
        name: name.to_owned(),
        entries,
        groups: Vec::new(),
        file: file.to_owned(),
        line: 0,
    })
}

fn read(
    path: &Path,
    cfg: &mut Config,
    service_seen: &mut bool,
    root: Option<&Path>,
) -> Result<(), ConfigError> {
    if cfg.files.iter().any(|f| f == path) {
        return Err(err(path, "file is already included"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(path, e.to_string()))?;
    cfg.files.push(path.to_owned());
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).map_err(|e| err(path, e.to_string()))?;
        let top = match value {
            Value::Mapping(top) => top,
            Value::Null => continue,
            _ => return Err(err(path, "a document must be a map of sections")),
        };
        for (k, v) in &top {
            let key = scalar(k).unwrap_or_default().to_ascii_lowercase();
            let list = || v.as_sequence().map(Vec::as_slice).unwrap_or_default();
            match key.as_str() {
                "service" => {
                    if *service_seen {
                        return Err(err(path, "duplicated definition of 'service'"));
                    }
                    *service_seen = true;
                    cfg.sections
                        .push(section(SectionKind::Service, "service", v, path)?);
                }
                "includes" => {
                    for item in list() {
                        let name = scalar(item).unwrap_or_default();
                        if name.contains('*') {
                            return Err(err(
                                path,
                                format!("include glob {name:?} is not supported here"),
                            ));
                        }
                        // `flb_cf_yaml.c` read_config: absolute as written (here: under the
                        // root), relative to the including file's directory.
                        let file = PathBuf::from(&name);
                        let file = if file.is_absolute() {
                            under_root(root, &file)
                        } else {
                            dir.join(file)
                        };
                        if !file.is_file() {
                            let how = match root {
                                Some(r) if Path::new(&name).is_absolute() => format!(
                                    " (absolute paths are looked up under the root {})",
                                    r.display()
                                ),
                                _ if Path::new(&name).is_relative() => {
                                    " (relative to the including file's directory)".to_owned()
                                }
                                _ => String::new(),
                            };
                            return Err(err(
                                path,
                                format!(
                                    "includes: {name:?}: file not found at {}{how}",
                                    file.display()
                                ),
                            ));
                        }
                        read(&file, cfg, service_seen, root)?;
                    }
                }
                "plugins" => {
                    let entries = list()
                        .iter()
                        .filter_map(scalar)
                        .map(|p| Entry {
                            key: "path".into(),
                            value: translate_key(p.trim()),
                            file: path.to_owned(),
                            line: 0,
                        })
                        .collect();
                    cfg.sections.push(Section {
                        kind: SectionKind::Plugins,
                        name: "plugins".into(),
                        entries,
                        groups: Vec::new(),
                        file: path.to_owned(),
                        line: 0,
                    });
                }
                "customs" => {
                    for item in list() {
                        cfg.sections
                            .push(section(SectionKind::Custom, "custom", item, path)?);
                    }
                }
                "pipeline" => {
                    let Some(groups) = v.as_mapping() else {
                        return Err(err(path, "pipeline must be a map"));
                    };
                    for (g, items) in groups {
                        let g = scalar(g).unwrap_or_default().to_ascii_lowercase();
                        let kind = match g.as_str() {
                            "inputs" => SectionKind::Input,
                            "filters" => SectionKind::Filter,
                            "outputs" => SectionKind::Output,
                            _ => {
                                return Err(err(
                                    path,
                                    format!(
                                        "the pipeline component '{g}' is not valid: use inputs, filters or outputs"
                                    ),
                                ));
                            }
                        };
                        for item in items.as_sequence().map(Vec::as_slice).unwrap_or_default() {
                            cfg.sections.push(section(kind, &g, item, path)?);
                        }
                    }
                }
                "env" => {
                    for (name, value) in v.as_mapping().into_iter().flatten() {
                        if let (Some(n), Some(val)) = (scalar(name), scalar(value)) {
                            cfg.vars.push((n, val));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}
