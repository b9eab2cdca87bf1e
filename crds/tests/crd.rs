//! The generated CRD: committed copy current, stripping works, YAML 1.1 readers get strings.
//! What the CEL rules accept is decided by a real Kubernetes 1.36 API server in
//! `e2e/tests/crd_validation.rs`, not here.

use fbplugin_crds::{CRD_FILE_NAME, Cel, FluentBitPlugin, crd_yaml};

#[test]
fn enum_values_yaml_1_1_reads_as_booleans_are_quoted() {
    let yaml = crd_yaml(Cel::Keep).expect("CRD serializes");
    assert!(
        yaml.contains("- 'off'"),
        "logLevel's off must be quoted for kubectl and Helm"
    );
    for line in yaml.lines() {
        let scalar = line.trim_start().trim_start_matches("- ");
        let scalar = scalar.rsplit_once(": ").map_or(scalar, |(_, v)| v);
        assert!(
            !["off", "on", "yes", "no", "y", "n"].contains(&scalar.to_ascii_lowercase().as_str()),
            "unquoted YAML 1.1 boolean: {line}"
        );
    }
}

/// `kubectl get fbp` shows the columns of priority 0: the Reason is among them (the README
/// promises it), not hidden behind `-o wide`.
#[test]
fn kubectl_get_shows_ready_rollout_and_reason() {
    let crd = fbplugin_crds::crd();
    let columns = crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default();
    let shown: Vec<&str> = columns
        .iter()
        .filter(|c| c.priority.unwrap_or(0) == 0)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        shown,
        ["Type", "DaemonSet", "Ready", "Rollout", "Reason", "Age"]
    );
}

#[test]
fn no_field_is_nullable() {
    assert!(
        !crd_yaml(Cel::Keep)
            .expect("CRD serializes")
            .contains("nullable")
    );
}

fn plugin(yaml: &str) -> FluentBitPlugin {
    serde_norway::from_str(yaml).expect("test YAML decodes")
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
fn a_filter_decodes_with_its_defaults() {
    let p = plugin(FILTER);
    let wasm = p.spec.wasm.as_ref().expect("wasm section");
    assert_eq!(wasm.event_format(), fbplugin_crds::EventFormat::Json);
    assert_eq!((wasm.max_tag_size(), wasm.stack_size()), (256, 65536));
    assert!(p.spec.plugin_name.is_none());
}
