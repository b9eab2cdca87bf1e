//! The SDK's filter runtime, driven through the host as Fluent Bit drives it: results,
//! counters, panics, pointer 0, malformed input, the msgpack format, memory.

use fluent_bit_wasm_filter_test_host::{
    DropReason, EventFormat, FilterHost, Options, Outcome, build_wasm,
};
use serde_json::json;

const T: (u64, u32) = (1_700_000_000, 5);

fn probe(function: &str) -> FilterHost {
    probe_with(Options::new(function))
}

fn probe_with(options: Options) -> FilterHost {
    let wasm = build_wasm("wasm-filter-probe").unwrap_or_else(|e| panic!("{e}"));
    FilterHost::load(wasm, options).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn keep_returns_the_record_unchanged_and_is_counted() {
    let mut host = probe("probe_keep");
    let record = r#"{"b":1,"a":"x","nested":{"z":[1,2,{"y":null}]}}"#;
    assert_eq!(
        host.filter("app", T, record).unwrap(),
        Outcome::Keep(serde_json::from_str(record).unwrap())
    );
    // Keep hands back the input text byte for byte.
    assert_eq!(host.last_output(), record.as_bytes());
    let stats = host
        .stats()
        .unwrap()
        .expect("plugin-runtime modules export stats");
    assert_eq!((stats.calls, stats.kept), (1, 1));
    assert_eq!(
        host.app_heap_in_use(),
        Some(0),
        "the host freed both copies"
    );
}

#[test]
fn modified_records_keep_field_order_and_see_tag_and_time() {
    let mut host = probe("probe_panicky");
    let outcome = host.filter("app.web", T, r#"{"z":1,"a":2}"#).unwrap();
    assert_eq!(
        outcome,
        Outcome::Modified(json!({"z": 1, "a": 2, "tag": "app.web", "sec": 1_700_000_000}))
    );
    assert_eq!(
        host.last_output(),
        br#"{"z":1,"a":2,"tag":"app.web","sec":1700000000}"#
    );
    // Fluent Bit passes the seconds as 32 bits.
    let later = host
        .filter("t", (u64::from(u32::MAX) + 10, 0), "{}")
        .unwrap();
    assert_eq!(later, Outcome::Modified(json!({"tag": "t", "sec": 9})));
}

#[test]
fn drop_returns_the_empty_string_in_json_format() {
    let mut host = probe("probe_panicky");
    assert_eq!(
        host.filter("app", T, r#"{"drop":true}"#).unwrap(),
        Outcome::Dropped(DropReason::EmptyString)
    );
    assert_eq!(host.stats().unwrap().unwrap().dropped, 1);
}

#[test]
fn a_panic_drops_the_record_is_counted_and_the_next_call_works() {
    let mut host = probe("probe_panicky");
    let outcome = host.filter("app.pay", T, r#"{"panic":true}"#).unwrap();
    assert!(
        matches!(outcome, Outcome::Dropped(DropReason::Trap(_))),
        "{outcome:?}"
    );
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.calls, stats.panics), (1, 1));
    assert!(
        stats.last_panic.contains("probe asked to panic on app.pay"),
        "{:?}",
        stats.last_panic
    );
    assert_eq!(
        host.filter("app", T, r#"{"ok":1}"#).unwrap(),
        Outcome::Modified(json!({"ok": 1, "tag": "app", "sec": 1_700_000_000}))
    );
    let again = host.filter("app", T, r#"{"panic":true}"#).unwrap();
    assert!(
        matches!(again, Outcome::Dropped(DropReason::Trap(_))),
        "{again:?}"
    );
    assert_eq!(host.stats().unwrap().unwrap().panics, 2);
}

#[test]
fn repeated_panics_leak_neither_memory_nor_stack() {
    let fields: Vec<String> = (0..150)
        .map(|i| format!(r#""field{i}":"value {i}""#))
        .collect();
    let record = format!(r#"{{"panic":true,{}}}"#, fields.join(","));
    let mut host = probe_with(Options::new("probe_panicky").heap_size(16_384));
    host.filter("app", T, "{}").unwrap();
    let clean_stack = host.stack_pointer().unwrap();
    for _ in 0..10 {
        host.filter("app", T, &record).unwrap();
    }
    let pages = host.memory_pages();
    // A leaked record would be several KiB of maps and strings each time (MiBs over the
    // loop), and a leaked stack 720 bytes each: 1500 traps would exhaust the 1 MiB stack.
    for _ in 0..1500 {
        let outcome = host.filter("app", T, &record).unwrap();
        assert!(
            matches!(outcome, Outcome::Dropped(DropReason::Trap(_))),
            "{outcome:?}"
        );
    }
    // The one leak left is std's: it formats a panic message into a String before the hook
    // runs, and the abort never frees it (~100 bytes a panic, 1500 of them ~2 pages). A leaked
    // record would be ~15 KiB a panic, over 300 pages here.
    let grown = host.memory_pages() - pages;
    assert!(grown <= 3, "memory grew by {grown} pages over 1500 panics");
    assert!(matches!(
        host.filter("app", T, "{}").unwrap(),
        Outcome::Modified(_)
    ));
    assert_eq!(host.stack_pointer(), Some(clean_stack));
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.panics, stats.stack_reclaims), (1510, 1510));
}

#[test]
fn a_record_the_heap_cannot_hold_arrives_as_pointer_0_and_is_dropped_and_counted() {
    let mut host = probe("probe_keep");
    let record = format!(r#"{{"msg":"{}"}}"#, "x".repeat(8200));
    assert_eq!(
        host.filter("app", T, &record).unwrap(),
        Outcome::Dropped(DropReason::EmptyString)
    );
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.calls, stats.input_missing), (1, 1));
}

#[test]
fn malformed_input_is_dropped_and_counted_never_trapping() {
    let mut host = probe("probe_keep");
    for (tag, record) in [
        (&b"app"[..], &b"not json"[..]),
        (b"app", b"[1,2,3]"),
        (b"app", b"{\"a\":"),
        (b"\xff\xfe", b"{}"),
    ] {
        assert_eq!(
            host.filter_bytes(tag, T, record).unwrap(),
            Outcome::Dropped(DropReason::EmptyString),
            "{record:?}"
        );
    }
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.malformed, stats.panics), (4, 0));
}

#[test]
fn a_missing_function_drops_every_record() {
    let mut host = probe("no_such_filter");
    assert_eq!(
        host.filter("app", T, "{}").unwrap(),
        Outcome::Dropped(DropReason::FunctionNotFound)
    );
}

#[test]
fn msgpack_results_without_zero_bytes_pass() {
    let mut host = probe_with(Options::new("probe_mark_mp").event_format(EventFormat::Msgpack));
    assert_eq!(
        host.filter("app", T, r#"{"msg":"hello","level":"info"}"#)
            .unwrap(),
        Outcome::Modified(json!({"msg": "hello", "level": "info", "seen": "yes"}))
    );
}

#[test]
fn msgpack_results_with_a_zero_byte_are_refused_not_truncated() {
    let mut host = probe_with(Options::new("probe_mark_mp").event_format(EventFormat::Msgpack));
    // The integer 0 encodes as 0x00: Fluent Bit would cut the result there.
    let outcome = host.filter("app", T, r#"{"count":0,"msg":"x"}"#).unwrap();
    assert!(
        matches!(outcome, Outcome::Dropped(DropReason::Trap(_))),
        "{outcome:?}"
    );
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.zero_byte, stats.modified), (1, 0));
    // A drop in msgpack format traps too, counted as a drop, not a panic.
    let mut host = probe_with(Options::new("probe_panicky_mp").event_format(EventFormat::Msgpack));
    let outcome = host.filter("app", T, r#"{"drop":true}"#).unwrap();
    assert!(
        matches!(outcome, Outcome::Dropped(DropReason::Trap(_))),
        "{outcome:?}"
    );
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.dropped, stats.panics), (1, 0));
}

#[test]
fn a_mismatched_event_format_drops_cleanly_instead_of_corrupting() {
    // Exported for JSON, configured as msgpack: the empty string would become an empty
    // (corrupt) msgpack body, so the runtime drops the msgpack way, by trapping.
    let mut host = probe_with(Options::new("probe_keep").event_format(EventFormat::Msgpack));
    let outcome = host.filter("app", T, r#"{"count":0}"#).unwrap();
    assert!(
        matches!(outcome, Outcome::Dropped(DropReason::Trap(_))),
        "{outcome:?}"
    );
    assert_eq!(host.stats().unwrap().unwrap().wrong_format, 1);
    // Exported for msgpack, configured as JSON: dropped with the empty string.
    let mut host = probe_with(Options::new("probe_mark_mp"));
    assert_eq!(
        host.filter("app", T, r#"{"msg":"x"}"#).unwrap(),
        Outcome::Dropped(DropReason::EmptyString)
    );
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.wrong_format, stats.malformed), (1, 0));
}

#[test]
fn the_app_heap_sits_at_heap_base_with_the_configured_size() {
    let host = probe_with(Options::new("probe_keep").heap_size(100_000));
    let (base, size) = host.app_heap().expect("Rust modules export no malloc");
    assert_eq!(size, (100_000 - 4) & !7);
    assert!(u64::from(base) + u64::from(size) <= host.memory_pages() * 65536);
    let small = probe_with(Options::new("probe_keep").heap_size(1000));
    assert_eq!(
        small.app_heap().unwrap().1,
        8184,
        "below 8192 means 8192 (8184 usable), as in Fluent Bit"
    );
}

#[test]
fn the_stack_a_trap_leaves_behind_is_taken_back_by_the_next_call() {
    let mut host = probe("probe_panicky");
    host.filter("app", T, "{}").unwrap();
    let clean = host
        .stack_pointer()
        .expect("the probe exports __stack_pointer");
    host.filter("app", T, r#"{"panic":true}"#).unwrap();
    // The trap skipped every epilogue: the stack pointer stays lowered.
    assert!(host.stack_pointer().unwrap() < clean);
    host.filter("app", T, "{}").unwrap();
    assert_eq!(host.stack_pointer().unwrap(), clean);
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.panics, stats.stack_reclaims), (1, 1));
}

#[test]
fn the_default_heap_holds_json_up_to_8163_bytes_with_a_short_tag() {
    // 8192 - 4 padding = 8184 bytes of pool; "app\0" takes the smallest block (16); the
    // record's block is its text + NUL + 4-byte header, rounded to 8: at most 8168.
    let record = |len: usize| format!(r#"{{"msg":"{}"}}"#, "x".repeat(len - 10));
    let mut host = probe("probe_keep");
    assert!(matches!(
        host.filter("app", T, &record(8163)).unwrap(),
        Outcome::Keep(_)
    ));
    assert_eq!(
        host.filter("app", T, &record(8164)).unwrap(),
        Outcome::Dropped(DropReason::EmptyString)
    );
    // heap_size_for covers any record and tag it is given.
    for len in [8164, 20_000, 100_000] {
        let heap = fluent_bit_plugin_sdk::filter::heap_size_for(len as u64, 3);
        let mut host = probe_with(Options::new("probe_keep").heap_size(heap));
        assert!(
            matches!(
                host.filter("app", T, &record(len)).unwrap(),
                Outcome::Keep(_)
            ),
            "{len}"
        );
    }
}
