//! The generated CRD: committed copy current, CEL rules evaluate, stripping works.

use fbplugin_crds::{CRD_FILE_NAME, Cel, FluentBitPlugin, crd_yaml};

const VALID: &str = r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {name: out-jsonl, namespace: logging}
spec:
  type: output
  pluginName: jsonl_file
  artifact:
    image: ghcr.io/fbplugin/out-jsonl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    path: /plugins/libout_jsonl.so
  instances:
    - match: "app.*"
      retryLimit: no_limits
      properties:
        - {name: path, value: /tmp/out.jsonl}
  target: {daemonSet: fluent-bit}
"#;

fn plugin(yaml: &str) -> FluentBitPlugin {
    serde_norway::from_str(yaml).expect("test YAML decodes")
}

fn cel_errors(p: &FluentBitPlugin) -> Vec<String> {
    match kube::core::cel::validate_cel(p) {
        Ok(()) => Vec::new(),
        Err(errs) => errs.as_slice().iter().map(|e| e.message.clone()).collect(),
    }
}

#[test]
fn committed_crd_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CRD_FILE_NAME);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = crd_yaml(Cel::Keep).expect("CRD serializes");
    assert!(
        committed == generated,
        "{} is stale: run `cargo run -p fbplugin-crds --bin crdgen` and commit it",
        path.display()
    );
}

#[test]
fn stripped_crd_has_no_cel_but_keeps_the_schema() {
    let full = crd_yaml(Cel::Keep).expect("CRD serializes");
    let stripped = crd_yaml(Cel::Strip).expect("CRD serializes");
    assert!(full.contains("x-kubernetes-validations"));
    assert!(!stripped.contains("x-kubernetes-validations"));
    assert!(stripped.contains("x-kubernetes-int-or-string"));
    assert!(stripped.contains("maxLength: 4096"));
    assert!(stripped.contains("subresources"));
}

#[test]
fn valid_object_passes_cel() {
    assert_eq!(cel_errors(&plugin(VALID)), Vec::<String>::new());
}

#[test]
fn cel_refuses_injection_and_reserved_keys() {
    let cases = [
        ("{name: Workers, value: '2'}", "consumed by Fluent Bit"),
        ("{name: tls.verify, value: 'off'}", "consumed by Fluent Bit"),
        (
            "{name: OAuth2.token_url, value: x}",
            "consumed by Fluent Bit",
        ),
        ("{name: '[OUTPUT]', value: x}", "must not start with '['"),
        (
            "{name: '@INCLUDE', value: /etc/passwd}",
            "must not start with '['",
        ),
        ("{name: 'a b', value: x}", "whitespace"),
        (
            "{name: path, value: \"x\\n[OUTPUT]\\n    Name stdout\"}",
            "one line",
        ),
        ("{name: path, value: \"x\\u0000y\"}", "one line"),
        ("{name: path, value: ' x'}", "whitespace"),
        ("{name: path, value: '${HOME}/x'}", "allowEnvExpansion"),
    ];
    for (property, expected) in cases {
        let yaml = VALID.replace("{name: path, value: /tmp/out.jsonl}", property);
        let errors = cel_errors(&plugin(&yaml));
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{property}: expected an error containing {expected:?}, got {errors:?}"
        );
    }
}

#[test]
fn cel_allows_env_expansion_when_asked() {
    let yaml = VALID
        .replace(
            "{name: path, value: /tmp/out.jsonl}",
            "{name: path, value: '${HOME}/x'}",
        )
        .replace(
            "retryLimit: no_limits",
            "retryLimit: no_limits\n      allowEnvExpansion: true",
        );
    assert_eq!(cel_errors(&plugin(&yaml)), Vec::<String>::new());
}

