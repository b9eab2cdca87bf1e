//! A plugin that registers but exports no `FLBPluginInit`: Fluent Bit refuses to link it.

#![allow(clippy::missing_safety_doc, missing_docs)] // The exports are the ABI symbols of `docs/fluent-bit-abi.md` section 1.2, called by the host under its contract.

use std::ffi::c_int;

use fluent_bit_plugin_sdk::ffi::{FLB_PROXY_GOLANG, FLB_PROXY_OUTPUT_PLUGIN, PluginProxyDef};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginRegister(def: *mut PluginProxyDef) -> c_int {
    // SAFETY: the host gives a zeroed def of at least 32 bytes.
    unsafe {
        (*def).type_ = FLB_PROXY_OUTPUT_PLUGIN;
        (*def).proxy = FLB_PROXY_GOLANG;
        (*def).name = c"raw_probe_noinit".as_ptr().cast_mut();
        (*def).description = c"registers, cannot init".as_ptr().cast_mut();
    }
    0
}
