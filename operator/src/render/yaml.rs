//! The operator's part of a YAML-configured DaemonSet (`docs/fluent-bit-config.md` section 3.4).
//!
//! The rendered main file is the DaemonSet's own YAML text unchanged, then a second YAML
//! document (`---`) written by the operator:
//!
//! ```yaml
//! ---
//! # Appended by the fbplugin operator. Do not edit.
//! plugins:
//!   - "/fluent-bit/plugins/<object>/<file>.so"
//! customs:
//!   - "name": "<pluginName>"
//! pipeline:
//!   inputs:
//!     - "name": "<pluginName>"
//!       "tag": "..."
//!   filters:
//!     - "name": "wasm"
//!       "match": "..."
//!       "wasm_path": "..."
//!   outputs:
//!     - "name": "<pluginName>"
//! ```
//!
//! Why a second document: Fluent Bit 5.1.1's loader reads every document of a file into one
//! configuration (`flb_cf_yaml.c`, state `STATE_STREAM` accepts a new document after one ends),
//! `pipeline` and `plugins` may appear any number of times (each entry is one more section),
//! and only `service` is refused when repeated (across all files). So the user's text is never
//! rewritten, and the operator adds no `service` (the plugins are a top-level `plugins:` list).
//!
//! Every key and value is a double-quoted scalar with everything but printable characters
//! escaped: no value can end its scalar, start a comment, a flow collection, an anchor or a list
//! item. Keys are lowercased, because Fluent Bit converts a YAML key that starts lowercase and
//! has no `_` from camelCase (`myKey` -> `my_key`) where the classic format lowercases it
//! (`mykey`): a lowercase key is read the same way by both. Repeated keys of one instance are
//! written as a list, which Fluent Bit applies as the repeated property of the classic format.

use fbplugin_crds::{FluentBitPlugin, PluginType};

/// Whether Fluent Bit 5.1.1 reads `config_path` as YAML: its last `.` starts `.yaml` or `.yml`
/// in any case (`flb_cf_create_from_file`); any other path is classic.
pub fn is_yaml_path(config_path: &str) -> bool {
    config_path
        .rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml"))
}

/// `value` as a YAML double-quoted scalar that libyaml reads back as exactly `value`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Characters libyaml's reader accepts literally that are not line breaks (YAML 1.1 also
/// breaks lines at NEL, U+2028 and U+2029) nor a byte-order mark.
fn printable(c: char) -> bool {
    let u = c as u32;
    matches!(u, 0x20..=0x7e | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff)
        && !matches!(u, 0x2028 | 0x2029 | 0xfeff)
}

/// One instance being written: `(key, values)` in first-seen order, keys lowercased.
pub(super) struct Entry {
    lines: Vec<(String, Vec<String>)>,
}

impl Entry {
    pub(super) fn new() -> Self {
        Entry { lines: Vec::new() }
    }

    /// Adds `key: value`; a repeated key (case-insensitive) becomes a list.
    pub(super) fn push(&mut self, key: &str, value: &str) {
        let key = key.to_ascii_lowercase();
        match self.lines.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value.to_owned()),
            None => self.lines.push((key, vec![value.to_owned()])),
        }
    }

    fn write(&self, out: &mut String, indent: &str, comment: &str) {
        out.push_str(&format!("{indent}# {comment}\n"));
        for (i, (key, values)) in self.lines.iter().enumerate() {
            let lead = if i == 0 { "- " } else { "  " };
            out.push_str(&format!("{indent}{lead}{}:", quote(key)));
            if let [one] = values.as_slice() {
                out.push_str(&format!(" {}\n", quote(one)));
            } else {
                out.push('\n');
                for v in values {
                    out.push_str(&format!("{indent}    - {}\n", quote(v)));
                }
            }
        }
    }
}

