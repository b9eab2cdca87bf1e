//! Appending msgpack values to a byte buffer, always in their shortest form.

use super::time::EventTime;
use super::value::Value;

#[inline]
pub(crate) fn nil(buf: &mut Vec<u8>) {
    buf.push(0xc0);
}

#[inline]
pub(crate) fn bool(buf: &mut Vec<u8>, v: bool) {
    buf.push(if v { 0xc3 } else { 0xc2 });
}

#[inline]
pub(crate) fn uint(buf: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        buf.push(v as u8);
    } else if v <= 0xff {
        buf.extend_from_slice(&[0xcc, v as u8]);
    } else if v <= 0xffff {
        let [a, b] = (v as u16).to_be_bytes();
        buf.extend_from_slice(&[0xcd, a, b]);
    } else if v <= 0xffff_ffff {
        let [a, b, c, d] = (v as u32).to_be_bytes();
        buf.extend_from_slice(&[0xce, a, b, c, d]);
    } else {
        buf.push(0xcf);
        buf.extend_from_slice(&v.to_be_bytes());
    }
}

#[inline]
pub(crate) fn int(buf: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        uint(buf, v as u64);
    } else if v >= -32 {
        buf.push(v as u8);
    } else if v >= i64::from(i8::MIN) {
        buf.extend_from_slice(&[0xd0, v as u8]);
    } else if v >= i64::from(i16::MIN) {
        let [a, b] = (v as i16).to_be_bytes();
        buf.extend_from_slice(&[0xd1, a, b]);
    } else if v >= i64::from(i32::MIN) {
        let [a, b, c, d] = (v as i32).to_be_bytes();
        buf.extend_from_slice(&[0xd2, a, b, c, d]);
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&v.to_be_bytes());
    }
}

#[inline]
pub(crate) fn f64(buf: &mut Vec<u8>, v: f64) {
    buf.push(0xcb);
    buf.extend_from_slice(&v.to_bits().to_be_bytes());
}

#[inline]
pub(crate) fn f32(buf: &mut Vec<u8>, v: f32) {
    buf.push(0xca);
    buf.extend_from_slice(&v.to_bits().to_be_bytes());
}

/// Writes a str (`0xd9..`) or bin (`0xc4..`) header for `len` bytes. Lengths beyond
/// `u32::MAX` cannot be encoded; callers cut the data to the length returned.
#[inline]
fn len_header(buf: &mut Vec<u8>, len: usize, fix: Option<u8>, m8: u8) -> usize {
    let len = len.min(u32::MAX as usize);
    match (fix, len) {
        (Some(fix), 0..=31) => buf.push(fix | len as u8),
        (_, 0..=0xff) => buf.extend_from_slice(&[m8, len as u8]),
        (_, 0x100..=0xffff) => {
            let [a, b] = (len as u16).to_be_bytes();
            buf.extend_from_slice(&[m8 + 1, a, b]);
        }
        _ => {
            let [a, b, c, d] = (len as u32).to_be_bytes();
            buf.extend_from_slice(&[m8 + 2, a, b, c, d]);
        }
    }
    len
}

/// A string; `s` should be UTF-8 but is written as given.
#[inline]
pub(crate) fn str(buf: &mut Vec<u8>, s: &[u8]) {
    let n = len_header(buf, s.len(), Some(0xa0), 0xd9);
    buf.extend_from_slice(&s[..n]);
}

#[inline]
pub(crate) fn bin(buf: &mut Vec<u8>, b: &[u8]) {
    let n = len_header(buf, b.len(), None, 0xc4);
    buf.extend_from_slice(&b[..n]);
}

pub(crate) fn ext(buf: &mut Vec<u8>, ty: i8, data: &[u8]) {
    let data = &data[..data.len().min(u32::MAX as usize)];
    let n = data.len();
    match n {
        1 => buf.push(0xd4),
        2 => buf.push(0xd5),
        4 => buf.push(0xd6),
        8 => buf.push(0xd7),
        16 => buf.push(0xd8),
        0..=0xff => buf.extend_from_slice(&[0xc7, n as u8]),
        0x100..=0xffff => {
            let [a, b] = (n as u16).to_be_bytes();
            buf.extend_from_slice(&[0xc8, a, b]);
        }
        _ => {
            let [a, b, c, d] = (n as u32).to_be_bytes();
            buf.extend_from_slice(&[0xc9, a, b, c, d]);
        }
    }
    buf.push(ty as u8);
    buf.extend_from_slice(data);
}

/// An EventTime (fixext8, type 0). Seconds past `u32::MAX` (year 2106) do not fit the format
/// and are written as a plain integer of seconds, which Fluent Bit also accepts.
#[inline]
pub(crate) fn time(buf: &mut Vec<u8>, t: EventTime) {
    match u32::try_from(t.sec()) {
        Ok(sec) => {
            let [a, b, c, d] = sec.to_be_bytes();
            let [e, f, g, h] = t.nsec().to_be_bytes();
            buf.extend_from_slice(&[0xd7, 0x00, a, b, c, d, e, f, g, h]);
        }
        Err(_) => uint(buf, t.sec()),
    }
}

/// Copies a decoded value; maps and arrays are copied as their raw bytes.
pub(crate) fn value(buf: &mut Vec<u8>, v: &Value<'_>) {
    match *v {
        Value::Nil => nil(buf),
        Value::Bool(b) => bool(buf, b),
        Value::Int(i) => int(buf, i),
        Value::UInt(u) => uint(buf, u),
        Value::F32(f) => f32(buf, f),
        Value::F64(f) => f64(buf, f),
        Value::Str(s) => str(buf, s.as_bytes()),
        Value::Bin(b) => bin(buf, b),
        Value::Array(a) => buf.extend_from_slice(a.raw()),
        Value::Map(m) => buf.extend_from_slice(m.raw()),
        Value::Ext(t, d) => ext(buf, t, d),
    }
}

/// Rewrites the one-byte placeholder header at `start` (written as `fix`, i.e. 0x80 or 0x90)
/// for a container of `count` elements, growing it to the 16- or 32-bit form when needed.
/// The placeholder keeps the common small container in its shortest form; the rare large one
/// pays one move of its contents.
pub(crate) fn fix_header(buf: &mut Vec<u8>, start: usize, fix: u8, count: u32) {
    let (m16, m32) = if fix == 0x80 {
        (0xde, 0xdf)
    } else {
        (0xdc, 0xdd)
    };
    let header: &[u8] = match count {
        0..=15 => {
            if let Some(b) = buf.get_mut(start) {
                *b = fix | count as u8;
            }
            return;
        }
        16..=0xffff => {
            let [a, b] = (count as u16).to_be_bytes();
            &[m16, a, b]
        }
        _ => {
            let [a, b, c, d] = count.to_be_bytes();
            &[m32, a, b, c, d]
        }
    };
    let grow = header.len() - 1;
    let end = buf.len();
    if start >= end {
        return;
    }
    buf.resize(end + grow, 0);
    buf.copy_within(start + 1..end, start + 1 + grow);
    buf[start..start + header.len()].copy_from_slice(header);
}
