//! JSON text from decoded values, appended to a caller's buffer without allocating.
//!
//! Mapping (chosen to always produce valid JSON, one line, no trailing newline):
//! - strings: escaped per RFC 8259 (`"`, `\`, control characters); invalid UTF-8 sequences
//!   become U+FFFD;
//! - integers exactly; floats in their shortest round-trip form, NaN and infinities as `null`;
//! - binary data: a base64 string (standard alphabet, padded);
//! - ext values: `{"type":<ext type>,"data":"<base64>"}`;
//! - map keys that are not strings: numbers, booleans and nil as their JSON text in quotes
//!   (`"42"`, `"true"`, `"null"`), binary as base64, ext, array and map keys as `"<ext>"`,
//!   `"<array>"` and `"<map>"` (JSON keys can only be strings; such keys do not occur in logs).
//!
//! The walk is a loop over the bytes with a fixed-size stack, not recursion.

use std::io::Write as _;

use super::MAX_DEPTH;
use super::decode::Event;
use super::read::{container_header, decode};
use super::skip::skim;
use super::time::EventTime;
use super::value::{Map, Value};

/// How [`JsonFormat`] writes the record time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// Seconds since the epoch with nine exact fractional digits: `1700000000.123456789`.
    #[default]
    EpochSeconds,
    /// Integer nanoseconds since the epoch: `1700000000123456789`.
    EpochNanos,
    /// An RFC 3339 UTC string with nanoseconds: `"2023-11-14T22:13:20.123456789Z"`.
    Rfc3339,
}

/// Writes whole records as JSON objects: the body's fields, preceded by optional time, tag and
/// metadata fields, as a JSON-lines output wants them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonFormat<'k> {
    /// Key for the record time, or `None` to leave it out.
    pub time_key: Option<&'k str>,
    /// How the time is written.
    pub time_format: TimeFormat,
    /// Key for the flush tag, or `None` to leave it out.
    pub tag_key: Option<&'k str>,
    /// Key for the metadata map, or `None` to leave it out.
    pub metadata_key: Option<&'k str>,
    /// Whether to end each record with `\n`.
    pub newline: bool,
}

impl Default for JsonFormat<'_> {
    /// `{"date": <epoch seconds>, ...body}` followed by a newline.
    fn default() -> Self {
        JsonFormat {
            time_key: Some("date"),
            time_format: TimeFormat::EpochSeconds,
            tag_key: None,
            metadata_key: None,
            newline: true,
        }
    }
}

impl JsonFormat<'_> {
    /// Appends `event` as one JSON object; `tag` is written when [`tag_key`](Self::tag_key) is
    /// set. Body fields come after the added ones; a body key equal to an added key is written
    /// as it is (JSON readers usually keep the last one).
    pub fn write_event(&self, out: &mut Vec<u8>, event: &Event<'_>, tag: &str) {
        out.push(b'{');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        if let Some(key) = self.time_key {
            sep(out);
            write_str(out, key);
            out.push(b':');
            write_time(out, event.time(), self.time_format);
        }
        if let Some(key) = self.tag_key {
            sep(out);
            write_str(out, key);
            out.push(b':');
            write_str(out, tag);
        }
        if let Some(key) = self.metadata_key {
            sep(out);
            write_str(out, key);
            out.push(b':');
            write_map(out, &event.metadata());
        }
        write_map_entries(out, &event.body(), !first);
        out.push(b'}');
        if self.newline {
            out.push(b'\n');
        }
    }
}

/// Appends the JSON text of `value`.
pub fn write_value(out: &mut Vec<u8>, value: &Value<'_>) {
    match value {
        Value::Map(m) => write_map(out, m),
        Value::Array(a) => walk(out, a.raw(), None),
        scalar => write_scalar(out, scalar),
    }
}

/// Appends the JSON object for `map`.
pub fn write_map(out: &mut Vec<u8>, map: &Map<'_>) {
    walk(out, map.raw(), None)
}

