//! An output plugin exporting only the pre-context entry points (`FLBPluginFlush`,
//! `FLBPluginExit`), to test that the host falls back to them as Fluent Bit does.

#![allow(clippy::missing_safety_doc, missing_docs)] // The exports are the ABI symbols of `docs/fluent-bit-abi.md` section 1.2, called by the host under its contract.

#[allow(dead_code)] // Each probe uses a different subset.
#[path = "../../common.rs"]
mod common;

use std::ffi::{CStr, c_char, c_int, c_void};

use common::note;
use fluent_bit_plugin_sdk::ffi::{FLB_PROXY_GOLANG, FLB_PROXY_OUTPUT_PLUGIN, PluginProxyDef};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginRegister(def: *mut PluginProxyDef) -> c_int {
    note("register");
    // SAFETY: the host gives a zeroed def of at least 32 bytes.
    unsafe {
        (*def).type_ = FLB_PROXY_OUTPUT_PLUGIN;
        (*def).proxy = FLB_PROXY_GOLANG;
        (*def).name = common::leak_c("raw_probe_legacy");
        (*def).description = common::leak_c("pre-context output probe");
    }
    // Any value but -1 is success.
    5
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginInit(_plugin: *mut c_void) -> c_int {
    note("init");
    1
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginFlush(
    _data: *const c_void,
    size: usize,
    tag: *const c_char,
) -> c_int {
    // SAFETY: tag is a NUL-terminated copy valid for the call.
    let tag = unsafe { CStr::from_ptr(tag) }
        .to_string_lossy()
        .into_owned();
    note(format!("flush tag={tag} size={size}"));
    // Not 0, 1 or 2: Fluent Bit maps it to FLB_ERROR.
    if tag == "weird" { 7 } else { 1 }
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginExit() -> c_int {
    note("exit");
    0
}
