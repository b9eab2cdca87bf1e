//! Serializing decoded values with serde: a record can be written in any serde format (JSON,
//! YAML, msgpack again) without converting it first. Recursion is bounded by the decoder's
//! [`MAX_DEPTH`](super::MAX_DEPTH); in release builds a value at that depth serializes to JSON
//! within the 64 KiB flush stack (see the tests).

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::value::{Array, Map, Str, Value};

impl Serialize for Str<'_> {
    /// As a string; invalid UTF-8 is replaced by U+FFFD (the only case that allocates).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_str() {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.serialize_str(&self.to_str_lossy()),
        }
    }
}

impl Serialize for Map<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(&k, &v)?;
        }
        map.end()
    }
}

impl Serialize for Array<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for v in self.iter() {
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}

/// Serializes with `serialize_bytes`, which a byte slice alone would not.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl Serialize for Value<'_> {
    /// Ext values use rmp-serde's convention, a newtype struct `_ExtStruct` holding
    /// `(type, bytes)`, so they survive a round trip through rmp-serde.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(b),
            Value::Int(i) => s.serialize_i64(i),
            Value::UInt(u) => s.serialize_u64(u),
            Value::F32(f) => s.serialize_f32(f),
            Value::F64(f) => s.serialize_f64(f),
            Value::Str(ref v) => v.serialize(s),
            Value::Bin(b) => s.serialize_bytes(b),
            Value::Array(ref a) => a.serialize(s),
            Value::Map(ref m) => m.serialize(s),
            Value::Ext(ty, data) => {
                s.serialize_newtype_struct(rmp_serde::MSGPACK_EXT_STRUCT_NAME, &(ty, Bytes(data)))
            }
        }
    }
}
