//! WASM filters through `render` and `workload`: golden files for a DaemonSet with an input, a
//! filter and an output, the heap-size rule against the SDK's, and what filters leave out.

mod support;

use fbplugin_crds::FluentBitPlugin;
use operator::layout;
use operator::render::filter::wasm_heap_size;
use operator::render::render_daemonset;
use operator::validate::Reason;
use operator::workload;
use support::{assert_golden, fixture, make, plugin};

/// A filter named `name` in `logging` on `fluent-bit`, with `wasm` and one instance.
fn filter(name: &str, wasm: &str, instance: &str) -> FluentBitPlugin {
    plugin(&format!(
        r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {{name: {name}, namespace: logging}}
spec:
  type: filter
  artifact:
    image: registry.example/{name}@sha256:{digest}
    path: /plugins/{file}.wasm
    sha256: {digest}
  wasm: {wasm}
  instances:
    - {instance}
  target: {{daemonSet: fluent-bit}}
"#,
        digest = "5e".repeat(32),
        file = name.replace('-', "_"),
    ))
}

/// Input, filter, output: the pipeline of the e2e flow.
fn pipeline() -> Vec<FluentBitPlugin> {
    vec![
        make(
            "out-jsonl",
            "output",
            "jsonl_file",
            "{match: 'gen.*', properties: [{name: path, value: /var/log/gen.jsonl}]}",
        ),
        filter(
            "filter-redact",
            "{functionName: redact_filter, maxRecordSize: 65536}",
            "{match: 'gen.*', alias: redact_gen, logLevel: warn}",
        ),
        make(
            "in-generator",
            "input",
            "generator",
            "{tag: gen.hello, properties: [{name: message, value: hello}]}",
        ),
    ]
}

