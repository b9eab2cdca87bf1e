//! A test host for Fluent Bit proxy plugins: it loads a plugin `.so` with `dlopen` and drives it
//! through the exact ABI and call sequence of Fluent Bit 5.1.1 (`docs/fluent-bit-abi.md`),
//! so plugins can be tested without a Fluent Bit binary.
//!
//! ```no_run
//! use fluent_bit_plugin_test_host::{FlushCode, Host, cdylib_path, records};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let host = Host::load(cdylib_path("out-jsonl")?)?;
//! let out = host.output().property("path", "/tmp/x.jsonl").property("workers", "2").init()?;
//! let mut chunk = Vec::new();
//! records::push_v2(&mut chunk, records::Timestamp::Int(1), &[], &[("msg", "hi".into())]);
//! let report = out.flush("app.log", &chunk)?;
//! assert_eq!(report.code, FlushCode::Ok);
//! assert!(report.stack_used < 64 * 1024);
//! host.shutdown(); // outputs exit, customs, inputs; FLBPluginUnregister; dlclose
//! # Ok(()) }
//! ```
//!
//! What is faithful: symbol resolution and fallbacks, the 48/40/32-byte `def` (with a canary
//! past it), the one shared `flbgo_*_plugin` struct per plugin (overwritten before each Init and
//! poisoned with [`POISON`] after it), one `malloc`ed `flb_api` per plugin, core-consumed keys
//! hidden from `get_property`, the threads each callback runs on, flushes on a 64 KiB stack laid
//! out like libco's (an unwinder walking past its first frame faults, as it crashes Fluent Bit),
//! the doubled worker pool of proxy outputs (2N threads for `workers N`, the first pool leaked),
//! instance names (`Alias`, else `<plugin>.<id>`; `flb_*_name` exported for `dlsym`),
//! `log_print` from threads Fluent Bit does not own going to stderr ([`Host::stderr_logs`]),
//! the collect/copy/cleanup sequence, inputs paused before they exit and never collected again,
//! exit and unregister order, hot reload. Where the host is
//! stricter than Fluent Bit (bad records, stack overruns, API misuse), it reports an error or a
//! [`Host::violations`] entry instead of corrupting memory.

/// The accessors every running instance type shares. Each wraps an `Arc` of a state with the
/// instance's `name`, its `core` (captured core keys, the plugin's properties, the display
/// name) and its calloc'd context `ctx`. Arguments: Fluent Bit's name function, examples of
/// core keys, and the `flb_api` getter the plugin calls.
macro_rules! instance_accessors {
    ($name_fn:literal, $core_keys:literal, $getter:literal) => {
        /// The instance name, `<plugin>.<id>`.
        pub fn name(&self) -> &str {
            &self.state.name
        }

        #[doc = concat!(
                    "What Fluent Bit calls this instance in its logs and metrics (`", $name_fn,
                    "`): the `alias` property if set, else [`name`](Self::name)."
                )]
        pub fn display_name(&self) -> &str {
            self.state.core.display_name.to_str().unwrap_or("")
        }

        #[doc = concat!("The value the core captured for a core key (", $core_keys, ").")]
        pub fn core_property(&self, key: &str) -> Option<&str> {
            self.state.core.props.core(key)
        }

        #[doc = concat!("What `", $getter, "(key)` returns to the plugin.")]
        pub fn plugin_property(&self, key: &str) -> Option<String> {
            self.state
                .core
                .props
                .get(key.as_bytes())
                .map(|v| v.to_string_lossy().into_owned())
        }

        /// The `remote_context` the plugin stored during Init (an input's is at offset 8 of its
        /// context, after the plugin pointer).
        pub fn remote_context(&self) -> usize {
            // SAFETY: reading a pointer-sized field of our live context.
            unsafe { (*self.state.ctx.0).remote_context as usize }
        }
    };
}

mod api;
pub mod config;
mod coro;
mod custom;
mod dl;
mod error;
mod host;
mod input;
mod instance;
mod logs;
mod metrics;
mod output;
mod props;
pub mod records;
mod register;
pub mod run;
mod shared;
mod worker;

use std::path::PathBuf;

pub use custom::{CustomBuilder, CustomInstance, CustomKind};
pub use error::HostError;
pub use host::{DEFAULT_CORO_STACK_SIZE, Host, HostBuilder};
pub use input::{Collected, InputBuilder, InputInstance, InputKind};
pub use instance::InstanceBuilder;
pub use logs::{LogLevel, LogLine, unattributed_logs};
pub use output::{FlushCode, FlushReport, OutputBuilder, OutputInstance, OutputKind};
pub use props::{PluginKind, is_core_key};
pub use register::{DefSize, POISON};

