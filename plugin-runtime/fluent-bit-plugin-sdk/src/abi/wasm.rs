//! The wasm side of a call: reading Fluent Bit's six arguments out of linear memory, owning
//! the result buffer, counting outcomes and panics.

use std::cell::UnsafeCell;
use std::fmt::{self, Write as _};
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::event::EventTime;
use crate::filter::apply::{Problem, apply_json_in, apply_msgpack_in};
use crate::filter::{Context, EventFormat, Record, Stats, Verdict};

#[cfg(target_feature = "atomics")]
compile_error!(
    "WASM filters are single-threaded (Fluent Bit runs them without threads); build without \
     the `atomics` target feature"
);

unsafe extern "C" {
    /// `stack_pointer.s`: records the shadow stack pointer in `*top` on the first call and
    /// restores it on later calls that find it lower (after a trap); returns 1 when it did.
    fn plugin_runtime_stack_reclaim(top: *mut u32) -> i32;
}

/// A value only touched from inside one call at a time.
struct CallCell<T>(UnsafeCell<T>);

// SAFETY: without the `atomics` target feature (refused above) a wasm module has exactly one
// thread, so the cell is never shared between threads.
unsafe impl<T> Sync for CallCell<T> {}

impl<T> CallCell<T> {
    const fn new(value: T) -> Self {
        CallCell(UnsafeCell::new(value))
    }

    /// Runs `f` with the only reference to the value. Callers never nest `with` on the same
    /// cell: each cell has one caller below, none of which can re-enter the filter export.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: one thread (see `Sync`), and no nesting, so this is the only live reference.
        // A call that trapped while holding it never resumes, so its reference is dead.
        f(unsafe { &mut *self.0.get() })
    }
}

const PANIC_CAPACITY: usize = 256;

/// The last panic message, in a fixed buffer so the panic hook never allocates.
struct PanicMessage {
    bytes: [u8; PANIC_CAPACITY],
    len: usize,
}

impl fmt::Write for PanicMessage {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut utf8 = [0u8; 4];
            let encoded = c.encode_utf8(&mut utf8).as_bytes();
            let Some(room) = self.bytes.get_mut(self.len..self.len + encoded.len()) else {
                return Err(fmt::Error);
            };
            room.copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}

/// One exported filter's state: format, counters, result buffers.
pub struct FilterState {
    format: EventFormat,
    calls: AtomicU64,
    kept: AtomicU64,
    modified: AtomicU64,
    dropped: AtomicU64,
    input_missing: AtomicU64,
    malformed: AtomicU64,
    zero_byte: AtomicU64,
    wrong_format: AtomicU64,
    panics: AtomicU64,
    stack_reclaims: AtomicU64,
    /// The shadow stack pointer the exported function sees when no earlier call trapped.
    stack_top: AtomicU32,
    out: CallCell<Vec<u8>>,
    /// The record being filtered: kept here, not on the stack, so the next call frees it
    /// when this one panicked (a trap never unwinds).
    record: CallCell<Option<Record>>,
    stats_out: CallCell<Vec<u8>>,
    last_panic: CallCell<PanicMessage>,
}

/// The filter whose call is running, for the panic hook.
static CURRENT: AtomicPtr<FilterState> = AtomicPtr::new(std::ptr::null_mut());
static HOOK: Once = Once::new();

/// The empty string: Fluent Bit's JSON-mode drop signal.
static EMPTY: [u8; 1] = [0];

impl FilterState {
    /// A filter with zeroed counters.
    pub const fn new(format: EventFormat) -> Self {
        FilterState {
            format,
            calls: AtomicU64::new(0),
            kept: AtomicU64::new(0),
            modified: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            input_missing: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            zero_byte: AtomicU64::new(0),
            wrong_format: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            stack_reclaims: AtomicU64::new(0),
            stack_top: AtomicU32::new(0),
            out: CallCell::new(Vec::new()),
            record: CallCell::new(None),
            stats_out: CallCell::new(Vec::new()),
            last_panic: CallCell::new(PanicMessage {
                bytes: [0; PANIC_CAPACITY],
                len: 0,
            }),
        }
    }

    /// Takes back the shadow stack a trapped earlier call left allocated. The exported
    /// function calls this before anything else; inlined so it adds no frame of its own.
    #[inline(always)]
    pub fn reclaim_stack(&self) {
        // SAFETY: `stack_top` is a valid, aligned `u32` for the program's lifetime, only
        // accessed by this function on the module's one thread. Moving the stack pointer up to
        // `stack_top` frees only dead frames: the host calls the export with no module code
        // running, so nothing below the recorded top is live except the caller's own frame,
        // whose remaining work only passes scalars on (see `stack_pointer.s`).
        if unsafe { plugin_runtime_stack_reclaim(self.stack_top.as_ptr()) } == 1 {
            self.stack_reclaims.fetch_add(1, Relaxed);
        }
    }