/// Appends the entries of `map` as `"key":value` pairs separated by commas, without braces,
/// to merge them into an object the caller writes. With `leading_comma`, a comma precedes
/// the first entry (for an object that already has fields). An empty map writes nothing.
pub fn write_map_entries(out: &mut Vec<u8>, map: &Map<'_>, leading_comma: bool) {
    if map.is_empty() {
        return;
    }
    if leading_comma {
        out.push(b',');
    }
    walk(out, map.entries_raw(), Some(map.len() as u64 * 2));
    // The walk closes the object it was put inside; the caller closes it instead.
    out.pop();
}

/// Appends a number, or `null` when it is NaN or infinite (JSON has no such numbers).
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    write_scalar(out, &Value::F64(v));
}

/// Appends an integer.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    write_scalar(
        out,
        &if v < 0 {
            Value::Int(v)
        } else {
            Value::UInt(v as u64)
        },
    );
}

/// Appends an RFC 3339 UTC timestamp string with nanoseconds.
pub fn write_rfc3339(out: &mut Vec<u8>, time: EventTime) {
    let _ = write!(out, "\"{time}\"");
}

/// Appends `time` in the given format.
pub fn write_time(out: &mut Vec<u8>, time: EventTime, format: TimeFormat) {
    match format {
        TimeFormat::EpochSeconds => {
            write_u64(out, time.sec());
            let mut frac = *b".000000000";
            let mut n = time.nsec();
            for digit in frac[1..].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
            out.extend_from_slice(&frac);
        }
        TimeFormat::EpochNanos => {
            let _ = write!(out, "{}", time.as_nanos());
        }
        TimeFormat::Rfc3339 => write_rfc3339(out, time),
    }
}

/// Walks validated msgpack: one value when `open` is `None`, otherwise the entries of a map
/// whose `{` is already written and which holds `open` keys and values.
fn walk(out: &mut Vec<u8>, mut rest: &[u8], open: Option<u64>) {
    // Per open container: values still to write, shifted left by one, and 1 for a map.
    // One word per level keeps the stack at 520 bytes, cheap to set up for each record.
    let mut stack = [0u64; MAX_DEPTH + 1];
    let mut sp = 0usize;
    if let Some(values) = open {
        stack[0] = values << 1 | 1;
        sp = 1;
    }
    loop {
        // In a map, keys are at even counts of values left.
        let is_key = sp > 0 && stack[sp - 1] & 0b11 == 0b01;
        let Some(&b) = rest.first() else {
            debug_assert!(false, "JSON walk over unvalidated bytes");
            return;
        };
        if matches!(b, 0x80..=0x9f | 0xdc..=0xdf) {
            let Some((is_map, hdr, len)) = container_header(rest) else {
                return;
            };
            if is_key {
                let Some(n) = skim(rest) else { return };
                out.extend_from_slice(if is_map { b"\"<map>\"" } else { b"\"<array>\"" });
                rest = &rest[n.min(rest.len())..];
            } else {
                rest = &rest[usize::from(hdr).min(rest.len())..];
                let values = u64::from(len) * if is_map { 2 } else { 1 };
                if values > 0 {
                    let Some(slot) = stack.get_mut(sp) else {
                        return;
                    };
                    *slot = values << 1 | u64::from(is_map);
                    sp += 1;
                    out.push(if is_map { b'{' } else { b'[' });
                    continue;
                }
                out.extend_from_slice(if is_map { b"{}" } else { b"[]" });
            }
        } else {
            let Some((v, r)) = decode(rest) else { return };
            rest = r;
            if is_key {
                write_key(out, &v);
            } else {
                write_scalar(out, &v);
            }
        }
        // A value is complete: write the separator or close the containers it completes.
        loop {
            if sp == 0 {
                return;
            }
            let top = &mut stack[sp - 1];
            *top -= 2;
            let (left, is_map) = (*top >> 1, *top & 1 == 1);
            if left > 0 {
                out.push(if is_map && left % 2 == 1 { b':' } else { b',' });
                break;
            }
            out.push(if is_map { b'}' } else { b']' });
            sp -= 1;
        }
    }
}

fn write_key(out: &mut Vec<u8>, key: &Value<'_>) {
    match key {
        Value::Str(s) => write_str_bytes(out, s.as_bytes()),
        Value::Bin(b) => write_base64(out, b),
        Value::Ext(..) => out.extend_from_slice(b"\"<ext>\""),
        other => {
            out.push(b'"');
            write_scalar(out, other);
            out.push(b'"');
        }
    }
}

