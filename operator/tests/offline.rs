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

#[test]
fn a_daemonset_file_that_already_carries_the_plugins_renders_the_same_manifests() {
    let paths: Vec<_> = EXAMPLES.iter().map(|p| workspace_path(p)).collect();
    let sources = offline::load_plugins(&paths).expect("examples load");
    let base = fixture("fluent-bit.conf");
    let ds: DaemonSet = serde_norway::from_str(&fixture("daemonset.yaml")).expect("DaemonSet");
    let first = offline::render(&sources, Some(&ds), &base).expect("YAML");
    // The DaemonSet as it is once the operator's intent has been applied to it.
    let intent = first
        .manifests
        .split("---\n")
        .find(|doc| doc.starts_with("apiVersion: apps/v1"))
        .expect("a DaemonSet intent");
    let mut live = serde_json::to_value(&ds).expect("JSON");
    let intent: serde_json::Value = serde_norway::from_str(intent).expect("intent YAML");
    merge(&mut live, &intent);
    assert!(
        operator::drift::daemonset_current(&live, &intent),
        "the merged DaemonSet carries the intent"
    );
    let live: DaemonSet = serde_json::from_value(live).expect("still a DaemonSet");
    let again = offline::render(&sources, Some(&live), &base).expect("YAML");
    assert_eq!(
        again.manifests, first.manifests,
        "the same intent, not the empty one"
    );
}

/// Merges `patch` into `into` the way a server-side apply adds fields: objects key by key,
/// lists of named items by name (mounts by path).
fn merge(into: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for item in b {
                // Mounts are keyed by their path (one volume may be mounted twice).
                let key = if item["mountPath"].is_string() {
                    "mountPath"
                } else {
                    "name"
                };
                match a
                    .iter_mut()
                    .find(|x| x[key].is_string() && x[key] == item[key])
                {
                    Some(x) => merge(x, item),
                    None => a.push(item.clone()),
                }
            }
        }
        (a, b) => *a = b.clone(),
    }
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

/// A valid plugin document with `metadata` replaced.
fn plugin_with_metadata(metadata: &str) -> String {
    format!(
        "apiVersion: fbplugin.dev/v1alpha1\nkind: FluentBitPlugin\nmetadata:\n{metadata}\nspec:\n  \
         type: output\n  pluginName: out_a\n  artifact:\n    image: registry.example/a@sha256:{}\n    \
         path: /plugins/libout_a.so\n  instances:\n    - match: '*'\n  target: {{daemonSet: fluent-bit}}\n",
        "ab".repeat(32)
    )
}

#[test]
fn offline_render_refuses_what_the_api_server_refuses() {
    let cases: &[(&str, String, &str)] = &[
        (
            "a newline in metadata.namespace (it injected @INCLUDE)",
            plugin_with_metadata("  name: a\n  namespace: \"logging\\n@INCLUDE /etc/passwd\""),
            "metadata.namespace",
        ),
        (
            "a newline in metadata.name (it injected a whole [OUTPUT])",
            plugin_with_metadata(
                "  name: \"a\\n[OUTPUT]\\n    Name stdout\\n    Match *\"\n  namespace: logging",
            ),
            "metadata.name",
        ),
        (
            "upper case in metadata.name",
            plugin_with_metadata("  name: Out-A\n  namespace: logging"),
            "metadata.name",
        ),
        (
            "a slash in metadata.namespace",
            plugin_with_metadata("  name: a\n  namespace: ../etc"),
            "metadata.namespace",
        ),
        (
            "an empty metadata.name",
            plugin_with_metadata("  name: \"\"\n  namespace: logging"),
            "metadata.name",
        ),
        (
            "duplicate keys (the last one used to win silently)",
            plugin_with_metadata("  name: a\n  namespace: logging\n  namespace: kube-system"),
            "duplicate",
        ),
        (
            "a duplicate key deep in the spec",
            plugin_with_metadata("  name: a\n  namespace: logging").replace(
                "path: /plugins/libout_a.so",
                "path: /plugins/libout_a.so\n    path: /plugins/other.so",
            ),
            "duplicate",
        ),
    ];
    for (what, text, expected) in cases {
        let err = offline::parse_plugins("mem.yaml", text)
            .err()
            .unwrap_or_else(|| panic!("{what}: must be refused"))
            .to_string();
        assert!(err.contains(expected), "{what}: {err}");
        assert!(err.starts_with("mem.yaml#1"), "{what}: names where: {err}");
    }
    // The same document with clean metadata parses.
    let ok = plugin_with_metadata("  name: a.b-1\n  namespace: logging");
    assert_eq!(
        offline::parse_plugins("mem.yaml", &ok)
            .expect("valid")
            .len(),
        1
    );
}

#[test]
fn offline_render_bounds_size_and_depth_and_answers_fast() {
    // 200 KB of nesting used to cost 150 s of CPU.
    for deep in [
        "a: ".to_string() + &"[".repeat(100_000) + &"]".repeat(100_000),
        "a: ".to_string() + &"{b: ".repeat(50_000) + "1" + &"}".repeat(50_000),
        (0..300)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect::<String>(),
    ] {
        let started = std::time::Instant::now();
        let err = offline::parse_plugins("deep.yaml", &deep)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("nested deeper"), "{err}");
        assert!(
            // Milliseconds in practice; the unbounded parser took 150 s.
            started.elapsed() < std::time::Duration::from_secs(60),
            "took {:?}",
            started.elapsed()
        );
    }
    let big = "# padding\n".repeat(110_000);
    let err = offline::parse_plugins("big.yaml", &big)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("larger than"), "{err}");
    // An ordinary plugin nests 6 deep and passes.
    let text = fixture("invalid-fluentbitplugin.yaml");
    assert!(offline::parse_plugins("ok.yaml", &text).is_ok());
}

