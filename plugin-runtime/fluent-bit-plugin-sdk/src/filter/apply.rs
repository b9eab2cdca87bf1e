//! One record through a filter function, independent of where the bytes live: the part of a
//! call that can be tested natively.

use std::fmt;

use super::{Context, EventFormat, Record, Verdict};
use crate::event::Map;

/// Why a record was dropped without asking the filter function (or after it answered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Fluent Bit passed pointer 0: the tag or record did not fit in `WASM_Heap_Size`.
    InputMissing,
    /// A pointer and length reach past the end of linear memory.
    OutOfBounds,
    /// The tag is not valid UTF-8.
    BadTag,
    /// The record is not a JSON object (JSON format) or a msgpack map (msgpack format).
    Malformed(String),
    /// msgpack format only: the result contains a zero byte, so Fluent Bit would truncate it.
    ZeroByte,
    /// The record arrived in the other format: `event_format` in the `[FILTER]` section does
    /// not match the format the function was exported for.
    WrongFormat(EventFormat),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::InputMissing => f.write_str(
                "the host passed no input (pointer 0): the tag and record did not fit in \
                 wasm_heap_size; raise it above the largest record",
            ),
            Problem::OutOfBounds => f.write_str("input pointer and length exceed linear memory"),
            Problem::BadTag => f.write_str("the tag is not valid UTF-8"),
            Problem::Malformed(why) => write!(f, "the record is malformed: {why}"),
            Problem::WrongFormat(expected) => write!(
                f,
                "the record is not in the format the filter was exported for; set \
                 event_format {} in the [FILTER] section",
                expected.config_value()
            ),
            Problem::ZeroByte => f.write_str(
                "the msgpack result contains a zero byte, which Fluent Bit would truncate; \
                 use event_format json",
            ),
        }
    }
}

impl std::error::Error for Problem {}

/// Runs `handler` over a JSON-text record and writes the result text into `out` (cleared
/// first): the input itself for [`Verdict::Keep`], the serialized record for
/// [`Verdict::Modified`], nothing for [`Verdict::Drop`]. No NUL is appended.
pub fn apply_json(
    handler: fn(&Context<'_>, &mut Record) -> Verdict,
    ctx: &Context<'_>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<Verdict, Problem> {
    apply_json_in(handler, ctx, input, &mut None, out)
}

/// [`apply_json`] with the parsed record kept in `slot` while the handler runs, so a caller
/// can free it after a panic that never returned here.
pub(crate) fn apply_json_in(
    handler: fn(&Context<'_>, &mut Record) -> Verdict,
    ctx: &Context<'_>,
    input: &[u8],
    slot: &mut Option<Record>,
    out: &mut Vec<u8>,
) -> Result<Verdict, Problem> {
    out.clear();
    *slot = None;
    let parsed = serde_json::from_slice(input).map_err(|e| Problem::Malformed(e.to_string()))?;
    let record = slot.insert(parsed);
    let verdict = handler(ctx, record);
    let written = match verdict {
        Verdict::Keep => {
            out.extend_from_slice(input);
            Ok(())
        }
        Verdict::Modified => serde_json::to_writer(&mut *out, &*record)
            .map_err(|e| Problem::Malformed(e.to_string())),
        Verdict::Drop => Ok(()),
    };
    *slot = None;
    written.map(|()| verdict)
}

/// Runs `handler` over a msgpack map and writes the resulting map into `out` (cleared first).
/// A result containing a zero byte is refused with [`Problem::ZeroByte`] (see
/// [`EventFormat::Msgpack`](super::EventFormat::Msgpack)).
pub fn apply_msgpack(
    handler: fn(&Context<'_>, &mut Record) -> Verdict,
    ctx: &Context<'_>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<Verdict, Problem> {
    apply_msgpack_in(handler, ctx, input, &mut None, out)
}

/// [`apply_msgpack`] with the decoded record kept in `slot` (see [`apply_json_in`]).
pub(crate) fn apply_msgpack_in(
    handler: fn(&Context<'_>, &mut Record) -> Verdict,
    ctx: &Context<'_>,
    input: &[u8],
    slot: &mut Option<Record>,
    out: &mut Vec<u8>,
) -> Result<Verdict, Problem> {
    out.clear();
    *slot = None;
    let map = Map::from_slice(input).map_err(|e| Problem::Malformed(e.to_string()))?;
    let parsed = map
        .deserialize()
        .map_err(|e| Problem::Malformed(e.to_string()))?;
    let record = slot.insert(parsed);
    let verdict = handler(ctx, record);
    let written = match verdict {
        Verdict::Keep => {
            out.extend_from_slice(input);
            Ok(())
        }
        Verdict::Modified => rmp_serde::encode::write(&mut *out, &*record)
            .map_err(|e| Problem::Malformed(e.to_string())),
        Verdict::Drop => Ok(()),
    };
    *slot = None;
    written?;
    if out.contains(&0) {
        out.clear();
        return Err(Problem::ZeroByte);
    }
    Ok(verdict)
}
