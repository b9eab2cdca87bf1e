//! Instance properties as Fluent Bit's core stores them, and the keys the core keeps for itself
//! (`docs/fluent-bit-abi.md` section 4.2).

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

/// True when Fluent Bit 5.1.1 (Linux build with metrics) consumes `key` for this plugin type,
/// so the plugin never sees it through `get_property`.
pub fn is_core_key(kind: PluginKind, key: &str) -> bool {
    use fluent_bit_plugin_sdk::reserved::{
        ALL, INPUT, INPUT_EXACT, OUTPUT, OUTPUT_EXACT, WHOLE_PREFIXES,
    };
    let k = key.to_ascii_lowercase();
    let k = k.as_str();
    if ALL.contains(k) {
        return true;
    }
    let (set, exact) = match kind {
        PluginKind::Input => (&INPUT, INPUT_EXACT),
        PluginKind::Output => (&OUTPUT, OUTPUT_EXACT),
        PluginKind::Custom => return false,
    };
    // The SDK's list reserves whole namespaces; Fluent Bit consumes only some keys of a few.
    set.keys.contains(&k) || WHOLE_PREFIXES.iter().any(|p| k.starts_with(p)) || exact.contains(&k)
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
