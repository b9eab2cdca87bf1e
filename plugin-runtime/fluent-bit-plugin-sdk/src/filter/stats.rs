//! The counters a filter module exports through `<function>_stats`.

use serde::{Deserialize, Serialize};

/// A filter's counters since its instance started, as `<function>_stats` returns them (a
/// pointer to NUL-terminated JSON with these fields).
///
/// Every call is counted once in `calls` and once in exactly one of the other counters, except
/// a panic, which is counted in `panics` only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Calls into the filter function.
    pub calls: u64,
    /// Records passed on unchanged ([`Verdict::Keep`](super::Verdict::Keep)).
    pub kept: u64,
    /// Records passed on changed ([`Verdict::Modified`](super::Verdict::Modified)).
    pub modified: u64,
    /// Records the filter function dropped ([`Verdict::Drop`](super::Verdict::Drop)).
    pub dropped: u64,
    /// Records dropped because Fluent Bit passed no input: the heap was too small.
    pub input_missing: u64,
    /// Records dropped because an input was out of bounds, the tag not UTF-8 or the record
    /// not an object.
    pub malformed: u64,
    /// Records dropped because they arrived in the other event format (`event_format` does not
    /// match the export; the drop uses the format that arrived, so nothing is corrupted).
    pub wrong_format: u64,
    /// msgpack format: records dropped because the result had a zero byte.
    pub zero_byte: u64,
    /// Calls that panicked (the record was dropped by the resulting trap).
    pub panics: u64,
    /// Calls that found the shadow stack left lowered by an earlier call's trap (a panic or a
    /// msgpack drop) and took it back; without this every trap would leak its stack frames
    /// until the 1 MiB stack ran out.
    pub stack_reclaims: u64,
    /// The last panic's message and location, empty when none (at most 256 bytes).
    pub last_panic: String,
}
