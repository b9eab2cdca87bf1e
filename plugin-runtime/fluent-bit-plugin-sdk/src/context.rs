//! What a plugin gets when an instance starts, and the pieces shared by every plugin kind.

use std::any::Any;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::PluginKind;
use crate::abi::host::HostApi;
use crate::config::Config;
use crate::logging::Logger;
use crate::metrics::Metrics;

/// A boxed error: what `init` and `run` return. Its message reaches Fluent Bit's log.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything an instance can use while it starts: its configuration, its logger and its
/// metrics. Loggers and metrics can be cloned into the plugin's state and used later.
pub struct InitContext {
    config: Config,
    logger: Logger,
    metrics: Metrics,
    instance: String,
    hot_reload: bool,
}

impl InitContext {
    /// The instance's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The instance's logger (the `log` macros reach it too while a callback runs).
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The instance's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The instance's name as Fluent Bit shows it in its own logs and metrics: the `alias`
    /// property if set, else `<plugin>.<id>`, where `id` numbers all `[INPUT]` (or `[OUTPUT]`,
    /// `[CUSTOM]`) sections of the configuration from 0 in order, whatever their plugin. Read
    /// from Fluent Bit (`flb_output_name` and friends); on a host that does not export those
    /// functions it falls back to `<plugin>.<n>`, `n` counting this plugin's instances.
    pub fn instance_name(&self) -> &str {
        &self.instance
    }

    /// Whether Fluent Bit is starting this instance as part of a hot reload.
    pub fn is_hot_reload(&self) -> bool {
        self.hot_reload
    }

    /// A context for unit-testing a plugin's `init` without a host: properties come from
    /// `pairs`, logs go to stderr and metrics are disabled.
    pub fn for_test<K: Into<String>, V: Into<String>>(
        kind: PluginKind,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        InitContext {
            config: Config::from_pairs(kind, pairs),
            logger: Logger::stderr("[test]"),
            metrics: Metrics::disabled(),
            instance: "test.0".into(),
            hot_reload: false,
        }
    }
}

/// A plugin's registered name and description, as NUL-terminated static strings.
#[doc(hidden)]
pub struct PluginMeta {
    name: &'static str,
    description: &'static str,
    next_instance: AtomicUsize,
}

impl PluginMeta {
    /// Builds the metadata from `concat!(.., "\0")` strings; rejects bad names at compile time.
    pub const fn new(name: &'static str, description: &'static str) -> Self {
        let n = name.as_bytes();
        assert!(
            n.len() > 1 && n[n.len() - 1] == 0,
            "plugin name must not be empty"
        );
        let mut i = 0;
        while i < n.len() - 1 {
            let b = n[i];
            assert!(
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_',
                "plugin name: use lowercase letters, digits and underscores (Fluent Bit matches names case-insensitively)"
            );
            i += 1;
        }
        let d = description.as_bytes();
        let mut i = 0;
        while i < d.len() - 1 {
            assert!(d[i] != 0, "description must not contain NUL");
            i += 1;
        }
        assert!(d[d.len() - 1] == 0, "description must be NUL-terminated");
        PluginMeta {
            name,
            description,
            next_instance: AtomicUsize::new(0),
        }
    }

    /// The name without its NUL.
    pub fn name(&self) -> &'static str {
        &self.name[..self.name.len() - 1]
    }

    pub(crate) fn name_ptr(&self) -> *const std::ffi::c_char {
        self.name.as_ptr().cast()
    }

    pub(crate) fn description_ptr(&self) -> *const std::ffi::c_char {
        self.description.as_ptr().cast()
    }

    /// A new configuration generation starts numbering instances from 0 again.
    pub(crate) fn reset_instances(&self) {
        self.next_instance.store(0, Ordering::Relaxed);
    }

    pub(crate) fn next_instance_name(&self) -> String {
        let n = self.next_instance.fetch_add(1, Ordering::Relaxed);
        format!("{}.{n}", self.name())
    }
}

/// Counts hot reloads (`FLBPluginPreRegister(1)`), so what one reload carries over can be told
/// from what an earlier one left unclaimed.
pub(crate) static RELOAD_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Set by `FLBPluginPreRegister(hot_reloading)`; read by the next Init.
pub(crate) static HOT_RELOADING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Runs a plugin's `init` with the instance's logger active, turning an error or a panic into
/// the log line a Fluent Bit user sees. `None` means Init must return `FLB_ERROR`.
pub(crate) fn run_init<T>(
    ctx: &InitContext,
    init: impl FnOnce(&InitContext) -> Result<T, Error>,
) -> Option<T> {
    let _callback = crate::logging::CallbackScope::enter();
    let _scope = ctx.logger().enter();
    match crate::panic::catch(|| init(ctx)) {
        Ok(Ok(plugin)) => Some(plugin),
        Ok(Err(err)) => {
            ctx.logger().error(format_args!("init failed: {err}"));
            None
        }
        Err(panic) => {
            let (msg, at) = crate::panic::describe(&*panic);
            ctx.logger().error(format_args!(
                "init panicked: {msg}; the instance was not started{at}"
            ));
            None
        }
    }
}

pub(crate) fn init_context(meta: &PluginMeta, host: HostApi) -> InitContext {
    // Numbered either way, so the fallback names stay in step with the instances.
    let fallback = meta.next_instance_name();
    let instance = host.instance_name().unwrap_or(fallback);
    let logger = Logger::for_instance(host, &instance, meta.name());
    let metrics = Metrics::new(|| host.cmt_instance(), &instance, logger.clone());
    InitContext {
        config: Config::from_host(host),
        logger,
        metrics,
        instance,
        hot_reload: HOT_RELOADING.load(Ordering::Relaxed),
    }
}

/// The text of a panic payload, for the log line that reports it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// Locks a mutex, recovering the data if a panicking plugin poisoned it: the runtime's own
/// invariants never depend on a critical section completing.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
