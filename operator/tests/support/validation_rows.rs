//! The validation table, shared by the operator's table test (`operator/tests/validate_table.rs`:
//! the operator reports each row's field, reason and advice) and the 1.36 CRD server suite
//! (`e2e/tests/crd_validation.rs`: the API server refuses every row and accepts every base).
//! Each row changes one valid base object. Only single-object rules are rows; the cross-object
//! ones (name and alias conflicts, target agreement) cannot be decided by the API server.

use operator::validate::Reason;

pub const OUTPUT: &str = r#"
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

pub const INPUT: &str = r#"
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

pub const FILTER: &str = r#"
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

/// One refused variant of a base object.
pub struct Row {
    /// The valid object the row starts from.
    pub base: &'static str,
    /// The text replaced (its first occurrence).
    pub from: &'static str,
    /// The replacement.
    pub to: &'static str,
    /// The field the operator reports.
    pub field: &'static str,
    /// The reason the operator reports.
    pub reason: Reason,
    /// A part of the operator's message.
    pub message: &'static str,
}

impl Row {
    /// The row's object as YAML.
    pub fn yaml(&self) -> String {
        assert!(
            self.base.contains(self.from),
            "row edit {:?} does not apply",
            self.from
        );
        self.base.replacen(self.from, self.to, 1)
    }
}

/// The valid base objects.
pub const BASES: [&str; 4] = [OUTPUT, INPUT, FILTER, CUSTOM];

pub const PROP: &str = "{name: path, value: /tmp/out.jsonl}";

pub const CUSTOM: &str = r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {name: custom-probe, namespace: logging}
spec:
  type: custom
  pluginName: probe
  artifact:
    image: 127.0.0.1:5000/fbplugin/custom-probe:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    path: /plugins/libcustom_probe.so
    imagePullSecrets: [{name: regcred}]
  instances:
    - alias: probe_one
      logLevel: 'off'
      properties:
        - {name: host, value: example.com}
        - {name: tag, value: custom}
        - {name: workers, value: '2'}
  target: {daemonSet: fluent-bit, container: fluent-bit, configPath: /fluent-bit/etc/conf/fluent-bit.conf}
"#;

/// Variants of the bases that both the API server and the operator accept: values at the bounds,
/// and keys Fluent Bit passes to the plugin for that type.
pub fn accepted_variants() -> Vec<String> {
    let e4096 = "é".repeat(4096);
    let a256 = "a".repeat(256);
    vec![
        OUTPUT.replacen(PROP, &format!("{{name: path, value: '{e4096}'}}"), 1),
        OUTPUT.replacen("- match: \"app.*\"", &format!("- match: '{a256}'"), 1),
        OUTPUT.replacen("workers: 2", "workers: 64", 1),
        OUTPUT.replacen("retryLimit: 5", "retryLimit: 999999999", 1),
        OUTPUT.replacen("retryLimit: 5", "retryLimit: no_retries", 1),
        OUTPUT.replacen(PROP, "{name: tag, value: x}", 1),
        OUTPUT.replacen("pluginName: jsonl_file", "pluginName: stdout2", 1),
        INPUT.replacen("memBufLimit: 5M", "memBufLimit: 999999999G", 1),
        INPUT.replacen("memBufLimit: 5M", "memBufLimit: '999999999999999999'", 1),
        INPUT.replacen("memBufLimit: 5M", "memBufLimit: 1.5kb", 1),
        INPUT.replacen(
            "{name: message, value: hello}",
            "{name: workers, value: '4'}",
            1,
        ),
        INPUT.replacen(
            "{name: message, value: hello}",
            "{name: match, value: x}",
            1,
        ),
        CUSTOM.to_string(),
        // YAML main configs (Fluent Bit decides by the extension, in any case).
        OUTPUT.replacen(
            "target: {daemonSet: fluent-bit}",
            "target: {daemonSet: fluent-bit, configPath: /fluent-bit/etc/conf/fluent-bit.yaml}",
            1,
        ),
        OUTPUT.replacen(
            "target: {daemonSet: fluent-bit}",
            "target: {daemonSet: fluent-bit, configPath: /etc/fluent-bit/Config.YML}",
            1,
        ),
    ]
}

