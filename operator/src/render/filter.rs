//! The `[FILTER]` lines of a WASM filter, and the heap size they need.
//!
//! A filter instance renders as:
//!
//! ```text
//! [FILTER]
//!     Name            wasm
//!     Match           <match>            (or Match_Regex)
//!     Alias           <alias>            (when set)
//!     Log_Level       <level>            (when set)
//!     WASM_Path       /fluent-bit/plugins/<object name>/<file>.wasm
//!     Function_Name   <spec.wasm.functionName>
//!     Event_Format    json | msgpack
//!     WASM_Heap_Size  <bytes, see wasm_heap_size>
//!     WASM_Stack_Size <spec.wasm.stackSize, default 65536>
//! ```
//!
//! `WASM_Path` is absolute: Fluent Bit resolves a relative one against its working directory.
//! Sizes are written as plain integers because Fluent Bit's `K`/`M` suffixes are decimal.

use fbplugin_crds::FluentBitPlugin;

/// Fluent Bit's default and minimum `WASM_Heap_Size`, in bytes.
pub const MIN_HEAP_SIZE: u64 = 8192;

/// The `WASM_Heap_Size` for records whose JSON text is at most `max_record_bytes` and tags of
/// at most `max_tag_bytes`: `max(8192, blk(R) + blk(T) + 1024)` with
/// `blk(n) = max(16, ceil((n + 5) / 8) * 8)`.
///
/// Fluent Bit copies the tag and the record, each with a trailing NUL, into WAMR's app heap
/// before every call; WAMR's allocator rounds each block (plus its 4-byte header) up to 8
/// bytes, at least 16; 1 KiB is slack for allocator bookkeeping. A record that does not fit is
/// passed as pointer 0 and dropped. This is the same rule as
/// `plugin_runtime::filter::heap_size_for` (the tests check both agree), kept here so the
/// operator does not link the plugin SDK.
pub const fn wasm_heap_size(max_record_bytes: u64, max_tag_bytes: u64) -> u64 {
    const fn block(n: u64) -> u64 {
        let size = (n + 1 + 4).div_ceil(8) * 8;
        if size < 16 { 16 } else { size }
    }
    let need = block(max_record_bytes) + block(max_tag_bytes) + 1024;
    if need < MIN_HEAP_SIZE {
        MIN_HEAP_SIZE
    } else {
        need
    }
}

/// The `WASM_*`, `Function_Name` and `Event_Format` lines of one filter instance, as
/// (key, value) in the order written. Empty for a plugin without `spec.wasm` (validation
/// refuses that for filters).
pub fn wasm_lines(plugin: &FluentBitPlugin) -> Vec<(&'static str, String)> {
    let Some(wasm) = &plugin.spec.wasm else {
        return Vec::new();
    };
    // Validation keeps the sizes in range; clamp rather than wrap if it was skipped.
    let bytes = |v: i64| u64::try_from(v).unwrap_or(0);
    vec![
        ("WASM_Path", super::plugin_file_path(plugin)),
        ("Function_Name", wasm.function_name.clone()),
        ("Event_Format", wasm.event_format().as_str().to_string()),
        (
            "WASM_Heap_Size",
            wasm_heap_size(bytes(wasm.max_record_size), bytes(wasm.max_tag_size())).to_string(),
        ),
        ("WASM_Stack_Size", bytes(wasm.stack_size()).to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_size_rule() {
        assert_eq!(wasm_heap_size(0, 0), 8192);
        assert_eq!(wasm_heap_size(5000, 64), 8192);
        // blk(16384) = ceil(16389/8)*8 = 16392, blk(32) = 40.
        assert_eq!(wasm_heap_size(16_384, 32), 16_392 + 40 + 1024);
        // blk(65536) = 65544, blk(256) = 264.
        assert_eq!(wasm_heap_size(65_536, 256), 66_832);
        // blk(n) never below 16: blk(1) = 16 (not 8).
        assert_eq!(wasm_heap_size(7_200, 1), 7_208 + 16 + 1024);
    }
}
