//! Reading one msgpack value from the front of a byte slice, for views over validated bytes.

use super::skip::skim;
use super::value::{Array, Map, Str, Value};

#[inline(always)]
fn be<const N: usize>(s: &[u8]) -> Option<(u64, &[u8])> {
    let (head, tail) = s.split_first_chunk::<N>()?;
    Some((
        head.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)),
        tail,
    ))
}

#[inline(always)]
fn take(s: &[u8], n: u64) -> Option<(&[u8], &[u8])> {
    s.split_at_checked(usize::try_from(n).ok()?)
}

/// Decodes the value at the start of `buf` and returns it with the bytes after it.
///
/// Short strings, str8 and small integers (nearly every key and most log values) are decoded
/// inline; everything else goes through [`decode_other`].
#[inline(always)]
pub(crate) fn decode(buf: &[u8]) -> Option<(Value<'_>, &[u8])> {
    match *buf {
        [b @ 0xa0..=0xbf, ref tail @ ..] => {
            let (s, rest) = tail.split_at_checked(usize::from(b & 0x1f))?;
            Some((Value::Str(Str(s)), rest))
        }
        [0xd9, n, ref tail @ ..] => {
            let (s, rest) = tail.split_at_checked(usize::from(n))?;
            Some((Value::Str(Str(s)), rest))
        }
        [b @ 0x00..=0x7f, ref rest @ ..] => Some((Value::UInt(u64::from(b)), rest)),
        _ => decode_other(buf),
    }
}

#[inline(never)]
fn decode_other(buf: &[u8]) -> Option<(Value<'_>, &[u8])> {
    let (&b, tail) = buf.split_first()?;
    Some(match b {
        0x00..=0x7f => (Value::UInt(u64::from(b)), tail),
        0xa0..=0xbf => {
            let (s, rest) = take(tail, u64::from(b & 0x1f))?;
            (Value::Str(Str(s)), rest)
        }
        0xe0..=0xff => (Value::Int(i64::from(b as i8)), tail),
        0x80..=0x8f | 0x90..=0x9f | 0xdc..=0xdf => {
            let is_map = matches!(b, 0x80..=0x8f | 0xde | 0xdf);
            let (raw, rest) = buf.split_at_checked(skim(buf)?)?;
            let v = if is_map {
                Value::Map(Map::over(raw))
            } else {
                Value::Array(Array::over(raw))
            };
            (v, rest)
        }
        0xc0 => (Value::Nil, tail),
        0xc2 => (Value::Bool(false), tail),
        0xc3 => (Value::Bool(true), tail),
        0xd9 | 0xc4 | 0xda | 0xc5 | 0xdb | 0xc6 => {
            let (n, tail) = match b {
                0xd9 | 0xc4 => be::<1>(tail)?,
                0xda | 0xc5 => be::<2>(tail)?,
                _ => be::<4>(tail)?,
            };
            let (s, rest) = take(tail, n)?;
            (
                if b >= 0xd9 {
                    Value::Str(Str(s))
                } else {
                    Value::Bin(s)
                },
                rest,
            )
        }
        0xca => {
            let (bits, rest) = be::<4>(tail)?;
            (Value::F32(f32::from_bits(bits as u32)), rest)
        }
        0xcb => {
            let (bits, rest) = be::<8>(tail)?;
            (Value::F64(f64::from_bits(bits)), rest)
        }
        0xcc => uint(be::<1>(tail)?),
        0xcd => uint(be::<2>(tail)?),
        0xce => uint(be::<4>(tail)?),
        0xcf => uint(be::<8>(tail)?),
        0xd0 => int(be::<1>(tail)?, 8),
        0xd1 => int(be::<2>(tail)?, 16),
        0xd2 => int(be::<4>(tail)?, 32),
        0xd3 => int(be::<8>(tail)?, 64),
        0xd4..=0xd8 => {
            let (&ty, tail) = tail.split_first()?;
            let (d, rest) = take(tail, 1 << (b - 0xd4))?;
            (Value::Ext(ty as i8, d), rest)
        }
        0xc7..=0xc9 => {
            let (n, tail) = match b {
                0xc7 => be::<1>(tail)?,
                0xc8 => be::<2>(tail)?,
                _ => be::<4>(tail)?,
            };
            let (&ty, tail) = tail.split_first()?;
            let (d, rest) = take(tail, n)?;
            (Value::Ext(ty as i8, d), rest)
        }
        0xc1 => return None,
    })
}

#[inline(always)]
fn uint((v, rest): (u64, &[u8])) -> (Value<'_>, &[u8]) {
    (Value::UInt(v), rest)
}

#[inline(always)]
fn int((v, rest): (u64, &[u8]), bits: u32) -> (Value<'_>, &[u8]) {
    let shift = 64 - bits;
    let v = ((v << shift) as i64) >> shift;
    (
        if v < 0 {
            Value::Int(v)
        } else {
            Value::UInt(v as u64)
        },
        rest,
    )
}

/// Whether the container at the start of `buf` is a map, its header size and element count.
#[inline(always)]
pub(crate) fn container_header(buf: &[u8]) -> Option<(bool, u8, u32)> {
    Some(match *buf {
        [b @ 0x80..=0x8f, ..] => (true, 1, u32::from(b & 0x0f)),
        [b @ 0x90..=0x9f, ..] => (false, 1, u32::from(b & 0x0f)),
        [b @ (0xdc | 0xde), x, y, ..] => (b == 0xde, 3, u32::from(u16::from_be_bytes([x, y]))),
        [b @ (0xdd | 0xdf), w, x, y, z, ..] => (b == 0xdf, 5, u32::from_be_bytes([w, x, y, z])),
        _ => return None,
    })
}
