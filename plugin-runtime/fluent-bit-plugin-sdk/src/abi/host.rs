//! The one place that calls through Fluent Bit's `struct flb_api`.
//!
//! Every pointer here comes from the host during `FLBPluginInit` and stays valid for the life of
//! the instance (`docs/fluent-bit-abi.md` sections 3.4 and 3.5): the `flb_api` block lives until the plugin is
//! destroyed, and the instance pointer until its exit callback.

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use super::raw::{self as ffi, FlbApi};
use crate::PluginKind;
use crate::context::{InitContext, PluginMeta};

/// The host's API table bound to one instance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostApi {
    api: *const FlbApi,
    instance: *mut c_void,
    kind: PluginKind,
}

// SAFETY: Fluent Bit documents `get_property`, `log_check` and `log_print` as callable from any
// thread (`docs/fluent-bit-abi.md` section 3.5); the pointers stay valid until the instance's exit callback, which the
// runtime only runs after every user of this value (flush calls, producer threads) has finished.
unsafe impl Send for HostApi {}
// SAFETY: see `Send`; the table is never written through these pointers.
unsafe impl Sync for HostApi {}

impl HostApi {
    /// Binds the API table to an instance.
    ///
    /// # Safety
    /// `api` must point to the host's `flb_api` for this plugin and `instance` to the instance
    /// being initialised; both must outlive every use of the returned value.
    pub(crate) unsafe fn new(api: *const FlbApi, instance: *mut c_void, kind: PluginKind) -> Self {
        HostApi {
            api,
            instance,
            kind,
        }
    }

    /// The kind of instance this table is bound to.
    pub(crate) fn kind(&self) -> PluginKind {
        self.kind
    }

    /// The instance's `struct cmt *` (outputs and inputs), or NULL.
    ///
    /// Only call this when the cmetrics symbols resolved: a host built without metrics leaves the
    /// getter slots uninitialised (`docs/fluent-bit-abi.md` section 2.4).
    pub(crate) fn cmt_instance(&self) -> *mut c_void {
        let getter = match self.kind {
            PluginKind::Output => self.table().output_get_cmt_instance,
            PluginKind::Input => self.table().input_get_cmt_instance,
            PluginKind::Custom => None,
        };
        match getter {
            // SAFETY: the getter belongs to this instance's host table (see `new`).
            Some(get) => unsafe { get(self.instance) },
            None => std::ptr::null_mut(),
        }
    }

    /// Reads one property as Fluent Bit stores it; `None` when absent or empty.
    pub(crate) fn property(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        let table = self.table();
        let get = match self.kind {
            PluginKind::Output => table.output_get_property,
            PluginKind::Input => table.input_get_property,
            PluginKind::Custom => table.custom_get_property,
        }?;
        // SAFETY: `key` is NUL-terminated and outlives the call; the getter and instance come
        // from the host (see `new`).
        let value = unsafe { get(key.as_ptr(), self.instance) };
        if value.is_null() {
            return None;
        }
        // SAFETY: the host returns a NUL-terminated string owned by the instance; we copy it at
        // once (`docs/fluent-bit-abi.md` section 4.1).
        let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
        Some(String::from_utf8_lossy(bytes).into_owned())
    }

    /// Whether the instance's `log_level` lets `level` through.
    pub(crate) fn log_enabled(&self, level: c_int) -> bool {
        let table = self.table();
        let check = match self.kind {
            PluginKind::Output => table.output_log_check,
            PluginKind::Input => table.input_log_check,
            PluginKind::Custom => table.custom_log_check,
        };
        match check {
            // SAFETY: host function bound to this instance (see `new`).
            Some(check) => unsafe { check(self.instance, level) != 0 },
            None => level <= ffi::FLB_LOG_INFO,
        }
    }

    /// Prints an already formatted, NUL-terminated line through `log_print`.
    pub(crate) fn log_print(&self, level: c_int, message: &CStr) {
        if let Some(print) = self.table().log_print {
            // SAFETY: the format is the literal "%s" and its single argument a NUL-terminated
            // string, exactly as the Go SDKs call it (`docs/fluent-bit-abi.md` section 9); calling a C-variadic function
            // pointer is supported on stable Rust.
            unsafe { print(level, std::ptr::null(), 0, c"%s".as_ptr(), message.as_ptr()) }
        }
    }

    /// The name Fluent Bit gives this instance in its own logs and metrics: its `alias`, else
    /// `<plugin>.<id>` (`flb_output_name` and friends, `flb_output.c`). `flb_api` has no slot
    /// for it, but the Fluent Bit executable exports its functions (it is linked with
    /// `ENABLE_EXPORTS`, like the `cmt_*` functions the metrics use), so it is looked up with
    /// `dlsym(RTLD_DEFAULT, ..)`. `None` when the host does not export it.
    pub(crate) fn instance_name(&self) -> Option<String> {
        let symbol = match self.kind {
            PluginKind::Input => c"flb_input_name",
            PluginKind::Output => c"flb_output_name",
            PluginKind::Custom => c"flb_custom_name",
        };
        // SAFETY: dlsym with a NUL-terminated name has no other preconditions.
        let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, symbol.as_ptr()) };
        if f.is_null() || self.instance.is_null() {
            return None;
        }
        // SAFETY: in Fluent Bit these are `const char *flb_<kind>_name(struct flb_<kind>_instance
        // *)`, and `instance` is such an instance (see `new`).
        let name = unsafe {
            let f: unsafe extern "C" fn(*mut c_void) -> *const c_char = std::mem::transmute(f);
            f(self.instance)
        };
        // SAFETY: the result is NULL or a NUL-terminated string owned by the instance; it is
        // copied at once.
        let name = unsafe { c_str(name) }?.to_string_lossy().into_owned();
        (!name.is_empty()).then_some(name)
    }

    fn table(&self) -> &FlbApi {
        // SAFETY: `api` points to the host's table for the life of the instance (see `new`).
        unsafe { &*self.api }
    }
}

/// Reads a C string the host handed over, if any.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char) -> Option<&'a CStr> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: guaranteed by the caller.
        Some(unsafe { CStr::from_ptr(ptr) })
    }
}

/// Builds the context for an instance the host is initialising; `None` if the host passed no
/// API table.
///
/// # Safety
/// `api` and `instance` must be the host's table and instance for the instance being
/// initialised, valid until its exit callback.
pub(crate) unsafe fn instance_context(
    meta: &PluginMeta,
    api: *const FlbApi,
    instance: *mut std::ffi::c_void,
    kind: PluginKind,
) -> Option<InitContext> {
    crate::panic::install_hook();
    if api.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    let host = unsafe { HostApi::new(api, instance, kind) };
    Some(crate::context::init_context(meta, host))
}
