//! Every validation rule, as a table: each row changes one valid object and says which field
//! and reason the operator must report, and whether the CRD's CEL rules refuse it too (rows
//! CEL cannot decide, such as conflicts, are `Cel::No`).

use fbplugin_crds::FluentBitPlugin;
use operator::validate::{self, Reason};

const OUTPUT: &str = r#"
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
      alias: jsonl_app
      workers: 2
      retryLimit: 5
      properties:
        - {name: path, value: /tmp/out.jsonl}
        - {name: format, value: jsonl}
        - {name: format, value: again}
  target: {daemonSet: fluent-bit}
"#;

const INPUT: &str = r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {name: in-generator, namespace: logging}
spec:
  type: input
  pluginName: generator
  artifact:
    image: ghcr.io/fbplugin/in-generator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    path: /plugins/libin_generator.so
    sha256: fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
  instances:
    - tag: gen
      memBufLimit: 5M
      storageType: memory
      properties:
        - {name: message, value: hello}
  target: {daemonSet: fluent-bit}
"#;

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
    eventFormat: json
    maxRecordSize: 65536
    maxTagSize: 128
    stackSize: 131072
  instances:
    - match: "app.*"
      alias: redact_app
      logLevel: warn
  target: {daemonSet: fluent-bit}
"#;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Cel {
    Yes,
    No,
}

struct Row {
    base: &'static str,
    from: &'static str,
    to: &'static str,
    field: &'static str,
    reason: Reason,
    message: &'static str,
    cel: Cel,
}