/// Every row.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    use Reason::*;
    let r = |base, from, to, field, reason, message| Row { base, from, to, field, reason, message };
    let p = "spec.instances[0].properties[0]";
    vec![
        // Reserved keys, case-insensitive, each naming the field to use instead.
        r(OUTPUT, PROP, "{name: Workers, value: '4'}", leak(p, ".name"), ReservedKey, "spec.instances[0].workers"),
        r(OUTPUT, PROP, "{name: match, value: '*'}", leak(p, ".name"), ReservedKey, "spec.instances[0].match or spec.instances[0].matchRegex"),
        r(OUTPUT, PROP, "{name: Match_Regex, value: '.*'}", leak(p, ".name"), ReservedKey, "matchRegex"),
        r(OUTPUT, PROP, "{name: retry_limit, value: '1'}", leak(p, ".name"), ReservedKey, "spec.instances[0].retryLimit"),
        r(OUTPUT, PROP, "{name: storage.total_limit_size, value: 5M}", leak(p, ".name"), ReservedKey, "storageTotalLimitSize"),
        r(OUTPUT, PROP, "{name: ALIAS, value: x}", leak(p, ".name"), ReservedKey, "spec.instances[0].alias"),
        r(OUTPUT, PROP, "{name: log_level, value: debug}", leak(p, ".name"), ReservedKey, "logLevel"),
        r(OUTPUT, PROP, "{name: name, value: stdout}", leak(p, ".name"), ReservedKey, "spec.pluginName"),
        r(OUTPUT, PROP, "{name: host, value: example.com}", leak(p, ".name"), ReservedKey, "never reaches a proxy plugin: rename the plugin's key"),
        r(OUTPUT, PROP, "{name: Port, value: '80'}", leak(p, ".name"), ReservedKey, "rename the plugin's key"),
        r(OUTPUT, PROP, "{name: tls, value: 'on'}", leak(p, ".name"), ReservedKey, "rename the plugin's key"),
        r(OUTPUT, PROP, "{name: tls.ciphers, value: x}", leak(p, ".name"), ReservedKey, "rename the plugin's key"),
        r(OUTPUT, PROP, "{name: net.keepalive, value: 'on'}", leak(p, ".name"), ReservedKey, "rename the plugin's key"),
        r(OUTPUT, PROP, "{name: oauth2.client_id, value: x}", leak(p, ".name"), ReservedKey, "rename the plugin's key"),
        r(OUTPUT, PROP, "{name: ipv6, value: 'on'}", leak(p, ".name"), ReservedKey, "rename the plugin's key"),
        r(INPUT, "{name: message, value: hello}", "{name: listen, value: 0.0.0.0}", "spec.instances[0].properties[0].name", ReservedKey, "rename the plugin's key"),
        r(INPUT, "{name: message, value: hello}", "{name: tag, value: x}", "spec.instances[0].properties[0].name", ReservedKey, "spec.instances[0].tag"),
        r(INPUT, "{name: message, value: hello}", "{name: mem_buf_limit, value: 5M}", "spec.instances[0].properties[0].name", ReservedKey, "memBufLimit"),
        r(INPUT, "{name: message, value: hello}", "{name: storage.type, value: filesystem}", "spec.instances[0].properties[0].name", ReservedKey, "storageType"),
        r(INPUT, "{name: message, value: hello}", "{name: rate_gate, value: 'on'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed by the operator"),
        r(INPUT, "{name: message, value: hello}", "{name: thread.ring_buffer.capacity, value: '8'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed"),
        r(INPUT, "{name: message, value: hello}", "{name: Threaded, value: 'on'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed"),
        r(INPUT, "{name: message, value: hello}", "{name: routable, value: 'off'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed"),
        r(INPUT, "{name: message, value: hello}", "{name: log_suppress_interval, value: 5s}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed"),
        r(INPUT, "{name: message, value: hello}", "{name: storage.pause_on_chunks_overlimit, value: 'on'}", "spec.instances[0].properties[0].name", ReservedKey, "not exposed"),
        // Key syntax: config injection through the key.
        r(OUTPUT, PROP, "{name: '[OUTPUT]', value: x}", leak(p, ".name"), InvalidKey, "would open a section"),
        r(OUTPUT, PROP, "{name: '@INCLUDE', value: /etc/secret.conf}", leak(p, ".name"), InvalidKey, "directive"),
        r(OUTPUT, PROP, "{name: '@SET', value: a=b}", leak(p, ".name"), InvalidKey, "directive"),
        r(OUTPUT, PROP, "{name: '#path', value: x}", leak(p, ".name"), InvalidKey, "comment"),
        r(OUTPUT, PROP, "{name: 'path x', value: y}", leak(p, ".name"), InvalidKey, "whitespace"),
        r(OUTPUT, PROP, "{name: \"pa\\tth\", value: y}", leak(p, ".name"), InvalidKey, "whitespace"),
        r(OUTPUT, PROP, "{name: \"path\\n[OUTPUT]\", value: y}", leak(p, ".name"), InvalidKey, "whitespace"),
        r(OUTPUT, PROP, "{name: \"pa\\u00a0th\", value: y}", leak(p, ".name"), InvalidKey, "whitespace"),
        // Value syntax: config injection through the value.
        r(OUTPUT, PROP, "{name: path, value: \"/x\\n[OUTPUT]\\n    Name stdout\\n    Match *\"}", leak(p, ".value"), InvalidValue, "one line"),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\r\\n@INCLUDE /etc/shadow\"}", leak(p, ".value"), InvalidValue, "one line"),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\r\"}", leak(p, ".value"), InvalidValue, "CR, LF or NUL"),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\u0000/y\"}", leak(p, ".value"), InvalidValue, "CR, LF or NUL"),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\u001b[31m\"}", leak(p, ".value"), InvalidValue, "control character"),
        r(OUTPUT, PROP, "{name: path, value: ' /x'}", leak(p, ".value"), InvalidValue, "trims"),
        r(OUTPUT, PROP, "{name: path, value: '/x '}", leak(p, ".value"), InvalidValue, "trims"),
        r(OUTPUT, PROP, "{name: path, value: \"/x\\t\"}", leak(p, ".value"), InvalidValue, "trims"),
        r(OUTPUT, PROP, "{name: path, value: '${SECRET}'}", leak(p, ".value"), EnvExpansionNotAllowed, "allowEnvExpansion: true"),
        r(OUTPUT, "- match: \"app.*\"", "- match: \"${TAG}\"", "spec.instances[0].match", EnvExpansionNotAllowed, "allowEnvExpansion"),
        // Artifact.
        r(OUTPUT, "out-jsonl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "out-jsonl:1.0", "spec.artifact.image", ImageNotPinned, "pinned by digest"),
        r(OUTPUT, "out-jsonl@sha256:0123456789abcdef", "out-jsonl@sha256:0123456789ABCDEF", "spec.artifact.image", ImageNotPinned, "pinned by digest"),
        r(OUTPUT, "out-jsonl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "out-jsonl@sha256:0123", "spec.artifact.image", ImageNotPinned, "digest"),
        r(INPUT, "sha256: fedcba98", "sha256: FEDCBA98", "spec.artifact.sha256", InvalidSha256, "64 lowercase"),
        r(INPUT, "sha256: fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", "sha256: abc", "spec.artifact.sha256", InvalidSha256, "64 lowercase"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: plugins/libout_jsonl.so", "spec.artifact.path", InvalidPath, "absolute"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /plugins/../etc/x.so", "spec.artifact.path", InvalidPath, "segments"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: '/plugins/lib out.so'", "spec.artifact.path", InvalidPath, "A-Z"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: '/plugins/$(id).so'", "spec.artifact.path", InvalidPath, "A-Z"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /plugins/flb-out_jsonl.so", "spec.artifact.path", NativePluginName, "native C"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /fbplugin-out/x.so", "spec.artifact.path", InvalidPath, "init container"),
        // Plugin name, object name.
        r(OUTPUT, "pluginName: jsonl_file", "pluginName: 'jsonl file'", "spec.pluginName", InvalidPluginName, "registers"),
        r(OUTPUT, "name: out-jsonl,", "name: out.jsonl,", "metadata.name", InvalidName, "without dots"),
        // Routing vs type.
        r(OUTPUT, "- match: \"app.*\"", "- tag: app", "spec.instances[0].tag", RoutingNotAllowed, "route with match"),
        r(OUTPUT, "- match: \"app.*\"", "- logLevel: info", "spec.instances[0].match", MissingMatch, "set match"),
        r(OUTPUT, "- match: \"app.*\"", "- match: \"app.*\"\n      matchRegex: \"^app\"", "spec.instances[0].matchRegex", ConflictingMatch, "not both"),
        r(INPUT, "- tag: gen", "- match: gen", "spec.instances[0].match", RoutingNotAllowed, "set tag"),
        r(INPUT, "- tag: gen", "- tag: gen\n      workers: 2", "spec.instances[0].workers", FieldNotAllowed, "outputs only"),
        r(OUTPUT, "workers: 2", "workers: 2\n      memBufLimit: 5M", "spec.instances[0].memBufLimit", FieldNotAllowed, "inputs only"),
        r(OUTPUT, "workers: 2", "workers: 2\n      storageType: memory", "spec.instances[0].storageType", FieldNotAllowed, "inputs only"),
        // Typed engine fields.
        r(OUTPUT, "retryLimit: 5", "retryLimit: 0", "spec.instances[0].retryLimit", InvalidRetryLimit, "no_retries"),
        r(OUTPUT, "retryLimit: 5", "retryLimit: forever", "spec.instances[0].retryLimit", InvalidRetryLimit, "no_limits"),
        r(INPUT, "memBufLimit: 5M", "memBufLimit: 5MiB", "spec.instances[0].memBufLimit", InvalidSize, "5M"),
        r(OUTPUT, "alias: jsonl_app", "alias: 'jsonl app'", "spec.instances[0].alias", InvalidAlias, "A-Z"),
        // Target.
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: Fluent_Bit}", "spec.target.daemonSet", InvalidTarget, "DaemonSet name"),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}", "spec.target.daemonSet", InvalidTarget, "too long"),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: fluent-bit, configPath: /fluent-bit/etc/fbplugin/fluent-bit.yaml}", "spec.target.configPath", InvalidTarget, "mounts"),
        // WASM filters: the artifact, spec.wasm, and what a filter cannot set.
        r(FILTER, "functionName: redact_filter", "functionName: 1redact", "spec.wasm.functionName", InvalidFunctionName, "C identifier"),
        r(FILTER, "functionName: redact_filter", "functionName: redact-filter", "spec.wasm.functionName", InvalidFunctionName, "export_filter!"),
        r(FILTER, "functionName: redact_filter", "functionName: 'redact filter'", "spec.wasm.functionName", InvalidFunctionName, "C identifier"),
        r(FILTER, "eventFormat: json", "eventFormat: JSON", "spec.wasm.eventFormat", InvalidEventFormat, "json or msgpack"),
        r(FILTER, "eventFormat: json", "eventFormat: xml", "spec.wasm.eventFormat", InvalidEventFormat, "json or msgpack"),
        r(FILTER, "maxRecordSize: 65536", "maxRecordSize: 0", "spec.wasm.maxRecordSize", InvalidWasmSize, "1 to 16777216"),
        r(FILTER, "maxRecordSize: 65536", "maxRecordSize: -5", "spec.wasm.maxRecordSize", InvalidWasmSize, "1 to 16777216"),
        r(FILTER, "maxRecordSize: 65536", "maxRecordSize: 16777217", "spec.wasm.maxRecordSize", InvalidWasmSize, "1 to 16777216"),
        r(FILTER, "maxTagSize: 128", "maxTagSize: 0", "spec.wasm.maxTagSize", InvalidWasmSize, "1 to 4096"),
        r(FILTER, "stackSize: 131072", "stackSize: 4096", "spec.wasm.stackSize", InvalidWasmSize, "8192 to 8388608"),
        r(FILTER, "path: /plugins/filter_redact.wasm", "path: /plugins/libfilter_redact.so", "spec.artifact.path", ArtifactTypeMismatch, ".wasm module"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /plugins/out_jsonl.wasm", "spec.artifact.path", ArtifactTypeMismatch, "set spec.type: filter"),
        r(FILTER, "  wasm:\n    functionName: redact_filter\n    eventFormat: json\n    maxRecordSize: 65536\n    maxTagSize: 128\n    stackSize: 131072\n", "", "spec.wasm", MissingWasm, "maxRecordSize"),
        r(OUTPUT, "  instances:", "  wasm: {functionName: f, maxRecordSize: 1024}\n  instances:", "spec.wasm", FieldNotAllowed, "filters only"),
        r(FILTER, "type: filter", "type: filter\n  pluginName: redact", "spec.pluginName", FieldNotAllowed, "Name wasm"),
        r(OUTPUT, "  pluginName: jsonl_file\n", "", "spec.pluginName", InvalidPluginName, "registers"),
        r(FILTER, "logLevel: warn", "logLevel: warn\n      properties: [{name: fields, value: password}]", "spec.instances[0].properties", PropertiesNotAllowed, "no settings from Fluent Bit"),
        r(FILTER, "- match: \"app.*\"\n      alias", "- alias", "spec.instances[0].match", MissingMatch, "a filter receives nothing"),
        r(FILTER, "- match: \"app.*\"", "- tag: app", "spec.instances[0].tag", RoutingNotAllowed, "route with match"),
        r(FILTER, "logLevel: warn", "logLevel: warn\n      workers: 2", "spec.instances[0].workers", FieldNotAllowed, "outputs only"),
        r(FILTER, "logLevel: warn", "logLevel: warn\n      memBufLimit: 5M", "spec.instances[0].memBufLimit", FieldNotAllowed, "inputs only"),
        r(FILTER, "- match: \"app.*\"", "- match: \"${APP}\"", "spec.instances[0].match", EnvExpansionNotAllowed, "allowEnvExpansion"),
        r(INPUT, "- tag: gen", "- tag: gen\n      matchRegex: '^a'", "spec.instances[0].matchRegex", RoutingNotAllowed, "outputs and filters"),
        // What the API server enforces and the operator must too (hostile inputs that passed
        // one side and not the other), and the values Fluent Bit 5.1.1 refuses to start with.
        r(OUTPUT, "pluginName: jsonl_file", "pluginName: \"jsonl\\nfile\"", "spec.pluginName", InvalidPluginName, "registers"),
        r(OUTPUT, "pluginName: jsonl_file", "pluginName: stdout", "spec.pluginName", BuiltinPluginName, "Fluent Bit's own output plugin"),
        r(OUTPUT, "pluginName: jsonl_file", "pluginName: 'NULL'", "spec.pluginName", BuiltinPluginName, "never run"),
        r(INPUT, "pluginName: generator", "pluginName: Tail", "spec.pluginName", BuiltinPluginName, "Fluent Bit's own input plugin"),
        r(CUSTOM, "pluginName: probe", "pluginName: calyptia", "spec.pluginName", BuiltinPluginName, "custom plugin"),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: \"fluent-bit\\n\"}", "spec.target.daemonSet", InvalidTarget, "DaemonSet name"),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: 'fluent bit'}", "spec.target.daemonSet", InvalidTarget, "DaemonSet name"),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: fluent-bit, container: \"fluent-bit\\n\"}", "spec.target.container", InvalidTarget, "container name"),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: fluent-bit, container: Fluent-Bit}", "spec.target.container", InvalidTarget, "container name"),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: fluent-bit, configPath: \"/etc/fb.conf\\n@INCLUDE /etc/passwd\"}", "spec.target.configPath", InvalidTarget, "absolute path"),
        r(OUTPUT, "target: {daemonSet: fluent-bit}", "target: {daemonSet: fluent-bit, configPath: /fluent-bit/etc/fbplugin/fluent-bit.conf}", "spec.target.configPath", InvalidTarget, "mounts"),
        r(OUTPUT, "- match: \"app.*\"", leak("- match: ", &"a".repeat(257)), "spec.instances[0].match", InvalidValue, "longer than 256 characters"),
        r(INPUT, "- tag: gen", leak("- tag: ", &"é".repeat(257)), "spec.instances[0].tag", InvalidValue, "longer than 256 characters"),
        r(OUTPUT, "workers: 2", "workers: 65", "spec.instances[0].workers", FieldNotAllowed, "more than 64"),
        r(OUTPUT, "out-jsonl@sha256:", "out\u{a0}jsonl@sha256:", "spec.artifact.image", ImageNotPinned, "pinned by digest"),
        r(OUTPUT, "ghcr.io/fbplugin/out-jsonl@", "ghcr.io/FBPlugin/out-jsonl@", "spec.artifact.image", ImageNotPinned, "lowercase path"),
        r(OUTPUT, "image: ghcr.io/fbplugin/out-jsonl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image: \"ghcr.io/fbplugin/out-jsonl\\n@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"", "spec.artifact.image", ImageNotPinned, "pinned by digest"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /plugins/libout_jsonl.so\n    imagePullSecrets: [{name: a}, {name: b}, {name: c}, {name: d}, {name: e}, {name: f}, {name: g}, {name: h}, {name: i}]", "spec.artifact.imagePullSecrets", InvalidPullSecret, "at most 8"),
        r(OUTPUT, "path: /plugins/libout_jsonl.so", "path: /plugins/libout_jsonl.so\n    imagePullSecrets: [{name: Reg_Cred}]", "spec.artifact.imagePullSecrets[0].name", InvalidPullSecret, "Secret name"),
        r(INPUT, "memBufLimit: 5M", "memBufLimit: 99999999999G", "spec.instances[0].memBufLimit", InvalidSize, "9 with G"),
        r(INPUT, "memBufLimit: 5M", "memBufLimit: '99999999999999999999'", "spec.instances[0].memBufLimit", InvalidSize, "18 whole digits bare"),
        r(INPUT, "memBufLimit: 5M", "memBufLimit: 1000000000000000K", "spec.instances[0].memBufLimit", InvalidSize, "15 with K"),
        r(OUTPUT, "workers: 2", "workers: 2\n      storageTotalLimitSize: 99999999999G", "spec.instances[0].storageTotalLimitSize", InvalidSize, "refuse to start"),
        r(OUTPUT, "retryLimit: 5", "retryLimit: 1000000000", "spec.instances[0].retryLimit", InvalidRetryLimit, "between 1 and 999999999"),
        r(OUTPUT, "retryLimit: 5", "retryLimit: '007'", "spec.instances[0].retryLimit", InvalidRetryLimit, "no_limits"),
        r(OUTPUT, PROP, leak(&format!("{{name: path, value: {}", "é".repeat(4097)), "}"), leak(p, ".value"), InvalidValue, "longer than 4096 characters"),
        r(CUSTOM, "{name: host, value: example.com}", "{name: net.connect_timeout, value: '5'}", "spec.instances[0].properties[0].name", ReservedKey, "custom plugin"),
        r(CUSTOM, "{name: host, value: example.com}", "{name: Alias, value: x}", "spec.instances[0].properties[0].name", ReservedKey, "spec.instances[0].alias"),
        r(OUTPUT, "name: out-jsonl,", "name: Out-Jsonl,", "metadata.name", InvalidName, "DNS"),
        r(OUTPUT, "name: out-jsonl,", "name: verify-out-jsonl,", "metadata.name", ReservedName, "fbplugin-verify-x-<hash>"),
        r(OUTPUT, "name: out-jsonl,", "name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,", "metadata.name", InvalidName, "1-40 characters"),
    ]
}

fn leak(a: &str, b: &str) -> &'static str {
    Box::leak(format!("{a}{b}").into_boxed_str())
}
