//! Capture of `log_print` calls, attributed to the plugin that made them.

use std::ffi::{c_char, c_int, c_void};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::shared::Shared;

/// Fluent Bit log levels (`flb_log.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// 0: nothing is logged.
    Off,
    /// 1.
    Error,
    /// 2.
    Warn,
    /// 3, the default.
    Info,
    /// 4.
    Debug,
    /// 5.
    Trace,
    /// Any other number a plugin passed.
    Other(i32),
}

impl LogLevel {
    /// From the C value.
    pub fn from_raw(v: i32) -> Self {
        match v {
            0 => Self::Off,
            1 => Self::Error,
            2 => Self::Warn,
            3 => Self::Info,
            4 => Self::Debug,
            5 => Self::Trace,
            n => Self::Other(n),
        }
    }

    /// The C value.
    pub fn raw(self) -> i32 {
        match self {
            Self::Off => 0,
            Self::Error => 1,
            Self::Warn => 2,
            Self::Info => 3,
            Self::Debug => 4,
            Self::Trace => 5,
            Self::Other(n) => n,
        }
    }

    /// Parses a `log_level` property value as Fluent Bit does (`off`, `error`, `warn`/`warning`,
    /// `info`, `debug`, `trace`, case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "off" => Self::Off,
            "error" => Self::Error,
            "warn" | "warning" => Self::Warn,
            "info" => Self::Info,
            "debug" => Self::Debug,
            "trace" => Self::Trace,
            _ => return None,
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Error => f.write_str("error"),
            Self::Warn => f.write_str("warn"),
            Self::Info => f.write_str("info"),
            Self::Debug => f.write_str("debug"),
            Self::Trace => f.write_str("trace"),
            Self::Other(n) => write!(f, "level {n}"),
        }
    }
}

/// One `log_print` call as the host saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// The level the plugin passed.
    pub level: LogLevel,
    /// The formatted text (at most 4095 bytes, like Fluent Bit's buffer).
    pub message: String,
    /// True when the text was cut at the buffer size.
    pub truncated: bool,
    /// Name of the calling thread (full Rust name when the host started it, else `comm`).
    pub thread: String,
    /// Kernel thread id of the caller.
    pub tid: i32,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>5}] [{}] {}",
            self.level.to_string(),
            self.thread,
            self.message
        )
    }
}

thread_local! {
    static FLUENT_BIT_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as one of Fluent Bit's: the host's own threads (flb-pipeline,
/// flb-in-*, flb-out-*) and the thread that loads, reloads and shuts down a host (Fluent Bit's
/// main thread, which has a log context too).
pub(crate) fn mark_fluent_bit_thread() {
    FLUENT_BIT_THREAD.with(|c| c.set(true));
}

fn on_fluent_bit_thread() -> bool {
    FLUENT_BIT_THREAD.with(std::cell::Cell::get)
}

/// Name and tid of the calling thread.
pub(crate) fn current_thread() -> (String, i32) {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    if let Some(n) = std::thread::current().name() {
        return (n.to_owned(), tid);
    }
    let mut buf = [0u8; 32];
    // SAFETY: PR_GET_NAME writes at most 16 bytes into the buffer.
    let rc = unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) };
    let name = if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::from("?")
    };
    (name, tid)
}

struct Registry {
    /// (base address of a loaded plugin, its host).
    hosts: Vec<(usize, Weak<Shared>)>,
    orphans: Vec<LogLine>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(|| {
        Mutex::new(Registry {
            hosts: Vec::new(),
            orphans: Vec::new(),
        })
    })
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    registry().lock().unwrap_or_else(|p| p.into_inner())
}

/// Routes log lines from the plugin mapped at `base` to `shared`.
pub(crate) fn attach(base: usize, shared: &Arc<Shared>) {
    let mut r = lock();
    r.hosts.retain(|(_, w)| w.strong_count() > 0);
    r.hosts.push((base, Arc::downgrade(shared)));
}

/// Stops routing lines from `base` to `shared` (at dlclose).
pub(crate) fn detach(base: usize, shared: &Arc<Shared>) {
    let mut r = lock();
    if let Some(i) = r
        .hosts
        .iter()
        .position(|(b, w)| *b == base && std::ptr::eq(w.as_ptr(), Arc::as_ptr(shared)))
    {
        r.hosts.remove(i);
    }
}

/// Lines whose caller could not be matched to a live host (e.g. logged after `dlclose`).
pub fn unattributed_logs() -> Vec<LogLine> {
    lock().orphans.clone()
}

unsafe extern "C" {
    fn fbhost_log_set_sink(
        sink: unsafe extern "C" fn(c_int, *const c_char, usize, c_int, *mut c_void),
    );
    fn fbhost_log_print(level: c_int, file: *const c_char, line: c_int, fmt: *const c_char, ...);
}

/// The `log_print` pointer to put in `flb_api` (installs the sink first).
pub(crate) fn log_print_fn() -> fluent_bit_plugin_sdk::ffi::LogPrintFn {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // SAFETY: installs a valid function pointer; the shim only stores it.
        unsafe { fbhost_log_set_sink(log_sink) }
    });
    fbhost_log_print
}

/// Called by the C shim for every `log_print`.
unsafe extern "C" fn log_sink(
    level: c_int,
    msg: *const c_char,
    len: usize,
    truncated: c_int,
    caller: *mut c_void,
) {
    // Never unwind into C.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the shim passes its buffer and the number of bytes written into it.
        let bytes = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
        let (thread, tid) = current_thread();
        let line = LogLine {
            level: LogLevel::from_raw(level),
            message: String::from_utf8_lossy(bytes).into_owned(),
            truncated: truncated != 0,
            thread,
            tid,
        };
        let base = crate::dl::object_base(caller);
        let target = {
            let mut r = lock();
            let found = base.and_then(|b| {
                r.hosts
                    .iter()
                    .rev()
                    .find(|(hb, _)| *hb == b)
                    .and_then(|(_, w)| w.upgrade())
            });
            if found.is_none() {
                eprintln!("[fluent-bit-plugin-test-host] unattributed log: {line}");
                r.orphans.push(line.clone());
            }
            found
        };
        if let Some(shared) = target {
            if on_fluent_bit_thread() {
                shared.push_log(line);
            } else {
                // flb_log_print finds no worker context on a thread Fluent Bit did not start and
                // writes the line straight to stderr: it never reaches the log pipeline or
                // Log_File (flb_log.c).
                eprintln!("[fluent-bit-plugin-test-host] stderr, not Fluent Bit's log: {line}");
                shared.push_stderr_log(line);
            }
        }
    });
}