/// The operator's document: `entries` are (plugin, instance index, the instance's keys).
pub(super) fn document(
    shared_objects: &[String],
    entries: &[(&FluentBitPlugin, usize, Entry)],
) -> String {
    let mut out = String::from("---\n# Appended by the fbplugin operator. Do not edit.\n");
    if !shared_objects.is_empty() {
        out.push_str("plugins:\n");
        for path in shared_objects {
            out.push_str(&format!("  - {}\n", quote(path)));
        }
    }
    let comment = |p: &FluentBitPlugin, i: usize| {
        format!(
            "{}/{} instance {i}",
            p.metadata.namespace.as_deref().unwrap_or("default"),
            p.metadata.name.as_deref().unwrap_or_default(),
        )
    };
    let of = |kinds: &[PluginType]| -> Vec<&(&FluentBitPlugin, usize, Entry)> {
        entries
            .iter()
            .filter(|(p, _, _)| kinds.contains(&p.spec.plugin_type))
            .collect()
    };
    let customs = of(&[PluginType::Custom, PluginType::Unsupported]);
    if !customs.is_empty() {
        out.push_str("customs:\n");
        for (p, i, e) in customs {
            e.write(&mut out, "  ", &comment(p, *i));
        }
    }
    let sections = [
        ("inputs", of(&[PluginType::Input])),
        ("filters", of(&[PluginType::Filter])),
        ("outputs", of(&[PluginType::Output])),
    ];
    if sections.iter().any(|(_, s)| !s.is_empty()) {
        out.push_str("pipeline:\n");
        for (name, list) in sections {
            if list.is_empty() {
                continue;
            }
            out.push_str(&format!("  {name}:\n"));
            for (p, i, e) in list {
                e.write(&mut out, "    ", &comment(p, *i));
            }
        }
    }
    out
}

/// The 1-based line of a YAML base config that turns hot reload on: the last line whose key is
/// `hot_reload` (or `hotReload`, which Fluent Bit converts to it; any case, quoted or not) has a
/// value Fluent Bit reads as true. A flow mapping (`service: {hot_reload: on}`) is not seen.
pub fn hot_reload_line(base_config: &str) -> Option<usize> {
    let unquote = |s: &str| s.trim().trim_matches(['"', '\'']).to_owned();
    let last = base_config
        .lines()
        .enumerate()
        .filter_map(|(n, l)| {
            let l = l.trim_start().trim_start_matches("- ");
            let (key, value) = l.split_once(':')?;
            let key = unquote(key);
            let is_key = key.eq_ignore_ascii_case("hot_reload") || key == "hotReload";
            let value = value.split(" #").next().unwrap_or_default();
            is_key.then(|| (n + 1, unquote(value)))
        })
        .last();
    let (line, value) = last?;
    super::reads_as_true(&value).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension_as_fluent_bit_reads_it() {
        assert!(is_yaml_path("/fluent-bit/etc/conf/fluent-bit.yaml"));
        assert!(is_yaml_path("/etc/fb.YML"));
        assert!(!is_yaml_path("/fluent-bit/etc/conf/fluent-bit.conf"));
        assert!(!is_yaml_path("/etc/my.yaml/fluent-bit"));
        assert!(!is_yaml_path("/etc/fluent-bit"));
    }

    #[test]
    fn values_that_mean_something_in_yaml_stay_one_string() {
        for value in [
            "a: b",
            "x # y",
            "- item",
            "{a: 1}",
            "[x]",
            "*alias",
            "&anchor",
            "!tag",
            "'single'",
            "\"double\"",
            "back\\slash",
            "tab\tinside",
            "line\u{2028}sep",
            "~",
            "null",
            "true",
            "010",
            "é ü 日本",
        ] {
            let doc = format!("k: {}\n", quote(value));
            let parsed: std::collections::BTreeMap<String, String> =
                serde_norway::from_str(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
            assert_eq!(parsed["k"], value, "{doc}");
        }
    }

    #[test]
    fn hot_reload_in_a_yaml_service() {
        assert_eq!(hot_reload_line("service:\n  hot_reload: on\n"), Some(2));
        assert_eq!(hot_reload_line("service:\n  Hot_Reload: \"On\"\n"), Some(2));
        assert_eq!(hot_reload_line("service:\n  hotReload: yes # x\n"), Some(2));
        assert_eq!(hot_reload_line("service:\n  hot_reload: off\n"), None);
        assert_eq!(hot_reload_line("service:\n  flush: 1\n"), None);
    }
}
