//! The keys Fluent Bit 5.1.1's core keeps for itself, per plugin kind, and the names of its own
//! plugins: the one list of each in this repository (`docs/fluent-bit-abi.md` section 4.2).
//!
//! A proxy plugin never sees these keys through `get_property`. Three views derive from this
//! module: the SDK's [`Config`](crate::Config) refuses to read them (naming what consumes the
//! key), the test host (`fluent-bit-plugin-test-host`) keeps them from the plugin as Fluent Bit
//! does, and the operator's validation (`fbplugin-crds`, `crds/src/rules.rs`) rejects them in
//! free-form properties. This file depends on nothing but `core`, because the operator's crate
//! compiles it as its own module (`#[path]`) rather than depending on the SDK.
//!
//! Keys compare case-insensitively: pass them lowercased.

/// Keys a Fluent Bit core consumes for one kind of plugin: whole keys and key prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedKeys {
    /// Whole keys.
    pub keys: &'static [&'static str],
    /// Key prefixes (`tls.` covers `tls.verify`, ...).
    pub prefixes: &'static [&'static str],
}

impl ReservedKeys {
    /// True when the lowercase key is one of these.
    pub fn contains(&self, lower: &str) -> bool {
        self.keys.contains(&lower) || self.prefixes.iter().any(|p| lower.starts_with(p))
    }
}

/// Consumed for every kind (all a custom plugin's core keeps; inputs and outputs too).
pub const ALL: ReservedKeys = ReservedKeys {
    keys: &["alias", "log_level"],
    prefixes: &["net."],
};

/// Also consumed for inputs (`flb_input_set_property`). The whole `tls.` namespace is
/// reserved, and `rate_` covers the metrics build's `rate_window` and `rate_gate*`.
pub const INPUT: ReservedKeys = ReservedKeys {
    keys: &[
        "host",
        "ipv6",
        "listen",
        "log_suppress_interval",
        "mem_buf_limit",
        "port",
        "routable",
        "storage.pause_on_chunks_overlimit",
        "storage.type",
        "tag",
        "threaded",
        "tls",
    ],
    prefixes: &["tls.", "oauth2", "thread.ring_buffer.", "rate_"],
};

/// Also consumed for outputs (`flb_output_set_property`); `_debug.` is the debug build's HTTP
/// client settings.
pub const OUTPUT: ReservedKeys = ReservedKeys {
    keys: &[
        "host",
        "ipv6",
        "log_suppress_interval",
        "match",
        "match_regex",
        "port",
        "retry_limit",
        "storage.total_limit_size",
        "tls",
        "workers",
    ],
    prefixes: &["tls.", "oauth2", "_debug."],
};

/// Prefixes whose every key the core consumes. Under the other prefixes of [`INPUT`] and
/// [`OUTPUT`] a Linux build with metrics consumes only the keys listed in [`INPUT_EXACT`] and
/// [`OUTPUT_EXACT`]; the rest of those namespaces reaches the plugin. The SDK and the operator
/// reserve the whole namespaces anyway (a plugin setting named `tls.x` would be a trap); the
/// test host, which emulates Fluent Bit, uses the exact keys.
pub const WHOLE_PREFIXES: &[&str] = &["net.", "oauth2"];

/// The keys under [`INPUT`]'s partial prefixes that Fluent Bit 5.1.1 consumes for an input.
pub const INPUT_EXACT: &[&str] = &[
    "tls.verify",
    "tls.verify_client_cert",
    "tls.verify_hostname",
    "tls.debug",
    "tls.vhost",
    "tls.ca_path",
    "tls.ca_file",
    "tls.crt_file",
    "tls.key_file",
    "tls.key_passwd",
    "tls.min_version",
    "tls.max_version",
    "tls.ciphers",
    "thread.ring_buffer.capacity",
    "thread.ring_buffer.window",
    "rate_window",
    "rate_gate",
    "rate_gate.max_bytes",
    "rate_gate.max_records",
    "rate_gate.backpressure",
    "rate_gate.resume_ratio",
];

/// The keys under [`OUTPUT`]'s partial prefixes that Fluent Bit 5.1.1 consumes for an output
/// (`_debug.http.*` only in builds with the HTTP client debug option, so none here).
pub const OUTPUT_EXACT: &[&str] = &[
    "tls.verify",
    "tls.verify_hostname",
    "tls.debug",
    "tls.vhost",
    "tls.ca_path",
    "tls.ca_file",
    "tls.crt_file",
    "tls.key_file",
    "tls.key_passwd",
    "tls.min_version",
    "tls.max_version",
    "tls.ciphers",
    "tls.proxy.verify",
    "tls.proxy.verify_hostname",
    "tls.proxy.ca_path",
    "tls.proxy.ca_file",
];

/// The names Fluent Bit 5.1.1's own input plugins register (the `.name` of every `in_*` plugin
/// of its source tree). Lookup compares names case-insensitively and built-ins come first, so
/// a proxy input with one of these names never runs.
pub const BUILTIN_INPUTS: &[&str] = &[
    "blob",
    "calyptia_fleet",
    "collectd",
    "cpu",
    "disk",
    "docker",
    "docker_events",
    "dummy",
    "ebpf",
    "elasticsearch",
    "emitter",
    "event_test",
    "event_tracing_windows",
    "event_type",
    "exec",
    "exec_wasi",
    "fluentbit_logs",
    "fluentbit_metrics",
    "forward",
    "gpu_metrics",
    "head",
    "health",
    "http",
    "kafka",
    "kmsg",
    "kubernetes_events",
    "lib",
    "mem",
    "mqtt",
    "netif",
    "nginx_metrics",
    "node_exporter_metrics",
    "opentelemetry",
    "podman_metrics",
    "proc",
    "process_exporter_metrics",
    "prometheus_remote_write",
    "prometheus_scrape",
    "prometheus_textfile",
    "random",
    "serial",
    "splunk",
    "statsd",
    "stdin",
    "storage_backlog",
    "stream_processor",
    "syslog",
    "systemd",
    "tail",
    "tcp",
    "thermal",
    "udp",
    "unix_socket",
    "windows_exporter_metrics",
    "winevtlog",
    "winlog",
    "winstat",
];

/// The names Fluent Bit 5.1.1's own output plugins register (every `out_*`).
pub const BUILTIN_OUTPUTS: &[&str] = &[
    "azure",
    "azure_blob",
    "azure_kusto",
    "azure_logs_ingestion",
    "bigquery",
    "calyptia",
    "chronicle",
    "cloudwatch_logs",
    "counter",
    "datadog",
    "es",
    "exit",
    "file",
    "flowcounter",
    "forward",
    "gcs",
    "gelf",
    "http",
    "influxdb",
    "kafka",
    "kafka-rest",
    "kinesis_firehose",
    "kinesis_streams",
    "lib",
    "logdna",
    "loki",
    "nats",
    "nrlogs",
    "null",
    "opensearch",
    "opentelemetry",
    "oracle_log_analytics",
    "out_zig_demo",
    "pgsql",
    "plot",
    "prometheus_exporter",
    "prometheus_remote_write",
    "retry",
    "s3",
    "skywalking",
    "slack",
    "splunk",
    "stackdriver",
    "stdout",
    "syslog",
    "tcp",
    "td",
    "udp",
    "vivo_exporter",
    "websocket",
];

/// The names Fluent Bit 5.1.1's own custom plugins register.
pub const BUILTIN_CUSTOMS: &[&str] = &["calyptia"];
