//! The per-instance object behind `o_ins`/`i_ins` and the `struct flb_api` callbacks.

use std::collections::HashSet;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use fluent_bit_plugin_sdk::ffi::FlbApi;

use crate::metrics::CmtInstance;
use crate::props::{PluginKind, Properties};
use crate::shared::Shared;

/// What Fluent Bit calls `struct flb_output_instance` (or input/custom): opaque to the plugin.
pub(crate) struct InstanceCore {
    pub(crate) kind: PluginKind,
    pub(crate) name: String,
    /// What `flb_<kind>_name()` returns: the `alias` property, else `name`.
    pub(crate) display_name: CString,
    pub(crate) props: Properties,
    pub(crate) log_level: AtomicI32,
    pub(crate) cmt: Option<Box<CmtInstance>>,
    pub(crate) shared: Arc<Shared>,
}

fn live() -> MutexGuard<'static, HashSet<usize>> {
    static L: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    L.get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl InstanceCore {
    pub(crate) fn boxed(
        kind: PluginKind,
        name: String,
        props: Properties,
        log_level: i32,
        metrics: bool,
        shared: Arc<Shared>,
    ) -> Box<Self> {
        let cmt = (metrics && kind != PluginKind::Custom).then(|| {
            let c = Box::new(CmtInstance {
                instance: name.clone(),
                shared: Arc::downgrade(&shared),
            });
            crate::metrics::register_cmt(&c);
            c
        });
        let display = props.core("alias").unwrap_or(&name).replace('\0', " ");
        let display_name = CString::new(display).unwrap_or_default();
        let b = Box::new(Self {
            kind,
            name,
            display_name,
            props,
            log_level: AtomicI32::new(log_level),
            cmt,
            shared,
        });
        live().insert(&*b as *const Self as usize);
        b
    }

    /// Stops answering API calls for this instance (after its exit).
    pub(crate) fn retire(&self) {
        live().remove(&(self as *const Self as usize));
        if let Some(c) = &self.cmt {
            crate::metrics::unregister_cmt(c);
        }
    }

    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self as *const Self as *mut c_void
    }
}

impl Drop for InstanceCore {
    fn drop(&mut self) {
        self.retire();
    }
}

/// Runs `f` on the instance behind `ins` if it is a live instance of `kind`; otherwise reports
/// the misuse (Fluent Bit would read a foreign struct) and returns `default`.
fn with_core<R>(
    ins: *mut c_void,
    kind: PluginKind,
    what: &str,
    default: R,
    f: impl FnOnce(&InstanceCore) -> R,
) -> R {
    let guard = live();
    if ins.is_null() || !guard.contains(&(ins as usize)) {
        eprintln!(
            "[fluent-bit-plugin-test-host] ABI violation: {what} got instance pointer {ins:p}, which is not \
             a live instance (copy o_ins/i_ins in FLBPluginInit; the shared plugin struct is \
             overwritten and the instance may have exited)"
        );
        return default;
    }
    // SAFETY: the address is in the live set, so it is a Box<InstanceCore> not yet dropped;
    // holding the lock keeps it from being dropped while f runs.
    let core = unsafe { &*(ins as *const InstanceCore) };
    if core.kind != kind {
        core.shared.violation(format!(
            "{}: {what} called with an instance of a {} plugin",
            core.name,
            core.kind.as_str()
        ));
        return default;
    }
    let r = f(core);
    drop(guard);
    r
}

fn get_property(
    kind: PluginKind,
    what: &str,
    key: *const c_char,
    ins: *mut c_void,
) -> *const c_char {
    std::panic::catch_unwind(|| {
        if key.is_null() {
            return std::ptr::null();
        }
        // SAFETY: get_property takes a NUL-terminated key.
        let key = unsafe { CStr::from_ptr(key) }.to_bytes();
        with_core(ins, kind, what, std::ptr::null(), |c| {
            c.props.get(key).map_or(std::ptr::null(), |v| v.as_ptr())
        })
    })
    .unwrap_or(std::ptr::null())
}

unsafe extern "C" fn output_get_property(key: *const c_char, ins: *mut c_void) -> *const c_char {
    get_property(PluginKind::Output, "output_get_property", key, ins)
}
unsafe extern "C" fn input_get_property(key: *const c_char, ins: *mut c_void) -> *const c_char {
    get_property(PluginKind::Input, "input_get_property", key, ins)
}
unsafe extern "C" fn custom_get_property(key: *const c_char, ins: *mut c_void) -> *const c_char {
    get_property(PluginKind::Custom, "custom_get_property", key, ins)
}

fn log_check(kind: PluginKind, what: &str, ins: *mut c_void, level: c_int) -> c_int {
    std::panic::catch_unwind(|| {
        with_core(ins, kind, what, 0, |c| {
            c_int::from(c.log_level.load(Ordering::Relaxed) >= level)
        })
    })
    .unwrap_or(0)
}