const PROP: &str = "{name: path, value: /tmp/out.jsonl}";

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use Cel::*;
    use Reason::*;
    let r = |base, from, to, field, reason, message, cel| Row { base, from, to, field, reason, message, cel };
    let p = "spec.instances[0].properties[0]";
    vec![
        // Reserved keys, case-insensitive, each naming the field to use instead.
        r(OUTPUT, PROP, "{name: Workers, value: '4'}", leak(p, ".name"), ReservedKey, "spec.instances[0].workers", Yes),
        r(OUTPUT, PROP, "{name: match, value: '*'}", leak(p, ".name"), ReservedKey, "spec.instances[0].match or spec.instances[0].matchRegex", Yes),
        r(OUTPUT, PROP, "{name: Match_Regex, value: '.*'}", leak(p, ".name"), ReservedKey, "matchRegex", Yes),
        r(OUTPUT, PROP, "{name: retry_limit, value: '1'}", leak(p, ".name"), ReservedKey, "spec.instances[0].retryLimit", Yes),
        r(OUTPUT, PROP, "{name: storage.total_limit_size, value: 5M}", leak(p, ".name"), ReservedKey, "storageTotalLimitSize", Yes),
        r(OUTPUT, PROP, "{name: ALIAS, value: x}", leak(p, ".name"), ReservedKey, "spec.instances[0].alias", Yes),
        r(OUTPUT, PROP, "{name: log_level, value: debug}", leak(p, ".name"), ReservedKey, "logLevel", Yes),
        r(OUTPUT, PROP, "{name: name, value: stdout}", leak(p, ".name"), ReservedKey, "spec.pluginName", Yes),
        r(OUTPUT, PROP, "{name: host, value: example.com}", leak(p, ".name"), ReservedKey, "never reaches a proxy plugin: rename the plugin's key", Yes),
        r(OUTPUT, PROP, "{name: Port, value: '80'}", leak(p, ".name"), ReservedKey, "rename the plugin's key", Yes),
        r(OUTPUT, PROP, "{name: tls, value: 'on'}", leak(p, ".name"), ReservedKey, "rename the plugin's key", Yes),
        r(OUTPUT, PROP, "{name: tls.ciphers, value: x}", leak(p, ".name"), ReservedKey, "rename the plugin's key", Yes),
        r(OUTPUT, PROP, "{name: net.keepalive, value: 'on'}", leak(p, ".name"), ReservedKey, "rename the plugin's key", Yes),
        r(OUTPUT, PROP, "{name: oauth2.client_id, value: x}", leak(p, ".name"), ReservedKey, "rename the plugin's key", Yes),
        r(OUTPUT, PROP, "{name: ipv6, value: 'on'}", leak(p, ".name"), ReservedKey, "rename the plugin's key", Yes),
        r(OUTPUT, PROP, "{name: listen, value: 0.0.0.0}", leak(p, ".name"), ReservedKey, "rename the plugin's key", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: tag, value: x}", "spec.instances[0].properties[0].name", ReservedKey, "spec.instances[0].tag", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: mem_buf_limit, value: 5M}", "spec.instances[0].properties[0].name", ReservedKey, "memBufLimit", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: storage.type, value: filesystem}", "spec.instances[0].properties[0].name", ReservedKey, "storageType", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: rate_gate, value: 'on'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed by the operator", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: thread.ring_buffer.capacity, value: '8'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: Threaded, value: 'on'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: routable, value: 'off'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: log_suppress_interval, value: 5s}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed", Yes),
        r(INPUT, "{name: message, value: hello}", "{name: storage.pause_on_chunks_overlimit, value: 'on'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed", Yes),
        // Key syntax: config injection through the key.
        r(OUTPUT, PROP, "{name: '[OUTPUT]', value: x}", leak(p, ".name"), InvalidKey, "would open a section", Yes),
        r(OUTPUT, PROP, "{name: '@INCLUDE', value: /etc/secret.conf}", leak(p, ".name"), InvalidKey, "directive", Yes),
        r(OUTPUT, PROP, "{name: '@SET', value: a=b}", leak(p, ".name"), InvalidKey, "directive", Yes),
        r(OUTPUT, PROP, "{name: '#path', value: x}", leak(p, ".name"), InvalidKey, "comment", Yes),
        r(OUTPUT, PROP, "{name: 'path x', value: y}", leak(p, ".name"), InvalidKey, "whitespace", Yes),
        r(OUTPUT, PROP, "{name: \"pa\\tth\", value: y}", leak(p, ".name"), InvalidKey, "whitespace", Yes),
        r(OUTPUT, PROP, "{name: \"path\\n[OUTPUT]\", value: y}", leak(p, ".name"), InvalidKey, "whitespace", Yes),
        r(OUTPUT, PROP, "{name: \"pa\\u00a0th\", value: y}", leak(p, ".name"), InvalidKey, "whitespace", Yes),
        // Value syntax: config injection through the value.
        r(OUTPUT, PROP, "{name: path, value: \"/x\\n[OUTPUT]\\n    Name stdout\\n    Match *\"}", leak(p, ".value"), InvalidValue, "one line", Yes),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\r\\n@INCLUDE /etc/shadow\"}", leak(p, ".value"), InvalidValue, "one line", Yes),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\r\"}", leak(p, ".value"), InvalidValue, "CR, LF or NUL", Yes),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\u0000/y\"}", leak(p, ".value"), InvalidValue, "CR, LF or NUL", Yes),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\u001b[31m\"}", leak(p, ".value"), InvalidValue, "control character", Yes),
        r(OUTPUT, PROP, "{name: path, value: ' /x'}", leak(p, ".value"), InvalidValue, "trims", Yes),
        r(OUTPUT, PROP, "{name: path, value: '/x '}", leak(p, ".value"), InvalidValue, "trims", Yes),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\t\"}", leak(p, ".value"), InvalidValue, "trims", Yes),
        r(OUTPUT, PROP, "{name: path, value: '${SECRET}'}", leak(p, ".value"), EnvExpansionNotAllowed, "allowEnvExpansion: true", Yes),
        r(OUTPUT, "- match: \"app.*\"", "- match: \"${TAG}\"", "spec.instances[0].match", EnvExpansionNotAllowed, "allowEnvExpansion", Yes),
        // Artifact.
        r(OUTPUT, "out-jsonl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "out-jsonl:1.0", "spec.artifact.image", ImageNotPinned, "pinned by digest", Yes),
        r(OUTPUT, "out-jsonl@sha256:0123456789abcdef", "out-jsonl@sha256:0123456789ABCDEF", "spec.artifact.image", ImageNotPinned, "pinned by digest", Yes),
        r(OUTPUT, "out-jsonl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "out-jsonl@sha256:0123", "spec.artifact.image", ImageNotPinned, "digest", Yes),
        r(INPUT, "sha256: fedcba98", "sha256: FEDCBA98", "spec.artifact.sha256", InvalidSha256, "64 lowercase", Yes),
        r(INPUT, "sha256: fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", "sha256: abc", "spec.artifact.sha256", InvalidSha256, "64 lowercase", Yes),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: plugins/libout_jsonl.so", "spec.artifact.path", InvalidPath, "absolute", Yes),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /plugins/../etc/x.so", "spec.artifact.path", InvalidPath, "segments", Yes),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: '/plugins/lib out.so'", "spec.artifact.path", InvalidPath, "A-Z", Yes),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: '/plugins/$(id).so'", "spec.artifact.path", InvalidPath, "A-Z", Yes),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /plugins/flb-out_jsonl.so", "spec.artifact.path", NativePluginName, "native C", Yes),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /fbplugin-out/x.so", "spec.artifact.path", InvalidPath, "init container", No),
        // Plugin name, object name.
        r(OUTPUT, "pluginName: jsonl_file", "pluginName: 'jsonl file'", "spec.pluginName", InvalidPluginName, "registers", No),
        r(OUTPUT, "name: out-jsonl,", "name: out.jsonl,", "metadata.name", InvalidName, "without dots", Yes),
        // Routing vs type.
        r(OUTPUT, "- match: \"app.*\"", "- tag: app", "spec.instances[0].tag", RoutingNotAllowed, "route with match", Yes),
        r(OUTPUT, "- match: \"app.*\"", "- logLevel: info", "spec.instances[0].match", MissingMatch, "set match", Yes),
        r(OUTPUT, "- match: \"app.*\"", "- match: \"app.*\"\n      matchRegex: \"^app\"", "spec.instances[0].matchRegex", ConflictingMatch, "not both", Yes),
        r(INPUT, "- tag: gen", "- match: gen", "spec.instances[0].match", RoutingNotAllowed, "set tag", Yes),
        r(INPUT, "- tag: gen", "- tag: gen\n      workers: 2", "spec.instances[0].workers", FieldNotAllowed, "outputs only", Yes),
        r(OUTPUT, "workers: 2", "workers: 2\n      memBufLimit: 5M", "spec.instances[0].memBufLimit", FieldNotAllowed, "inputs only", Yes),
        r(OUTPUT, "workers: 2", "workers: 2\n      storageType: memory", "spec.instances[0].storageType", FieldNotAllowed, "inputs only", Yes),
        // Typed engine fields.
        r(OUTPUT, "retryLimit: 5", "retryLimit: 0", "spec.instances[0].retryLimit", InvalidRetryLimit, "no_retries", Yes),
        r(OUTPUT, "retryLimit: 5", "retryLimit: forever", "spec.instances[0].retryLimit", InvalidRetryLimit, "no_limits", Yes),
        r(INPUT, "memBufLimit: 5M", "memBufLimit: 5MiB", "spec.instances[0].memBufLimit", InvalidSize, "5M", No),
        r(OUTPUT, "alias: jsonl_app", "alias: 'jsonl app'", "spec.instances[0].alias", InvalidAlias, "A-Z", No),
        // Target.
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: Fluent_Bit}", "spec.target.daemonSet", InvalidTarget, "DaemonSet name", No),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}", "spec.target.daemonSet", InvalidTarget, "too long", No),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: fluent-bit, configPath: /fluent-bit/etc/fluent-bit.yaml}", "spec.target.configPath", InvalidTarget, "classic", No),
        // WASM filters: the artifact, spec.wasm, and what a filter cannot set.
        r(FILTER, "functionName: redact_filter", "functionName: 1redact", "spec.wasm.functionName", InvalidFunctionName, "C identifier", Yes),
        r(FILTER, "functionName: redact_filter", "functionName: redact-filter", "spec.wasm.functionName", InvalidFunctionName, "export_filter!", Yes),
        r(FILTER, "functionName: redact_filter", "functionName: 'redact filter'", "spec.wasm.functionName", InvalidFunctionName, "C identifier", Yes),
        r(FILTER, "eventFormat: json", "eventFormat: JSON", "spec.wasm.eventFormat", InvalidEventFormat, "json or msgpack", Yes),
        r(FILTER, "eventFormat: json", "eventFormat: xml", "spec.wasm.eventFormat", InvalidEventFormat, "json or msgpack", Yes),
        r(FILTER, "maxRecordSize: 65536", "maxRecordSize: 0", "spec.wasm.maxRecordSize", InvalidWasmSize, "1 to 16777216", Yes),
        r(FILTER, "maxRecordSize: 65536", "maxRecordSize: -5", "spec.wasm.maxRecordSize", InvalidWasmSize, "1 to 16777216", Yes),
        r(FILTER, "maxRecordSize: 65536", "maxRecordSize: 16777217", "spec.wasm.maxRecordSize", InvalidWasmSize, "1 to 16777216", Yes),
        r(FILTER, "maxTagSize: 128", "maxTagSize: 0", "spec.wasm.maxTagSize", InvalidWasmSize, "1 to 4096", Yes),
        r(FILTER, "stackSize: 131072", "stackSize: 4096", "spec.wasm.stackSize", InvalidWasmSize, "8192 to 8388608", Yes),
        r(FILTER, "path: /plugins/filter_redact.wasm", "path: /plugins/libfilter_redact.so", "spec.artifact.path", ArtifactTypeMismatch, ".wasm module", Yes),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /plugins/out_jsonl.wasm", "spec.artifact.path", ArtifactTypeMismatch, "set spec.type: filter", Yes),
        r(FILTER, "  wasm:\n    functionName: redact_filter\n    eventFormat: json\n    maxRecordSize: 65536\n    maxTagSize: 128\n    stackSize: 131072\n", "", "spec.wasm", MissingWasm, "maxRecordSize", Yes),
        r(OUTPUT, "  instances:", "  wasm: {functionName: f, maxRecordSize: 1024}\n  instances:", "spec.wasm", FieldNotAllowed, "filters only", Yes),
        r(FILTER, "type: filter", "type: filter\n  pluginName: redact", "spec.pluginName", FieldNotAllowed, "Name wasm", Yes),
        r(OUTPUT, "  pluginName: jsonl_file\n", "", "spec.pluginName", InvalidPluginName, "registers", Yes),
        r(FILTER, "logLevel: warn", "logLevel: warn\n      properties: [{name: fields, value: password}]", "spec.instances[0].properties", PropertiesNotAllowed, "no settings from Fluent Bit", Yes),
        r(FILTER, "- match: \"app.*\"\n      alias", "- alias", "spec.instances[0].match", MissingMatch, "a filter receives nothing", Yes),
        r(FILTER, "- match: \"app.*\"", "- tag: app", "spec.instances[0].tag", RoutingNotAllowed, "route with match", Yes),
        r(FILTER, "logLevel: warn", "logLevel: warn\n      workers: 2", "spec.instances[0].workers", FieldNotAllowed, "outputs only", Yes),
        r(FILTER, "logLevel: warn", "logLevel: warn\n      memBufLimit: 5M", "spec.instances[0].memBufLimit", FieldNotAllowed, "inputs only", Yes),
        r(FILTER, "- match: \"app.*\"", "- match: \"${APP}\"", "spec.instances[0].match", EnvExpansionNotAllowed, "allowEnvExpansion", Yes),
        r(INPUT, "- tag: gen", "- tag: gen\n      matchRegex: '^a'", "spec.instances[0].matchRegex", RoutingNotAllowed, "outputs and filters", Yes),
    ]
}

