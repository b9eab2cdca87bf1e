//! Finding where msgpack values end: the validating walk records go through once, and the
//! fast skim the lazy views use on bytes that were already validated.
//!
//! Both walks are loops over a byte position with an explicit counter of values still to
//! skip, never recursion: flushes run on a 64 KiB coroutine stack without a guard page.

use super::MAX_DEPTH;
use super::error::{DecodeError, DecodeErrorKind, Found};

/// Total encoded size of values whose size is known from the marker byte alone, 0 otherwise.
static FIXED: [u8; 256] = fixed_sizes();

const fn fixed_sizes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        t[b] = match b {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 1,
            0xa0..=0xbf => 1 + (b as u8 & 0x1f),
            0xcc | 0xd0 => 2,
            0xcd | 0xd1 => 3,
            0xca | 0xce | 0xd2 => 5,
            0xcb | 0xcf | 0xd3 => 9,
            0xd4 => 3,
            0xd5 => 4,
            0xd6 => 6,
            0xd7 => 10,
            0xd8 => 18,
            _ => 0,
        };
        b += 1;
    }
    t
}

/// The header of a value whose size is not fixed by its marker.
#[derive(Clone, Copy)]
pub(crate) enum Head {
    /// str, bin or ext: `hdr` header bytes (including an ext's type byte), then `len` bytes.
    Var { hdr: usize, len: u64 },
    /// array or map: `hdr` header bytes, then `values` values (two per map entry).
    Seq { hdr: usize, values: u64 },
    /// The reserved marker 0xc1.
    Reserved,
}

#[inline(always)]
fn be(buf: &[u8], at: usize, n: usize) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(n)?)?;
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Decodes the header of a value at `pos` whose marker is not in [`FIXED`].
#[inline]
pub(crate) fn head(buf: &[u8], pos: usize, b: u8) -> Result<Head, DecodeError> {
    // Header size (an ext's type byte included) and the width of its length field.
    let (hdr, len_bytes) = match b {
        0x80..=0x8f => {
            return Ok(Head::Seq {
                hdr: 1,
                values: u64::from(b & 0x0f) * 2,
            });
        }
        0x90..=0x9f => {
            return Ok(Head::Seq {
                hdr: 1,
                values: u64::from(b & 0x0f),
            });
        }
        0xc4 | 0xd9 => (2, 1),
        0xc5 | 0xda => (3, 2),
        0xc6 | 0xdb => (5, 4),
        0xc7 => (3, 1),
        0xc8 => (4, 2),
        0xc9 => (6, 4),
        0xdc | 0xde => (3, 2),
        0xdd | 0xdf => (5, 4),
        _ => return Ok(Head::Reserved),
    };
    let Some(n) = be(buf, pos + 1, len_bytes) else {
        return Err(truncated(buf, pos, hdr as u64));
    };
    Ok(match b {
        0xdc | 0xdd => Head::Seq { hdr, values: n },
        0xde | 0xdf => Head::Seq { hdr, values: n * 2 },
        _ => Head::Var { hdr, len: n },
    })
}

/// Values still to walk at each open nesting level during [`validate`].
///
/// Kept by the caller and reused, because clearing 512 bytes for every record was measured
/// at about 9 % of decoding time for 100-byte records. Entries are always written before
/// they are read, so stale contents do not matter.
#[derive(Clone)]
pub(crate) struct Scratch([u64; MAX_DEPTH]);

