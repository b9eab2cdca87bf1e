//! Raw mirrors of the Fluent Bit 5.1.1 plugin proxy ABI.
//!
//! Everything here is `#[repr(C)]` and follows `docs/fluent-bit-abi.md` section 2.
//! The layouts are asserted at compile time so a mistake cannot ship. Nothing outside this crate
//! (and the test host) should need these types; plugins use the safe API.

// Hidden from the docs (see the crate root); field names mirror the C headers field for field and
// `docs/fluent-bit-abi.md` section 2 describes each struct, so they carry no doc of their own.
#![allow(missing_docs)]

use std::ffi::{c_char, c_int, c_void};
use std::mem::{offset_of, size_of};

/// Flush, init and collect return codes (`flb_macros.h`).
pub const FLB_ERROR: c_int = 0;
pub const FLB_OK: c_int = 1;
pub const FLB_RETRY: c_int = 2;

/// `flb_plugin_proxy_def.type`.
pub const FLB_PROXY_INPUT_PLUGIN: c_int = 1;
pub const FLB_PROXY_OUTPUT_PLUGIN: c_int = 2;
pub const FLB_PROXY_CUSTOM_PLUGIN: c_int = 3;
/// `flb_plugin_proxy_def.proxy`: the only value Fluent Bit links.
pub const FLB_PROXY_GOLANG: c_int = 11;

/// Log levels (`flb_log.h`).
pub const FLB_LOG_ERROR: c_int = 1;
pub const FLB_LOG_WARN: c_int = 2;
pub const FLB_LOG_INFO: c_int = 3;
pub const FLB_LOG_DEBUG: c_int = 4;
pub const FLB_LOG_TRACE: c_int = 5;

/// `struct flb_plugin_proxy_def`, filled by `FLBPluginRegister`.
///
/// Fluent Bit `calloc`s it with the size of the running version (32 bytes up to 4.2, 40 up to
/// 5.1.0, 48 in 5.1.1). The SDK writes only the fields that exist in every version
/// (`type` .. `description`), so it never writes past the block on an older host.
#[repr(C)]
pub struct PluginProxyDef {
    pub type_: c_int,
    pub proxy: c_int,
    pub flags: c_int,
    pub name: *mut c_char,
    pub description: *mut c_char,
    /// v5.0.0+ only.
    pub event_type: c_int,
    /// v5.1.1+ only.
    pub config_map: *mut c_void,
}

/// `struct flb_plugin_proxy_context`: per output or custom instance, `calloc`ed by Fluent Bit.
#[repr(C)]
pub struct ProxyContext {
    pub remote_context: *mut c_void,
    pub proxy: *mut c_void,
}

/// `struct flb_plugin_input_proxy_context`: per input instance. `remote_context` is at offset 8.
#[repr(C)]
pub struct InputProxyContext {
    pub coll_fd: c_int,
    pub remote_context: *mut c_void,
    pub proxy: *mut c_void,
}

/// `struct flbgo_output_plugin`, shared by every output instance and overwritten before each
/// `FLBPluginInit`. Plugins read only the first four fields.
#[repr(C)]
pub struct GoOutputPlugin {
    pub name: *mut c_char,
    pub api: *mut FlbApi,
    pub o_ins: *mut c_void,
    pub context: *mut ProxyContext,
    pub cb_init: *mut c_void,
    pub cb_flush: *mut c_void,
    pub cb_flush_ctx: *mut c_void,
    pub cb_exit: *mut c_void,
    pub cb_exit_ctx: *mut c_void,
}

/// `struct flbgo_input_plugin`, shared by every input instance.
#[repr(C)]
pub struct GoInputPlugin {
    pub name: *mut c_char,
    pub api: *mut FlbApi,
    pub i_ins: *mut c_void,
    pub context: *mut InputProxyContext,
    pub cb_init: *mut c_void,
    pub cb_collect: *mut c_void,
    pub cb_collect_ctx: *mut c_void,
    pub cb_cleanup: *mut c_void,
    pub cb_cleanup_ctx: *mut c_void,
    pub cb_exit: *mut c_void,
}

/// `struct flbgo_custom_plugin` (v4.0.3+).
#[repr(C)]
pub struct GoCustomPlugin {
    pub name: *mut c_char,
    pub api: *mut FlbApi,
    pub i_ins: *mut c_void,
    pub context: *mut ProxyContext,
    pub cb_init: *mut c_void,
    pub cb_exit: *mut c_void,
}

/// `const char *get_property(const char *key, void *instance)`.
pub type GetPropertyFn = unsafe extern "C" fn(*const c_char, *mut c_void) -> *const c_char;
/// `void *get_cmt_instance(void *instance)`.
pub type GetCmtFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
/// `void log_print(int level, const char *file, int line, const char *fmt, ...)`.
pub type LogPrintFn = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, ...);
/// `int log_check(void *instance, int level)`.
pub type LogCheckFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// `struct flb_api`: one per loaded plugin, shared by its instances. It is `malloc`ed, so a slot
/// the host did not fill holds garbage: the two `custom_*` slots exist only from v4.0.3 and the
/// `*_get_cmt_instance` slots only in builds with metrics.
#[repr(C)]
pub struct FlbApi {
    pub output_get_property: Option<GetPropertyFn>,
    pub input_get_property: Option<GetPropertyFn>,
    pub output_get_cmt_instance: Option<GetCmtFn>,
    pub input_get_cmt_instance: Option<GetCmtFn>,
    pub log_print: Option<LogPrintFn>,
    pub input_log_check: Option<LogCheckFn>,
    pub output_log_check: Option<LogCheckFn>,
    pub custom_get_property: Option<GetPropertyFn>,
    pub custom_log_check: Option<LogCheckFn>,
}

// Layouts from `docs/fluent-bit-abi.md` section 2, checked on every build.
const _: () = {
    assert!(size_of::<PluginProxyDef>() == 48);
    assert!(offset_of!(PluginProxyDef, flags) == 8);
    assert!(offset_of!(PluginProxyDef, name) == 16);
    assert!(offset_of!(PluginProxyDef, description) == 24);
    assert!(offset_of!(PluginProxyDef, event_type) == 32);
    assert!(offset_of!(PluginProxyDef, config_map) == 40);

    assert!(size_of::<ProxyContext>() == 16);
    assert!(offset_of!(ProxyContext, remote_context) == 0);
    assert!(size_of::<InputProxyContext>() == 24);
    assert!(offset_of!(InputProxyContext, remote_context) == 8);

    assert!(size_of::<GoOutputPlugin>() == 72);
    assert!(offset_of!(GoOutputPlugin, api) == 8);
    assert!(offset_of!(GoOutputPlugin, o_ins) == 16);
    assert!(offset_of!(GoOutputPlugin, context) == 24);
    assert!(size_of::<GoInputPlugin>() == 80);
    assert!(offset_of!(GoInputPlugin, i_ins) == 16);
    assert!(offset_of!(GoInputPlugin, context) == 24);
    assert!(size_of::<GoCustomPlugin>() == 48);
    assert!(offset_of!(GoCustomPlugin, context) == 24);

    assert!(size_of::<FlbApi>() == 72);
    assert!(offset_of!(FlbApi, log_print) == 32);
    assert!(offset_of!(FlbApi, output_log_check) == 48);
    assert!(offset_of!(FlbApi, custom_log_check) == 64);
};
