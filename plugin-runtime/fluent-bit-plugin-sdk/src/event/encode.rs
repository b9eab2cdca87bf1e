//! Writing records for an input's collect callback: `[[EventTime, {metadata}], {body}]`.

use std::fmt;

use serde::Serialize;

use super::decode::Event;
use super::time::EventTime;
use super::value::{Map, Value};
use super::wire;

/// Appends V2 records to a caller's buffer, so one buffer can be reused for every collect
/// with no allocation per record once it has grown.
///
/// Every record is `[[EventTime, {metadata}], {body}]` with a nanosecond EventTime, the layout
/// Fluent Bit's own inputs produce.
#[derive(Debug)]
pub struct Encoder<'b> {
    buf: &'b mut Vec<u8>,
    records: usize,
}

/// Why [`Encoder::serialize`] wrote nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum EncodeError {
    /// The value did not serialize to a map; the body (and metadata) of a record must be one.
    NotAMap {
        /// Which part of the record: `"body"` or `"metadata"`.
        part: &'static str,
        /// The msgpack type it serialized to instead.
        found: &'static str,
    },
    /// The value's `Serialize` implementation failed.
    Serialize(rmp_serde::encode::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NotAMap { part, found } => write!(
                f,
                "the record {part} must serialize to a map (a struct with named fields or a \
                 map), but it serialized to {found}"
            ),
            EncodeError::Serialize(e) => write!(f, "could not serialize the record: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EncodeError::Serialize(e) => Some(e),
            EncodeError::NotAMap { .. } => None,
        }
    }
}

impl<'b> Encoder<'b> {
    /// Appends records after whatever `buf` already holds.
    pub fn new(buf: &'b mut Vec<u8>) -> Self {
        Encoder { buf, records: 0 }
    }

    /// Records written by this encoder.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The buffer with everything written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf
    }

    /// Starts a record. Add body fields (and metadata with [`RecordBuilder::metadata`]); the
    /// record is complete when the builder is dropped or [`finish`](RecordBuilder::finish)ed.
    pub fn record(&mut self, time: EventTime) -> RecordBuilder<'_> {
        self.buf.extend_from_slice(&[0x92, 0x92]);
        wire::time(self.buf, time);
        let meta = self.buf.len();
        self.buf.push(0x80);
        let body = self.buf.len();
        self.buf.push(0x80);
        RecordBuilder {
            buf: self.buf,
            records: &mut self.records,
            meta,
            meta_count: 0,
            body,
            body_count: 0,
        }
    }

    /// Writes a record whose body is `body` serialized with rmp-serde, struct fields by name.
    ///
    /// The body must serialize to a map; otherwise, or if serialization fails, nothing is
    /// written and the error says why.
    pub fn serialize<T: Serialize + ?Sized>(
        &mut self,
        time: EventTime,
        body: &T,
    ) -> Result<(), EncodeError> {
        self.serialize_with_metadata(time, &Map::EMPTY, body)
    }

    /// Like [`serialize`](Self::serialize), with a metadata map serialized from `metadata`.
    pub fn serialize_with_metadata<M, T>(
        &mut self,
        time: EventTime,
        metadata: &M,
        body: &T,
    ) -> Result<(), EncodeError>
    where
        M: Serialize + ?Sized,
        T: Serialize + ?Sized,
    {
        let mark = self.buf.len();
        self.buf.extend_from_slice(&[0x92, 0x92]);
        wire::time(self.buf, time);
        let result = serialize_map(self.buf, metadata, "metadata")
            .and_then(|()| serialize_map(self.buf, body, "body"));
        match result {
            Ok(()) => {
                self.records += 1;
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(mark);
                Err(e)
            }
        }
    }

    /// Copies a decoded record unchanged (its original shape and timestamp encoding).
    pub fn push_event(&mut self, event: &Event<'_>) {
        self.buf.extend_from_slice(event.raw());
        self.records += 1;
    }
}

fn serialize_map<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    v: &T,
    part: &'static str,
) -> Result<(), EncodeError> {
    let at = buf.len();
    rmp_serde::encode::write_named(buf, v).map_err(EncodeError::Serialize)?;
    match buf.get(at) {
        Some(0x80..=0x8f | 0xde | 0xdf) => Ok(()),
        other => {
            let found = match other.and_then(|_| Value::from_slice(&buf[at..]).ok()) {
                Some(v) => v.type_name(),
                None => "an unknown value",
            };
            Err(EncodeError::NotAMap { part, found })
        }
    }
}

