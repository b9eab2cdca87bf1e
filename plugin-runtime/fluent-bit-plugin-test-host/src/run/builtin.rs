//! Names of plugins compiled into Fluent Bit 5.1.1, to tell "built-in" from "unknown".

use crate::config::SectionKind;

use fluent_bit_plugin_sdk::reserved::{
    BUILTIN_CUSTOMS as CUSTOMS, BUILTIN_INPUTS as INPUTS, BUILTIN_OUTPUTS as OUTPUTS,
};

/// True when `name` is a built-in plugin for this section type (every filter is built-in:
/// proxies cannot be filters).
pub(super) fn is_builtin(kind: SectionKind, name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    match kind {
        SectionKind::Filter => true,
        SectionKind::Input => INPUTS.contains(&n.as_str()),
        SectionKind::Output => OUTPUTS.contains(&n.as_str()),
        SectionKind::Custom => CUSTOMS.contains(&n.as_str()),
        _ => false,
    }
}
