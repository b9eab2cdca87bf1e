//! Counters and gauges that appear on Fluent Bit's metrics endpoints.
//!
//! Metrics are created in the instance's own cmetrics context, so they are exported with Fluent
//! Bit's built-in ones (`/api/v2/metrics/prometheus`) as `fluentbit_plugin_<name>` with a `name`
//! label holding the instance name. The cmetrics functions are looked up in the running Fluent
//! Bit with `dlsym` rather than linked (`docs/fluent-bit-abi.md` section 8): a library linked with `BIND_NOW`
//! must not import symbols the host might lack. When the host has no metrics (a build without
//! them, or custom plugins, which get no metrics context) every metric is a no-op and the plugin
//! says so once in the log.

use std::ffi::{CStr, CString, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::abi::metrics::{CmtApi, CmtMetric, CmtPtr, ValueFn, cmt_api};
use crate::logging::Logger;

const NAMESPACE: &CStr = c"fluentbit";
const SUBSYSTEM: &CStr = c"plugin";

/// Creates metrics for one plugin instance.
#[derive(Clone)]
pub struct Metrics {
    target: Option<(&'static CmtApi, CmtPtr)>,
    instance: String,
    logger: Logger,
}

impl Metrics {
    /// Binds to the instance's metrics context; `cmt` is fetched only if the host exports
    /// cmetrics (a host built without metrics leaves the getter slot uninitialised).
    pub(crate) fn new(cmt: impl FnOnce() -> *mut c_void, instance: &str, logger: Logger) -> Self {
        let target = cmt_api().and_then(|api| {
            let ptr = cmt();
            CmtPtr::new(ptr).map(|ptr| (api, ptr))
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
        let create = if counter {
            api.counter_create
        } else {
            api.gauge_create
        };
        let ptr = crate::abi::metrics::create(create, cmt, NAMESPACE, SUBSYSTEM, &c_name, &c_help);
        let Some(ptr) = ptr else {
            self.logger.error(format_args!(
                "could not create metric `{name}` (is the name used twice?); the metric is disabled"
            ));
            return Metric::NOOP;
        };
        Metric {
            ptr: Some(ptr),
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
    ptr: Option<CmtMetric>,
    api: Option<&'static CmtApi>,
    instance: Option<CString>,
}

impl Metric {
    const NOOP: Metric = Metric {
        ptr: None,
        api: None,
        instance: None,
    };

    fn call(&self, pick: impl FnOnce(&CmtApi) -> ValueFn, value: f64) {
        let (Some(api), Some(ptr), Some(instance)) = (self.api, self.ptr, &self.instance) else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        crate::abi::metrics::update(pick(api), ptr, now, value, instance);
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