/// Builds one record's body (and metadata); finishes the record when dropped.
///
/// Methods chain: `enc.record(t).str("level", "info").int("pid", 42);`.
///
/// Maps and arrays start with a one-byte header and are fixed up when they close (the
/// builder is dropped, [`finish`](Self::finish)ed, or a nested closure returns, even by
/// panicking). Up to 15 entries stay in that shortest form; a larger map or array has its
/// contents moved once by 2 or 4 bytes to make room for the longer header. Keys are not
/// checked for duplicates.
#[derive(Debug)]
pub struct RecordBuilder<'e> {
    buf: &'e mut Vec<u8>,
    records: &'e mut usize,
    meta: usize,
    meta_count: u32,
    body: usize,
    body_count: u32,
}

impl RecordBuilder<'_> {
    /// Adds metadata entries. Best called before any body field; called later it still works,
    /// at the cost of moving the body written so far.
    pub fn metadata(&mut self, f: impl FnOnce(&mut MapBuilder<'_>)) -> &mut Self {
        let mark = self.buf.len();
        let mut entries = MapBuilder {
            buf: self.buf,
            start: None,
            count: 0,
        };
        f(&mut entries);
        let added = entries.count;
        drop(entries);
        // The new entries sit after the body; rotate them in front of it.
        let moved = self.buf.len() - mark;
        self.buf[self.body..].rotate_right(moved);
        self.body += moved;
        self.meta_count += added;
        self
    }

    /// Completes the record (dropping the builder does the same).
    pub fn finish(self) {}

    fn sink(&mut self) -> (&mut Vec<u8>, &mut u32) {
        (self.buf, &mut self.body_count)
    }
}

impl Drop for RecordBuilder<'_> {
    fn drop(&mut self) {
        // The body comes later in the buffer, so growing its header first leaves `meta` valid.
        wire::fix_header(self.buf, self.body, 0x80, self.body_count);
        wire::fix_header(self.buf, self.meta, 0x80, self.meta_count);
        *self.records += 1;
    }
}

/// Builds a nested map (or the metadata map); its header is fixed when it goes out of scope.
#[derive(Debug)]
pub struct MapBuilder<'e> {
    buf: &'e mut Vec<u8>,
    /// Position of the placeholder header; `None` when only entries are being collected.
    start: Option<usize>,
    count: u32,
}

impl MapBuilder<'_> {
    fn sink(&mut self) -> (&mut Vec<u8>, &mut u32) {
        (self.buf, &mut self.count)
    }
}

impl Drop for MapBuilder<'_> {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            wire::fix_header(self.buf, start, 0x80, self.count);
        }
    }
}

/// Builds a nested array; its header is fixed when it goes out of scope.
#[derive(Debug)]
pub struct ArrayBuilder<'e> {
    buf: &'e mut Vec<u8>,
    start: usize,
    count: u32,
}

impl Drop for ArrayBuilder<'_> {
    fn drop(&mut self) {
        wire::fix_header(self.buf, self.start, 0x90, self.count);
    }
}

