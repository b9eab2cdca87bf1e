//! Borrowed views of msgpack values: nothing is copied or allocated while reading.
//!
//! Views are only built over bytes that passed validation (a record, or
//! [`Value::from_slice`]), so walking them cannot fail: iterators and lookups return plain
//! values, not `Result`s. The decode functions still check every bound, so even a bug
//! elsewhere could at worst end an iteration early, never read out of bounds or panic.

use std::borrow::Cow;
use std::fmt;
use std::str::Utf8Error;

use super::error::{DecodeError, Found};
use super::read::{container_header, decode};
use super::skip::{Scratch, describe, validate};

/// One msgpack value, borrowed from the event data.
///
/// Integers are normalized: every non-negative integer is [`Value::UInt`] and every negative
/// one [`Value::Int`], whatever width or signedness the encoder chose.
#[derive(Clone, Copy, PartialEq)]
// A word-sized tag puts every payload at offset 8, so copies of a `Value` move whole words.
// With the default one-byte tag, `Bool` and `Ext` payloads sit at offset 1 and copies were
// split into 4-, 2- and 1-byte moves that stalled the following 16-byte loads: visiting every
// field measured 5 to 20 % slower.
#[repr(u64)]
pub enum Value<'a> {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A 32-bit float.
    F32(f32),
    /// A 64-bit float.
    F64(f64),
    /// A string, possibly not valid UTF-8.
    Str(Str<'a>),
    /// Binary data.
    Bin(&'a [u8]),
    /// An array.
    Array(Array<'a>),
    /// A map.
    Map(Map<'a>),
    /// An extension value: its type and data.
    Ext(i8, &'a [u8]),
}

// Views stay small: four words for a value (the Ext variant's type byte takes one), and
// `Option` uses the tag's spare values. (64-bit targets; wasm32 views are smaller.)
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Value<'_>>() == 32 && size_of::<Option<Value<'_>>>() == 32);

/// The bytes of a msgpack string. Fluent Bit does not enforce UTF-8, so the check is left to
/// the caller: [`Str::as_str`] checks, [`Str::to_str_lossy`] replaces, [`Str::as_bytes`]
/// skips it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Str<'a>(pub(crate) &'a [u8]);

/// A msgpack map, read lazily from its bytes.
///
/// Equality compares encodings: two maps with the same entries encoded differently differ.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Map<'a> {
    // Only the bytes: the header is read again when needed, which keeps `Value` small
    // (measured faster than caching the length).
    raw: &'a [u8],
}

/// A msgpack array, read lazily from its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Array<'a> {
    raw: &'a [u8],
}

impl<'a> Str<'a> {
    /// The string as `&str`, or why it is not valid UTF-8.
    #[inline]
    pub fn as_str(&self) -> Result<&'a str, Utf8Error> {
        std::str::from_utf8(self.0)
    }

    /// The string with invalid UTF-8 sequences replaced by U+FFFD; borrows when valid.
    pub fn to_str_lossy(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.0)
    }

    /// The raw bytes.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq<str> for Str<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Str<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_str_lossy(), f)
    }
}

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

macro_rules! container_common {
    ($ty:ident, $iter:ident, $name:literal) => {
        impl<'a> $ty<'a> {
            /// Number of elements (entries for a map).
            #[inline]
            pub fn len(&self) -> usize {
                container_header(self.raw).map_or(0, |(_, _, len)| len as usize)
            }

            /// Whether there are no elements.
            #[inline]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The complete msgpack encoding, header included.
            #[inline]
            pub fn raw(&self) -> &'a [u8] {
                self.raw
            }

            /// A view over `raw`, which must hold exactly one validated container of this
            /// kind.
            #[inline(always)]
            pub(crate) fn over(raw: &'a [u8]) -> Self {
                $ty { raw }
            }

            /// The encoded elements (entries for a map), without the header.
            #[inline]
            pub fn entries_raw(&self) -> &'a [u8] {
                let hdr = container_header(self.raw).map_or(0, |(_, hdr, _)| hdr);
                self.raw.get(usize::from(hdr)..).unwrap_or(&[])
            }

            /// Iterates without allocating.
            #[inline]
            pub fn iter(&self) -> $iter<'a> {
                match container_header(self.raw) {
                    Some((_, hdr, left)) => $iter {
                        rest: self.raw.get(usize::from(hdr)..).unwrap_or(&[]),
                        left,
                    },
                    None => $iter { rest: &[], left: 0 },
                }
            }

            /// Validates `bytes` as exactly one msgpack value of this kind.
            pub fn from_slice(bytes: &'a [u8]) -> Result<Self, DecodeError> {
                match Value::from_slice(bytes)? {
                    Value::$ty(v) => Ok(v),
                    _ => Err(DecodeError::unexpected(0, $name, describe(bytes, 0))),
                }
            }
        }

        impl<'a> IntoIterator for $ty<'a> {
            type Item = <$iter<'a> as Iterator>::Item;
            type IntoIter = $iter<'a>;
            fn into_iter(self) -> $iter<'a> {
                self.iter()
            }
        }

        impl<'a> IntoIterator for &$ty<'a> {
            type Item = <$iter<'a> as Iterator>::Item;
            type IntoIter = $iter<'a>;
            fn into_iter(self) -> $iter<'a> {
                self.iter()
            }
        }

        impl ExactSizeIterator for $iter<'_> {}
        impl std::iter::FusedIterator for $iter<'_> {}
    };
}

container_common!(Map, MapIter, "a map");
container_common!(Array, ArrayIter, "an array");

