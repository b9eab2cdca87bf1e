//! The cmetrics stand-in: a shared object exporting `cmt_*` (loaded RTLD_GLOBAL so plugins find
//! it with `dlsym(RTLD_DEFAULT, ..)`), forwarding into a per-host store of series.

use std::collections::HashSet;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::{Mutex, OnceLock, Weak};

use crate::dl::Library;
use crate::shared::Shared;

static SHIM_SO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libfbhost_cmt_shim.so"));

const KIND_COUNTER: c_int = 0;
const OP_INC: c_int = 0;
const OP_DEC: c_int = 1;
const OP_ADD: c_int = 2;
const OP_SUB: c_int = 3;
const OP_SET: c_int = 4;

#[repr(C)]
struct VTable {
    create: unsafe extern "C" fn(
        c_int,
        *mut c_void,
        *const c_char,
        *const c_char,
        *const c_char,
        *const c_char,
        c_int,
        *mut *mut c_char,
    ) -> *mut c_void,
    op: unsafe extern "C" fn(c_int, *mut c_void, c_int, u64, f64, c_int, *mut *mut c_char) -> c_int,
    get: unsafe extern "C" fn(c_int, *mut c_void, c_int, *mut *mut c_char, *mut f64) -> c_int,
}

static VTABLE: VTable = VTable {
    create: cmt_create,
    op: cmt_op,
    get: cmt_get,
};

/// Loads the shim once per process. After this, `dlsym(RTLD_DEFAULT, "cmt_counter_create")`
/// finds it for the rest of the process.
pub(crate) fn ensure_loaded() -> Result<(), String> {
    static LOADED: OnceLock<Result<Library, String>> = OnceLock::new();
    let r = LOADED.get_or_init(|| {
        let path = std::env::temp_dir().join(format!(
            "fluent-bit-plugin-test-host-cmt-{}-{}.so",
            std::process::id(),
            SHIM_SO.len()
        ));
        std::fs::write(&path, SHIM_SO)
            .map_err(|e| format!("cannot write the cmetrics shim to {}: {e}", path.display()))?;
        let lib = Library::open(&path, libc::RTLD_NOW | libc::RTLD_GLOBAL);
        let _ = std::fs::remove_file(&path);
        let lib = lib.map_err(|e| format!("cannot load the cmetrics shim: {e}"))?;
        let set = lib
            .symbol(c"fbhost_cmt_set_vtable")
            .ok_or("the cmetrics shim lacks fbhost_cmt_set_vtable")?;
        // SAFETY: the symbol is `void fbhost_cmt_set_vtable(const struct fbhost_cmt_vtable *)`
        // and VTABLE matches that struct and lives forever.
        unsafe {
            let set: unsafe extern "C" fn(*const VTable) = std::mem::transmute(set);
            set(&VTABLE);
        }
        Ok(lib)
    });
    r.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// What `*_get_cmt_instance` returns: identifies the instance.
pub(crate) struct CmtInstance {
    pub(crate) instance: String,
    pub(crate) shared: Weak<Shared>,
}

struct Metric {
    kind: c_int,
    instance: String,
    fqname: String,
    label_count: usize,
    shared: Weak<Shared>,
}

/// Addresses of live `CmtInstance`s and `Metric`s, so a bad pointer from a plugin is reported
/// instead of dereferenced.
fn live() -> &'static Mutex<HashSet<usize>> {
    static L: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    L.get_or_init(|| Mutex::new(HashSet::new()))
}

fn is_live(p: *mut c_void) -> bool {
    live()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&(p as usize))
}

pub(crate) fn register_cmt(c: &CmtInstance) {
    live()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(c as *const _ as usize);
}

pub(crate) fn unregister_cmt(c: &CmtInstance) {
    live()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&(c as *const _ as usize));
}

/// Owns the metric objects handed to plugins; dropped with the host.
#[derive(Default)]
pub(crate) struct MetricArena(Mutex<Vec<usize>>);

impl Drop for MetricArena {
    fn drop(&mut self) {
        let ptrs = std::mem::take(self.0.get_mut().unwrap_or_else(|e| e.into_inner()));
        let mut l = live().lock().unwrap_or_else(|e| e.into_inner());
        for p in ptrs {
            l.remove(&p);
            // SAFETY: p came from Box::into_raw in cmt_create and is freed once here.
            drop(unsafe { Box::from_raw(p as *mut Metric) });
        }
    }
}

fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: cmetrics takes NUL-terminated strings; NULL is handled above.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Reads `n` C strings from `v`.
fn strings(n: c_int, v: *mut *mut c_char) -> Option<Vec<String>> {
    if n < 0 || (n > 0 && v.is_null()) {
        return None;
    }
    let n = n as usize;
    let s = if n == 0 {
        &[][..]
    } else {
        // SAFETY: the caller promises `v` has `n` entries (cmetrics' contract).
        unsafe { std::slice::from_raw_parts(v, n) }
    };
    Some(s.iter().map(|&p| cstr(p)).collect())
}

