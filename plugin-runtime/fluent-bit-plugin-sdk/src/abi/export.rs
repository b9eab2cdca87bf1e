//! The macros that turn a plugin type into the C symbols Fluent Bit looks up.
//!
//! Each macro emits, for one plugin per `.so`, every symbol in the checklist of `docs/fluent-bit-abi.md`
//! (section 13): `FLBPluginPreRegister`, `FLBPluginRegister`, `FLBPluginInit`,
//! `FLBPluginUnregister`, the `*Ctx` callbacks and their context-free fallbacks for older hosts.

use std::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;

use super::raw::{self as ffi, PluginProxyDef};
use crate::context::{HOT_RELOADING, PluginMeta};

/// `FLBPluginPreRegister(hot_reloading)`.
#[doc(hidden)]
pub fn pre_register(hot_reloading: c_int) -> c_int {
    HOT_RELOADING.store(hot_reloading != 0, Ordering::Relaxed);
    if hot_reloading != 0 {
        crate::context::RELOAD_EPOCH.fetch_add(1, Ordering::Relaxed);
    }
    0
}

/// `FLBPluginRegister(def)`: fills only the fields every Fluent Bit version has.
///
/// # Safety
/// `def` must be NULL or the host's calloc'd definition block (at least 32 bytes).
#[doc(hidden)]
pub unsafe fn register(meta: &'static PluginMeta, kind: c_int, def: *mut PluginProxyDef) -> c_int {
    if def.is_null() {
        return -1;
    }
    let registered = catch_unwind(AssertUnwindSafe(|| {
        crate::logging::set_plugin_name(meta.name());
        crate::logging::install_facade();
        crate::panic::install_hook();
        meta.reset_instances();
        // SAFETY: these fields lie in the first 32 bytes, present in every host version;
        // `event_type` and `config_map` are left alone so an older host's smaller block is never
        // written past (`docs/fluent-bit-abi.md` section 1.3). Writing through raw places creates no reference to the
        // whole (possibly shorter) struct. Name and description are 'static: Fluent Bit copies
        // the name and borrows the description until Unregister.
        unsafe {
            (&raw mut (*def).type_).write(kind);
            (&raw mut (*def).proxy).write(ffi::FLB_PROXY_GOLANG);
            (&raw mut (*def).flags).write(0);
            (&raw mut (*def).name).write(meta.name_ptr().cast_mut());
            (&raw mut (*def).description).write(meta.description_ptr().cast_mut());
        }
    }));
    if registered.is_ok() { 0 } else { -1 }
}

/// `FLBPluginPreRegister` and `FLBPluginRegister`, shared by the export macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_registration {
    ($meta:ident, $kind:expr) => {
        #[unsafe(no_mangle)]
        extern "C" fn FLBPluginPreRegister(hot_reloading: ::std::ffi::c_int) -> ::std::ffi::c_int {
            $crate::__private::pre_register(hot_reloading)
        }
        #[unsafe(no_mangle)]
        unsafe extern "C" fn FLBPluginRegister(
            def: *mut $crate::__private::ffi::PluginProxyDef,
        ) -> ::std::ffi::c_int {
            // SAFETY: called by Fluent Bit with its definition block.
            unsafe { $crate::__private::register(&$meta, $kind, def) }
        }
    };
}

