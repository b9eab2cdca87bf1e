//! A custom plugin written directly against the raw proxy ABI: Init logs the properties named in
//! `dump` and stores its context; Exit notes which thread it ran on.

#![allow(clippy::missing_safety_doc, missing_docs)] // The exports are the ABI symbols of `docs/fluent-bit-abi.md` section 1.2, called by the host under its contract.

#[allow(dead_code)] // Each probe uses a different subset.
#[path = "../../common.rs"]
mod common;

use std::ffi::{c_int, c_void};

use common::{log, note, prop};
use fluent_bit_plugin_sdk::ffi::{
    FLB_LOG_INFO, FLB_PROXY_CUSTOM_PLUGIN, FLB_PROXY_GOLANG, GoCustomPlugin, PluginProxyDef,
};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginRegister(def: *mut PluginProxyDef) -> c_int {
    note("register");
    // SAFETY: the host gives a zeroed def of at least 32 bytes.
    unsafe {
        (*def).type_ = FLB_PROXY_CUSTOM_PLUGIN;
        (*def).proxy = FLB_PROXY_GOLANG;
        (*def).name = common::leak_c("raw_probe_custom");
        (*def).description = common::leak_c("raw ABI custom probe");
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn FLBPluginInit(plugin: *mut c_void) -> c_int {
    let p = plugin.cast::<GoCustomPlugin>();
    // SAFETY: the host passes a filled flbgo_custom_plugin.
    let (api, ins, ctx) = unsafe { ((*p).api, (*p).i_ins, (*p).context) };
    // SAFETY: api is the live flb_api; ins is this Init's instance.
    let get = unsafe { (*api).custom_get_property };
    // SAFETY: as above.
    let id = unsafe { prop(get, ins, "id") }.unwrap_or_default();
    // SAFETY: as above.
    if let Some(keys) = unsafe { prop(get, ins, "dump") } {
        for k in keys.split(',') {
            // SAFETY: as above.
            let v = unsafe { prop(get, ins, k) };
            // SAFETY: as above.
            unsafe {
                log(
                    api,
                    (*api).custom_log_check,
                    ins,
                    FLB_LOG_INFO,
                    &format!("prop {k}={}", v.as_deref().unwrap_or("NULL")),
                )
            };
        }
    }
    // SAFETY: as above.
    unsafe {
        log(
            api,
            (*api).custom_log_check,
            ins,
            FLB_LOG_INFO,
            &format!("init id={id}"),
        )
    };
    note(format!("init id={id}"));
    // SAFETY: ctx is this instance's proxy context (remote_context at offset 0).
    unsafe { (*ctx).remote_context = Box::into_raw(Box::new(id)).cast() };
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginExit() -> c_int {
    note("exit");
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn FLBPluginUnregister(_def: *mut PluginProxyDef) {
    note("unregister");
}
