//! Counters and gauges that appear on Fluent Bit's metrics endpoints.
//!
//! Metrics are created in the instance's own cmetrics context, so they are exported with Fluent
//! Bit's built-in ones (`/api/v2/metrics/prometheus`) as `fluentbit_plugin_<name>` with a `name`
//! label holding the instance name. The cmetrics functions are looked up in the running Fluent
//! Bit with `dlsym` rather than linked (reference section 8): a library linked with `BIND_NOW`
//! must not import symbols the host might lack. When the host has no metrics (a build without
//! them, or custom plugins, which get no metrics context) every metric is a no-op and the plugin
//! says so once in the log.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::logging::Logger;

const NAMESPACE: &CStr = c"fluentbit";
const SUBSYSTEM: &CStr = c"plugin";

type CreateFn = unsafe extern "C" fn(
    *mut c_void,
    *mut c_char,
    *mut c_char,
    *mut c_char,
    *mut c_char,
    c_int,
    *mut *mut c_char,
) -> *mut c_void;
type ValueFn = unsafe extern "C" fn(*mut c_void, u64, f64, c_int, *mut *mut c_char) -> c_int;

/// The cmetrics 2.x entry points the SDK uses (signatures from `cmt_counter.h`, `cmt_gauge.h`).
struct CmtApi {
    counter_create: CreateFn,
    counter_add: ValueFn,
    gauge_create: CreateFn,
    gauge_set: ValueFn,
    gauge_add: ValueFn,
}

fn cmt_api() -> Option<&'static CmtApi> {
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

/// Creates metrics for one plugin instance.
#[derive(Clone)]
pub struct Metrics {
    target: Option<(&'static CmtApi, CmtPtr)>,
    instance: String,
    logger: Logger,
}

#[derive(Clone, Copy)]
struct CmtPtr(*mut c_void);
// SAFETY: a `struct cmt *` is only handed to cmetrics functions, which Fluent Bit itself calls
// from flush, collect and exporter threads concurrently (reference section 8).
unsafe impl Send for CmtPtr {}
// SAFETY: see Send.
unsafe impl Sync for CmtPtr {}

impl Metrics {
    /// Binds to the instance's metrics context; `cmt` is fetched only if the host exports
    /// cmetrics (a host built without metrics leaves the getter slot uninitialised).
    pub(crate) fn new(cmt: impl FnOnce() -> *mut c_void, instance: &str, logger: Logger) -> Self {
        let target = cmt_api().and_then(|api| {
            let ptr = cmt();
            (!ptr.is_null()).then_some((api, CmtPtr(ptr)))
        });
        Metrics {
            target,
            instance: instance.to_owned(),
            logger,
        }
    }

    /// Metrics that record nothing (for unit tests of plugin logic).
    pub fn disabled() -> Self {
        Metrics {
            target: None,
            instance: String::new(),
            logger: Logger::stderr("[metrics]"),
        }
    }

    /// Whether metrics reach the host.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// A counter `fluentbit_plugin_<name>{name="<instance>"}`.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        Counter(self.create(name, help, true))
    }

    /// A gauge `fluentbit_plugin_<name>{name="<instance>"}`.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        Gauge(self.create(name, help, false))
    }

    fn create(&self, name: &str, help: &str, counter: bool) -> Metric {
        let Some((api, cmt)) = self.target else {
            warn_once(&self.logger);
            return Metric::NOOP;
        };
        let valid = name
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
        let (Ok(c_name), Ok(c_help), Ok(instance)) = (
            CString::new(name),
            CString::new(if help.is_empty() { name } else { help }),
            CString::new(self.instance.as_str()),
        ) else {
            return Metric::NOOP;
        };
        if !valid || name.is_empty() {
            self.logger.error(format_args!(
                "metric name `{name}` is invalid: use letters, digits and underscores; the metric is disabled"
            ));
            return Metric::NOOP;
        }
        let mut keys = [c"name".as_ptr().cast_mut()];
        let create = if counter {
            api.counter_create
        } else {
            api.gauge_create
        };
        // SAFETY: all strings are NUL-terminated and outlive the call (cmetrics copies them);
        // `cmt` is the instance's live context; one label key is declared.
        let ptr = unsafe {
            create(
                cmt.0,
                NAMESPACE.as_ptr().cast_mut(),
                SUBSYSTEM.as_ptr().cast_mut(),
                c_name.as_ptr().cast_mut(),
                c_help.as_ptr().cast_mut(),
                1,
                keys.as_mut_ptr(),
            )
        };
        if ptr.is_null() {
            self.logger.error(format_args!(
                "could not create metric `{name}` (is the name used twice?); the metric is disabled"
            ));
            return Metric::NOOP;
        }
        Metric {
            ptr: CmtPtr(ptr),
            api: Some(api),
            instance: Some(instance),
        }
    }
}

fn warn_once(logger: &Logger) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        logger.warn(format_args!(
            "the host exposes no cmetrics context for this instance; plugin metrics are disabled"
        ));
    }
}

struct Metric {
    ptr: CmtPtr,
    api: Option<&'static CmtApi>,
    instance: Option<CString>,
}

impl Metric {
    const NOOP: Metric = Metric {
        ptr: CmtPtr(std::ptr::null_mut()),
        api: None,
        instance: None,
    };

    fn call(&self, pick: impl FnOnce(&CmtApi) -> ValueFn, value: f64) {
        let (Some(api), Some(instance)) = (self.api, &self.instance) else {
            return;
        };
        let mut labels = [instance.as_ptr().cast_mut()];
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // SAFETY: `ptr` was returned by the matching create call with one label key, and one
        // NUL-terminated label value is passed; cmetrics does not keep the pointers.
        unsafe { pick(api)(self.ptr.0, now, value, 1, labels.as_mut_ptr()) };
    }
}

/// A monotonically increasing value. Cheap to call from flush: no allocation.
pub struct Counter(Metric);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1.0)
    }
    /// Adds `value` (must be non-negative).
    pub fn add(&self, value: f64) {
        self.0.call(|api| api.counter_add, value)
    }
}

/// A value that goes up and down.
pub struct Gauge(Metric);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: f64) {
        self.0.call(|api| api.gauge_set, value)
    }
    /// Adds `value` (negative to subtract).
    pub fn add(&self, value: f64) {
        self.0.call(|api| api.gauge_add, value)
    }
}
