//! Runs a flush the way Fluent Bit does: on a small separate stack on the calling thread, and
//! measures how much of it was used.
//!
//! On x86-64 the coroutine is laid out like libco's (`csrc/coro_shim.c`): entered by a register
//! swap, its first frame returning into a crash stub, so an unwinder that walks past that frame
//! (Rust's default panic hook capturing a backtrace with `RUST_BACKTRACE` set) faults here as it
//! crashes Fluent Bit. Elsewhere `makecontext`/`swapcontext` are used.
//!
//! The mapping is a guard page, the budget plus generous headroom, and a guard page above the
//! stack top, painted with a pattern: a flush that goes past the budget still completes here and
//! is reported as an error instead of silently corrupting the heap as it would in Fluent Bit.

use std::cell::Cell;

use crate::error::HostError;

const PAINT: u64 = 0xC0FF_EE15_DEAD_F1B0;
const HEADROOM: usize = 1 << 20;

pub(crate) struct CoroStack {
    base: *mut u8,
    len: usize,
    page: usize,
    /// Lowest byte offset (from `base + page`) the last run may have dirtied.
    dirty_from: usize,
    pub(crate) budget: usize,
    valgrind_id: u32,
}

unsafe extern "C" {
    fn fbhost_stack_register(start: *mut libc::c_void, end: *mut libc::c_void) -> u32;
    fn fbhost_stack_deregister(id: u32);
    fn fbhost_mem_defined(p: *mut libc::c_void, n: usize);
    fn fbhost_coro_supported() -> libc::c_int;
    fn fbhost_coro_run(
        top: *mut libc::c_void,
        body: extern "C" fn(*mut libc::c_void),
        arg: *mut libc::c_void,
    );
}

// SAFETY: the mapping is owned by this value and only used by the thread that holds it.
unsafe impl Send for CoroStack {}

impl CoroStack {
    pub(crate) fn new(budget: usize) -> Result<Self, HostError> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let usable = (budget + HEADROOM).div_ceil(page) * page;
        let len = usable + 2 * page;
        // SAFETY: anonymous private mapping; checked for MAP_FAILED below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(HostError::Os(format!(
                "cannot map a {len}-byte flush stack: {}",
                std::io::Error::last_os_error()
            )));
        }
        // SAFETY: the first and the last page of our own mapping become guard pages: below the
        // stack for overflows, above its top for unwinders that walk past the first frame.
        unsafe {
            libc::mprotect(base, page, libc::PROT_NONE);
            libc::mprotect(
                base.cast::<u8>().add(len - page).cast(),
                page,
                libc::PROT_NONE,
            );
        }
        // SAFETY: announces our own mapping as a stack (a no-op outside valgrind).
        let valgrind_id = unsafe {
            let b = base.cast::<u8>();
            fbhost_stack_register(b.add(page).cast(), b.add(len - page).cast())
        };
        Ok(Self {
            base: base.cast(),
            len,
            page,
            dirty_from: 0,
            budget,
            valgrind_id,
        })
    }

    fn usable(&mut self) -> &mut [u64] {
        // SAFETY: [base+page, base+len-page) is our read/write mapping, page aligned.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.add(self.page).cast::<u64>(),
                (self.len - 2 * self.page) / 8,
            )
        }
    }

    /// Runs `f` on this stack and returns how many bytes of it were used.
    pub(crate) fn run(&mut self, f: &mut dyn FnMut()) -> usize {
        let from = self.dirty_from / 8;
        let words = self.usable();
        // SAFETY: the range is inside our mapping (a no-op outside valgrind).
        unsafe { fbhost_mem_defined(words[from..].as_mut_ptr().cast(), (words.len() - from) * 8) };
        words[from..].fill(PAINT);

        let fat: *mut (dyn FnMut() + '_) = f;
        // SAFETY: only the lifetime is erased; the pointer is used while `f` is borrowed here,
        // because this function blocks until the coroutine finishes.
        let fat: *mut (dyn FnMut() + 'static) = unsafe { std::mem::transmute(fat) };
        CURRENT.with(|c| c.set(Some(fat)));
        // SAFETY: no preconditions.
        if unsafe { fbhost_coro_supported() } != 0 {
            // SAFETY: the top of our usable range (page aligned, below the upper guard page);
            // `body` runs the closure set in CURRENT and returns to us when it is done.
            unsafe {
                let top = self.base.add(self.len - self.page);
                fbhost_coro_run(top.cast(), body, std::ptr::null_mut());
            }
        } else {
            self.run_makecontext();
        }
        CURRENT.with(|c| c.set(None));
        self.measure()
    }

    fn run_makecontext(&mut self) {
        // SAFETY: ucontext_t is plain data that getcontext fills in.
        let mut caller: Box<libc::ucontext_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: as above.
        let mut coro: Box<libc::ucontext_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: getcontext initialises coro; makecontext gets our mapping as its stack and
        // returns to `caller` through uc_link when the entry function returns; swapcontext
        // saves the current context in `caller`. The closure pointer stays valid because we
        // block here until the coroutine finishes.
        unsafe {
            libc::getcontext(&mut *coro);
            coro.uc_stack.ss_sp = self.base.add(self.page).cast();
            coro.uc_stack.ss_size = self.len - 2 * self.page;
            coro.uc_link = &mut *caller;
            libc::makecontext(&mut *coro, entry, 0);
            libc::swapcontext(&mut *caller, &*coro);
        }
    }

    fn measure(&mut self) -> usize {
        let (lowest, total) = {
            let words = self.usable();
            // SAFETY: our own mapping (a no-op outside valgrind).
            unsafe { fbhost_mem_defined(words.as_mut_ptr().cast(), words.len() * 8) };
            (
                words
                    .iter()
                    .position(|&w| w != PAINT)
                    .unwrap_or(words.len()),
                words.len(),
            )
        };
        self.dirty_from = lowest * 8;
        (total - lowest) * 8
    }
}

impl Drop for CoroStack {
    fn drop(&mut self) {
        // SAFETY: forgetting the stack registration and unmapping exactly the mapping created in
        // new(); nothing runs on it any more.
        unsafe {
            fbhost_stack_deregister(self.valgrind_id);
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

thread_local! {
    static CURRENT: Cell<Option<*mut dyn FnMut()>> = const { Cell::new(None) };
}

extern "C" fn body(_arg: *mut libc::c_void) {
    entry();
}

extern "C" fn entry() {
    if let Some(f) = CURRENT.with(Cell::get) {
        // A panic must not unwind off the top of a makecontext stack.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: set by run() just before switching here; run() is blocked until we return.
            unsafe { (*f)() }
        }));
        if r.is_err() {
            eprintln!("[fluent-bit-plugin-test-host] panic inside a flush coroutine; aborting");
            std::process::abort();
        }
    }
}