impl Scratch {
    pub(crate) const fn new() -> Self {
        Scratch([0; MAX_DEPTH])
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

/// Validates one value starting at `pos` whose nesting level is `depth` (a record is level 1)
/// and returns the position just past it.
///
/// Checks that every length stays inside `buf`, that no container nests deeper than
/// [`MAX_DEPTH`] and that the reserved byte does not occur. Views built over bytes that passed
/// this check can then be walked with [`skim`] without further error handling.
pub(crate) fn validate(
    buf: &[u8],
    start: usize,
    depth: usize,
    scratch: &mut Scratch,
) -> Result<usize, DecodeError> {
    let len = buf.len();
    let mut pos = start;
    let stack = &mut scratch.0;
    let mut sp = 0usize;
    let mut remaining: u64 = 1;
    loop {
        let Some(&b) = buf.get(pos) else {
            return Err(DecodeError::unexpected(pos, "another value", Found::End));
        };
        let fixed = FIXED[b as usize] as usize;
        if fixed != 0 {
            if fixed > len - pos {
                return Err(truncated(buf, pos, fixed as u64));
            }
            pos += fixed;
        } else if b == 0xd9 {
            // str8, the usual form of a log line: inlined ahead of the general header path.
            let total = match buf.get(pos + 1) {
                Some(&n) => 2 + usize::from(n),
                None => return Err(truncated(buf, pos, 2)),
            };
            if total > len - pos {
                return Err(truncated(buf, pos, total as u64));
            }
            pos += total;
        } else {
            match head(buf, pos, b)? {
                Head::Var { hdr, len: n } => {
                    let total = hdr as u64 + n;
                    if total > (len - pos) as u64 {
                        return Err(truncated(buf, pos, total));
                    }
                    pos += total as usize;
                }
                Head::Seq { hdr, values } => {
                    let at = pos;
                    pos += hdr;
                    if values != 0 {
                        // Every value takes at least one byte: a count beyond the bytes left is
                        // a corrupt or truncated length, caught before walking into it.
                        if values > (len - pos) as u64 {
                            return Err(truncated(buf, at, hdr as u64 + values));
                        }
                        if depth + sp >= MAX_DEPTH {
                            return Err(DecodeError::at(at, DecodeErrorKind::TooDeep));
                        }
                        let Some(slot) = stack.get_mut(sp) else {
                            return Err(DecodeError::at(at, DecodeErrorKind::TooDeep));
                        };
                        *slot = remaining;
                        sp += 1;
                        remaining = values;
                        continue;
                    }
                }
                Head::Reserved => return Err(DecodeError::at(pos, DecodeErrorKind::ReservedByte)),
            }
        }
        // One value finished: close every level it completes.
        loop {
            remaining -= 1;
            if remaining != 0 {
                break;
            }
            if sp == 0 {
                return Ok(pos);
            }
            sp -= 1;
            remaining = stack[sp];
        }
    }
}

/// Length in bytes of the first msgpack value in `buf`, or `None` when it is malformed or
/// does not fit in `buf`.
///
/// A plain skim: no depth limit and no error detail. The crate uses it on bytes it already
/// validated; it is public as the reference point of the benchmark and for plugins that only
/// need to split msgpack data.
#[inline]
pub fn skim(buf: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    let mut remaining: u64 = 1;
    while remaining != 0 {
        let b = *buf.get(pos)?;
        let fixed = FIXED[b as usize] as usize;
        if fixed != 0 {
            pos += fixed;
        } else {
            match head(buf, pos, b).ok()? {
                Head::Var { hdr, len } => {
                    pos = pos
                        .checked_add(hdr)?
                        .checked_add(usize::try_from(len).ok()?)?;
                }
                Head::Seq { hdr, values } => {
                    pos += hdr;
                    remaining = remaining.checked_add(values)?;
                }
                Head::Reserved => return None,
            }
        }
        remaining -= 1;
    }
    (pos <= buf.len()).then_some(pos)
}

/// Encoded size of the scalar (not array or map) value at `pos`, from its header alone.
pub(crate) fn scalar_size(buf: &[u8], pos: usize) -> Option<u64> {
    let &b = buf.get(pos)?;
    match FIXED[b as usize] {
        0 => match head(buf, pos, b).ok()? {
            Head::Var { hdr, len } => Some(hdr as u64 + len),
            Head::Seq { .. } | Head::Reserved => None,
        },
        n => Some(u64::from(n)),
    }
}

/// A truncation error for the value at `pos` that needs `needed` bytes.
pub(crate) fn truncated(buf: &[u8], pos: usize, needed: u64) -> DecodeError {
    DecodeError::at(
        pos,
        DecodeErrorKind::Truncated {
            value: describe(buf, pos),
            needed,
            available: buf.len().saturating_sub(pos),
        },
    )
}

/// Describes the value at `pos` for an error message, as far as the bytes allow.
pub(crate) fn describe(buf: &[u8], pos: usize) -> Found {
    let Some(&b) = buf.get(pos) else {
        return Found::End;
    };
    let num = |n: usize| be(buf, pos + 1, n).unwrap_or(0);
    let f32_at = || f64::from(f32::from_bits(num(4) as u32));
    match b {
        0x00..=0x7f => Found::UInt(u64::from(b)),
        0xe0..=0xff => Found::NegInt(i64::from(b as i8)),
        0x80..=0x8f => Found::Map(u64::from(b & 0x0f)),
        0x90..=0x9f => Found::Array(u64::from(b & 0x0f)),
        0xa0..=0xbf => Found::Str(u64::from(b & 0x1f)),
        0xc0 => Found::Nil,
        0xc1 => Found::Reserved,
        0xc2 | 0xc3 => Found::Bool,
        0xc4 => Found::Bin(num(1)),
        0xc5 => Found::Bin(num(2)),
        0xc6 => Found::Bin(num(4)),
        0xc7 => Found::Ext(buf.get(pos + 2).map_or(0, |&t| t as i8), num(1)),
        0xc8 => Found::Ext(buf.get(pos + 3).map_or(0, |&t| t as i8), num(2)),
        0xc9 => Found::Ext(buf.get(pos + 5).map_or(0, |&t| t as i8), num(4)),
        0xca => Found::Float(f32_at()),
        0xcb => Found::Float(f64::from_bits(num(8))),
        0xcc => Found::UInt(num(1)),
        0xcd => Found::UInt(num(2)),
        0xce => Found::UInt(num(4)),
        0xcf => Found::UInt(num(8)),
        0xd0..=0xd3 => {
            let n = 1usize << (b - 0xd0);
            let shift = 64 - 8 * n as u32;
            let v = ((num(n) << shift) as i64) >> shift;
            if v < 0 {
                Found::NegInt(v)
            } else {
                Found::UInt(v as u64)
            }
        }
        0xd4..=0xd8 => Found::Ext(buf.get(pos + 1).map_or(0, |&t| t as i8), 1 << (b - 0xd4)),
        0xd9 => Found::Str(num(1)),
        0xda => Found::Str(num(2)),
        0xdb => Found::Str(num(4)),
        0xdc => Found::Array(num(2)),
        0xdd => Found::Array(num(4)),
        0xde => Found::Map(num(2)),
        0xdf => Found::Map(num(4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Views walk validated bytes with `skim`, so both must agree on where a value ends.
        #[test]
        fn skim_agrees_with_validate(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(end) = validate(&data, 0, 1, &mut Scratch::new()) {
                prop_assert_eq!(skim(&data), Some(end));
            }
        }

        #[test]
        fn skim_agrees_with_validate_on_containers(
            items in proptest::collection::vec(any::<u8>(), 0..64),
            header in prop::sample::select(vec![0x93u8, 0x82, 0xdc, 0xde]),
        ) {
            let mut data = vec![header];
            if header >= 0xdc {
                data.extend_from_slice(&[0, 3]);
            }
            data.extend_from_slice(&items);
            if let Ok(end) = validate(&data, 0, 1, &mut Scratch::new()) {
                prop_assert_eq!(skim(&data), Some(end));
            }
        }
    }

    #[test]
    fn every_marker_has_a_size_rule() {
        for b in 0..=255u8 {
            let data = [b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            let fixed = FIXED[b as usize];
            match head(&data, 0, b) {
                _ if fixed != 0 => {
                    assert!(!matches!(b, 0x80..=0x9f | 0xc1 | 0xc4..=0xc9 | 0xd9..=0xdf))
                }
                Ok(Head::Reserved) => assert_eq!(b, 0xc1),
                Ok(_) => assert!(
                    matches!(b, 0x80..=0x9f | 0xc4..=0xc9 | 0xd9..=0xdf),
                    "{b:#x}"
                ),
                Err(e) => panic!("{b:#x}: {e}"),
            }
        }
    }
}
