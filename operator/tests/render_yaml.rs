//! `render` for a YAML-configured DaemonSet (`spec.target.configPath` ending in `.yaml`): golden
//! files for every plugin type, the pipeline file the user's config includes, values that mean
//! something in YAML kept as one string, and what stays as in classic mode.

mod support;

use std::collections::BTreeMap;

use fbplugin_crds::FluentBitPlugin;
use operator::render::render_daemonset;
use operator::validate::Reason;
use serde::Deserialize;
use support::{assert_golden, fixture, plugin};

const YAML_PATH: &str = "/fluent-bit/etc/conf/fluent-bit.yaml";

/// A plugin targeting the YAML config path; `extra` goes into the spec.
fn make(name: &str, kind: &str, extra: &str, instance: &str) -> FluentBitPlugin {
    let file = if kind == "filter" {
        format!("{}.wasm", name.replace('-', "_"))
    } else {
        format!("lib{}.so", name.replace('-', "_"))
    };
    plugin(&format!(
        r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {{name: {name}, namespace: logging}}
spec:
  type: {kind}
  {extra}
  artifact:
    image: registry.example/{name}@sha256:{digest}
    path: /plugins/{file}
  instances:
    - {instance}
  target: {{daemonSet: fluent-bit, configPath: {YAML_PATH}}}
"#,
        digest = "ab".repeat(32),
    ))
}

fn every_type() -> Vec<FluentBitPlugin> {
    vec![
        make(
            "in-generator",
            "input",
            "pluginName: generator",
            r#"{tag: gen.hello, memBufLimit: 5M, storageType: filesystem, properties: [{name: message, value: 'key: value # not a comment'}, {name: Fields, value: '- a, {b}, [c], *d, &e, !f, "g", \h'}, {name: rate, value: '10'}]}"#,
        ),
        make(
            "filter-redact",
            "filter",
            "wasm: {functionName: redact_filter, maxRecordSize: 65536}",
            "{match: 'gen.*', alias: redact_gen, logLevel: warn}",
        ),
        make(
            "out-jsonl",
            "output",
            "pluginName: jsonl_file",
            r#"{matchRegex: '^(kube|gen)\..*$', workers: 2, retryLimit: no_retries, storageTotalLimitSize: 500M, properties: [{name: Header, value: 'X-A 1'}, {name: path, value: /var/log/gen.jsonl}, {name: header, value: 'X-B 2'}, {name: dir, value: '${LOG_DIR}/logs'}], allowEnvExpansion: true}"#,
        ),
        make(
            "ext-metrics",
            "custom",
            "pluginName: metrics_ext",
            "{alias: metrics_ext, logLevel: debug, properties: [{name: myKey, value: 'true'}]}",
        ),
    ]
}

/// Every document of a YAML stream, each decoded on its own (what any YAML tool sees).
fn documents(text: &str) -> Vec<serde_norway::Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_norway::Value::deserialize(d).unwrap_or_else(|e| panic!("{e}\n{text}")))
        .collect()
}

