//! The flush path allocates nothing per record when the plugin only borrows.
//!
//! This drives the real export glue in-process (Init, FlushCtx, ExitCtx) with a minimal host
//! table written here, and counts allocations on the flushing thread.

// A counting global allocator (GlobalAlloc is an unsafe trait); the crate denies unsafe_code
// outside src/abi/ and its tests opt out here only.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::hint::black_box;

use fluent_bit_plugin_sdk::__private::{PluginMeta, ffi, output};
use fluent_bit_plugin_sdk::event::{Encoder, EventTime};
use fluent_bit_plugin_sdk::{Chunk, Error, FlushError, InitContext, OutputPlugin};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only const thread-locals,
// which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Visits every key and value of every record, touching string bytes, without copying.
struct Borrowing;

impl OutputPlugin for Borrowing {
    fn init(_ctx: &InitContext) -> Result<Self, Error> {
        Ok(Borrowing)
    }

    fn flush(&self, chunk: &Chunk<'_>) -> Result<(), FlushError> {
        let mut bytes = 0usize;
        for event in chunk.events() {
            let event = event?;
            black_box(event.time());
            for (key, value) in event.body().iter() {
                bytes += key.as_bytes().map_or(0, <[u8]>::len);
                bytes += value.as_bytes().map_or(0, <[u8]>::len);
            }
        }
        black_box(bytes);
        Ok(())
    }
}

unsafe extern "C" fn no_property(_key: *const c_char, _ins: *mut c_void) -> *const c_char {
    std::ptr::null()
}

unsafe extern "C" fn quiet(_ins: *mut c_void, _level: c_int) -> c_int {
    0
}

static META: PluginMeta = PluginMeta::new("borrowing\0", "test\0");

#[test]
fn flushing_a_borrowing_plugin_allocates_nothing_per_record() {
    let mut api = ffi::FlbApi {
        output_get_property: Some(no_property),
        input_get_property: Some(no_property),
        output_get_cmt_instance: None,
        input_get_cmt_instance: None,
        log_print: None,
        input_log_check: Some(quiet),
        output_log_check: Some(quiet),
        custom_get_property: Some(no_property),
        custom_log_check: Some(quiet),
    };
    let mut context = ffi::ProxyContext {
        remote_context: std::ptr::null_mut(),
        proxy: std::ptr::null_mut(),
    };
    let mut plugin = ffi::GoOutputPlugin {
        name: c"borrowing".as_ptr().cast_mut(),
        api: &mut api,
        o_ins: std::ptr::dangling_mut(),
        context: &mut context,
        cb_init: std::ptr::null_mut(),
        cb_flush: std::ptr::null_mut(),
        cb_flush_ctx: std::ptr::null_mut(),
        cb_exit: std::ptr::null_mut(),
        cb_exit_ctx: std::ptr::null_mut(),
    };
    // SAFETY: the structs above mirror what Fluent Bit passes and outlive the instance.
    let code = unsafe { output::init::<Borrowing>(&META, &mut plugin) };
    assert_eq!(code, ffi::FLB_OK);
    assert!(!context.remote_context.is_null());

    let mut chunk = Vec::new();
    let mut encoder = Encoder::new(&mut chunk);
    for i in 0..1000u64 {
        encoder
            .record(EventTime::new(1_700_000_000 + i, 5).expect("valid time"))
            .str("message", "GET /index.html 200")
            .str("stream", "stdout")
            .uint("bytes", 512 + i)
            .map("kubernetes", |k| {
                k.str("pod", "web-7d4b9").str("namespace", "default");
            });
    }

    let flush = |chunk: &[u8]| {
        // SAFETY: remote_context from Init; the buffer and tag live across the call.
        unsafe {
            output::flush::<Borrowing>(
                context.remote_context,
                chunk.as_ptr().cast(),
                chunk.len(),
                c"app.logs".as_ptr(),
            )
        }
    };
    assert_eq!(flush(&chunk), ffi::FLB_OK, "warm-up flush");

    COUNTING.with(|c| c.set(true));
    let code = flush(&chunk);
    COUNTING.with(|c| c.set(false));
    assert_eq!(code, ffi::FLB_OK);
    assert_eq!(
        ALLOCATIONS.with(Cell::get),
        0,
        "a flush of 1000 records through the glue allocated"
    );

    // SAFETY: remote_context from Init, exited once.
    let code = unsafe { output::exit::<Borrowing>(context.remote_context) };
    assert_eq!(code, ffi::FLB_OK);
}
