//! Logging through Fluent Bit's `log_print`.
//!
//! Inside a plugin the usual [`log`] macros work: `log::info!("opened {path}")` goes to Fluent
//! Bit's log, checked against the instance's `log_level`, prefixed like Fluent Bit's own plugins
//! (`[output:jsonl_file:jsonl_file.0] opened /var/log/out.json`, with Fluent Bit's own instance
//! name: the alias if set). The runtime knows which instance is logging because it marks the
//! thread while it runs a callback, and marks the producer threads it starts for inputs and the
//! [`offload`](crate::offload) threads. Threads the plugin starts itself can carry a [`Logger`]
//! (it is `Clone + Send + Sync`) or run their work in [`Logger::scope`] to route the macros. Before Init, or
//! on an unmarked thread, messages go to stderr with the plugin's name.
//!
//! **Lines from threads Fluent Bit does not own.** `log_print` called on a thread Fluent Bit did
//! not start (the input producer thread, an offload thread, any thread of the plugin's) skips
//! Fluent Bit's log pipeline and goes straight to stderr, so it never reaches `Log_File`
//! (`flb_log_print` finds no worker context; `docs/fluent-bit-abi.md` section 3.5). So for input and output instances
//! such lines are queued in the logger and printed by the next callback Fluent Bit runs for the
//! instance, on Fluent Bit's thread: an input's collect (every second), pause, resume or exit;
//! an output's flush or exit. At most [`DEFERRED_LINES`] lines wait; beyond that the oldest
//! are dropped and the next printed line says how many. Custom plugins have no periodic
//! callback, so their threads' lines still go straight to `log_print` (stderr).

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_int};
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use crate::PluginKind;
use crate::abi::host::HostApi;
use crate::abi::raw as ffi;

/// How many lines from threads Fluent Bit does not own may wait for the instance's next
/// callback (see the module docs).
pub const DEFERRED_LINES: usize = 1024;

/// A handle that logs on behalf of one plugin instance.
#[derive(Clone)]
pub struct Logger {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    host: Option<HostApi>,
    prefix: Box<str>,
    /// Lines logged off Fluent Bit's threads, waiting for one (inputs and outputs only).
    deferred: Option<Mutex<Deferred>>,
}

#[derive(Default)]
struct Deferred {
    lines: VecDeque<(c_int, CString)>,
    dropped: usize,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

impl Logger {
    pub(crate) fn for_instance(host: HostApi, instance_name: &str, plugin_name: &str) -> Self {
        let deferred = (host.kind() != PluginKind::Custom).then(Mutex::default);
        Logger {
            inner: Arc::new(Inner {
                host: Some(host),
                prefix: format!("[{}:{plugin_name}:{instance_name}]", host.kind().as_str())
                    .into_boxed_str(),
                deferred,
            }),
        }
    }

    /// A logger that writes to stderr with the given prefix; used before Init and in unit tests.
    pub fn stderr(prefix: &str) -> Self {
        Logger {
            inner: Arc::new(Inner {
                host: None,
                prefix: prefix.into(),
                deferred: None,
            }),
        }
    }

    /// Whether a message at `level` would be printed.
    pub fn enabled(&self, level: log::Level) -> bool {
        self.inner.enabled(level)
    }

    /// Logs a formatted message at `level`.
    pub fn log(&self, level: log::Level, args: fmt::Arguments<'_>) {
        self.inner.log(level, args)
    }

    /// Logs at error level.
    pub fn error(&self, args: fmt::Arguments<'_>) {
        self.log(log::Level::Error, args)
    }
    /// Logs at warn level.
    pub fn warn(&self, args: fmt::Arguments<'_>) {
        self.log(log::Level::Warn, args)
    }
    /// Logs at info level.
    pub fn info(&self, args: fmt::Arguments<'_>) {
        self.log(log::Level::Info, args)
    }
    /// Logs at debug level.
    pub fn debug(&self, args: fmt::Arguments<'_>) {
        self.log(log::Level::Debug, args)
    }

    /// Prints the lines other threads queued (see the module docs). Only call it on a thread
    /// Fluent Bit runs a callback on.
    pub(crate) fn flush_deferred(&self) {
        self.inner.flush_deferred();
    }

    /// Runs `f` with the `log` macros on this thread routed to this logger, then restores the
    /// previous route, also when `f` panics.
    ///
    /// For threads the plugin starts itself: `std::thread::spawn(move || logger.scope(|| work()))`.
    /// Scopes nest; the innermost one wins.
    ///
    /// ```
    /// # use fluent_bit_plugin_sdk::Logger;
    /// let logger = Logger::stderr("[worker]");
    /// let answer = logger.scope(|| {
    ///     log::info!("computing");
    ///     42
    /// });
    /// assert_eq!(answer, 42);
    /// ```
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _scope = self.enter();
        f()
    }

