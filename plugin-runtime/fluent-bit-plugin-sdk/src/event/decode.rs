//! Records in output flush data: `[[TIME, {metadata}], {body}]` (V2) or `[TIME, {body}]`.

use std::iter::FusedIterator;

use super::error::{DecodeError, DecodeErrorKind, Found};
use super::skip::{Scratch, describe, scalar_size, truncated, validate};
use super::time::EventTime;
use super::value::Map;

const RECORD: &str = "a record (an array of 2 elements)";
const HEADER: &str = "a record header [time, metadata] (an array of 2 elements)";
const TIMESTAMP: &str =
    "a timestamp (a non-negative int or float, or an EventTime: ext type 0 of 8 bytes)";
const METADATA: &str = "a map for the record metadata";
const BODY: &str = "a map for the record body";

/// How a record was laid out on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `[[TIME, {metadata}], {body}]`, what Fluent Bit 2.1 and later produce.
    V2,
    /// `[TIME, {body}]`, from older or forward-protocol inputs; the metadata is empty.
    Legacy,
}

/// What a record stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// An ordinary log record.
    Log,
    /// Starts a group (OpenTelemetry resource or scope); its metadata and body describe it.
    GroupStart,
    /// Ends the current group.
    GroupEnd,
}

/// One record of flush data, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event<'a> {
    raw: &'a [u8],
    time: EventTime,
    metadata: Map<'a>,
    body: Map<'a>,
    shape: Shape,
    kind: EventKind,
}

impl<'a> Event<'a> {
    /// When the event happened.
    #[inline]
    pub fn time(&self) -> EventTime {
        self.time
    }

    /// The metadata map (empty for [`Shape::Legacy`] records).
    #[inline]
    pub fn metadata(&self) -> Map<'a> {
        self.metadata
    }

    /// The record body: the log fields.
    #[inline]
    pub fn body(&self) -> Map<'a> {
        self.body
    }

    /// The complete encoding of this record, for passing it on unchanged.
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The wire layout of this record.
    #[inline]
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Whether this is a log record or a group marker. Only EventTime timestamps (ext type 0)
    /// mark groups, as in Fluent Bit's own decoder; an integer 4294967295 is a plain time.
    #[inline]
    pub fn kind(&self) -> EventKind {
        self.kind
    }
}

/// Iterator over the records of output flush data.
///
/// Yields `Result<Event, DecodeError>`; after the first error it ends. Group start and end
/// markers are skipped and counted unless [`Events::with_group_markers`] asks for them.
/// Nothing is allocated.
#[derive(Clone, Debug)]
pub struct Events<'a> {
    data: &'a [u8],
    pos: usize,
    index: usize,
    groups_skipped: usize,
    yield_groups: bool,
    failed: bool,
    scratch: Scratch,
}

impl<'a> Events<'a> {
    /// Iterates over the concatenated msgpack records in `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Events {
            data,
            pos: 0,
            index: 0,
            groups_skipped: 0,
            yield_groups: false,
            failed: false,
            scratch: Scratch::new(),
        }
    }

    /// Also yield group start and end markers (see [`Event::kind`]).
    pub fn with_group_markers(mut self) -> Self {
        self.yield_groups = true;
        self
    }

    /// Group markers skipped so far.
    pub fn group_markers_skipped(&self) -> usize {
        self.groups_skipped
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Number of log records in `data` (group markers not counted), or the first error.
    pub fn count_records(data: &'a [u8]) -> Result<usize, DecodeError> {
        let mut n = 0;
        for event in Events::new(data) {
            event?;
            n += 1;
        }
        Ok(n)
    }

    fn parse(&mut self) -> Result<Event<'a>, DecodeError> {
        let buf = self.data;
        let start = self.pos;
        let mut pos = start;
        // What Fluent Bit's own encoder writes: [[EventTime, {metadata}], {body}].
        if let Some(&[0x92, 0x92, 0xd7, 0x00, s0, s1, s2, s3, n0, n1, n2, n3, ..]) =
            buf.get(start..)
        {
            let sec = u32::from_be_bytes([s0, s1, s2, s3]);
            let nsec = u32::from_be_bytes([n0, n1, n2, n3]);
            let Some(time) = EventTime::new(u64::from(sec), nsec) else {
                return Err(DecodeError::at(
                    start + 2,
                    DecodeErrorKind::NanosOutOfRange(nsec),
                ));
            };
            pos = start + 12;
            let metadata = map(
                buf,
                &mut pos,
                3,
                METADATA,
                "the record metadata",
                &mut self.scratch,
            )?;
            let body = map(buf, &mut pos, 2, BODY, "the record body", &mut self.scratch)?;
            let kind = group_kind(true, time);
            return Ok(Event {
                raw: &buf[start..pos],
                time,
                metadata,
                body,
                shape: Shape::V2,
                kind,
            });
        }
        let n = array_len(buf, &mut pos, RECORD)?;
        if n != 2 {
            return Err(DecodeError::unexpected(start, RECORD, Found::Array(n)));
        }
        let (shape, stamp, metadata);
        if matches!(buf.get(pos), Some(0x90..=0x9f | 0xdc | 0xdd)) {
            let at = pos;
            let n = array_len(buf, &mut pos, HEADER)?;
            if n != 2 {
                return Err(DecodeError::unexpected(at, HEADER, Found::Array(n)));
            }
            shape = Shape::V2;
            stamp = timestamp(buf, &mut pos)?;
            metadata = map(
                buf,
                &mut pos,
                3,
                METADATA,
                "the record metadata",
                &mut self.scratch,
            )?;
        } else {
            shape = Shape::Legacy;
            stamp = timestamp(buf, &mut pos)?;
            metadata = Map::EMPTY;
        }
        let body = map(buf, &mut pos, 2, BODY, "the record body", &mut self.scratch)?;
        let (time, ext_time) = stamp;
        let kind = group_kind(ext_time, time);
        Ok(Event {
            raw: &buf[start..pos],
            time,
            metadata,
            body,
            shape,
            kind,
        })
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Event<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed || self.pos >= self.data.len() {
                return None;
            }
            let index = self.index;
            self.index += 1;
            match self.parse() {
                Ok(event) => {
                    self.pos += event.raw.len();
                    if !self.yield_groups && event.kind != EventKind::Log {
                        self.groups_skipped += 1;
                        continue;
                    }
                    return Some(Ok(event));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e.in_record(index)));
                }
            }
        }
    }
}

