//! Instance properties as Fluent Bit's core stores them, and the keys the core keeps for itself
//! (reference section 4.2).

use std::ffi::CString;

use crate::error::HostError;

/// The three proxy plugin types: the SDK's enum, so authors meet one `PluginKind`.
pub use fluent_bit_plugin_sdk::PluginKind;

/// The kind for `flb_plugin_proxy_def.type` (1 input, 2 output, 3 custom).
pub fn kind_from_raw(t: i32) -> Option<PluginKind> {
    use fluent_bit_plugin_sdk::ffi;
    match t {
        ffi::FLB_PROXY_INPUT_PLUGIN => Some(PluginKind::Input),
        ffi::FLB_PROXY_OUTPUT_PLUGIN => Some(PluginKind::Output),
        ffi::FLB_PROXY_CUSTOM_PLUGIN => Some(PluginKind::Custom),
        _ => None,
    }
}

const OUTPUT_CORE: &[&str] = &[
    "match",
    "match_regex",
    "alias",
    "log_level",
    "log_suppress_interval",
    "host",
    "port",
    "ipv6",
    "retry_limit",
    "workers",
    "storage.total_limit_size",
    "tls",
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

const INPUT_CORE: &[&str] = &[
    "tag",
    "log_level",
    "log_suppress_interval",
    "routable",
    "alias",
    "mem_buf_limit",
    "listen",
    "host",
    "port",
    "ipv6",
    "tls",
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
    "storage.type",
    "threaded",
    "thread.ring_buffer.capacity",
    "thread.ring_buffer.window",
    "rate_window",
    "rate_gate",
    "rate_gate.max_bytes",
    "rate_gate.max_records",
    "rate_gate.backpressure",
    "rate_gate.resume_ratio",
    "storage.pause_on_chunks_overlimit",
];

const CUSTOM_CORE: &[&str] = &["alias", "log_level"];

/// True when Fluent Bit 5.1.1 (Linux build with metrics) consumes `key` for this plugin type,
/// so the plugin never sees it through `get_property`.
pub fn is_core_key(kind: PluginKind, key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if k.starts_with("net.") {
        return true;
    }
    match kind {
        PluginKind::Output => k.starts_with("oauth2") || OUTPUT_CORE.contains(&k.as_str()),
        PluginKind::Input => k.starts_with("oauth2") || INPUT_CORE.contains(&k.as_str()),
        PluginKind::Custom => CUSTOM_CORE.contains(&k.as_str()),
    }
}

/// Properties of one instance, split the way Fluent Bit's `*_set_property` splits them.
#[derive(Debug, Default)]
pub(crate) struct Properties {
    /// What `get_property` sees, in order; empty values are stored as NULL.
    pub(crate) plugin: Vec<(String, Option<CString>)>,
    /// What the core consumed, in order (last one wins for lookups).
    pub(crate) core: Vec<(String, String)>,
}

impl Properties {
    pub(crate) fn build(
        kind: PluginKind,
        instance: &str,
        pairs: &[(String, String)],
    ) -> Result<Self, HostError> {
        let mut p = Properties::default();
        for (k, v) in pairs {
            // Fluent Bit consumes most core keys only when the value is non-empty; an empty
            // one falls through and is stored as NULL, which reads the same to the plugin.
            if is_core_key(kind, k) && !v.is_empty() {
                p.core.push((k.to_ascii_lowercase(), v.clone()));
                continue;
            }
            let value = if v.is_empty() {
                None
            } else {
                Some(CString::new(v.as_str()).map_err(|_| HostError::Property {
                    instance: instance.to_owned(),
                    key: k.clone(),
                    reason: "value contains a NUL byte".to_owned(),
                })?)
            };
            p.plugin.push((k.clone(), value));
        }
        Ok(p)
    }

    /// The first plugin-visible value for `key` (case-insensitive), like `flb_kv_get_key_value`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&CString> {
        self.plugin
            .iter()
            .find(|(k, _)| k.as_bytes().eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_ref())
    }

    /// The last value the core captured for `key`.
    pub(crate) fn core(&self, key: &str) -> Option<&str> {
        self.core
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}