unsafe extern "C" fn cmt_create(
    kind: c_int,
    cmt: *mut c_void,
    ns: *const c_char,
    subsystem: *const c_char,
    name: *const c_char,
    help: *const c_char,
    label_count: c_int,
    label_keys: *mut *mut c_char,
) -> *mut c_void {
    std::panic::catch_unwind(|| {
        if cmt.is_null() || !is_live(cmt) {
            eprintln!(
                "[fluent-bit-plugin-test-host] ABI violation: cmt_*_create got {cmt:p}, which is not a \
                 `struct cmt *` from *_get_cmt_instance (Fluent Bit would crash)"
            );
            return std::ptr::null_mut();
        }
        // SAFETY: is_live proved cmt points at a CmtInstance owned by a live instance.
        let c = unsafe { &*cmt.cast::<CmtInstance>() };
        let Some(shared) = c.shared.upgrade() else {
            return std::ptr::null_mut();
        };
        let Some(keys) = strings(label_count, label_keys) else {
            shared.violation(format!("{}: cmt_*_create with bad label keys", c.instance));
            return std::ptr::null_mut();
        };
        if cstr(name).is_empty() || cstr(help).is_empty() {
            shared.violation(format!(
                "{}: cmt_*_create needs a name and a help text (cmetrics rejects empty ones)",
                c.instance
            ));
            return std::ptr::null_mut();
        }
        let fqname = [cstr(ns), cstr(subsystem), cstr(name)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        let m = Box::new(Metric {
            kind,
            instance: c.instance.clone(),
            fqname,
            label_count: keys.len(),
            shared: c.shared.clone(),
        });
        let p = Box::into_raw(m) as usize;
        live().lock().unwrap_or_else(|e| e.into_inner()).insert(p);
        shared
            .metric_arena
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p);
        p as *mut c_void
    })
    .unwrap_or(std::ptr::null_mut())
}

fn metric<'a>(kind: c_int, m: *mut c_void, what: &str) -> Option<&'a Metric> {
    if m.is_null() || !is_live(m) {
        eprintln!(
            "[fluent-bit-plugin-test-host] ABI violation: {what} got {m:p}, not a live metric from \
             cmt_*_create (Fluent Bit would crash)"
        );
        return None;
    }
    // SAFETY: is_live proved m is a Metric allocated by cmt_create and not yet freed.
    let metric = unsafe { &*m.cast::<Metric>() };
    if metric.kind != kind {
        if let Some(s) = metric.shared.upgrade() {
            s.violation(format!(
                "{what} called on a metric of the other kind ({})",
                metric.fqname
            ));
        }
        return None;
    }
    Some(metric)
}

unsafe extern "C" fn cmt_op(
    kind: c_int,
    m: *mut c_void,
    op: c_int,
    _ts: u64,
    val: f64,
    n: c_int,
    vals: *mut *mut c_char,
) -> c_int {
    std::panic::catch_unwind(|| {
        let Some(metric) = metric(kind, m, "cmt_counter/gauge update") else {
            return -1;
        };
        let Some(shared) = metric.shared.upgrade() else {
            return -1;
        };
        let labels = match strings(n, vals) {
            Some(l) if l.len() == metric.label_count => l,
            _ => {
                shared.violation(format!(
                    "{}: {} updated with {n} label values, created with {}",
                    metric.instance, metric.fqname, metric.label_count
                ));
                return -1;
            }
        };
        let mut series = shared.series();
        let v = series
            .entry((metric.instance.clone(), metric.fqname.clone(), labels))
            .or_default();
        match op {
            OP_INC => *v += 1.0,
            OP_DEC => *v -= 1.0,
            OP_ADD => *v += val,
            OP_SUB => *v -= val,
            // cmetrics refuses to move a counter backwards.
            OP_SET if kind == KIND_COUNTER && val < *v => return -1,
            OP_SET => *v = val,
            _ => return -1,
        }
        0
    })
    .unwrap_or(-1)
}

unsafe extern "C" fn cmt_get(
    kind: c_int,
    m: *mut c_void,
    n: c_int,
    vals: *mut *mut c_char,
    out: *mut f64,
) -> c_int {
    std::panic::catch_unwind(|| {
        let Some(metric) = metric(kind, m, "cmt_*_get_val") else {
            return -1;
        };
        let Some(shared) = metric.shared.upgrade() else {
            return -1;
        };
        let Some(labels) = strings(n, vals) else {
            return -1;
        };
        let key = (metric.instance.clone(), metric.fqname.clone(), labels);
        match shared.series().get(&key) {
            Some(v) if !out.is_null() => {
                // SAFETY: out is a non-NULL double* supplied by the caller.
                unsafe { *out = *v };
                0
            }
            _ => -1,
        }
    })
    .unwrap_or(-1)
}
