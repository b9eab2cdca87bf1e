//! Decoding errors: where the data went wrong, what was expected and what was there.
//!
//! Errors never allocate, so reporting one from a flush is as cheap as decoding.

use std::fmt;

use super::MAX_DEPTH;

/// Why msgpack event data could not be decoded.
///
/// The [`Display`](fmt::Display) text is meant for a plugin's log, for example
/// `record 3 at byte 120: expected a map for the record body, found int 7`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeError {
    pub(crate) record: Option<usize>,
    pub(crate) offset: usize,
    pub(crate) within: Option<&'static str>,
    pub(crate) kind: DecodeErrorKind,
}

/// The kind of a [`DecodeError`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// A value of another type than the event format requires.
    Unexpected {
        /// What the event format requires at this place.
        expected: &'static str,
        /// What the data holds instead.
        found: Found,
    },
    /// The data ends inside a value, or a length field points past the end of the data.
    Truncated {
        /// The value whose bytes are missing.
        value: Found,
        /// Bytes the value needs, counted from its first byte.
        needed: u64,
        /// Bytes left in the data from the value's first byte.
        available: usize,
    },
    /// Arrays and maps nest deeper than [`MAX_DEPTH`] levels.
    TooDeep,
    /// The byte `0xc1`, which msgpack never uses.
    ReservedByte,
    /// An EventTime whose nanoseconds are not below one billion.
    NanosOutOfRange(u32),
}

/// A short description of the msgpack value found where an error occurred.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Found {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool,
    /// A non-negative integer.
    UInt(u64),
    /// A negative integer.
    NegInt(i64),
    /// A float.
    Float(f64),
    /// A string of this many bytes.
    Str(u64),
    /// Binary data of this many bytes.
    Bin(u64),
    /// An array of this many elements.
    Array(u64),
    /// A map of this many entries.
    Map(u64),
    /// An extension value of this type and data length.
    Ext(i8, u64),
    /// The reserved byte `0xc1`.
    Reserved,
    /// The end of the data.
    End,
}

impl DecodeError {
    pub(crate) const fn at(offset: usize, kind: DecodeErrorKind) -> Self {
        DecodeError {
            record: None,
            offset,
            within: None,
            kind,
        }
    }

    pub(crate) const fn unexpected(offset: usize, expected: &'static str, found: Found) -> Self {
        Self::at(offset, DecodeErrorKind::Unexpected { expected, found })
    }

    pub(crate) fn in_record(mut self, record: usize) -> Self {
        self.record = Some(record);
        self
    }

    pub(crate) fn within(mut self, what: &'static str) -> Self {
        if self.within.is_none() {
            self.within = Some(what);
        }
        self
    }

    /// Byte offset of the offending value, from the start of the data given to the decoder.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Index (from 0) of the record that failed, when decoding a sequence of records.
    pub fn record(&self) -> Option<usize> {
        self.record
    }

    /// What went wrong.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record {
            Some(r) => write!(f, "record {r} at byte {}: ", self.offset)?,
            None => write!(f, "at byte {}: ", self.offset)?,
        }
        if let Some(within) = self.within {
            write!(f, "in {within}: ")?;
        }
        match self.kind {
            DecodeErrorKind::Unexpected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            DecodeErrorKind::Truncated {
                value,
                needed,
                available,
            } => write!(
                f,
                "truncated data: {value} needs {needed} bytes but only {available} remain \
                 (the data ends early or a length field is corrupt)"
            ),
            DecodeErrorKind::TooDeep => write!(
                f,
                "arrays and maps nest deeper than {MAX_DEPTH} levels; \
                 the decoder refuses them to protect the 64 KiB flush stack"
            ),
            DecodeErrorKind::ReservedByte => {
                f.write_str("found the byte 0xc1, which is never valid msgpack")
            }
            DecodeErrorKind::NanosOutOfRange(n) => write!(
                f,
                "EventTime nanoseconds {n} are out of range (they must be below 1000000000)"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Found::Nil => f.write_str("nil"),
            Found::Bool => f.write_str("a bool"),
            Found::UInt(v) => write!(f, "int {v}"),
            Found::NegInt(v) => write!(f, "negative int {v}"),
            Found::Float(v) => write!(f, "float {v}"),
            Found::Str(n) => write!(f, "a string of {n} bytes"),
            Found::Bin(n) => write!(f, "binary data of {n} bytes"),
            Found::Array(n) => write!(f, "an array of {n} elements"),
            Found::Map(n) => write!(f, "a map of {n} entries"),
            Found::Ext(t, n) => write!(f, "ext type {t} of {n} bytes"),
            Found::Reserved => f.write_str("the reserved byte 0xc1"),
            Found::End => f.write_str("the end of the data"),
        }
    }
}