fn nested_map(buf: &mut Vec<u8>, f: impl FnOnce(&mut MapBuilder<'_>)) {
    let start = buf.len();
    buf.push(0x80);
    f(&mut MapBuilder {
        buf,
        start: Some(start),
        count: 0,
    });
}

fn nested_array(buf: &mut Vec<u8>, f: impl FnOnce(&mut ArrayBuilder<'_>)) {
    let start = buf.len();
    buf.push(0x90);
    f(&mut ArrayBuilder {
        buf,
        start,
        count: 0,
    });
}

/// The keyed field methods shared by [`RecordBuilder`] (the body) and [`MapBuilder`].
macro_rules! keyed_fields {
    ($ty:ident) => {
        impl $ty<'_> {
            /// Adds a string field.
            pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
                self.put(key, |b| wire::str(b, value.as_bytes()))
            }
            /// Adds a string field from raw bytes, written as given (should be UTF-8).
            pub fn str_bytes(&mut self, key: &str, value: &[u8]) -> &mut Self {
                self.put(key, |b| wire::str(b, value))
            }
            /// Adds a signed integer field.
            pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
                self.put(key, |b| wire::int(b, value))
            }
            /// Adds an unsigned integer field.
            pub fn uint(&mut self, key: &str, value: u64) -> &mut Self {
                self.put(key, |b| wire::uint(b, value))
            }
            /// Adds a 64-bit float field.
            pub fn float(&mut self, key: &str, value: f64) -> &mut Self {
                self.put(key, |b| wire::f64(b, value))
            }
            /// Adds a boolean field.
            pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
                self.put(key, |b| wire::bool(b, value))
            }
            /// Adds a `nil` field.
            pub fn null(&mut self, key: &str) -> &mut Self {
                self.put(key, wire::nil)
            }
            /// Adds a binary field.
            pub fn bin(&mut self, key: &str, value: &[u8]) -> &mut Self {
                self.put(key, |b| wire::bin(b, value))
            }
            /// Adds an EventTime field (ext type 0).
            pub fn time(&mut self, key: &str, value: EventTime) -> &mut Self {
                self.put(key, |b| wire::time(b, value))
            }
            /// Adds a copy of a decoded value (maps and arrays are copied byte for byte).
            pub fn value(&mut self, key: &str, value: &Value<'_>) -> &mut Self {
                self.put(key, |b| wire::value(b, value))
            }
            /// Adds a nested map built by `f`.
            pub fn map(&mut self, key: &str, f: impl FnOnce(&mut MapBuilder<'_>)) -> &mut Self {
                self.put(key, |b| nested_map(b, f))
            }
            /// Adds a nested array built by `f`.
            pub fn array(&mut self, key: &str, f: impl FnOnce(&mut ArrayBuilder<'_>)) -> &mut Self {
                self.put(key, |b| nested_array(b, f))
            }
            /// Copies every entry of a decoded map, for example a record body a filter passes on.
            pub fn extend(&mut self, map: &Map<'_>) -> &mut Self {
                let (buf, count) = self.sink();
                buf.extend_from_slice(map.entries_raw());
                *count = count.saturating_add(map.len() as u32);
                self
            }

            #[inline]
            fn put(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
                let (buf, count) = self.sink();
                wire::str(buf, key.as_bytes());
                // Counted before the value is written: if a nested builder's closure panics,
                // its map is still closed on unwind and the entry must be counted.
                *count = count.saturating_add(1);
                write(buf);
                self
            }
        }
    };
}

keyed_fields!(RecordBuilder);
keyed_fields!(MapBuilder);

impl ArrayBuilder<'_> {
    #[inline]
    fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.count = self.count.saturating_add(1);
        write(self.buf);
        self
    }
    /// Appends a string.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.push(|b| wire::str(b, value.as_bytes()))
    }
    /// Appends a signed integer.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.push(|b| wire::int(b, value))
    }
    /// Appends an unsigned integer.
    pub fn uint(&mut self, value: u64) -> &mut Self {
        self.push(|b| wire::uint(b, value))
    }
    /// Appends a 64-bit float.
    pub fn float(&mut self, value: f64) -> &mut Self {
        self.push(|b| wire::f64(b, value))
    }
    /// Appends a boolean.
    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.push(|b| wire::bool(b, value))
    }
    /// Appends `nil`.
    pub fn null(&mut self) -> &mut Self {
        self.push(wire::nil)
    }
    /// Appends binary data.
    pub fn bin(&mut self, value: &[u8]) -> &mut Self {
        self.push(|b| wire::bin(b, value))
    }
    /// Appends a copy of a decoded value.
    pub fn value(&mut self, value: &Value<'_>) -> &mut Self {
        self.push(|b| wire::value(b, value))
    }
    /// Appends a nested map built by `f`.
    pub fn map(&mut self, f: impl FnOnce(&mut MapBuilder<'_>)) -> &mut Self {
        self.push(|b| nested_map(b, f))
    }
    /// Appends a nested array built by `f`.
    pub fn array(&mut self, f: impl FnOnce(&mut ArrayBuilder<'_>)) -> &mut Self {
        self.push(|b| nested_array(b, f))
    }
}
