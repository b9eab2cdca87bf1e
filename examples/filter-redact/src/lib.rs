//! `redact_filter`: a Fluent Bit WASM filter that removes sensitive data from records before
//! they leave the node.
//!
//! For every record, at any depth (nested objects and arrays included):
//! - the value of a field whose name is in the redacted list (case-insensitive) becomes
//!   `"[REDACTED]"`, whatever its type;
//! - e-mail addresses inside string values become `[REDACTED:email]`;
//! - card numbers inside string values (13 to 19 digits, optionally grouped with spaces or
//!   dashes, passing the Luhn check) become `[REDACTED:card]`.
//!
//! Records with nothing to redact pass unchanged (the original text is returned without
//! re-serializing); the filter never drops a record.
//!
//! Configuration: Fluent Bit passes a WASM filter no settings of its own, so the field list is
//! fixed at build time. It defaults to [`DEFAULT_FIELDS`]; set `REDACT_FIELDS` (comma
//! separated) while building to replace it:
//!
//! ```text
//! REDACT_FIELDS=password,api_key,session cargo build --release --target wasm32-unknown-unknown -p filter-redact
//! ```
//!
//! Fluent Bit config (heap sized for 64 KiB of JSON and 256-byte tags; see
//! `fluent_bit_plugin_sdk::filter::heap_size_for`):
//!
//! ```text
//! [FILTER]
//!     Name           wasm
//!     Match          *
//!     WASM_Path      /fluent-bit/filters/filter_redact.wasm
//!     Function_Name  redact_filter
//!     Event_Format   json
//!     WASM_Heap_Size 66832
//! ```

mod scan;

use std::sync::OnceLock;

use fluent_bit_plugin_sdk::filter::serde_json::Value;
use fluent_bit_plugin_sdk::filter::{Context, Record, Verdict};

pub use scan::redact_text;

/// Field names redacted when `REDACT_FIELDS` is not set at build time.
pub const DEFAULT_FIELDS: &str = "password,passwd,secret,token,access_token,refresh_token,api_key,apikey,authorization,cookie,set-cookie";

/// What a redacted field's value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Deepest nesting walked; deeper values are left as they are (Fluent Bit records are rarely
/// more than a few levels deep, and the walk must not exhaust the WASM stack).
const MAX_DEPTH: usize = 32;

/// The redacted field names, lowercased, parsed once per instance.
pub fn redacted_fields() -> &'static [String] {
    static FIELDS: OnceLock<Vec<String>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        option_env!("REDACT_FIELDS")
            .unwrap_or(DEFAULT_FIELDS)
            .split(',')
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
            .collect()
    })
}

/// The filter function: redacts `record` in place.
pub fn redact(_ctx: &Context<'_>, record: &mut Record) -> Verdict {
    let fields = redacted_fields();
    if redact_map(record, fields, 0) {
        Verdict::Modified
    } else {
        Verdict::Keep
    }
}

fn redact_map(map: &mut Record, fields: &[String], depth: usize) -> bool {
    let mut changed = false;
    for (key, value) in map.iter_mut() {
        if fields.iter().any(|f| f.eq_ignore_ascii_case(key)) {
            if value.as_str() != Some(REDACTED) {
                *value = Value::String(REDACTED.to_owned());
                changed = true;
            }
        } else {
            changed |= redact_value(value, fields, depth + 1);
        }
    }
    changed
}

fn redact_value(value: &mut Value, fields: &[String], depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match value {
        Value::String(s) => match redact_text(s) {
            Some(clean) => {
                *s = clean;
                true
            }
            None => false,
        },
        Value::Object(map) => redact_map(map, fields, depth),
        Value::Array(items) => items.iter_mut().fold(false, |changed, v| {
            redact_value(v, fields, depth + 1) | changed
        }),
        _ => false,
    }
}

fluent_bit_plugin_sdk::export_filter!(redact_filter, redact);

#[cfg(test)]
mod tests {
    use super::*;
    use fluent_bit_plugin_sdk::EventTime;
    use fluent_bit_plugin_sdk::filter::serde_json::json;

    fn run(value: Value) -> (Verdict, Value) {
        let Value::Object(mut record) = value else {
            panic!("test records are objects")
        };
        let verdict = redact(&Context::new("t", EventTime::from_secs(0)), &mut record);
        (verdict, Value::Object(record))
    }

    #[test]
    fn redacts_named_fields_at_any_depth_and_case() {
        let (verdict, out) = run(json!({
            "user": "ana",
            "Password": "hunter2",
            "req": {"headers": {"Authorization": "Bearer x", "accept": "*/*"}},
            "items": [{"token": 42}],
        }));
        assert_eq!(verdict, Verdict::Modified);
        assert_eq!(
            out,
            json!({
                "user": "ana",
                "Password": REDACTED,
                "req": {"headers": {"Authorization": REDACTED, "accept": "*/*"}},
                "items": [{"token": REDACTED}],
            })
        );
    }

    #[test]
    fn clean_records_are_kept() {
        let (verdict, _) = run(json!({"msg": "GET /index.html 200", "n": 4111}));
        assert_eq!(verdict, Verdict::Keep);
    }
}
