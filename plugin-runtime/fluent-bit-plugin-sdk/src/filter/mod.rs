//! Fluent Bit filters in Rust, built to WebAssembly and run by Fluent Bit's `wasm` filter.
//!
//! Write one function over a record: it gets the tag and time in a [`Context`] and the record
//! body as a JSON object ([`Record`]), may change the record in place, and answers with a
//! [`Verdict`]: keep the record as it came, emit the modified record, or drop it.
//! [`export_filter!`](crate::export_filter) turns it into the
//! `(i32, i32, i32, i32, i32, i32) -> i32` function Fluent Bit calls.
//!
//! A complete filter that drops debug records and marks the rest:
//!
//! ```
//! use fluent_bit_plugin_sdk::filter::{Context, Record, Verdict};
//!
//! fn drop_debug(ctx: &Context<'_>, record: &mut Record) -> Verdict {
//!     if record.get("level").and_then(|v| v.as_str()) == Some("debug") {
//!         return Verdict::Drop;
//!     }
//!     record.insert("filtered_by".into(), ctx.tag().into());
//!     Verdict::Modified
//! }
//!
//! fluent_bit_plugin_sdk::export_filter!(drop_debug_filter, drop_debug);
//! ```
//!
//! Build it with `crate-type = ["cdylib", "rlib"]` and
//! `cargo build --release --target wasm32-unknown-unknown`, then point Fluent Bit at it:
//!
//! ```text
//! [FILTER]
//!     Name           wasm
//!     Match          app.*
//!     WASM_Path      /fluent-bit/filters/drop_debug.wasm
//!     Function_Name  drop_debug_filter
//!     Event_Format   json
//!     WASM_Heap_Size 17456
//! ```
//!
//! `WASM_Heap_Size` must hold the tag and the record's JSON text; 17456 is
//! [`heap_size_for`]`(16_384, 32)`, for 16 KiB records. Write it in bytes: Fluent Bit's `K` and
//! `M` suffixes are decimal. Fluent Bit copies both into an 8 KiB heap by default and, when they
//! do not fit, calls the filter without them.
//! The runtime then drops the record and counts it as `input_missing`.
//!
//! Test the function natively with [`apply_json`], and the built `.wasm` with the
//! `fluent-bit-wasm-filter-test-host` crate, which calls it exactly as Fluent Bit does (heap size,
//! pointer 0, NUL-terminated results, keep/modify/drop) and reads the counters.
//!
//! What the runtime guarantees:
//! - **Memory.** Inputs are read bounds-checked from linear memory. The result lives in one
//!   buffer per filter, reused by every call (Fluent Bit copies it before the next call), always
//!   NUL-terminated. The parsed record is freed before the call returns, so repeated calls on
//!   Fluent Bit's persistent instance do not grow memory.
//! - **Drops are deliberate and counted.** A missing input (heap too small), invalid UTF-8 in the
//!   tag, a record that is not a JSON object, and a panic each drop the record and increment a
//!   counter. The module exports `<function>_stats`, which returns a pointer to a NUL-terminated
//!   JSON object with the counters ([`Stats`]) and the last panic message.
//! - **A mismatched `Event_Format`** (a JSON filter configured as msgpack, or the reverse) is
//!   recognised from the record's first byte; the record is dropped the way the format that
//!   arrived drops (so nothing is corrupted) and counted as `wrong_format`.
//! - **Output is always an object.** A [`Record`] serializes to a JSON object, so the filter
//!   never produces the non-object output Fluent Bit rejects; [`Verdict::Drop`] returns the empty
//!   string, Fluent Bit's JSON-mode drop signal.
//! - **Field order** is kept in `.wasm` builds (native builds, used for unit tests, sort keys).
//!
//! Panics: `wasm32-unknown-unknown` aborts on panic, which traps; Fluent Bit drops the record
//! and logs the trap. The runtime's panic hook counts it and keeps the message (readable through
//! `<function>_stats`). A trap skips every destructor and epilogue, so the runtime takes back
//! what it can on the next call: the record and result buffers (kept in module globals, not on
//! the stack) and the shadow stack the trapped frames held (about 720 bytes a panic, which would
//! otherwise exhaust the 1 MiB stack after some 1 400 panics and make every later call trap).
//! Not reclaimable: memory your function itself holds when it panics, and the `String` std
//! formats a non-literal panic message into before the hook runs (about 100 bytes a panic).
//! Keep filter functions panic-free per record; `panics` in the stats shows when they are not.

