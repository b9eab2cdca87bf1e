//! `FluentBitPlugin.spec.wasm`: how Fluent Bit's `wasm` filter runs a `.wasm` module.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rules::{DEFAULT_WASM_STACK_SIZE, DEFAULT_WASM_TAG_SIZE};

/// The filter section of a `type: filter` plugin. The sizes are plain bytes.
///
/// The operator renders `WASM_Heap_Size` from `maxRecordSize` and `maxTagSize`: Fluent Bit
/// copies the tag and the record's JSON text into a heap of that size before every call, and a
/// record that does not fit is silently dropped (the 8 KiB default drops records of about
/// 7 KiB and more).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = crate::cel::wasm_max_record_size())]
#[x_kube(validation = crate::cel::wasm_max_tag_size())]
#[x_kube(validation = crate::cel::wasm_stack_size())]
pub struct WasmFilter {
    /// The function the module exports (`Function_Name`): the first argument of
    /// `export_filter!`. A C identifier (A-Z a-z 0-9 _, not starting with a digit). Fluent Bit
    /// never checks it at start-up: a wrong name drops every record.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = crate::cel::function_name())]
    pub function_name: String,

    /// How records are passed to the function (`Event_Format`): `json` (default) or
    /// `msgpack`. Must match the format the module was exported for
    /// (`export_filter!(name, f, event_format = msgpack)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = crate::cel::event_format())]
    pub event_format: Option<EventFormat>,

    /// The largest record the filter must receive, in bytes of its JSON text (JSON is longer
    /// than the record's msgpack form: quotes, escapes, `\uXXXX` for non-ASCII). Larger records
    /// are dropped by Fluent Bit before the function runs. 1 to 16777216 (16 MiB). Required:
    /// there is no safe default, and Fluent Bit's own (8 KiB) drops ordinary multi-line logs.
    pub max_record_size: i64,

    /// The longest tag, in bytes. Default 256; 1 to 4096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tag_size: Option<i64>,

    /// WAMR's stack for the module (`WASM_Stack_Size`), in bytes. Default 65536; 8192 to
    /// 8388608 (Fluent Bit ignores values below 8192).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_size: Option<i64>,
}

impl WasmFilter {
    /// The event format, defaulted.
    pub fn event_format(&self) -> EventFormat {
        self.event_format.unwrap_or_default()
    }

    /// The longest tag, defaulted.
    pub fn max_tag_size(&self) -> i64 {
        self.max_tag_size.unwrap_or(DEFAULT_WASM_TAG_SIZE)
    }

    /// The WAMR stack size, defaulted.
    pub fn stack_size(&self) -> i64 {
        self.stack_size.unwrap_or(DEFAULT_WASM_STACK_SIZE)
    }
}

/// `Event_Format` of a WASM filter.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventFormat {
    /// JSON text (the default). Drops are an empty result; the body must be a JSON object.
    #[default]
    Json,
    /// msgpack. Fluent Bit cuts the result at its first zero byte, so plugin-runtime drops
    /// (and counts) every result that contains one; prefer `json`.
    Msgpack,
    /// A value this operator version does not know. Refused by validation instead of failing
    /// to decode the whole object.
    #[serde(other)]
    #[schemars(skip)]
    Unsupported,
}

impl EventFormat {
    /// The value as written in the spec and in `Event_Format`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::Json => "json",
            EventFormat::Msgpack => "msgpack",
            EventFormat::Unsupported => "unsupported",
        }
    }
}
