//! The cmetrics functions the metrics call, looked up in the running Fluent Bit with `dlsym`
//! (`docs/fluent-bit-abi.md` section 8), and the two calls made through them.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

pub(crate) type CreateFn = unsafe extern "C" fn(
    *mut c_void,
    *mut c_char,
    *mut c_char,
    *mut c_char,
    *mut c_char,
    c_int,
    *mut *mut c_char,
) -> *mut c_void;
pub(crate) type ValueFn =
    unsafe extern "C" fn(*mut c_void, u64, f64, c_int, *mut *mut c_char) -> c_int;

/// The cmetrics 2.x entry points the SDK uses (signatures from `cmt_counter.h`, `cmt_gauge.h`).
pub(crate) struct CmtApi {
    pub(crate) counter_create: CreateFn,
    pub(crate) counter_add: ValueFn,
    pub(crate) gauge_create: CreateFn,
    pub(crate) gauge_set: ValueFn,
    pub(crate) gauge_add: ValueFn,
}

pub(crate) fn cmt_api() -> Option<&'static CmtApi> {
    static API: OnceLock<Option<CmtApi>> = OnceLock::new();
    API.get_or_init(|| {
        fn sym(name: &CStr) -> Option<*mut c_void> {
            // SAFETY: RTLD_DEFAULT searches the global scope; `name` is NUL-terminated.
            let ptr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!ptr.is_null()).then_some(ptr)
        }
        // SAFETY: each symbol, when present, is the cmetrics function of that name, whose C
        // signature matches the pointer type it is cast to.
        unsafe {
            Some(CmtApi {
                counter_create: std::mem::transmute::<*mut c_void, CreateFn>(sym(
                    c"cmt_counter_create",
                )?),
                counter_add: std::mem::transmute::<*mut c_void, ValueFn>(sym(c"cmt_counter_add")?),
                gauge_create: std::mem::transmute::<*mut c_void, CreateFn>(sym(
                    c"cmt_gauge_create",
                )?),
                gauge_set: std::mem::transmute::<*mut c_void, ValueFn>(sym(c"cmt_gauge_set")?),
                gauge_add: std::mem::transmute::<*mut c_void, ValueFn>(sym(c"cmt_gauge_add")?),
            })
        }
    })
    .as_ref()
}

/// An instance's `struct cmt *` (never NULL).
#[derive(Clone, Copy)]
pub(crate) struct CmtPtr(*mut c_void);

// SAFETY: a `struct cmt *` is only handed to cmetrics functions, which Fluent Bit itself calls
// from flush, collect and exporter threads concurrently (`docs/fluent-bit-abi.md` section 8).
unsafe impl Send for CmtPtr {}
// SAFETY: see Send.
unsafe impl Sync for CmtPtr {}

impl CmtPtr {
    /// Wraps the pointer the host's `*_get_cmt_instance` returned; `None` for NULL.
    pub(crate) fn new(ptr: *mut c_void) -> Option<Self> {
        (!ptr.is_null()).then_some(CmtPtr(ptr))
    }
}

/// A counter or gauge created by [`create`] with one label key (never NULL).
#[derive(Clone, Copy)]
pub(crate) struct CmtMetric(*mut c_void);

// SAFETY: as for `CmtPtr`: cmetrics metrics are updated from any thread by Fluent Bit itself.
unsafe impl Send for CmtMetric {}
// SAFETY: see Send.
unsafe impl Sync for CmtMetric {}

/// Creates a metric `<namespace>_<subsystem>_<name>` with the single label key `name`.
pub(crate) fn create(
    create: CreateFn,
    cmt: CmtPtr,
    namespace: &CStr,
    subsystem: &CStr,
    name: &CStr,
    help: &CStr,
) -> Option<CmtMetric> {
    let mut keys = [c"name".as_ptr().cast_mut()];
    // SAFETY: all strings are NUL-terminated and outlive the call (cmetrics copies them);
    // `cmt` is the instance's live context; one label key is declared.
    let ptr = unsafe {
        create(
            cmt.0,
            namespace.as_ptr().cast_mut(),
            subsystem.as_ptr().cast_mut(),
            name.as_ptr().cast_mut(),
            help.as_ptr().cast_mut(),
            1,
            keys.as_mut_ptr(),
        )
    };
    (!ptr.is_null()).then_some(CmtMetric(ptr))
}

/// Adds to or sets `metric` (by `update`, one of the value functions) for the label `instance`.
pub(crate) fn update(update: ValueFn, metric: CmtMetric, now: u64, value: f64, instance: &CStr) {
    let mut labels = [instance.as_ptr().cast_mut()];
    // SAFETY: `metric` was returned by a create call with one label key (`CmtMetric` is only
    // built in `create`), and one NUL-terminated label value is passed; cmetrics does not keep
    // the pointers.
    unsafe { update(metric.0, now, value, 1, labels.as_mut_ptr()) };
}
