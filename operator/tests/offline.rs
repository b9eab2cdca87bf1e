//! `operator render`: the example CRs through the same path as the subcommand, and the binary
//! itself on valid and invalid input.

mod support;

use std::process::Command;

use k8s_openapi::api::apps::v1::DaemonSet;
use operator::offline;
use support::{assert_golden, fixture, workspace_path};

const EXAMPLES: [&str; 3] = [
    "examples/out-jsonl/deploy",
    "examples/in-generator/deploy",
    "examples/filter-redact/deploy",
];

#[test]
fn examples_render_to_the_golden_manifests() {
    let paths: Vec<_> = EXAMPLES.iter().map(|p| workspace_path(p)).collect();
    let sources = offline::load_plugins(&paths).expect("examples load");
    assert_eq!(sources.len(), 3);
    let ds: DaemonSet = serde_norway::from_str(&fixture("daemonset.yaml")).expect("DaemonSet");
    let output = offline::render(&sources, Some(&ds), &fixture("fluent-bit.conf")).expect("YAML");
    assert_eq!(output.messages, Vec::<String>::new());
    assert!(!output.failed);
    assert_golden("examples/manifests.yaml", &output.manifests);
}

fn operator(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(args)
        .current_dir(workspace_path(""))
        .output()
        .expect("operator runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binary_renders_the_examples() {
    let (code, stdout, stderr) = operator(&[
        "render",
        "-f",
        EXAMPLES[0],
        EXAMPLES[1],
        EXAMPLES[2],
        "--daemonset",
        "operator/tests/fixtures/daemonset.yaml",
        "--base-config",
        "operator/tests/fixtures/fluent-bit.conf",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_golden("examples/manifests.yaml", &stdout);
}

#[test]
fn the_filter_example_renders_on_its_own() {
    let (code, stdout, stderr) = operator(&["render", "-f", EXAMPLES[2]]);
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "[FILTER]",
        "Name wasm",
        "WASM_Path /fluent-bit/plugins/filter-redact/filter_redact.wasm",
        "Function_Name redact_filter",
        "WASM_Heap_Size 66832",
        "name: fbplugin-filter-redact",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert!(!stdout.contains("Plugins_File"), "{stdout}");
}

#[test]
fn the_binary_fails_on_an_invalid_cr_naming_file_and_field() {
    let (code, stdout, stderr) = operator(&[
        "render",
        "-f",
        "operator/tests/fixtures/invalid-fluentbitplugin.yaml",
        EXAMPLES[0],
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert_golden("invalid-beside-valid/messages.txt", &stderr);
    // The valid plugin is still rendered; the invalid one is not.
    assert!(
        stdout.contains("fbplugin-out-jsonl") && !stdout.contains("broken"),
        "{stdout}"
    );
}

#[test]
fn the_binary_explains_unreadable_input() {
    let (code, _, stderr) = operator(&["render", "-f", "does/not/exist.yaml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot read does/not/exist.yaml"),
        "{stderr}"
    );
    let (code, _, stderr) = operator(&["render", "-f", "operator/tests/fixtures/fluent-bit.conf"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("operator/tests/fixtures/fluent-bit.conf#"),
        "{stderr}"
    );
}

#[test]
fn the_binary_prints_the_crd_with_and_without_cel() {
    let (code, with, _) = operator(&["crd"]);
    assert_eq!(code, 0);
    assert!(with.contains("x-kubernetes-validations"));
    assert_eq!(
        with,
        std::fs::read_to_string(workspace_path("crds/fluentbitplugins.fbplugin.dev.yaml"))
            .expect("crd")
    );
    let (code, without, _) = operator(&["crd", "--no-cel"]);
    assert_eq!(code, 0);
    assert!(
        without.contains("kind: CustomResourceDefinition")
            && !without.contains("x-kubernetes-validations")
    );
}

#[test]
fn multi_document_files_skip_other_kinds_and_default_the_namespace() {
    let text = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: x}}\n---\n{}",
        fixture("invalid-fluentbitplugin.yaml").replace("  namespace: logging\n", "")
    );
    let sources = offline::parse_plugins("mem.yaml", &text).expect("parses");
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].origin, "mem.yaml#2");
    assert_eq!(
        sources[0].plugin.metadata.namespace.as_deref(),
        Some("default")
    );
}