    /// Routes the `log` macros on this thread to this logger until the guard is dropped.
    ///
    /// Crate-private on purpose: the thread-local holds a raw pointer into this logger, so the
    /// guard must be dropped, in reverse order of creation, before the logger is. Every caller
    /// binds it to a local (`let _scope = logger.enter();`) in the same block as the borrow; a
    /// public guard could be `mem::forget`-ten or dropped out of order from safe code and leave
    /// the macros a dangling pointer, hence [`Logger::scope`].
    pub(crate) fn enter(&self) -> LogScope<'_> {
        install_facade();
        let previous = crate::abi::log_scope::replace_current(Arc::as_ptr(&self.inner));
        LogScope {
            previous,
            _logger: std::marker::PhantomData,
        }
    }
}

fn flb_level(level: log::Level) -> c_int {
    match level {
        log::Level::Error => ffi::FLB_LOG_ERROR,
        log::Level::Warn => ffi::FLB_LOG_WARN,
        log::Level::Info => ffi::FLB_LOG_INFO,
        log::Level::Debug => ffi::FLB_LOG_DEBUG,
        log::Level::Trace => ffi::FLB_LOG_TRACE,
    }
}

thread_local! {
    // How many Fluent Bit callbacks are running on this thread: lines logged here go straight
    // to `log_print`, where Fluent Bit's log pipeline takes them.
    static ON_FLUENT_BIT_THREAD: Cell<u32> = const { Cell::new(0) };
}

/// Marks the current thread as one Fluent Bit runs a callback on, until dropped.
pub(crate) struct CallbackScope(());

impl CallbackScope {
    pub(crate) fn enter() -> Self {
        ON_FLUENT_BIT_THREAD.with(|c| c.set(c.get() + 1));
        CallbackScope(())
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        ON_FLUENT_BIT_THREAD.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

fn on_fluent_bit_thread() -> bool {
    ON_FLUENT_BIT_THREAD.with(Cell::get) > 0
}

/// Logs through the logger the `log` macros reach on this thread, or to stderr.
pub(crate) fn log_current(level: log::Level, args: fmt::Arguments<'_>) {
    crate::abi::log_scope::with_current(|logger| match logger {
        Some(inner) => inner.log(level, args),
        None => {
            let name = PLUGIN_NAME.get().copied().unwrap_or("plugin");
            Logger::stderr(&format!("[{name}]")).log(level, args);
        }
    })
}

/// Keeps the `log` macros routed to a [`Logger`]; restores the previous route on drop.
/// Never leaves the crate (see [`Logger::enter`]).
pub(crate) struct LogScope<'a> {
    pub(crate) previous: *const Inner,
    pub(crate) _logger: std::marker::PhantomData<&'a Logger>,
}

impl Drop for LogScope<'_> {
    fn drop(&mut self) {
        crate::abi::log_scope::replace_current(self.previous);
    }
}

static PLUGIN_NAME: OnceLock<&'static str> = OnceLock::new();

/// Records the plugin's name for messages logged before Init.
pub(crate) fn set_plugin_name(name: &'static str) {
    let _ = PLUGIN_NAME.set(name);
}

struct Facade;

impl log::Log for Facade {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        crate::abi::log_scope::with_current(|logger| match logger {
            Some(inner) => inner.enabled(metadata.level()),
            None => metadata.level() <= log::Level::Info,
        })
    }

    fn log(&self, record: &log::Record<'_>) {
        crate::abi::log_scope::with_current(|logger| match logger {
            Some(inner) => inner.log(record.level(), *record.args()),
            None => {
                if record.level() <= log::Level::Info {
                    let name = PLUGIN_NAME.get().copied().unwrap_or("plugin");
                    Logger::stderr(&format!("[{name}]")).log(record.level(), *record.args());
                }
            }
        })
    }

    fn flush(&self) {}
}

impl Inner {
    pub(crate) fn enabled(&self, level: log::Level) -> bool {
        match &self.host {
            Some(host) => host.log_enabled(flb_level(level)),
            None => level <= log::Level::Info,
        }
    }

    pub(crate) fn log(&self, level: log::Level, args: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        // Most lines fit on the stack; flushes run on a 64 KiB stack, so keep this modest.
        let mut line = LineBuffer::<384>::new();
        let _ = write!(line, "{} {}", self.prefix, args);
        match &self.host {
            Some(host) => {
                if let Some(deferred) = &self.deferred {
                    if !on_fluent_bit_thread() {
                        let owned = line.with_c_str(CStr::to_owned);
                        let mut d = crate::context::lock(deferred);
                        if d.lines.len() >= DEFERRED_LINES {
                            d.lines.pop_front();
                            d.dropped += 1;
                        }
                        d.lines.push_back((flb_level(level), owned));
                        return;
                    }
                    self.flush_deferred();
                }
                line.with_c_str(|msg| host.log_print(flb_level(level), msg))
            }
            None => line.with_bytes(|bytes| {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(bytes);
                let _ = err.write_all(b"\n");
            }),
        }
    }