/// Finds `lib<name>.so` built by cargo for the running test: looks in the directory of the test
/// executable (`target/<profile>/deps`) and its parent (`target/<profile>`), newest first.
/// `name` is the crate name; `-` becomes `_`.
///
/// To have cargo build it before the tests, list the plugin crate (crate-type
/// `["cdylib", "rlib"]`) under `[dev-dependencies]`: cargo then writes
/// `target/<profile>/deps/lib<name>.so`.
pub fn cdylib_path(name: &str) -> Result<PathBuf, HostError> {
    let file = name.replace('-', "_");
    let exe = std::env::current_exe().map_err(|e| HostError::Os(format!("current_exe: {e}")))?;
    let mut dirs = Vec::new();
    if let Some(d) = exe.parent() {
        dirs.push(d.to_owned());
        if let Some(p) = d.parent() {
            dirs.push(p.to_owned());
        }
    }
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for d in &dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let exact = n == format!("lib{file}.so");
            let hashed = n.starts_with(&format!("lib{file}-")) && n.ends_with(".so");
            if exact || hashed {
                let t = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                found.push((t, e.path()));
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
        .into_iter()
        .next()
        .map(|(_, p)| p)
        .ok_or(HostError::CdylibNotFound {
            name: name.to_owned(),
            searched: dirs,
        })
}

/// Like [`cdylib_path`], but copies the library to a fresh temporary path first, so the caller
/// gets its own `dlopen` handle and its own plugin statics even while other tests in the same
/// process (`cargo test` runs tests on threads) load the same plugin. The copy lives in
/// `$TMPDIR/fluent-bit-plugin-test-host-<pid>-<n>/`.
pub fn isolated_cdylib(name: &str) -> Result<PathBuf, HostError> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let src = cdylib_path(name)?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "fluent-bit-plugin-test-host-{}-{n}",
        std::process::id()
    ));
    let copy = |e: std::io::Error| HostError::Os(format!("copying {}: {e}", src.display()));
    std::fs::create_dir_all(&dir).map_err(copy)?;
    let dst = dir.join(
        src.file_name()
            .unwrap_or_else(|| std::ffi::OsStr::new("plugin.so")),
    );
    std::fs::copy(&src, &dst).map_err(copy)?;
    Ok(dst)
}

/// Bytes currently allocated with malloc in this process (glibc `mallinfo2().uordblks`); use
/// it to show that collect buffers are freed.
pub fn malloc_in_use() -> usize {
    // SAFETY: mallinfo2 has no preconditions.
    unsafe { libc::mallinfo2() }.uordblks
}

/// Names (`comm`, at most 15 bytes) of every live thread of this process, from
/// `/proc/self/task/*/comm`; use it to show a plugin joined its threads when Exit returned.
pub fn live_thread_names() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for e in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path().join("comm")) {
                out.push(s.trim_end().to_owned());
            }
        }
    }
    out
}

/// Waits up to `timeout` until exactly `count` live threads are named `name`. A new thread sets
/// its name itself, shortly after it starts, so a test that just started one should wait.
pub fn wait_for_threads(name: &str, count: usize, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let n = live_thread_names().iter().filter(|t| *t == name).count();
        if n == count || std::time::Instant::now() >= deadline {
            return n == count;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The environment variable that marks the child process of [`rerun_in_child`].
pub const CHILD_MARKER: &str = "PLUGIN_TEST_HOST_CHILD";

/// Whether this process is the child [`rerun_in_child`] started.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// Runs the test named `test` (its path within the test binary, as libtest prints it) again in
/// a child process of the same test binary, with `envs` added to its environment, and returns
/// its output. Use it for what must be set before a plugin is loaded and cannot be changed
/// safely in a running multi-threaded test process, such as `RUST_BACKTRACE` (which a plugin's
/// `std` reads at its first panic), and for behaviour that may crash the process: the parent
/// sees the crash as the child's exit status. In the child, [`is_child`] is true.
pub fn rerun_in_child(
    test: &str,
    envs: &[(&str, &str)],
) -> Result<std::process::Output, HostError> {
    let exe = std::env::current_exe().map_err(|e| HostError::Os(format!("current_exe: {e}")))?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_MARKER, "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output()
        .map_err(|e| HostError::Os(format!("running {} {test}: {e}", exe.display())))
}

/// The first of `lines` that contains `needle`; panics with every line when none does, so a
/// failing test shows what the plugin logged.
pub fn expect_line<'a>(lines: &'a [String], needle: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.contains(needle))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no log line contains {needle:?}; the lines were: {lines:#?}"))
}
