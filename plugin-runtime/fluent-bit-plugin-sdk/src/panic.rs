//! The runtime's panic hook: panics are reported through Fluent Bit's log and never capture a
//! backtrace.
//!
//! Rust's default hook captures a backtrace when `RUST_BACKTRACE` is set. On an output flush
//! that walk runs on Fluent Bit's coroutine stack (a `malloc`ed libco stack whose first frame
//! returns into a `crash()` stub, `docs/fluent-bit-abi.md` section 3.3): the unwinder steps past the
//! coroutine's first frame into whatever lies beyond, and Fluent Bit crashed in 6 of 7 runs
//! with `RUST_BACKTRACE=1`. Each plugin `.so` carries its own copy of `std`, so installing a hook
//! here affects only panics inside this plugin. The hook never walks the stack, whatever the
//! environment: for a panic the runtime catches it only records where the panic happened, and
//! the runtime logs `<what> panicked: <message>; <consequence> (at <file:line:col>)` through
//! the instance's
//! logger; any other panic (a thread the plugin started itself) is logged the same way through
//! the thread's logger, or to stderr.

use std::any::Any;
use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

use crate::context::panic_message;

thread_local! {
    // Plain values in const-initialised cells: no destructor is registered, which matters
    // because Fluent Bit dlclose()s the library while its threads live on.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    static LOCATION: Cell<Option<Location>> = const { Cell::new(None) };
}

/// Where a caught panic happened (`file:line:col`), in a fixed buffer: a `Copy` value in a
/// `Cell` registers no destructor and needs no raw pointer. Longer locations are cut.
#[derive(Clone, Copy)]
struct Location {
    bytes: [u8; 240],
    len: usize,
}

impl std::fmt::Write for Location {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for c in s.chars() {
            let mut utf8 = [0u8; 4];
            let encoded = c.encode_utf8(&mut utf8).as_bytes();
            let Some(room) = self.bytes.get_mut(self.len..self.len + encoded.len()) else {
                return Err(std::fmt::Error);
            };
            room.copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}

/// Installs the hook once per loaded plugin. Called at Register and at every Init.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(hook)));
}

fn hook(info: &PanicHookInfo<'_>) {
    if CATCHING.with(Cell::get) > 0 {
        let mut at = Location {
            bytes: [0; 240],
            len: 0,
        };
        let _ = match info.location() {
            Some(l) => write!(at, "{l}"),
            None => write!(at, "an unknown location"),
        };
        LOCATION.with(|l| l.set(Some(at)));
        return;
    }
    let location = info
        .location()
        .map_or_else(|| "an unknown location".to_owned(), ToString::to_string);
    let thread = std::thread::current();
    let message = panic_message(info.payload());
    crate::logging::log_current(
        log::Level::Error,
        format_args!(
            "thread '{}' panicked: {message} (at {location})",
            thread.name().unwrap_or("<unnamed>")
        ),
    );
}

/// `catch_unwind` for the runtime's own call sites: while it runs, the hook records the panic's
/// location instead of printing it, and [`describe`] reports both.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
    result
}

/// The message of a panic caught by [`catch`] on this thread, and ` (at <file:line:col>)` (or
/// nothing when the hook did not see it), to append to the log line that reports it.
pub(crate) fn describe(payload: &(dyn Any + Send)) -> (String, String) {
    let message = panic_message(payload).to_owned();
    match LOCATION.with(|l| l.take()) {
        Some(at) => {
            let location = String::from_utf8_lossy(&at.bytes[..at.len]);
            (message, format!(" (at {location})"))
        }
        None => (message, String::new()),
    }
}
