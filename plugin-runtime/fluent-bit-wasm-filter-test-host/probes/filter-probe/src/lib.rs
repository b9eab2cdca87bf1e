//! Filters that exercise the SDK's edge cases through the WASM test host: panics, drops, the
//! msgpack format. Not for use in Fluent Bit.

use fluent_bit_plugin_sdk::filter::{Context, Record, Verdict};

/// Keeps every record.
pub fn keep(_: &Context<'_>, _: &mut Record) -> Verdict {
    Verdict::Keep
}

/// Panics on records with `"panic": true`, drops `"drop": true`, otherwise adds the tag and
/// the time's seconds.
pub fn panicky(ctx: &Context<'_>, record: &mut Record) -> Verdict {
    if record.get("panic").and_then(|v| v.as_bool()) == Some(true) {
        panic!("probe asked to panic on {}", ctx.tag());
    }
    if record.get("drop").and_then(|v| v.as_bool()) == Some(true) {
        return Verdict::Drop;
    }
    record.insert("tag".into(), ctx.tag().into());
    record.insert("sec".into(), ctx.time().sec().into());
    Verdict::Modified
}

/// Adds `"seen": "yes"`.
pub fn mark(_: &Context<'_>, record: &mut Record) -> Verdict {
    record.insert("seen".into(), "yes".into());
    Verdict::Modified
}

fluent_bit_plugin_sdk::export_filter!(probe_keep, keep);
fluent_bit_plugin_sdk::export_filter!(probe_panicky, panicky);
fluent_bit_plugin_sdk::export_filter!(probe_panicky_mp, panicky, event_format = msgpack);
fluent_bit_plugin_sdk::export_filter!(probe_mark_mp, mark, event_format = msgpack);
