//! Deserializing records into a plugin's own types, borrowing strings from the flush data.
//!
//! Deserializing recurses once per nesting level with frames whose size depends on the target
//! type, so it stops at [`DESERIALIZE_MAX_DEPTH`] with an error. Measured into
//! `serde_json::Value`: about 0.8 KiB of stack per level in release builds and 2 KiB in debug
//! builds, so on Fluent Bit's 64 KiB flush stack build plugins in release, or deserialize deep
//! data on another thread.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};

use super::decode::Event;
use super::value::{ArrayIter, Map, MapIter, Value};

/// Why a record did not deserialize into the requested type, with the path of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeserializeError {
    path: String,
    message: String,
}

impl DeserializeError {
    /// Where the error occurred, like `kubernetes.labels.app` or `items[2]`; empty for the
    /// top level.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What went wrong, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn under(mut self, segment: fmt::Arguments<'_>) -> Self {
        let mut path = segment.to_string();
        if !self.path.is_empty() {
            if !self.path.starts_with('[') {
                path.push('.');
            }
            path.push_str(&self.path);
        }
        self.path = path;
        self
    }
}

impl fmt::Display for DeserializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "field `{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DeserializeError {}

impl de::Error for DeserializeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeserializeError {
            path: String::new(),
            message: msg.to_string(),
        }
    }
}

impl<'a> Map<'a> {
    /// Deserializes the map into `T`, borrowing `&'a str` and `&'a [u8]` fields from the data.
    /// Errors name the field: `field `kubernetes.pod_id`: invalid type: string "x", expected
    /// u64`.
    pub fn deserialize<T: Deserialize<'a>>(&self) -> Result<T, DeserializeError> {
        T::deserialize(ValueDeserializer::new(Value::Map(*self)))
    }
}

impl<'a> Value<'a> {
    /// Deserializes the value into `T` (see [`Map::deserialize`]).
    pub fn deserialize<T: Deserialize<'a>>(&self) -> Result<T, DeserializeError> {
        T::deserialize(ValueDeserializer::new(*self))
    }
}

impl<'a> Event<'a> {
    /// Deserializes the record body into `T` (see [`Map::deserialize`]).
    pub fn deserialize<T: Deserialize<'a>>(&self) -> Result<T, DeserializeError> {
        self.body().deserialize()
    }
}

/// Deepest nesting of arrays and maps, below the value being deserialized, that
/// deserialization follows before it stops with an error.
pub const DESERIALIZE_MAX_DEPTH: u8 = 32;

/// A serde `Deserializer` over a borrowed [`Value`].
#[derive(Clone, Copy, Debug)]
pub struct ValueDeserializer<'a> {
    value: Value<'a>,
    /// Container levels that may still be entered.
    depth: u8,
}

impl<'a> ValueDeserializer<'a> {
    /// A deserializer for `value`, limited to [`DESERIALIZE_MAX_DEPTH`] levels.
    pub fn new(value: Value<'a>) -> Self {
        ValueDeserializer {
            value,
            depth: DESERIALIZE_MAX_DEPTH,
        }
    }

    /// The deserializer for a value one level inside this one.
    fn enter(&self, value: Value<'a>) -> ValueDeserializer<'a> {
        ValueDeserializer {
            value,
            depth: self.depth.saturating_sub(1),
        }
    }

    fn check_depth(&self) -> Result<(), DeserializeError> {
        if self.depth == 0 {
            return Err(de::Error::custom(format_args!(
                "arrays and maps nest deeper than {DESERIALIZE_MAX_DEPTH} levels, the limit \
                 that keeps deserialization within the 64 KiB flush stack"
            )));
        }
        Ok(())
    }
}

impl<'a> IntoDeserializer<'a, DeserializeError> for Value<'a> {
    type Deserializer = ValueDeserializer<'a>;
    fn into_deserializer(self) -> ValueDeserializer<'a> {
        ValueDeserializer::new(self)
    }
}

