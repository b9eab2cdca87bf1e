//! The runtime's panic hook: panics are reported through Fluent Bit's log and never capture a
//! backtrace.
//!
//! Rust's default hook captures a backtrace when `RUST_BACKTRACE` is set. On an output flush
//! that walk runs on Fluent Bit's coroutine stack (a `malloc`ed libco stack whose first frame
//! returns into a `crash()` stub, reference section 3.3): the unwinder steps past the
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
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

use crate::context::panic_message;

thread_local! {
    // Plain values in const-initialised cells: no destructor is registered, which matters
    // because Fluent Bit dlclose()s the library while its threads live on.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    static LOCATION: Cell<*mut String> = const { Cell::new(std::ptr::null_mut()) };
}

/// Installs the hook once per loaded plugin. Called at Register and at every Init.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(hook)));
}

fn hook(info: &PanicHookInfo<'_>) {
    let location = info
        .location()
        .map_or_else(|| "an unknown location".to_owned(), ToString::to_string);
    if CATCHING.with(Cell::get) > 0 {
        let previous = LOCATION.with(|l| l.replace(Box::into_raw(Box::new(location))));
        if !previous.is_null() {
            // SAFETY: only ever set from Box::into_raw here, and taken out before freeing.
            drop(unsafe { Box::from_raw(previous) });
        }
        return;
    }
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
    let location = LOCATION.with(|l| l.replace(std::ptr::null_mut()));
    if location.is_null() {
        return (message, String::new());
    }
    // SAFETY: set by the hook from Box::into_raw and taken out of the cell above.
    let location = unsafe { Box::from_raw(location) };
    (message, format!(" (at {location})"))
}
