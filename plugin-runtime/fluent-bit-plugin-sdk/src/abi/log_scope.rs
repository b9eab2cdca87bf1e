//! Which instance's logger the `log` macros reach on a thread: a raw pointer in a thread-local.
//!
//! Not a call into Fluent Bit, but here because of it: Fluent Bit `dlclose()`s the library
//! while its threads live on, so the thread-local must be a plain `Cell` that registers no
//! destructor (an `Arc` in it would), hence a pointer that is dereferenced with `unsafe`.

use std::cell::Cell;
use std::panic::resume_unwind;
use std::thread;

use crate::logging::{Inner, LogScope};

thread_local! {
    // A plain pointer in a const-initialised Cell: no destructor is registered, which matters
    // because Fluent Bit dlclose()s the library while its threads live on.
    static CURRENT: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
}

/// Sets the logger the macros reach on this thread; returns the previous one. Only
/// `Logger::enter` (with a pointer into the `Arc` its guard borrows) and the guard's `Drop`
/// (restoring what it replaced) call it.
pub(crate) fn replace_current(ptr: *const Inner) -> *const Inner {
    CURRENT.with(|c| c.replace(ptr))
}

/// Runs `f` with the logger the macros reach on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Inner>) -> R) -> R {
    let ptr = CURRENT.with(Cell::get);
    // SAFETY: CURRENT is only set by `Logger::enter`, whose guard borrows the Logger (keeping the
    // Arc alive) and restores the previous value before the borrow ends, and by `Route::enter`
    // below, whose thread is joined while the capturing scope is alive.
    f(unsafe { ptr.as_ref() })
}

/// The logger the `log` macros reach on this thread, to hand to a scoped thread.
fn current_route() -> Route {
    Route(CURRENT.with(Cell::get))
}

/// A logger route captured by [`current_route`]; [`Route::enter`] applies it on another
/// thread. Only valid while the scope that set it on the capturing thread is alive.
#[derive(Clone, Copy)]
struct Route(*const Inner);

// SAFETY: `Inner` is Send + Sync; the pointer is only dereferenced while the capturing thread's
// scope keeps the logger alive (the offload thread is joined before that scope ends).
unsafe impl Send for Route {}

impl Route {
    /// # Safety
    /// The scope that set this route on the capturing thread must outlive the returned guard.
    unsafe fn enter(self) -> LogScope<'static> {
        crate::logging::install_facade();
        let previous = CURRENT.with(|c| c.replace(self.0));
        LogScope {
            previous,
            _logger: std::marker::PhantomData,
        }
    }
}

/// Runs `work` on a new thread named `name` with a `stack_size`-byte stack, with the caller's
/// logger route, and returns its result; a panic in `work` propagates to the caller.
pub(crate) fn run_on_thread<R: Send>(
    name: &str,
    stack_size: usize,
    work: impl FnOnce() -> R + Send,
) -> R {
    // The `log` macros in `work` reach the flushing instance's logger; its lines are queued and
    // printed on Fluent Bit's thread when the flush returns (see `crate::logging`).
    let route = current_route();
    thread::scope(|scope| {
        let handle = thread::Builder::new()
            .name(name.into())
            .stack_size(stack_size)
            .spawn_scoped(scope, move || {
                // SAFETY: the caller's logger scope outlives this thread, which is joined
                // before this function returns.
                let _scope = unsafe { route.enter() };
                work()
            });
        match handle {
            Ok(handle) => handle.join().unwrap_or_else(|panic| resume_unwind(panic)),
            Err(err) => panic!("could not start an offload thread: {err}"),
        }
    })
}