fn write_scalar(out: &mut Vec<u8>, v: &Value<'_>) {
    match *v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::UInt(u) => write_u64(out, u),
        Value::Int(i) => {
            out.push(b'-');
            write_u64(out, i.unsigned_abs());
        }
        Value::F32(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        Value::F64(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        Value::F32(_) | Value::F64(_) => out.extend_from_slice(b"null"),
        Value::Str(s) => write_str_bytes(out, s.as_bytes()),
        Value::Bin(b) => write_base64(out, b),
        Value::Ext(ty, data) => {
            out.extend_from_slice(b"{\"type\":");
            if ty < 0 {
                out.push(b'-');
            }
            write_u64(out, u64::from(ty.unsigned_abs()));
            out.extend_from_slice(b",\"data\":");
            write_base64(out, data);
            out.push(b'}');
        }
        Value::Map(m) => write_map(out, &m),
        Value::Array(a) => walk(out, a.raw(), None),
    }
}

/// Appends an unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Escape class per byte: 0 none, `u` for `\u00XX`, otherwise the letter after `\`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s.as_bytes());
    out.push(b'"');
}

/// Appends `s` as a JSON string, replacing invalid UTF-8 with U+FFFD.
pub fn write_str_bytes(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    // `is_ascii` is much cheaper than full UTF-8 validation for the common short ASCII value.
    if s.is_ascii() || std::str::from_utf8(s).is_ok() {
        escape_into(out, s);
    } else {
        for chunk in s.utf8_chunks() {
            escape_into(out, chunk.valid().as_bytes());
            if !chunk.invalid().is_empty() {
                out.extend_from_slice("\u{FFFD}".as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Whether any byte of the 8 in `w` is a control character, `"` or `\\`.
///
/// Uses the exact "has a zero byte" / "has a byte below n" word tricks: a borrow can only
/// spread from a byte that really matches, so the answer has no false positives.
#[inline(always)]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let has_quote = quote.wrapping_sub(ONES) & !quote & HIGH;
    let has_backslash = backslash.wrapping_sub(ONES) & !backslash & HIGH;
    (below_space | has_quote | has_backslash) != 0
}

/// Appends `s` (valid UTF-8) with JSON escapes, skipping clean 8-byte words at once.
#[inline]
fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while let Some(word) = s.get(i..).and_then(|r| r.first_chunk::<8>()) {
        if word_needs_escape(u64::from_le_bytes(*word)) {
            for j in i..i + 8 {
                escape_byte(out, s, &mut start, j);
            }
        }
        i += 8;
    }
    // The last 0 to 7 bytes (all of a short key): one word decides whether any of them needs
    // a look. Longer strings reuse their last 8 bytes; shorter ones are padded in a register
    // (copying into a stack buffer first stalled the load that followed).
    let tail = s.get(i..).unwrap_or_default();
    let word = match s.last_chunk::<8>() {
        Some(last) => u64::from_le_bytes(*last),
        None => tail
            .iter()
            .rev()
            .fold(u64::from_le_bytes([b'a'; 8]), |w, &b| {
                (w << 8) | u64::from(b)
            }),
    };
    if !tail.is_empty() && word_needs_escape(word) {
        for j in i..s.len() {
            escape_byte(out, s, &mut start, j);
        }
    }
    out.extend_from_slice(s.get(start..).unwrap_or_default());
}

/// Escapes `s[i]` if needed, first flushing the clean run `s[*start..i]`.
#[inline(always)]
fn escape_byte(out: &mut Vec<u8>, s: &[u8], start: &mut usize, i: usize) {
    let Some(&b) = s.get(i) else { return };
    let esc = ESCAPE[b as usize];
    if esc == 0 {
        return;
    }
    out.extend_from_slice(s.get(*start..i).unwrap_or_default());
    if esc == b'u' {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 0xf) as usize],
        ]);
    } else {
        out.extend_from_slice(&[b'\\', esc]);
    }
    *start = i + 1;
}

/// Appends `data` as a quoted base64 string (standard alphabet, with padding).
pub fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.push(b'"');
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
    out.push(b'"');
}