#[test]
fn the_binary_refuses_an_injected_namespace_and_an_image_outside_the_allow_list() {
    let dir = std::env::temp_dir().join(format!("fbplugin-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let injected = dir.join("injected.yaml");
    std::fs::write(
        &injected,
        plugin_with_metadata("  name: a\n  namespace: \"logging\\n@INCLUDE /etc/passwd\""),
    )
    .expect("write");
    let (code, stdout, stderr) = operator(&["render", "-f", &injected.display().to_string()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stdout.is_empty() && stderr.contains("metadata.namespace"),
        "{stderr}"
    );

    let clean = dir.join("clean.yaml");
    std::fs::write(
        &clean,
        plugin_with_metadata("  name: a\n  namespace: logging"),
    )
    .expect("write");
    let clean = clean.display().to_string();
    let (code, _, stderr) = operator(&[
        "render",
        "-f",
        &clean,
        "--allowed-image-repository",
        "ghcr.io/acme/",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("ImageNotAllowed"), "{stderr}");
    let (code, _, stderr) = operator(&[
        "render",
        "-f",
        &clean,
        "--allowed-image-repository",
        "registry.example/",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn offline_render_onto_a_daemonset_that_did_not_opt_in_writes_nothing() {
    let paths = vec![workspace_path(EXAMPLES[0])];
    let sources = offline::load_plugins(&paths).expect("examples load");
    let mut ds: DaemonSet = serde_norway::from_str(&fixture("daemonset.yaml")).expect("DaemonSet");
    ds.metadata.labels = None;
    let output = offline::render(&sources, Some(&ds), &fixture("fluent-bit.conf")).expect("YAML");
    assert!(output.failed);
    assert!(output.manifests.is_empty(), "{}", output.manifests);
    assert!(
        output
            .messages
            .iter()
            .any(|m| m.contains("does not accept plugins")
                && m.contains("fbplugin.dev/accept-plugins")),
        "{:?}",
        output.messages
    );
}

#[test]
fn offline_render_says_when_it_lacks_the_daemonsets_config_or_got_another_daemonset() {
    let paths = [workspace_path(EXAMPLES[0])];
    let sources = offline::load_plugins(&paths).expect("examples load");
    let mut other: DaemonSet =
        serde_norway::from_str(&fixture("daemonset.yaml")).expect("DaemonSet");
    other.metadata.name = Some("fluent-bit-other".into());
    let output = offline::render(&sources, Some(&other), "").expect("YAML");
    assert!(
        !output.failed,
        "notes do not fail the render: {:?}",
        output.messages
    );
    let said = output.messages.join("\n");
    assert!(
        said.contains("logging/fluent-bit: rendered without its own config (give --base-config)"),
        "{said}"
    );
    assert!(
        said.contains("--daemonset is logging/fluent-bit-other, which no plugin targets"),
        "{said}"
    );
    // With the DaemonSet's config and the right DaemonSet, nothing to say.
    let ds: DaemonSet = serde_norway::from_str(&fixture("daemonset.yaml")).expect("DaemonSet");
    let output = offline::render(&sources, Some(&ds), &fixture("fluent-bit.conf")).expect("YAML");
    assert_eq!(output.messages, Vec::<String>::new());
}

/// `helm template` output: the chart's ServiceAccount, its ConfigMap holding the main config
/// (with `config` as `fluent-bit.conf`), and the DaemonSet.
fn helm_template_output(config: &str) -> String {
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "fluent-bit", "namespace": "logging" },
        "data": { "fluent-bit.conf": config, "custom_parsers.conf": "[PARSER]\n    Name x\n    Format json\n" },
    });
    format!(
        "---\n# Source: fluent-bit/templates/serviceaccount.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: fluent-bit, namespace: logging}}\n---\n# Source: fluent-bit/templates/configmap.yaml\n{}---\n# Source: fluent-bit/templates/daemonset.yaml\n{}",
        serde_norway::to_string(&cm).expect("YAML"),
        fixture("daemonset.yaml")
    )
}

#[test]
fn the_binary_reads_the_daemonsets_own_config_from_helm_template_output() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let helm = dir.path().join("helm-template.yaml");
    std::fs::write(&helm, helm_template_output(&fixture("fluent-bit.conf"))).expect("write");
    let helm_arg = helm.display().to_string();
    let (code, stdout, stderr) = operator(&[
        "render",
        "-f",
        EXAMPLES[0],
        EXAMPLES[1],
        EXAMPLES[2],
        "--daemonset",
        &helm_arg,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "note: the DaemonSet's own config read from ConfigMap fluent-bit key fluent-bit.conf"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("rendered without its own config"),
        "{stderr}"
    );
    assert_golden("examples/manifests.yaml", &stdout);

    // The same chart output without the include line: every plugin is refused, and says why.
    let without = fixture("fluent-bit.conf").replace("@INCLUDE", "# @INCLUDE");
    std::fs::write(&helm, helm_template_output(&without)).expect("write");
    let (code, _, stderr) = operator(&["render", "-f", EXAMPLES[0], "--daemonset", &helm_arg]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "spec.target: the DaemonSet's own config does not include the operator's pipeline"
        ) && stderr.contains("(PipelineNotIncluded)"),
        "{stderr}"
    );

    // A file without a DaemonSet is an input error.
    std::fs::write(
        &helm,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n",
    )
    .expect("write");
    let (code, _, stderr) = operator(&["render", "-f", EXAMPLES[0], "--daemonset", &helm_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("holds no DaemonSet"), "{stderr}");
}