    /// One call from Fluent Bit: returns the result pointer, or traps to drop in msgpack
    /// format (Fluent Bit has no other msgpack drop signal).
    ///
    /// Never inlined, and taking only scalars: the exported function must stay a frameless
    /// caller of [`reclaim_stack`](Self::reclaim_stack) and this (no shadow-stack frame, so no
    /// epilogue lowers the stack pointer again, and no live frame of the export lies where
    /// this call's frames go once the stack pointer is moved up).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &'static self,
        handler: fn(&Context<'_>, &mut Record) -> Verdict,
        tag: i32,
        tag_len: i32,
        time_sec: i32,
        time_nsec: i32,
        record: i32,
        record_len: i32,
    ) -> i32 {
        HOOK.call_once(|| std::panic::set_hook(Box::new(count_panic)));
        CURRENT.store(std::ptr::from_ref(self).cast_mut(), Relaxed);
        self.calls.fetch_add(1, Relaxed);
        let returned = self.out.with(|out| {
            self.record.with(|slot| {
                // What arrived decides how to drop: the empty string only drops in JSON format,
                // and in msgpack format it would corrupt the record.
                let mut arrived = self.format;
                let result = read(tag, tag_len)
                    .and_then(|tag| std::str::from_utf8(tag).map_err(|_| Problem::BadTag))
                    .and_then(|tag| {
                        let record = read(record, record_len)?;
                        arrived = arrived_format(record).unwrap_or(self.format);
                        if arrived != self.format {
                            return Err(Problem::WrongFormat(self.format));
                        }
                        let sec = u64::from(time_sec as u32);
                        let time = EventTime::new(sec, time_nsec as u32)
                            .unwrap_or(EventTime::from_secs(sec));
                        let ctx = Context::new(tag, time);
                        match self.format {
                            EventFormat::Json => apply_json_in(handler, &ctx, record, slot, out),
                            EventFormat::Msgpack => {
                                apply_msgpack_in(handler, &ctx, record, slot, out)
                            }
                        }
                    });
                let counter = match &result {
                    Ok(Verdict::Keep) => &self.kept,
                    Ok(Verdict::Modified) => &self.modified,
                    Ok(Verdict::Drop) => &self.dropped,
                    Err(Problem::InputMissing) => &self.input_missing,
                    Err(Problem::ZeroByte) => &self.zero_byte,
                    Err(Problem::WrongFormat(_)) => &self.wrong_format,
                    Err(Problem::OutOfBounds | Problem::BadTag | Problem::Malformed(_)) => {
                        &self.malformed
                    }
                };
                counter.fetch_add(1, Relaxed);
                match result {
                    Ok(Verdict::Keep | Verdict::Modified) => {
                        out.push(0);
                        Some(out.as_ptr() as i32)
                    }
                    _ if arrived == EventFormat::Json => Some(EMPTY.as_ptr() as i32),
                    _ => None,
                }
            })
        });
        match returned {
            Some(ptr) => ptr,
            // Everything is counted and no borrow is live: trapping loses nothing.
            None => core::arch::wasm32::unreachable(),
        }
    }

    /// Writes the counters as NUL-terminated JSON and returns a pointer to them (valid until
    /// the next stats call).
    pub fn stats_json(&'static self) -> i32 {
        let last_panic = self.last_panic.with(|m| {
            String::from_utf8_lossy(m.bytes.get(..m.len).unwrap_or_default()).into_owned()
        });
        let stats = Stats {
            calls: self.calls.load(Relaxed),
            kept: self.kept.load(Relaxed),
            modified: self.modified.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            input_missing: self.input_missing.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            zero_byte: self.zero_byte.load(Relaxed),
            wrong_format: self.wrong_format.load(Relaxed),
            panics: self.panics.load(Relaxed),
            stack_reclaims: self.stack_reclaims.load(Relaxed),
            last_panic,
        };
        self.stats_out.with(|out| {
            out.clear();
            if serde_json::to_writer(&mut *out, &stats).is_err() {
                out.clear();
            }
            out.push(0);
            out.as_ptr() as i32
        })
    }
}

/// The format a record arrived in, from its first byte: JSON objects start with `{`, msgpack
/// maps with a fixmap, map16 or map32 header. `None` for anything else (malformed either way).
fn arrived_format(record: &[u8]) -> Option<EventFormat> {
    match record.first()? {
        b'{' => Some(EventFormat::Json),
        0x80..=0x8f | 0xde | 0xdf => Some(EventFormat::Msgpack),
        _ => None,
    }
}

/// The bytes at `[ptr, ptr + len)` of linear memory, checked against its current size.
fn read<'call>(ptr: i32, len: i32) -> Result<&'call [u8], Problem> {
    if ptr == 0 {
        return Err(Problem::InputMissing);
    }
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    let memory_end = core::arch::wasm32::memory_size(0).saturating_mul(65536);
    match start.checked_add(len) {
        Some(end) if end <= memory_end => {}
        _ => return Err(Problem::OutOfBounds),
    }
    // SAFETY: `[start, start + len)` lies inside linear memory (checked above), all of which is
    // readable. The host wrote the input there before the call (in its app heap or through the
    // module's exported `malloc`) and frees it only after the call; this module never writes
    // to it, and the slice does not outlive the call.
    Ok(unsafe { std::slice::from_raw_parts(start as *const u8, len) })
}

/// The panic hook: counts the panic for the running filter and keeps its message. It must not
/// allocate (the panic may come from the allocator running out of memory).
fn count_panic(info: &std::panic::PanicHookInfo<'_>) {
    let current = CURRENT.load(Relaxed);
    if current.is_null() {
        return;
    }
    // SAFETY: `CURRENT` only ever holds a pointer to a `FilterState` in a `static` (`call`
    // takes `&'static self`), which lives for the whole program.
    let state = unsafe { &*current };
    state.panics.fetch_add(1, Relaxed);
    state.last_panic.with(|m| {
        m.len = 0;
        // A message longer than the buffer is cut; what fits is kept.
        let _ = write!(m, "{info}");
    });
}