#[test]
fn cel_refuses_tags_digests_and_routing_mistakes() {
    let cases = [
        (
            VALID.replace("@sha256:0123456789abcdef", "@sha256:0123456789ABCDEF"),
            "pinned by digest",
        ),
        (
            VALID.replace("out-jsonl@sha256:", "out-jsonl:1.0#"),
            "pinned by digest",
        ),
        (
            VALID.replace("path: /plugins/libout_jsonl.so", "path: plugins/lib.so"),
            "absolute",
        ),
        (
            VALID.replace("path: /plugins/libout_jsonl.so", "path: /plugins/../lib.so"),
            "absolute",
        ),
        (
            VALID.replace(
                "path: /plugins/libout_jsonl.so",
                "path: /plugins/flb-out.so",
            ),
            "flb-",
        ),
        (
            VALID.replace(
                "path: /plugins/libout_jsonl.so",
                "path: /p/x.so\n    sha256: abc",
            ),
            "64 lowercase",
        ),
        (
            VALID.replace("- match: \"app.*\"", "- tag: \"app\""),
            "needs match",
        ),
        (
            VALID.replace("retryLimit: no_limits", "retryLimit: 0"),
            "retryLimit",
        ),
        (
            VALID.replace("retryLimit: no_limits", "retryLimit: forever"),
            "retryLimit",
        ),
        (
            VALID.replace("type: output", "type: input"),
            "only for outputs",
        ),
        (
            VALID.replace("name: out-jsonl,", "name: a.b,"),
            "without dots",
        ),
    ];
    for (yaml, expected) in cases {
        let errors = cel_errors(&plugin(&yaml));
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "expected an error containing {expected:?}, got {errors:?} for\n{yaml}"
        );
    }
}

const FILTER: &str = r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {name: filter-redact, namespace: logging}
spec:
  type: filter
  artifact:
    image: ghcr.io/fbplugin/filter-redact@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    path: /plugins/filter_redact.wasm
  wasm:
    functionName: redact_filter
    maxRecordSize: 65536
  instances:
    - match: "app.*"
      alias: redact_app
  target: {daemonSet: fluent-bit}
"#;

#[test]
fn a_filter_passes_cel_and_defaults_decode() {
    let p = plugin(FILTER);
    assert_eq!(cel_errors(&p), Vec::<String>::new());
    let wasm = p.spec.wasm.as_ref().expect("wasm section");
    assert_eq!(wasm.event_format(), fbplugin_crds::EventFormat::Json);
    assert_eq!((wasm.max_tag_size(), wasm.stack_size()), (256, 65536));
    assert!(p.spec.plugin_name.is_empty());
}

#[test]
fn cel_refuses_filter_mistakes() {
    let cases = [
        (
            FILTER.replace("functionName: redact_filter", "functionName: 9redact"),
            "C identifier",
        ),
        (
            FILTER.replace("functionName: redact_filter", "functionName: redact-filter"),
            "C identifier",
        ),
        (
            FILTER.replace("maxRecordSize: 65536", "maxRecordSize: 0"),
            "maxRecordSize",
        ),
        (
            FILTER.replace(
                "maxRecordSize: 65536",
                "maxRecordSize: 65536\n    maxTagSize: -1",
            ),
            "maxTagSize",
        ),
        (
            FILTER.replace(
                "maxRecordSize: 65536",
                "maxRecordSize: 65536\n    stackSize: 4096",
            ),
            "stackSize",
        ),
        (
            FILTER.replace(
                "maxRecordSize: 65536",
                "maxRecordSize: 65536\n    eventFormat: xml",
            ),
            "json or msgpack",
        ),
        (
            FILTER.replace("filter_redact.wasm", "libfilter_redact.so"),
            ".wasm",
        ),
        (VALID.replace("libout_jsonl.so", "out_jsonl.wasm"), ".wasm"),
        (
            FILTER.replace("type: filter", "type: filter\n  pluginName: redact"),
            "not set for a filter",
        ),
        (
            VALID.replace("  pluginName: jsonl_file\n", ""),
            "pluginName is required",
        ),
        (
            FILTER.replace(
                "  wasm:\n    functionName: redact_filter\n    maxRecordSize: 65536\n",
                "",
            ),
            "needs spec.wasm",
        ),
        (
            VALID.replace(
                "  instances:",
                "  wasm: {functionName: f, maxRecordSize: 1}\n  instances:",
            ),
            "type filter only",
        ),
        (
            FILTER.replace(
                "alias: redact_app",
                "properties: [{name: fields, value: password}]",
            ),
            "no settings",
        ),
        (
            FILTER.replace("- match: \"app.*\"", "- tag: app"),
            "needs match",
        ),
    ];
    for (yaml, expected) in cases {
        let errors = cel_errors(&plugin(&yaml));
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "expected an error containing {expected:?}, got {errors:?} for\n{yaml}"
        );
    }
}
