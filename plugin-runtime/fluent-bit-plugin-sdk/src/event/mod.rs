//! The msgpack event codec: reading records in an output's flush, writing them in an input's
//! collect callback, and turning them into JSON.
//!
//! Reading borrows from the flush data and allocates nothing. Each record is validated once
//! as the iterator reaches it (lengths, nesting depth, timestamp); after that every view of
//! it ([`Map`], [`Array`], [`Value`]) is walked without error handling. Strings are handed
//! out as [`Str`], raw bytes that the caller may check for UTF-8 or not.
//!
//! Decoding a flush:
//!
//! ```
//! use fluent_bit_plugin_sdk::event::{Events, Value};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What Fluent Bit's `dummy` input produces: [[EventTime, {}], {"message": "hello"}].
//! let data = b"\x92\x92\xd7\x00\x65\x53\xf1\x00\x00\x00\x00\x05\x80\x81\xa7message\xa5hello";
//! for event in Events::new(data) {
//!     let event = event?;
//!     for (key, value) in event.body() {
//!         if let (Value::Str(k), Value::Str(v)) = (key, value) {
//!             println!("{} {k}={v}", event.time());
//!         }
//!     }
//!     assert_eq!(event.body().get("message").and_then(|v| v.as_str()), Some("hello"));
//! }
//! # Ok(()) }
//! ```
//!
//! Writing records in a collect callback, reusing one buffer:
//!
//! ```
//! use fluent_bit_plugin_sdk::event::{Encoder, EventTime, Events};
//!
//! let mut buf = Vec::new();
//! let mut enc = Encoder::new(&mut buf);
//! enc.record(EventTime::now())
//!     .str("message", "disk almost full")
//!     .uint("free_bytes", 1 << 20)
//!     .map("host", |m| {
//!         m.str("name", "node-1").str("zone", "eu-west-1a");
//!     });
//! assert_eq!(enc.records(), 1);
//! assert_eq!(Events::count_records(&buf), Ok(1));
//! ```
//!
//! Typed access with serde, borrowing from the flush data, and JSON lines:
//!
//! ```
//! use fluent_bit_plugin_sdk::event::{Events, JsonFormat};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Line<'a> {
//!     message: &'a str,
//! }
//!
//! let data = b"\x92\x92\xd7\x00\x65\x53\xf1\x00\x00\x00\x00\x05\x80\x81\xa7message\xa5hello";
//! let mut out = Vec::new();
//! for event in Events::new(data) {
//!     let event = event.expect("valid data");
//!     let line: Line<'_> = event.deserialize().expect("has a message");
//!     assert_eq!(line.message, "hello");
//!     JsonFormat::default().write_event(&mut out, &event, "app.logs");
//! }
//! assert_eq!(out, b"{\"date\":1700000000.000000005,\"message\":\"hello\"}\n");
//! ```
//!
//! Both record shapes (`[[time, metadata], body]` and `[time, body]`) and all three timestamp
//! encodings (integer, float, EventTime) are accepted. Group start and end markers
//! (OpenTelemetry inputs) are skipped by [`Events`] unless asked for with
//! [`Events::with_group_markers`]. The first malformed record ends the iteration with a
//! [`DecodeError`] naming the record, the byte offset, what was expected and what was found.
//!
//! Stack: Fluent Bit runs flushes on a 64 KiB stack without a guard page. Decoding, visiting
//! and JSON writing are loops with fixed stacks (under 1 KiB), never recursion; nesting beyond
//! [`MAX_DEPTH`] is rejected. Serde recursion is bounded by [`MAX_DEPTH`] (serializing) and
//! [`DESERIALIZE_MAX_DEPTH`] (deserializing).
//!
//! [`JsonFormat`] writes records as JSON lines; the [`json`] module has the pieces for other
//! JSON layouts.

mod de;
mod decode;
mod encode;
mod error;
pub mod json;
mod read;
mod serde_impl;
mod skip;
mod time;
mod value;
mod wire;

pub use de::{DESERIALIZE_MAX_DEPTH, DeserializeError, ValueDeserializer};
pub use decode::{Event, EventKind, Events, Shape};
pub use encode::{ArrayBuilder, EncodeError, Encoder, MapBuilder, RecordBuilder};
pub use error::{DecodeError, DecodeErrorKind, Found};
pub use json::{
    JsonFormat, TimeFormat, write_base64, write_map, write_str, write_time, write_value,
};
pub use skip::skim;
pub use time::EventTime;
pub use value::{Array, ArrayIter, Map, MapIter, Str, Value};

/// Deepest nesting of arrays and maps the decoder accepts, counting the record array as
/// level 1. Deeper data is rejected so that nothing walking a decoded record (including
/// serde, which recurses) can exhaust the 64 KiB stack Fluent Bit runs flushes on.
pub const MAX_DEPTH: usize = 64;