impl FusedIterator for Events<'_> {}

#[inline]
fn group_kind(ext_time: bool, time: EventTime) -> EventKind {
    match (ext_time, time) {
        (true, EventTime::GROUP_START) => EventKind::GroupStart,
        (true, EventTime::GROUP_END) => EventKind::GroupEnd,
        _ => EventKind::Log,
    }
}

/// Reads an array header at `pos`, advancing past it.
#[inline]
fn array_len(buf: &[u8], pos: &mut usize, expected: &'static str) -> Result<u64, DecodeError> {
    let at = *pos;
    let (n, hdr) = match buf.get(at..) {
        Some([b @ 0x90..=0x9f, ..]) => (u64::from(b & 0x0f), 1),
        Some([0xdc, a, b, ..]) => (u64::from(u16::from_be_bytes([*a, *b])), 3),
        Some([0xdd, a, b, c, d, ..]) => (u64::from(u32::from_be_bytes([*a, *b, *c, *d])), 5),
        Some([0xdc | 0xdd, ..]) => return Err(truncated(buf, at, 5)),
        _ => return Err(DecodeError::unexpected(at, expected, describe(buf, at))),
    };
    *pos = at + hdr;
    Ok(n)
}

/// Reads a validated map at `pos` nested at level `depth`, advancing past it.
#[inline]
fn map<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    depth: usize,
    expected: &'static str,
    within: &'static str,
    scratch: &mut Scratch,
) -> Result<Map<'a>, DecodeError> {
    let at = *pos;
    match buf.get(at) {
        Some(0x80) => {
            *pos = at + 1;
            return Ok(Map::EMPTY);
        }
        Some(0x81..=0x8f | 0xde | 0xdf) => {}
        _ => return Err(DecodeError::unexpected(at, expected, describe(buf, at))),
    }
    let end = validate(buf, at, depth, scratch).map_err(|e| e.within(within))?;
    *pos = end;
    buf.get(at..end)
        .and_then(Map::from_validated)
        .ok_or_else(|| DecodeError::unexpected(at, expected, describe(buf, at)))
}

/// Reads a record timestamp at `pos`, advancing past it; also tells whether it was an
/// EventTime (ext type 0).
#[inline]
fn timestamp(buf: &[u8], pos: &mut usize) -> Result<(EventTime, bool), DecodeError> {
    let at = *pos;
    let wrong = || DecodeError::unexpected(at, TIMESTAMP, describe(buf, at));
    // Arrays, maps, 0xc1 and the end of the data have no scalar size: not a timestamp.
    let size = scalar_size(buf, at).ok_or_else(wrong)?;
    let Some(bytes) = usize::try_from(size)
        .ok()
        .and_then(|n| buf.get(at..at.checked_add(n)?))
    else {
        return Err(truncated(buf, at, size));
    };
    let stamp = match *bytes {
        [0xd7, 0x00, a, b, c, d, e, f, g, h] | [0xc7, 0x08, 0x00, a, b, c, d, e, f, g, h] => {
            let nsec = u32::from_be_bytes([e, f, g, h]);
            let sec = u64::from(u32::from_be_bytes([a, b, c, d]));
            let time = EventTime::new(sec, nsec)
                .ok_or(DecodeError::at(at, DecodeErrorKind::NanosOutOfRange(nsec)))?;
            (time, true)
        }
        [0x00..=0x7f] | [0xca..=0xd3, ..] => match describe(buf, at) {
            Found::UInt(v) => (EventTime::from_secs(v), false),
            Found::Float(f) => (EventTime::from_f64(f).ok_or_else(wrong)?, false),
            _ => return Err(wrong()),
        },
        _ => return Err(wrong()),
    };
    *pos = at + bytes.len();
    Ok(stamp)
}