fn leak(a: &str, b: &str) -> &'static str {
    Box::leak(format!("{a}{b}").into_boxed_str())
}

fn decode(yaml: &str) -> FluentBitPlugin {
    serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("test YAML must decode: {e}\n{yaml}"))
}

#[test]
fn the_base_objects_are_valid_for_both_validators() {
    for base in [OUTPUT, INPUT, FILTER] {
        let plugin = decode(base);
        assert_eq!(validate::validate(&plugin), vec![]);
        assert!(
            kube::core::cel::validate_cel(&plugin).is_ok(),
            "{:?}",
            kube::core::cel::validate_cel(&plugin)
        );
    }
}

#[test]
fn every_rule_reports_field_reason_and_advice() {
    let mut failures = Vec::new();
    for row in rows() {
        assert!(
            row.base.contains(row.from),
            "row edit {:?} does not apply",
            row.from
        );
        let yaml = row.base.replacen(row.from, row.to, 1);
        let plugin = decode(&yaml);
        let problems = validate::validate(&plugin);
        let hit = problems
            .iter()
            .find(|p| p.field == row.field && p.reason == row.reason);
        match hit {
            None => failures.push(format!(
                "{}: expected {:?} at {}, got {problems:#?}",
                row.to, row.reason, row.field
            )),
            Some(p) if !p.message.contains(row.message) => failures.push(format!(
                "{}: message {:?} lacks {:?}",
                row.to, p.message, row.message
            )),
            Some(_) => {}
        }
        let cel_refuses = kube::core::cel::validate_cel(&plugin).is_err();
        if cel_refuses != (row.cel == Cel::Yes) {
            failures.push(format!(
                "{}: CEL refuses = {cel_refuses}, table says {:?}",
                row.to, row.cel
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn repeated_property_names_and_allowed_env_expansion_are_fine() {
    let yaml = OUTPUT
        .replace(PROP, "{name: path, value: '${LOG_DIR}/out.jsonl'}")
        .replace(
            "retryLimit: 5",
            "retryLimit: no_limits\n      allowEnvExpansion: true",
        );
    assert_eq!(validate::validate(&decode(&yaml)), vec![]);
}

#[test]
fn an_unknown_type_is_reported_not_a_decode_failure() {
    let plugin = decode(&OUTPUT.replace("type: output", "type: router"));
    let problems = validate::validate(&plugin);
    assert!(
        problems
            .iter()
            .any(|p| p.reason == Reason::UnsupportedType && p.field == "spec.type")
    );
}

#[test]
fn conflicts_are_reported_on_both_and_the_newer_is_left_out() {
    let older = decode(&OUTPUT.replace(
        "namespace: logging}",
        "namespace: logging, creationTimestamp: '2026-01-01T00:00:00Z'}",
    ));
    let newer = decode(
        &OUTPUT
            .replace("name: out-jsonl,", "name: zz-other,")
            .replace(
                "namespace: logging}",
                "namespace: logging, creationTimestamp: '2026-02-01T00:00:00Z'}",
            ),
    );
    // The newer one comes first in the input: order must not matter.
    let result = validate::conflicts(&[&newer, &older]);
    let reasons = |ps: &Vec<validate::Problem>| {
        ps.iter()
            .map(|p| (p.reason, p.blocking))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reasons(&result[0]),
        vec![
            (Reason::DuplicatePluginName, true),
            (Reason::DuplicateAlias, true)
        ]
    );
    assert_eq!(
        reasons(&result[1]),
        vec![
            (Reason::DuplicatePluginName, false),
            (Reason::DuplicateAlias, false)
        ]
    );
    assert!(
        result[0][0].message.contains("logging/out-jsonl"),
        "{}",
        result[0][0].message
    );
    assert!(
        result[1][0].message.contains("logging/zz-other"),
        "{}",
        result[1][0].message
    );
    let accepted = validate::accepted_condition(&result[0]);
    assert_eq!((accepted.status, accepted.reason), (false, "Conflict"));
    assert!(validate::accepted_condition(&result[1]).status);
}

#[test]
fn plugin_names_compare_case_insensitively_and_targets_must_agree() {
    let a = decode(OUTPUT);
    let b = decode(
        &INPUT
            .replace("pluginName: generator", "pluginName: JSONL_FILE")
            .replace(
                "target: {daemonSet: fluent-bit}",
                "target: {daemonSet: fluent-bit, container: fb}",
            ),
    );
    let result = validate::conflicts(&[&a, &b]);
    let got: Vec<Reason> = result[1].iter().map(|p| p.reason).collect();
    assert_eq!(
        got,
        vec![Reason::DuplicatePluginName, Reason::TargetMismatch]
    );
    assert_eq!(result[1][1].field, "spec.target");
}

#[test]
fn accepted_condition_names_the_first_problem_and_counts_the_rest() {
    let yaml = OUTPUT.replace(PROP, "{name: host, value: ' x'}");
    let problems = validate::validate(&decode(&yaml));
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let c = validate::accepted_condition(&problems);
    assert_eq!(
        (c.type_, c.status, c.reason),
        ("Accepted", false, "Invalid")
    );
    assert!(
        c.message
            .starts_with("spec.instances[0].properties[0].name: "),
        "{}",
        c.message
    );
    assert!(
        c.message.ends_with("(and 1 more in status.problems)"),
        "{}",
        c.message
    );
}