    fn flush_deferred(&self) {
        let (Some(host), Some(deferred)) = (&self.host, &self.deferred) else {
            return;
        };
        let (lines, dropped) = {
            let mut d = crate::context::lock(deferred);
            if d.lines.is_empty() && d.dropped == 0 {
                return;
            }
            (std::mem::take(&mut d.lines), std::mem::take(&mut d.dropped))
        };
        if dropped > 0 {
            let mut note = LineBuffer::<160>::new();
            let _ = write!(
                note,
                "{} {dropped} log line(s) from the plugin's own threads were dropped while \
                 waiting for Fluent Bit's next callback (at most {DEFERRED_LINES} wait)",
                self.prefix
            );
            note.with_c_str(|msg| host.log_print(ffi::FLB_LOG_WARN, msg));
        }
        for (level, msg) in lines {
            host.log_print(level, &msg);
        }
    }
}

/// Installs the `log` facade once per loaded plugin (each `.so` has its own `log` statics).
pub(crate) fn install_facade() {
    static FACADE: Facade = Facade;
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if log::set_logger(&FACADE).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
    });
}

/// A line formatted on the stack when it fits, on the heap otherwise.
struct LineBuffer<const N: usize> {
    stack: [u8; N],
    len: usize,
    heap: Option<String>,
}

impl<const N: usize> LineBuffer<N> {
    fn new() -> Self {
        LineBuffer {
            stack: [0; N],
            len: 0,
            heap: None,
        }
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match &self.heap {
            Some(s) => f(s.as_bytes()),
            None => f(&self.stack[..self.len]),
        }
    }

    /// Calls `f` with the line as a C string; interior NULs are replaced so nothing is cut.
    fn with_c_str<R>(&mut self, f: impl FnOnce(&CStr) -> R) -> R {
        match self.heap.take() {
            Some(s) => {
                let mut bytes = s.into_bytes();
                bytes
                    .iter_mut()
                    .filter(|b| **b == 0)
                    .for_each(|b| *b = b' ');
                bytes.push(0);
                match CStr::from_bytes_with_nul(&bytes) {
                    Ok(c) => f(c),
                    Err(_) => f(c"(unprintable log line)"),
                }
            }
            None => {
                let len = self.len.min(N - 1);
                self.stack[..len]
                    .iter_mut()
                    .filter(|b| **b == 0)
                    .for_each(|b| *b = b' ');
                self.stack[len] = 0;
                match CStr::from_bytes_with_nul(&self.stack[..=len]) {
                    Ok(c) => f(c),
                    Err(_) => f(c"(unprintable log line)"),
                }
            }
        }
    }
}

impl<const N: usize> fmt::Write for LineBuffer<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(heap) = &mut self.heap {
            heap.push_str(s);
        } else if self.len + s.len() < N {
            self.stack[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut heap = String::with_capacity(self.len + s.len() + 64);
            heap.push_str(&String::from_utf8_lossy(&self.stack[..self.len]));
            heap.push_str(s);
            self.heap = Some(heap);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_spill_to_the_heap_intact() {
        let mut line = LineBuffer::<8>::new();
        line.write_str("abcdefghijkl").unwrap();
        line.with_c_str(|c| assert_eq!(c.to_bytes(), b"abcdefghijkl"));
    }

    fn current_prefix() -> Option<String> {
        crate::abi::log_scope::with_current(|inner| inner.map(|i| i.prefix.to_string()))
    }

    #[test]
    fn scopes_nest_and_restore_the_outer_route_even_after_a_panic() {
        let outer = Logger::stderr("[outer]");
        let inner = Logger::stderr("[inner]");
        assert_eq!(current_prefix(), None);
        outer.scope(|| {
            assert_eq!(current_prefix().as_deref(), Some("[outer]"));
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                inner.scope(|| {
                    assert_eq!(current_prefix().as_deref(), Some("[inner]"));
                    panic!("work failed");
                })
            }));
            assert!(panicked.is_err());
            assert_eq!(current_prefix().as_deref(), Some("[outer]"));
        });
        assert_eq!(current_prefix(), None);
    }

    #[test]
    fn interior_nul_does_not_truncate() {
        let mut line = LineBuffer::<64>::new();
        write!(line, "a\0b").unwrap();
        line.with_c_str(|c| assert_eq!(c.to_bytes(), b"a b"));
    }
}
