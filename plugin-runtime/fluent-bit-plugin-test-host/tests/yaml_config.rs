//! The YAML format as `fb-test-host run` reads it: the user's document and the operator's
//! second document (as `operator render` writes it for a `.yaml` config path), an include
//! relative to the including file, the top-level `plugins` list, and what 5.1.1 refuses.

use std::path::PathBuf;

use fluent_bit_plugin_test_host::config::{Config, SectionKind};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fbth-yaml-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const RENDERED: &str = r#"env:
  out_dir: /var/log
includes:
  - extra.yaml
service:
  flush: 1
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      processors:
        logs:
          - name: content_modifier
---
# Appended by the fbplugin operator. Do not edit.
plugins:
  - "/fluent-bit/plugins/in-generator/libin_generator.so"
pipeline:
  inputs:
    # logging/in-generator instance 0
    - "name": "generator"
      "tag": "app.gen"
      "message": "key: value # not a comment"
  filters:
    - "name": "wasm"
      "match": "app.*"
      "wasm_path": "/fluent-bit/plugins/filter-redact/filter_redact.wasm"
  outputs:
    - "name": "jsonl_file"
      "match": "app.*"
      "path": "${out_dir}/out.jsonl"
      "header":
        - "X-A 1"
        - "X-B 2"
"#;

#[test]
fn a_rendered_yaml_config_reads_as_fluent_bit_reads_it() {
    let d = dir("rendered");
    std::fs::write(
        d.join("extra.yaml"),
        "pipeline:\n  outputs:\n    - name: stdout\n      Match: kube.*\n",
    )
    .unwrap();
    std::fs::write(d.join("fluent-bit.yaml"), RENDERED).unwrap();
    let cfg = Config::load(d.join("fluent-bit.yaml")).unwrap();
    let names = |k| -> Vec<String> {
        cfg.sections_of(k)
            .map(|s| s.get("name").unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(SectionKind::Input), ["tail", "generator"]);
    assert_eq!(names(SectionKind::Filter), ["wasm"]);
    assert_eq!(
        names(SectionKind::Output),
        ["stdout", "jsonl_file"],
        "the include comes first"
    );
    let out = cfg.sections_of(SectionKind::Output).nth(1).unwrap();
    assert_eq!(out.get("path"), Some("/var/log/out.jsonl"), "env expands");
    let headers: Vec<&str> = out
        .entries
        .iter()
        .filter(|e| e.key == "header")
        .map(|e| e.value.as_str())
        .collect();
    assert_eq!(
        headers,
        ["X-A 1", "X-B 2"],
        "a list is the repeated property"
    );
    let input = cfg.sections_of(SectionKind::Input).nth(1).unwrap();
    assert_eq!(input.get("message"), Some("key: value # not a comment"));
    assert_eq!(
        cfg.plugin_paths().unwrap(),
        [PathBuf::from(
            "/fluent-bit/plugins/in-generator/libin_generator.so"
        )]
    );
    assert_eq!(cfg.service("flush").map(|e| e.value.as_str()), Some("1"));
}

#[test]
fn a_second_service_or_a_customs_in_pipeline_is_refused() {
    let d = dir("refused");
    std::fs::write(
        d.join("a.yaml"),
        "service:\n  flush: 1\n---\nservice:\n  flush: 2\n",
    )
    .unwrap();
    let e = Config::load(d.join("a.yaml")).unwrap_err();
    assert!(
        e.message.contains("duplicated definition of 'service'"),
        "{e}"
    );
    std::fs::write(d.join("b.yaml"), "pipeline:\n  customs:\n    - name: x\n").unwrap();
    let e = Config::load(d.join("b.yaml")).unwrap_err();
    assert!(e.message.contains("not valid"), "{e}");
}

#[test]
fn yaml_keys_are_translated_like_fluent_bit() {
    let d = dir("keys");
    std::fs::write(
        d.join("k.yaml"),
        "pipeline:\n  inputs:\n    - name: x\n      myKey: a\n      Mixed_Case: b\n      lower_case: c\n",
    )
    .unwrap();
    let cfg = Config::load(d.join("k.yaml")).unwrap();
    let s = cfg.sections_of(SectionKind::Input).next().unwrap();
    let keys: Vec<&str> = s.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["name", "my_key", "Mixed_Case", "lower_case"]);
}