impl<'a> Deserializer<'a> for ValueDeserializer<'a> {
    type Error = DeserializeError;

    fn deserialize_any<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeserializeError> {
        match self.value {
            Value::Nil => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(b),
            Value::Int(i) => v.visit_i64(i),
            Value::UInt(u) => v.visit_u64(u),
            Value::F32(f) => v.visit_f32(f),
            Value::F64(f) => v.visit_f64(f),
            Value::Str(s) => match s.as_str() {
                Ok(text) => v.visit_borrowed_str(text),
                Err(_) => v.visit_borrowed_bytes(s.as_bytes()),
            },
            Value::Bin(b) => v.visit_borrowed_bytes(b),
            Value::Array(a) => {
                self.check_depth()?;
                v.visit_seq(SeqDe {
                    iter: a.iter(),
                    index: 0,
                    parent: self,
                })
            }
            Value::Map(m) => {
                self.check_depth()?;
                v.visit_map(MapDe {
                    iter: m.iter(),
                    value: None,
                    key: None,
                    parent: self,
                })
            }
            Value::Ext(ty, data) => v.visit_seq(de::value::SeqDeserializer::new(
                [Value::Int(i64::from(ty)), Value::Bin(data)].into_iter(),
            )),
        }
    }

    fn deserialize_option<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeserializeError> {
        match self.value {
            Value::Nil => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeserializeError> {
        match self.value {
            Value::Str(s) => v.visit_borrowed_bytes(s.as_bytes()),
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeserializeError> {
        self.deserialize_bytes(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeserializeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeserializeError> {
        match self.value {
            Value::Str(_) => v.visit_enum(EnumDe {
                variant: self,
                content: self.enter(Value::Nil),
            }),
            Value::Map(m) if m.len() == 1 => match m.iter().next() {
                Some((variant, content)) => {
                    self.check_depth()?;
                    v.visit_enum(EnumDe {
                        variant: self.enter(variant),
                        content: self.enter(content),
                    })
                }
                None => Err(de::Error::custom("empty map for an enum")),
            },
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a string or a map with one entry for an enum",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, v: V) -> Result<V::Value, DeserializeError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string unit unit_struct
        seq tuple tuple_struct map struct identifier
    }
}

fn unexpected<'v>(v: &'v Value<'_>) -> de::Unexpected<'v> {
    match *v {
        Value::Nil => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(b),
        Value::Int(i) => de::Unexpected::Signed(i),
        Value::UInt(u) => de::Unexpected::Unsigned(u),
        Value::F32(f) => de::Unexpected::Float(f64::from(f)),
        Value::F64(f) => de::Unexpected::Float(f),
        Value::Str(s) => match s.as_str() {
            Ok(text) => de::Unexpected::Str(text),
            Err(_) => de::Unexpected::Bytes(s.as_bytes()),
        },
        Value::Bin(b) => de::Unexpected::Bytes(b),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Map(_) => de::Unexpected::Map,
        Value::Ext(..) => de::Unexpected::Other("msgpack ext"),
    }
}

struct SeqDe<'a> {
    iter: ArrayIter<'a>,
    index: usize,
    parent: ValueDeserializer<'a>,
}

impl<'a> de::SeqAccess<'a> for SeqDe<'a> {
    type Error = DeserializeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeserializeError> {
        let Some(v) = self.iter.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(self.parent.enter(v))
            .map(Some)
            .map_err(|e| e.under(format_args!("[{index}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDe<'a> {
    iter: MapIter<'a>,
    key: Option<Value<'a>>,
    value: Option<Value<'a>>,
    parent: ValueDeserializer<'a>,
}

impl<'a> de::MapAccess<'a> for MapDe<'a> {
    type Error = DeserializeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeserializeError> {
        let Some((k, v)) = self.iter.next() else {
            return Ok(None);
        };
        self.key = Some(k);
        self.value = Some(v);
        seed.deserialize(self.parent.enter(k)).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'a>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, DeserializeError> {
        let Some(v) = self.value.take() else {
            return Err(de::Error::custom(
                "a map value was requested before its key",
            ));
        };
        seed.deserialize(self.parent.enter(v))
            .map_err(|e| match self.key {
                Some(Value::Str(s)) => e.under(format_args!("{s}")),
                Some(k) => e.under(format_args!("{}", KeyText(k))),
                None => e,
            })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A non-string key in an error path.
struct KeyText<'a>(Value<'a>);

impl fmt::Display for KeyText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Bool(b) => write!(f, "{b}"),
            ref other => write!(f, "<{}>", other.type_name()),
        }
    }
}

struct EnumDe<'a> {
    variant: ValueDeserializer<'a>,
    content: ValueDeserializer<'a>,
}

impl<'a> de::EnumAccess<'a> for EnumDe<'a> {
    type Error = DeserializeError;
    type Variant = ValueDeserializer<'a>;

    fn variant_seed<V: DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeserializeError> {
        let variant = seed.deserialize(self.variant)?;
        Ok((variant, self.content))
    }
}

impl<'a> de::VariantAccess<'a> for ValueDeserializer<'a> {
    type Error = DeserializeError;

    fn unit_variant(self) -> Result<(), DeserializeError> {
        match self.value {
            Value::Nil => Ok(()),
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a unit variant",
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(
        self,
        seed: T,
    ) -> Result<T::Value, DeserializeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'a>>(
        self,
        _len: usize,
        v: V,
    ) -> Result<V::Value, DeserializeError> {
        self.deserialize_any(v)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeserializeError> {
        self.deserialize_any(v)
    }
}
