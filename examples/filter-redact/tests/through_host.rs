//! The redact filter built to `.wasm` and run as Fluent Bit runs it.

use fluent_bit_plugin_sdk::filter::heap_size_for;
use fluent_bit_wasm_filter_test_host::{DropReason, FilterHost, Options, Outcome, build_wasm};
use serde_json::{Value, json};

const T: (u64, u32) = (1_700_000_000, 0);
const FUNCTION: &str = "redact_filter";

fn host(options: Options) -> FilterHost {
    let wasm = build_wasm("filter-redact").unwrap_or_else(|e| panic!("{e}"));
    FilterHost::load(wasm, options).unwrap_or_else(|e| panic!("{e}"))
}

fn modified(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Modified(v) => v,
        other => panic!("expected a modified record, got {other:?}"),
    }
}

#[test]
fn secrets_emails_and_cards_are_redacted_and_field_order_kept() {
    let mut host = host(Options::new(FUNCTION));
    let record = r#"{"msg":"login by ana@example.com","user":{"name":"ana","password":"hunter2"},"card":"4111-1111-1111-1111","status":200}"#;
    let body = modified(host.filter("app.auth", T, record).unwrap());
    assert_eq!(
        body,
        json!({
            "msg": "login by [REDACTED:email]",
            "user": {"name": "ana", "password": "[REDACTED]"},
            "card": "[REDACTED:card]",
            "status": 200,
        })
    );
    assert_eq!(
        host.last_output(),
        br#"{"msg":"login by [REDACTED:email]","user":{"name":"ana","password":"[REDACTED]"},"card":"[REDACTED:card]","status":200}"#
    );
}

#[test]
fn clean_records_pass_byte_for_byte() {
    let mut host = host(Options::new(FUNCTION));
    let record = r#"{"msg":"GET /health 200","latency_ms":3.5,"tags":["a","b"]}"#;
    assert!(matches!(
        host.filter("app", T, record).unwrap(),
        Outcome::Keep(_)
    ));
    assert_eq!(host.last_output(), record.as_bytes());
}

/// A 20 KB access log line with an e-mail address at the end.
fn large_record() -> String {
    let path = "/api/v1/items?page=".to_owned() + &"x".repeat(20_000);
    format!(r#"{{"path":"{path}","contact":"ops@example.org"}}"#)
}

#[test]
fn a_record_over_8_kib_passes_with_the_heap_sized_for_it() {
    let record = large_record();
    let tag = "app.access";
    let heap = heap_size_for(record.len() as u64, tag.len() as u64);
    let mut host = host(Options::new(FUNCTION).heap_size(heap));
    let body = modified(host.filter(tag, T, &record).unwrap());
    assert_eq!(body["contact"], "[REDACTED:email]");
    assert_eq!(body["path"].as_str().map(str::len), Some(20_019));
}

#[test]
fn the_same_record_with_the_default_heap_is_dropped_as_in_fluent_bit() {
    let mut host = host(Options::new(FUNCTION));
    // The record does not fit in the 8 KiB app heap: the filter gets pointer 0, and drops.
    assert_eq!(
        host.filter("app.access", T, &large_record()).unwrap(),
        Outcome::Dropped(DropReason::EmptyString)
    );
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.calls, stats.input_missing, stats.panics), (1, 1, 0));
    // Records that fit still pass.
    assert!(matches!(
        host.filter("app", T, r#"{"a":1}"#).unwrap(),
        Outcome::Keep(_)
    ));
}

#[test]
fn repeated_calls_do_not_grow_memory() {
    let record = large_record();
    let mut host = host(Options::new(FUNCTION).heap_size(heap_size_for(record.len() as u64, 16)));
    let small = r#"{"msg":"card 5500 0000 0000 0004 by bob@ex.io","token":"abc"}"#;
    for _ in 0..20 {
        host.filter("app", T, &record).unwrap();
        host.filter("app", T, small).unwrap();
    }
    let pages = host.memory_pages();
    // Each call allocates a parsed record (~20 KB for the large one) and a result: any of it
    // kept per call would grow memory by pages within this loop.
    for _ in 0..500 {
        modified(host.filter("app", T, &record).unwrap());
        modified(host.filter("app", T, small).unwrap());
    }
    assert_eq!(
        host.memory_pages(),
        pages,
        "memory grew over repeated calls"
    );
    assert_eq!(host.app_heap_in_use(), Some(0));
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.calls, stats.modified), (1040, 1040));
}

#[test]
fn malformed_input_is_dropped_and_counted() {
    let mut host = host(Options::new(FUNCTION));
    for record in [&b"{\"a\":"[..], b"[]", b"\xff"] {
        assert_eq!(
            host.filter_bytes(b"app", T, record).unwrap(),
            Outcome::Dropped(DropReason::EmptyString)
        );
    }
    assert_eq!(
        host.filter_bytes(b"\xc3\x28", T, b"{}").unwrap(),
        Outcome::Dropped(DropReason::EmptyString)
    );
    let stats = host.stats().unwrap().unwrap();
    assert_eq!((stats.malformed, stats.panics), (4, 0));
    assert!(matches!(
        host.filter("app", T, "{}").unwrap(),
        Outcome::Keep(_)
    ));
}