#[test]
fn input_filter_output_daemonset() {
    let plugins = pipeline();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let result = render_daemonset(&fixture("fluent-bit.conf"), &refs);
    assert!(
        result
            .outcomes
            .iter()
            .all(|o| o.included && o.problems.is_empty()),
        "{:#?}",
        result.outcomes
    );
    let rendered = result
        .rendered
        .as_ref()
        .expect("three valid plugins render");
    assert_eq!(
        support::classic_config_errors(&rendered.pipeline),
        Vec::<String>::new()
    );
    let conf = &rendered.pipeline;
    assert!(
        conf.contains(
            "[FILTER]\n    Name wasm\n    Match gen.*\n    Alias redact_gen\n    Log_Level warn\n    \
             WASM_Path /fluent-bit/plugins/filter-redact/filter_redact.wasm\n    \
             Function_Name redact_filter\n    Event_Format json\n    WASM_Heap_Size 66832\n    \
             WASM_Stack_Size 65536\n"
        ),
        "{conf}"
    );
    // Only the .so files are dlopen'ed through plugins.conf.
    assert!(
        !rendered
            .plugins_conf
            .as_deref()
            .unwrap_or_default()
            .contains(".wasm")
    );
    assert!(
        rendered
            .plugins_conf
            .as_deref()
            .unwrap_or_default()
            .contains("libgenerator.so")
    );
    assert_golden("filter/pipeline.conf", conf);
    assert_golden(
        "filter/plugins.conf",
        rendered.plugins_conf.as_deref().unwrap_or_default(),
    );

    // The init container copies the .wasm exactly as it copies a .so.
    let ds = workload::daemonset_intent(
        "fluent-bit",
        "logging",
        "fluent-bit",
        &result.included(&refs),
        rendered,
    );
    let init = ds["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .expect("init containers");
    let redact = init
        .iter()
        .find(|c| c["name"] == "fbplugin-filter-redact")
        .expect("the filter's init container");
    // The copy program from the filter's image, argv only: no shell, no environment.
    let sha = refs
        .iter()
        .find_map(|p| {
            p.spec
                .artifact
                .sha256
                .clone()
                .filter(|_| p.spec.wasm.is_some())
        })
        .expect("the filter sets spec.artifact.sha256");
    assert_eq!(
        redact["command"],
        serde_json::json!([
            layout::COPY_PROGRAM,
            "--from",
            "/plugins/filter_redact.wasm",
            // The filter's own directory (subPath) is its whole view of the plugins volume.
            "--into",
            "/fbplugin-out",
            "--as",
            "filter_redact.wasm",
            "--sha256",
            sha
        ])
    );
    assert!(redact["env"].is_null(), "{redact}");
    assert_eq!(redact["volumeMounts"][0]["subPath"], "filter-redact");
    assert_golden(
        "filter/daemonset-intent.yaml",
        &serde_norway::to_string(&ds).expect("YAML"),
    );
}

#[test]
fn filters_alone_render_without_plugins_file() {
    let f = filter(
        "filter-redact",
        "{functionName: redact_filter, eventFormat: msgpack, maxRecordSize: 1024, maxTagSize: 64, stackSize: 131072}",
        "{matchRegex: '^app\\.', allowEnvExpansion: true}",
    );
    let rendered = render_daemonset("", &[&f]).rendered.expect("renders");
    assert!(!rendered.pipeline.contains("Plugins_File"));
    assert!(!rendered.pipeline.contains("[SERVICE]"));
    assert!(
        !rendered
            .plugins_conf
            .as_deref()
            .unwrap_or_default()
            .contains("Path")
    );
    for line in [
        "    Match_Regex ^app\\.\n",
        "    Event_Format msgpack\n",
        "    WASM_Heap_Size 8192\n",
        "    WASM_Stack_Size 131072\n",
    ] {
        assert!(rendered.pipeline.contains(line), "{line:?}");
    }
    assert_eq!(
        support::classic_config_errors(&rendered.pipeline),
        Vec::<String>::new()
    );
}

#[test]
fn a_base_plugins_file_blocks_shared_objects_but_not_filters() {
    let base = "[SERVICE]\n    Plugins_File /etc/plugins.conf\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n";
    let f = filter(
        "filter-redact",
        "{functionName: redact_filter, maxRecordSize: 65536}",
        "{match: '*'}",
    );
    let out = make("out-a", "output", "a", "{match: '*'}");
    let result = render_daemonset(base, &[&f, &out]);
    assert!(result.outcomes[0].included);
    assert!(!result.outcomes[1].included);
    assert_eq!(
        result.outcomes[1].problems[0].reason,
        Reason::BaseConfigSetsPluginsFile
    );
    let rendered = result.rendered.expect("the filter renders");
    assert!(rendered.pipeline.contains("Name wasm"));
    assert!(
        !rendered
            .pipeline
            .contains("/fluent-bit/etc/fbplugin/plugins.conf")
    );
}

#[test]
fn filters_in_object_name_order_and_without_name_conflicts() {
    let second = filter(
        "20-label",
        "{functionName: label_filter, maxRecordSize: 4096}",
        "{match: '*'}",
    );
    let first = filter(
        "10-redact",
        "{functionName: redact_filter, maxRecordSize: 4096}",
        "{match: '*'}",
    );
    let result = render_daemonset("", &[&second, &first]);
    assert!(result.outcomes.iter().all(|o| o.included), "{result:#?}");
    let conf = result.rendered.expect("renders").pipeline;
    let at = |f: &str| conf.find(f).expect(f);
    assert!(at("Function_Name redact_filter") < at("Function_Name label_filter"));
}

#[test]
fn changing_the_filter_spec_changes_the_hash() {
    let hash = |wasm: &str| {
        let f = filter("filter-redact", wasm, "{match: '*'}");
        render_daemonset("", &[&f]).rendered.expect("renders").hash
    };
    let base = hash("{functionName: redact_filter, maxRecordSize: 65536}");
    for changed in [
        "{functionName: redact2, maxRecordSize: 65536}",
        "{functionName: redact_filter, maxRecordSize: 131072}",
        "{functionName: redact_filter, maxRecordSize: 65536, stackSize: 131072}",
    ] {
        assert_ne!(hash(changed), base, "{changed}");
    }
}

#[test]
fn heap_size_is_the_sdk_rule() {
    let edges = [
        0u64, 1, 2, 3, 4, 10, 11, 12, 13, 255, 256, 257, 7_000, 7_200, 8_192,
    ];
    let mut values: Vec<u64> = edges.to_vec();
    values.extend((0..64).map(|i| 65_536 + i));
    values.extend([1 << 20, 16 << 20]);
    for &record in &values {
        for tag in [1u64, 32, 64, 256, 257, 4096] {
            assert_eq!(
                wasm_heap_size(record, tag),
                plugin_runtime::filter::heap_size_for(record, tag),
                "record {record}, tag {tag}"
            );
        }
    }
    assert_eq!(
        plugin_runtime::filter::DEFAULT_HEAP_SIZE,
        operator::render::filter::MIN_HEAP_SIZE
    );
}