unsafe extern "C" fn output_log_check(ins: *mut c_void, level: c_int) -> c_int {
    log_check(PluginKind::Output, "output_log_check", ins, level)
}
unsafe extern "C" fn input_log_check(ins: *mut c_void, level: c_int) -> c_int {
    log_check(PluginKind::Input, "input_log_check", ins, level)
}
unsafe extern "C" fn custom_log_check(ins: *mut c_void, level: c_int) -> c_int {
    log_check(PluginKind::Custom, "custom_log_check", ins, level)
}

fn get_cmt(kind: PluginKind, what: &str, ins: *mut c_void) -> *mut c_void {
    std::panic::catch_unwind(|| {
        with_core(ins, kind, what, std::ptr::null_mut(), |c| {
            c.cmt.as_deref().map_or(std::ptr::null_mut(), |m| {
                m as *const CmtInstance as *mut c_void
            })
        })
    })
    .unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn output_get_cmt_instance(ins: *mut c_void) -> *mut c_void {
    get_cmt(PluginKind::Output, "output_get_cmt_instance", ins)
}
unsafe extern "C" fn input_get_cmt_instance(ins: *mut c_void) -> *mut c_void {
    get_cmt(PluginKind::Input, "input_get_cmt_instance", ins)
}

/// `flb_input_name` / `flb_output_name` / `flb_custom_name`, reached through the core shim:
/// the instance's alias, else `<plugin>.<id>`, as a string owned by the instance.
unsafe extern "C" fn instance_name(kind: c_int, ins: *mut c_void) -> *const c_char {
    let (kind, what) = match kind {
        1 => (PluginKind::Input, "flb_input_name"),
        2 => (PluginKind::Output, "flb_output_name"),
        _ => (PluginKind::Custom, "flb_custom_name"),
    };
    std::panic::catch_unwind(|| {
        with_core(ins, kind, what, std::ptr::null(), |c| {
            c.display_name.as_ptr()
        })
    })
    .unwrap_or(std::ptr::null())
}

static CORE_SHIM_SO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libfbhost_core_shim.so"));

/// Loads the core-function stand-in once per process, so `dlsym(RTLD_DEFAULT,
/// "flb_output_name")` finds it as it finds the function in the Fluent Bit executable.
pub(crate) fn ensure_core_shim() -> Result<(), String> {
    static LOADED: OnceLock<Result<crate::dl::Library, String>> = OnceLock::new();
    let r = LOADED.get_or_init(|| {
        let path = std::env::temp_dir().join(format!(
            "fluent-bit-plugin-test-host-core-{}-{}.so",
            std::process::id(),
            CORE_SHIM_SO.len()
        ));
        std::fs::write(&path, CORE_SHIM_SO)
            .map_err(|e| format!("cannot write the core shim to {}: {e}", path.display()))?;
        let lib = crate::dl::Library::open(&path, libc::RTLD_NOW | libc::RTLD_GLOBAL);
        let _ = std::fs::remove_file(&path);
        let lib = lib.map_err(|e| format!("cannot load the core shim: {e}"))?;
        let set = lib
            .symbol(c"fbhost_core_set_name_fn")
            .ok_or("the core shim lacks fbhost_core_set_name_fn")?;
        // SAFETY: the symbol is `void fbhost_core_set_name_fn(fbhost_name_fn)` and
        // `instance_name` has that function type and lives forever.
        unsafe {
            let set: unsafe extern "C" fn(
                unsafe extern "C" fn(c_int, *mut c_void) -> *const c_char,
            ) = std::mem::transmute(set);
            set(instance_name);
        }
        Ok(lib)
    });
    r.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// `malloc`s a `struct flb_api` with all 9 slots of 5.1.1 filled; freed with `libc::free`.
pub(crate) fn new_api() -> *mut FlbApi {
    // SAFETY: plain malloc; the result is checked and fully initialised below.
    let p = unsafe { libc::malloc(std::mem::size_of::<FlbApi>()) }.cast::<FlbApi>();
    if p.is_null() {
        std::process::abort();
    }
    let api = FlbApi {
        output_get_property: Some(output_get_property),
        input_get_property: Some(input_get_property),
        output_get_cmt_instance: Some(output_get_cmt_instance),
        input_get_cmt_instance: Some(input_get_cmt_instance),
        log_print: Some(crate::logs::log_print_fn()),
        input_log_check: Some(input_log_check),
        output_log_check: Some(output_log_check),
        custom_get_property: Some(custom_get_property),
        custom_log_check: Some(custom_log_check),
    };
    // SAFETY: p is a fresh, suitably aligned block of the right size.
    unsafe { p.write(api) };
    p
}
