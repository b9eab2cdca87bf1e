//! Runs Fluent Bit WASM filters the way Fluent Bit 5.1.1 runs them (WAMR 2.4.1), so filters
//! are tested without Fluent Bit, heap sizing mistakes included.
//!
//! What is emulated, per `[FILTER]` instance:
//! - one persistent instance, called for every record;
//! - WAMR's app heap of `wasm_heap_size` bytes (8 KiB default and minimum) placed at
//!   `__heap_base`, with WAMR's allocation costs ([`AppHeap`]); a module exporting both
//!   `malloc` and `free` gets its copies from those instead;
//! - each call copies the tag (with NUL) and the record (JSON with NUL, or msgpack without)
//!   into that heap, passes pointer 0 for a copy that does not fit (Fluent Bit does not check),
//!   calls `(tag, tag_len, time_sec, time_nsec, record, record_len) -> i32`, requires a NUL
//!   before the end of memory at the returned pointer, copies up to it, and frees both copies;
//! - the result is applied like `filter_wasm.c`: a trap, an invalid pointer or a missing
//!   function drops the record; in JSON format so does the empty string and anything that is
//!   not a JSON object; in msgpack format the result is cut at its first zero byte and taken
//!   as it is ([`Outcome::Corrupted`] when that is no longer a map).
//!
//! Not emulated: WAMR's interpreter stack limit (`wasm_stack_size`) and the AOT loader.
//!
//! ```no_run
//! use fluent_bit_wasm_filter_test_host::{FilterHost, Options, Outcome, build_wasm};
//!
//! let wasm = build_wasm("filter-redact").unwrap();
//! let mut host = FilterHost::load(&wasm, Options::new("redact_filter")).unwrap();
//! let outcome = host.filter("app", (1_700_000_000, 0), r#"{"password":"x"}"#).unwrap();
//! assert!(matches!(outcome, Outcome::Modified(_)));
//! ```

mod build;
mod heap;
mod host;

pub use build::build_wasm;
pub use fluent_bit_plugin_sdk::filter::EventFormat;
pub use fluent_bit_plugin_sdk::filter::Stats;
pub use heap::AppHeap;
pub use host::{DropReason, Error, FilterHost, Options, Outcome};