#[test]
fn every_plugin_type_renders_into_the_included_pipeline() {
    let plugins = every_type();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let base = fixture("fluent-bit.yaml");
    let result = render_daemonset(&base, &refs);
    assert!(
        result
            .outcomes
            .iter()
            .all(|o| o.included && o.problems.is_empty()),
        "{:#?}",
        result.outcomes
    );
    let rendered = result.rendered.expect("four valid plugins render");
    assert!(rendered.yaml);
    assert_eq!(
        rendered.plugins_conf, None,
        "YAML lists the .so files itself"
    );
    assert_golden("yaml/pipeline.yaml", &rendered.pipeline);

    let docs = documents(&rendered.pipeline);
    assert_eq!(docs.len(), 1, "one document: the operator's");
    let ours = &docs[0];
    assert!(
        ours.get("service").is_none(),
        "Fluent Bit refuses a second service"
    );
    assert_eq!(
        ours["plugins"],
        serde_norway::to_value([
            "/fluent-bit/plugins/ext-metrics/libext_metrics.so",
            "/fluent-bit/plugins/in-generator/libin_generator.so",
            "/fluent-bit/plugins/out-jsonl/libout_jsonl.so",
        ])
        .unwrap(),
        "absolute .so paths only, no .wasm"
    );
    let input = &ours["pipeline"]["inputs"][0];
    assert_eq!(input["name"], "generator");
    assert_eq!(input["message"], "key: value # not a comment");
    assert_eq!(input["fields"], r#"- a, {b}, [c], *d, &e, !f, "g", \h"#);
    let filter = &ours["pipeline"]["filters"][0];
    assert_eq!(filter["name"], "wasm");
    assert_eq!(
        filter["wasm_path"],
        "/fluent-bit/plugins/filter-redact/filter_redact.wasm"
    );
    assert_eq!(filter["function_name"], "redact_filter");
    let output = &ours["pipeline"]["outputs"][0];
    assert_eq!(
        output["header"],
        serde_norway::to_value(["X-A 1", "X-B 2"]).unwrap(),
        "a repeated key is a list, applied as repeated properties"
    );
    assert_eq!(output["dir"], "${LOG_DIR}/logs");
    let custom = &ours["customs"][0];
    assert_eq!(
        custom["mykey"], "true",
        "keys lowercased, values stay strings"
    );
}

#[test]
fn every_value_is_a_string_whatever_it_looks_like() {
    let plugins = every_type();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let rendered = render_daemonset("", &refs).rendered.expect("renders");
    let docs = documents(&rendered.pipeline);
    assert_eq!(docs.len(), 1, "the operator's document");
    let ours: BTreeMap<String, serde_norway::Value> =
        serde_norway::from_value(docs[0].clone()).unwrap();
    for list in [
        &ours["pipeline"]["inputs"],
        &ours["pipeline"]["outputs"],
        &ours["customs"],
    ] {
        for entry in list.as_sequence().unwrap() {
            for (k, v) in entry.as_mapping().unwrap() {
                let strings = v.is_string()
                    || v.as_sequence()
                        .is_some_and(|s| s.iter().all(|x| x.is_string()));
                assert!(strings && k.is_string(), "{k:?}: {v:?}");
            }
        }
    }
}

#[test]
fn a_yaml_plugins_file_is_kept_and_hot_reload_is_seen() {
    let out = make(
        "out-jsonl",
        "output",
        "pluginName: jsonl_file",
        "{match: '*', workers: 2}",
    );
    let base = "service:\n  plugins_file: /etc/own-plugins.conf\n  hot_reload: on\nincludes: [/fluent-bit/etc/fbplugin/pipeline.yaml]\n";
    let result = render_daemonset(base, &[&out]);
    let reasons: Vec<Reason> = result.outcomes[0]
        .problems
        .iter()
        .map(|p| p.reason)
        .collect();
    assert_eq!(
        reasons,
        vec![Reason::WorkersWithHotReload],
        "a YAML config's plugins_file is loaded besides the operator's plugins list"
    );
    let conf = result.rendered.expect("renders").pipeline;
    assert!(!conf.contains("workers"), "{conf}");
}

#[test]
fn a_classic_path_still_renders_classic() {
    let mut p = make(
        "out-jsonl",
        "output",
        "pluginName: jsonl_file",
        "{match: '*'}",
    );
    p.spec.target.config_path = None;
    let conf = render_daemonset("", &[&p])
        .rendered
        .expect("renders")
        .pipeline;
    assert!(conf.contains("[OUTPUT]\n    Name jsonl_file\n"), "{conf}");
}

#[test]
fn a_config_that_does_not_include_the_pipeline_keeps_every_plugin_out() {
    let out = make(
        "out-jsonl",
        "output",
        "pluginName: jsonl_file",
        "{match: '*'}",
    );
    let base =
        fixture("fluent-bit.yaml").replace("  - /fluent-bit/etc/fbplugin/pipeline.yaml\n", "");
    let result = render_daemonset(&base, &[&out]);
    assert!(!result.outcomes[0].included);
    let problem = &result.outcomes[0].problems[0];
    assert_eq!(problem.reason, Reason::PipelineNotIncluded);
    assert!(
        problem
            .message
            .contains("an `includes:` entry \"/fluent-bit/etc/fbplugin/pipeline.yaml\""),
        "{}",
        problem.message
    );
    // The pipeline is still rendered (empty), so the DaemonSet can start once it includes it.
    let rendered = result.rendered.expect("the empty pipeline");
    assert!(
        documents(&rendered.pipeline)[0]
            .as_mapping()
            .unwrap()
            .is_empty()
    );
}