//! State that lives across calls (compiled patterns, lookup tables) goes in a `static` such as
//! `std::sync::OnceLock`; Fluent Bit keeps one instance per `[FILTER]` for its whole lifetime.
//!
//! The msgpack event format: see [`EventFormat::Msgpack`] for why JSON is the default.

pub(crate) mod apply;
mod stats;

pub use apply::{Problem, apply_json, apply_msgpack};
pub use stats::Stats;

use crate::event::EventTime;

/// A record body: a JSON object, with `serde_json`'s value model.
pub type Record = serde_json::Map<String, serde_json::Value>;

/// `serde_json`, re-exported so filters need no direct dependency (`json!`, `Value`).
pub use serde_json;

/// What a filter decides for one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the record on exactly as it came in (changes made to the [`Record`] are ignored;
    /// the input text is returned as it is, which is also the cheapest answer).
    Keep,
    /// Pass the record on as the [`Record`] now is.
    Modified,
    /// Remove the record from the pipeline.
    Drop,
}

/// The record's tag and time, as Fluent Bit gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context<'a> {
    tag: &'a str,
    time: EventTime,
}

impl<'a> Context<'a> {
    /// A context, for calling a filter function in tests.
    pub fn new(tag: &'a str, time: EventTime) -> Self {
        Context { tag, time }
    }

    /// The record's tag.
    pub fn tag(&self) -> &'a str {
        self.tag
    }

    /// The record's time. Fluent Bit passes the seconds as 32 bits, so times after
    /// 2106-02-07 wrap.
    pub fn time(&self) -> EventTime {
        self.time
    }
}

/// How Fluent Bit hands records to the filter and reads them back (`Event_Format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFormat {
    /// JSON text (the default, and the recommended format). Drops return the empty string.
    Json,
    /// msgpack. Fluent Bit reads the result with `strlen`, so it is cut at its first zero
    /// byte, and msgpack has zero bytes in common values: the integer 0, lengths of 256 bytes
    /// or more, most floats. No typed API can rule those out without ruling out ordinary
    /// records, so the check happens per call: a result with a zero byte is not returned (it
    /// would reach the pipeline truncated and unvalidated). The record is dropped and counted
    /// as `zero_byte`. Drops in this format trap, because Fluent Bit has no other drop signal
    /// for msgpack; each one is logged by Fluent Bit.
    Msgpack,
}

impl EventFormat {
    /// The `Event_Format` value Fluent Bit expects.
    pub const fn config_value(self) -> &'static str {
        match self {
            EventFormat::Json => "json",
            EventFormat::Msgpack => "msgpack",
        }
    }
}

/// Fluent Bit's default and minimum `WASM_Heap_Size`, in bytes.
pub const DEFAULT_HEAP_SIZE: u64 = 8192;

/// The `WASM_Heap_Size` (bytes) that holds one call's inputs for records whose JSON text is
/// at most `max_record_bytes` long and tags of at most `max_tag_bytes`: both copies with their
/// NUL, each rounded the way WAMR's allocator rounds (8-byte units with a 4-byte header, at
/// least 16), plus
/// 1 KiB of slack, never below the 8 KiB default.
///
/// JSON text is longer than the record's msgpack size (quotes, escapes, `\uXXXX` for
/// non-ASCII with `json.escape_unicode on`); size `max_record_bytes` for the JSON form.
pub const fn heap_size_for(max_record_bytes: u64, max_tag_bytes: u64) -> u64 {
    const fn block(n: u64) -> u64 {
        let size = (n + 1 + 4).div_ceil(8) * 8;
        if size < 16 { 16 } else { size }
    }
    let need = block(max_record_bytes) + block(max_tag_bytes) + 1024;
    if need < DEFAULT_HEAP_SIZE {
        DEFAULT_HEAP_SIZE
    } else {
        need
    }
}

/// Used by [`export_filter!`](crate::export_filter); not part of the public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_family = "wasm")]
    pub use crate::abi::wasm::FilterState;
}

#[cfg(test)]
mod tests;
