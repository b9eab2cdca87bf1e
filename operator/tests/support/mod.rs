//! Shared test helpers: golden files and fixtures.

#![allow(dead_code)]

use std::path::PathBuf;

use fbplugin_crds::FluentBitPlugin;

/// `operator/tests/<rel>`.
pub fn test_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel)
}

/// `<workspace>/<rel>`.
pub fn workspace_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// Reads a fixture under `operator/tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = test_path(&format!("fixtures/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Compares `actual` with `operator/tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites it.
pub fn assert_golden(name: &str, actual: &str) {
    let path = test_path(&format!("golden/{name}"));
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create golden dir");
        }
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} missing ({e}); run with UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             If the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff.\n\
             --- actual ---\n{actual}",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

/// A valid plugin built from YAML.
pub fn plugin(yaml: &str) -> FluentBitPlugin {
    serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("test YAML must decode: {e}\n{yaml}"))
}

/// A plugin of `kind` named `name` in namespace `logging` targeting `fluent-bit`.
pub fn make(name: &str, kind: &str, plugin_name: &str, instance: &str) -> FluentBitPlugin {
    plugin(&format!(
        r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {{name: {name}, namespace: logging}}
spec:
  type: {kind}
  pluginName: {plugin_name}
  artifact:
    image: registry.example/{name}@sha256:{digest}
    path: /plugins/lib{plugin_name}.so
  instances:
    - {instance}
  target: {{daemonSet: fluent-bit}}
"#,
        digest = "ab".repeat(32),
    ))
}

/// Checks a classic config against the parser rules of Fluent Bit 5.1.1 (docs/fluent-bit-config.md section
/// 3.2) that a renderer can break: one indent string per file, fixed by the first indented
/// line; no whitespace-only lines; every key line is `key value` with a non-empty value that
/// has no surrounding whitespace. Returns the offending lines.
pub fn classic_config_errors(text: &str) -> Vec<String> {
    let mut indent: Option<&str> = None;
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.is_empty() || line.starts_with(['#', '[', '@']) {
            continue;
        }
        let content = line.trim_start_matches([' ', '\t']);
        let this_indent = &line[..line.len() - content.len()];
        if content.is_empty() {
            errors.push(format!("line {n}: whitespace only"));
            continue;
        }
        if this_indent.is_empty() {
            errors.push(format!("line {n}: key without indent"));
            continue;
        }
        let fixed = *indent.get_or_insert(this_indent);
        if this_indent != fixed {
            errors.push(format!(
                "line {n}: indent {this_indent:?} differs from the file's {fixed:?}"
            ));
            continue;
        }
        if content.starts_with('#') {
            continue;
        }
        match content.split_once(' ') {
            Some((key, value)) if !key.is_empty() && !value.is_empty() && value.trim() == value => {
            }
            _ => errors.push(format!("line {n}: not `key value`: {content:?}")),
        }
    }
    errors
}