/// Exports a type implementing [`OutputPlugin`](crate::OutputPlugin) as a Fluent Bit output.
///
/// ```ignore
/// fluent_bit_plugin_sdk::export_output!(MyOutput, name = "my_output", description = "Sends records");
/// ```
/// The name is what a `[OUTPUT]` section's `Name` refers to: lowercase letters, digits, `_`.
#[macro_export]
macro_rules! export_output {
    ($plugin:ty, name = $name:literal, description = $description:literal $(,)?) => {
        const _: () = {
            use ::std::ffi::{c_char, c_int, c_void};
            use $crate::__private as rt;
            static META: rt::PluginMeta =
                rt::PluginMeta::new(concat!($name, "\0"), concat!($description, "\0"));

            $crate::__export_registration!(META, rt::ffi::FLB_PROXY_OUTPUT_PLUGIN);
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginInit(plugin: *mut c_void) -> c_int {
                // SAFETY: Fluent Bit passes its flbgo_output_plugin for an output proxy.
                unsafe { rt::output::init::<$plugin>(&META, plugin.cast()) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginFlushCtx(
                ctx: *mut c_void,
                data: *const c_void,
                size: usize,
                tag: *const c_char,
            ) -> c_int {
                // SAFETY: Fluent Bit passes the remote_context set in Init and a live buffer.
                unsafe { rt::output::flush::<$plugin>(ctx, data, size, tag) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginFlush(
                data: *const c_void,
                size: usize,
                tag: *const c_char,
            ) -> c_int {
                // SAFETY: as FLBPluginFlushCtx, on hosts without the context form.
                unsafe { rt::output::flush_legacy::<$plugin>(data, size, tag) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginExitCtx(ctx: *mut c_void) -> c_int {
                // SAFETY: Fluent Bit passes the remote_context set in Init, once, after flushes.
                unsafe { rt::output::exit::<$plugin>(ctx) }
            }
            #[unsafe(no_mangle)]
            extern "C" fn FLBPluginExit() -> c_int {
                // Only called by hosts without FLBPluginExitCtx, which this library exports.
                rt::ffi::FLB_OK
            }
            #[unsafe(no_mangle)]
            extern "C" fn FLBPluginUnregister(_def: *mut rt::ffi::PluginProxyDef) {}
        };
    };
}

/// Exports a type implementing [`InputPlugin`](crate::InputPlugin) as a Fluent Bit input.
///
/// ```ignore
/// fluent_bit_plugin_sdk::export_input!(MyInput, name = "my_input", description = "Reads events");
/// ```
#[macro_export]
macro_rules! export_input {
    ($plugin:ty, name = $name:literal, description = $description:literal $(,)?) => {
        const _: () = {
            use ::std::ffi::{c_int, c_void};
            use $crate::__private as rt;
            static META: rt::PluginMeta =
                rt::PluginMeta::new(concat!($name, "\0"), concat!($description, "\0"));

            $crate::__export_registration!(META, rt::ffi::FLB_PROXY_INPUT_PLUGIN);
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginInit(plugin: *mut c_void) -> c_int {
                // SAFETY: Fluent Bit passes its flbgo_input_plugin for an input proxy.
                unsafe { rt::input::init::<$plugin>(&META, plugin.cast()) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginInputCallbackCtx(
                ctx: *mut c_void,
                buf: *mut *mut c_void,
                len: *mut usize,
            ) -> c_int {
                // SAFETY: Fluent Bit passes the remote_context and out-parameters.
                unsafe { rt::input::collect(ctx, buf, len) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginInputCallback(
                buf: *mut *mut c_void,
                len: *mut usize,
            ) -> c_int {
                // SAFETY: as above, on hosts before 4.1.
                unsafe { rt::input::collect_legacy(buf, len) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginInputCleanupCallbackCtx(
                ctx: *mut c_void,
                buf: *mut c_void,
            ) -> c_int {
                // SAFETY: Fluent Bit returns the buffer handed out by the last collect.
                unsafe { rt::input::cleanup(ctx, buf) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginInputCleanupCallback(buf: *mut c_void) -> c_int {
                // SAFETY: as above, on hosts before 4.1.
                unsafe { rt::input::cleanup_legacy(buf) }
            }
            #[unsafe(no_mangle)]
            extern "C" fn FLBPluginInputPause() {
                rt::input::set_paused(true)
            }
            #[unsafe(no_mangle)]
            extern "C" fn FLBPluginInputResume() {
                rt::input::set_paused(false)
            }
            #[unsafe(no_mangle)]
            extern "C" fn FLBPluginInputPreExit(shutdown_by_hot_reloading: c_int) {
                rt::input::pre_exit(shutdown_by_hot_reloading)
            }
            #[unsafe(no_mangle)]
            extern "C" fn FLBPluginExit() -> c_int {
                rt::input::exit_current()
            }
            #[unsafe(no_mangle)]
            extern "C" fn FLBPluginUnregister(_def: *mut rt::ffi::PluginProxyDef) {
                rt::input::exit_all()
            }
        };
    };
}

/// Exports a type implementing [`CustomPlugin`](crate::CustomPlugin) as a Fluent Bit custom
/// plugin (Fluent Bit 4.0.3 or later).
///
/// ```ignore
/// fluent_bit_plugin_sdk::export_custom!(MyService, name = "my_service", description = "Runs a service");
/// ```
#[macro_export]
macro_rules! export_custom {
    ($plugin:ty, name = $name:literal, description = $description:literal $(,)?) => {
        const _: () = {
            use ::std::ffi::{c_int, c_void};
            use $crate::__private as rt;
            static META: rt::PluginMeta =
                rt::PluginMeta::new(concat!($name, "\0"), concat!($description, "\0"));

            $crate::__export_registration!(META, rt::ffi::FLB_PROXY_CUSTOM_PLUGIN);
            #[unsafe(no_mangle)]
            unsafe extern "C" fn FLBPluginInit(plugin: *mut c_void) -> c_int {
                // SAFETY: Fluent Bit passes its flbgo_custom_plugin for a custom proxy.
                unsafe { rt::custom::init::<$plugin>(&META, plugin.cast()) }
            }
            #[unsafe(no_mangle)]
            extern "C" fn FLBPluginExit() -> c_int {
                rt::custom::exit_one()
            }
        };
    };
}
