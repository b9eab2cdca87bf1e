//! Helpers shared by the raw probes (included with `#[path]`): a journal of every call the host
//! made, readable through the exported `raw_probe_journal`, and thin wrappers over `flb_api`.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::Mutex;

use fluent_bit_plugin_sdk::ffi::FlbApi;

static JOURNAL: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Appends an event, tagged with the calling thread's name.
pub fn note(event: impl AsRef<str>) {
    let line = format!("{} @{}", event.as_ref(), thread_name());
    JOURNAL.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

/// Copies the journal (lines joined by '\n') into `out`; returns the full length.
///
/// # Safety
/// `out` must be valid for `cap` bytes (or NULL with `cap` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn raw_probe_journal(out: *mut u8, cap: usize) -> usize {
    let text = JOURNAL.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
    let n = text.len().min(cap);
    if n > 0 {
        // SAFETY: the caller gives `cap` writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), out, n) };
    }
    text.len()
}

/// The kernel name of the calling thread.
pub fn thread_name() -> String {
    let mut buf = [0u8; 32];
    // SAFETY: PR_GET_NAME writes at most 16 bytes.
    unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Reads a property through a `*_get_property` slot.
///
/// # Safety
/// `get` must be a slot of a live `flb_api` and `ins` the instance pointer from Init.
pub unsafe fn prop(
    get: Option<fluent_bit_plugin_sdk::ffi::GetPropertyFn>,
    ins: *mut c_void,
    key: &str,
) -> Option<String> {
    let key = CString::new(key).ok()?;
    // SAFETY: per the function contract.
    let v = unsafe { get?(key.as_ptr(), ins) };
    if v.is_null() {
        None
    } else {
        // SAFETY: the host returns a NUL-terminated string valid for the instance lifetime.
        Some(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }
}

/// Logs through `log_print` with `"%s"`, after the level check, like the Go SDKs.
///
/// # Safety
/// `api` must be the live `flb_api` and `ins` the instance pointer from Init.
pub unsafe fn log(
    api: *const FlbApi,
    check: Option<fluent_bit_plugin_sdk::ffi::LogCheckFn>,
    ins: *mut c_void,
    level: c_int,
    msg: &str,
) {
    // SAFETY: per the function contract.
    let api = unsafe { &*api };
    if let Some(check) = check {
        // SAFETY: per the function contract.
        let enabled = unsafe { check(ins, level) };
        if enabled == 0 {
            return;
        }
    }
    let Ok(text) = CString::new(msg) else { return };
    if let Some(print) = api.log_print {
        // SAFETY: log_print is the variadic flb_log_print; "%s" consumes one C string.
        unsafe { print(level, std::ptr::null(), 0, c"%s".as_ptr(), text.as_ptr()) };
    }
}

/// Looks a cmetrics function up in the global scope, as the SDK does.
pub fn cmt_symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a valid C string.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// How Register should (mis)behave, from `RAW_PROBE_REGISTER`.
pub fn register_mode() -> String {
    std::env::var("RAW_PROBE_REGISTER").unwrap_or_default()
}

/// A C string that lives forever (for `def->name`/`description`).
pub fn leak_c(s: &str) -> *mut c_char {
    CString::new(s).unwrap_or_default().into_raw()
}