impl<'a> Map<'a> {
    /// The empty map, used as the metadata of legacy records.
    pub const EMPTY: Map<'static> = Map { raw: &[0x80] };

    /// A view over `raw`, which must have passed validation and hold exactly one map: only
    /// the header is read.
    #[inline]
    pub(crate) fn from_validated(raw: &'a [u8]) -> Option<Self> {
        match container_header(raw)? {
            (true, _, _) => Some(Map { raw }),
            _ => None,
        }
    }

    /// The value of the first entry whose key is the string `key`.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        let key = key.as_bytes();
        self.iter().find_map(|(k, v)| match k {
            Value::Str(s) if s.0 == key => Some(v),
            _ => None,
        })
    }

    /// The first value whose key is the string `key`, when that value is a string.
    pub fn get_str(&self, key: &str) -> Option<Str<'a>> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// Iterator over the entries of a [`Map`].
#[derive(Clone, Debug)]
pub struct MapIter<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> Iterator for MapIter<'a> {
    type Item = (Value<'a>, Value<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let entry = decode(self.rest).and_then(|(k, rest)| Some((k, decode(rest)?)));
        match entry {
            Some((k, (v, rest))) => {
                self.rest = rest;
                self.left -= 1;
                Some((k, v))
            }
            None => {
                debug_assert!(false, "map view over unvalidated bytes");
                self.left = 0;
                None
            }
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// Iterator over the elements of an [`Array`].
#[derive(Clone, Debug)]
pub struct ArrayIter<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        match decode(self.rest) {
            Some((v, rest)) => {
                self.rest = rest;
                self.left -= 1;
                Some(v)
            }
            None => {
                debug_assert!(false, "array view over unvalidated bytes");
                self.left = 0;
                None
            }
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl fmt::Debug for Map<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl fmt::Debug for Array<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => fmt::Debug::fmt(b, f),
            Value::Int(v) => fmt::Debug::fmt(v, f),
            Value::UInt(v) => fmt::Debug::fmt(v, f),
            Value::F32(v) => fmt::Debug::fmt(v, f),
            Value::F64(v) => fmt::Debug::fmt(v, f),
            Value::Str(s) => fmt::Debug::fmt(s, f),
            Value::Bin(b) => write!(f, "bin{b:02x?}"),
            Value::Array(a) => fmt::Debug::fmt(a, f),
            Value::Map(m) => fmt::Debug::fmt(m, f),
            Value::Ext(t, d) => write!(f, "ext({t}, {d:02x?})"),
        }
    }
}

impl<'a> Value<'a> {
    /// Validates `bytes` as exactly one msgpack value (nesting limited to
    /// [`MAX_DEPTH`](super::MAX_DEPTH)) and returns a view of it.
    pub fn from_slice(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let end = validate(bytes, 0, 1, &mut Scratch::new())?;
        if end != bytes.len() {
            return Err(DecodeError::unexpected(
                end,
                "the end of the value",
                describe(bytes, end),
            ));
        }
        decode(bytes)
            .map(|(v, _)| v)
            .ok_or_else(|| DecodeError::unexpected(0, "a msgpack value", describe(bytes, 0)))
    }

    /// The string, when this is a string holding valid UTF-8.
    #[inline]
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Value::Str(s) => s.as_str().ok(),
            _ => None,
        }
    }

    /// The string view, valid UTF-8 or not.
    #[inline]
    pub fn as_str_value(&self) -> Option<Str<'a>> {
        match self {
            Value::Str(s) => Some(*s),
            _ => None,
        }
    }

    /// The bytes of a string or binary value.
    #[inline]
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Str(s) => Some(s.0),
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, when it fits an `i64`.
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(v) => Some(v),
            Value::UInt(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The integer, when it is non-negative.
    #[inline]
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::UInt(v) => Some(v),
            _ => None,
        }
    }

    /// The number as `f64`: floats as they are, integers converted (large ones lose precision).
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(f64::from(v)),
            Value::F64(v) => Some(v),
            Value::Int(v) => Some(v as f64),
            Value::UInt(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The boolean.
    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The map.
    #[inline]
    pub fn as_map(&self) -> Option<Map<'a>> {
        match *self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The array.
    #[inline]
    pub fn as_array(&self) -> Option<Array<'a>> {
        match *self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is `nil`.
    #[inline]
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// A short name of the value's type, for messages: `"nil"`, `"bool"`, `"int"`, `"float"`,
    /// `"str"`, `"bin"`, `"array"`, `"map"` or `"ext"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) => "int",
            Value::F32(_) | Value::F64(_) => "float",
            Value::Str(_) => "str",
            Value::Bin(_) => "bin",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Ext(..) => "ext",
        }
    }
}

impl From<Value<'_>> for Found {
    fn from(v: Value<'_>) -> Found {
        match v {
            Value::Nil => Found::Nil,
            Value::Bool(_) => Found::Bool,
            Value::Int(i) => Found::NegInt(i),
            Value::UInt(u) => Found::UInt(u),
            Value::F32(f) => Found::Float(f64::from(f)),
            Value::F64(f) => Found::Float(f),
            Value::Str(s) => Found::Str(s.len() as u64),
            Value::Bin(b) => Found::Bin(b.len() as u64),
            Value::Array(a) => Found::Array(a.len() as u64),
            Value::Map(m) => Found::Map(m.len() as u64),
            Value::Ext(t, d) => Found::Ext(t, d.len() as u64),
        }
    }
}
