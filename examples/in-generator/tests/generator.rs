//! `generator` driven through the test host exactly as Fluent Bit drives it.

use std::time::{Duration, Instant};

use fluent_bit_plugin_test_host::records::{Record, decode_records};
use fluent_bit_plugin_test_host::{Host, HostError, InputInstance, expect_line, isolated_cdylib};

fn host() -> Host {
    Host::load(isolated_cdylib("in_generator").unwrap()).unwrap()
}

fn collect_for(input: &InputInstance, duration: Duration) -> Vec<Record> {
    let end = Instant::now() + duration;
    let mut out = Vec::new();
    while Instant::now() < end {
        out.extend(decode_records(&input.collect().unwrap().data).unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    out.extend(decode_records(&input.collect().unwrap().data).unwrap());
    out
}

fn seq(record: &Record) -> u64 {
    record
        .body
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("seq")))
        .and_then(|(_, v)| v.as_u64())
        .expect("seq")
}

#[test]
fn two_instances_emit_their_own_records() {
    let host = host();
    let a = host
        .input()
        .properties([
            ("message", "from a"),
            ("fields", "team=logs, env=dev"),
            ("rate", "100"),
            ("count", "20"),
        ])
        .init()
        .unwrap();
    let b = host
        .input()
        .properties([("message", "from b"), ("rate", "100"), ("count", "10")])
        .init()
        .unwrap();
    let ra = collect_for(&a, Duration::from_millis(600));
    let rb = collect_for(&b, Duration::from_millis(300));
    assert_eq!(
        ra.iter().map(seq).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(
        rb.iter().map(seq).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert!(ra.iter().all(|r| r.body_str("message") == Some("from a")
        && r.body_str("team") == Some("logs")
        && r.body_str("env") == Some("dev")));
    assert!(
        rb.iter()
            .all(|r| r.body_str("message") == Some("from b") && r.body_str("team").is_none())
    );
}

#[test]
fn emits_at_the_configured_rate() {
    let host = host();
    let input = host.input().property("rate", "200").init().unwrap();
    let records = collect_for(&input, Duration::from_millis(1000));
    // Generous bounds: CI machines are busy, but an order-of-magnitude error would show.
    assert!(
        (100..=300).contains(&records.len()),
        "{} records in 1 s at rate 200",
        records.len()
    );
}

#[test]
fn back_pressure_holds_the_generator_back_without_losing_records() {
    let host = host();
    let input = host
        .input()
        .properties([
            ("rate", "50000"),
            ("count", "3000"),
            ("queue_size", "1K"),
            (
                "fields",
                "pad=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            ),
        ])
        .init()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let records = collect_for(&input, Duration::from_millis(2500));
    assert_eq!(
        records.iter().map(seq).collect::<Vec<_>>(),
        (0..3000).collect::<Vec<_>>()
    );
    let held_back = input
        .metric(
            "fluentbit_plugin_generator_backpressure_total",
            &["generator.0"],
        )
        .unwrap_or(0.0);
    assert!(
        held_back > 0.0,
        "a 1 KiB queue at 50000 records/s must push back"
    );
    assert_eq!(
        input.metric("fluentbit_plugin_generator_records_total", &["generator.0"]),
        Some(3000.0)
    );
}

/// The number at the start of the runtime's "N record(s) (B bytes) ... not delivered" line.
fn undelivered(line: &str) -> u64 {
    line.split("] ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no record count in {line:?}"))
}

/// Fluent Bit 5.1.1 pauses an input when it shuts down or reloads and exits it without
/// collecting again (flb_engine.c); the host follows that order. What was queued after the last
/// collect cannot be delivered: the runtime must say exactly how much, and nothing may blame
/// back pressure.
#[test]
fn shutdown_reports_exactly_what_fluent_bit_never_collected() {
    let host = host();
    let input = host.input().property("rate", "1000").init().unwrap();
    let collected = collect_for(&input, Duration::from_millis(300));
    assert_eq!(
        collected.iter().map(seq).collect::<Vec<_>>(),
        (0..collected.len() as u64).collect::<Vec<_>>()
    );
    // Let the producer queue some records after the last collect.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let queued = input
            .metric("fluentbit_plugin_generator_records_total", &["generator.0"])
            .unwrap_or(0.0) as usize;
        if queued > collected.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the generator queued nothing within 10 s after the last collect ({queued} in all)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Pause (the collector stops for good), PreExit, Exit.
    input.exit().unwrap();
    let logs = host.messages();
    let stopped = expect_line(&logs, "stopped after queuing ");
    let queued: u64 = stopped
        .rsplit("queuing ")
        .next()
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let lost = undelivered(expect_line(
        &logs,
        "queued after Fluent Bit's last collect were not delivered",
    ));
    assert!(lost > 0, "records were queued after the last collect");
    assert_eq!(
        collected.len() as u64 + lost,
        queued,
        "collected + reported undelivered = queued: {logs:#?}"
    );
    assert!(
        logs.iter()
            .all(|l| !l.contains("back pressure") && !l.contains("held back")),
        "a shutdown is not back pressure: {logs:#?}"
    );
}

/// The number after `prefix` in the first line containing it.
fn number_after(logs: &[String], prefix: &str) -> u64 {
    let line = expect_line(logs, prefix);
    line.split(prefix)
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {prefix:?} in {line:?}"))
}

/// A hot reload keeps the library loaded (same dlopen handle), so what the old instance queued
/// after its last collect is handed to the reloaded configuration's instance of the same name,
/// whose first collect delivers it: nothing is lost across a reload.
#[test]
fn a_hot_reload_hands_undelivered_records_to_the_reloaded_instance() {
    let mut host = host();
    let old = host.input().property("rate", "1000").init().unwrap();
    let collected = collect_for(&old, Duration::from_millis(300));
    let deadline = Instant::now() + Duration::from_secs(10);
    while old
        .metric("fluentbit_plugin_generator_records_total", &["generator.0"])
        .unwrap_or(0.0) as usize
        <= collected.len()
    {
        assert!(
            Instant::now() < deadline,
            "the generator queued nothing within 10 s after the last collect"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Pause, PreExit(1), Exit of the old pipeline; then the new one starts.
    host.reload().unwrap();
    drop(old);
    let logs = host.messages();
    let queued = number_after(&logs, "stopped after queuing ");
    let handed = number_after(&logs, "hot reload: ");
    assert!(handed > 0);
    assert_eq!(collected.len() as u64 + handed, queued, "{logs:#?}");

    let new = host.input().property("rate", "1000").init().unwrap();
    let logs = host.messages();
    assert_eq!(number_after(&logs, "took over "), handed, "{logs:#?}");
    let first = decode_records(&new.collect().unwrap().data).unwrap();
    let carried: Vec<u64> = first.iter().take(handed as usize).map(seq).collect();
    assert_eq!(
        carried,
        (collected.len() as u64..queued).collect::<Vec<_>>(),
        "the first collect after the reload starts with the old instance's records"
    );
    assert!(
        logs.iter().all(|l| !l.contains("not delivered")),
        "{logs:#?}"
    );
    assert!(host.violations().is_empty(), "{:?}", host.violations());
    drop(new);
    host.shutdown();
}

#[test]
fn bad_config_fails_init_naming_the_key() {
    let host = host();
    for (key, value, want) in [
        (
            "rate",
            "0",
            "config key `rate`: expected records per second between 1 and 10000000",
        ),
        (
            "fields",
            "novalue",
            "config key `fields`: expected comma-separated key=value pairs",
        ),
        (
            "count",
            "-1",
            "config key `count`: expected an integer (u64), got `-1`",
        ),
    ] {
        match host.input().property(key, value).init() {
            Err(HostError::InitFailed { logs, .. }) => {
                assert!(
                    logs.iter().any(|l| l.contains(want)),
                    "{key}={value}: {logs:#?}"
                )
            }
            Err(other) => panic!("{key}: {other}"),
            Ok(_) => panic!("{key}={value} should fail"),
        }
    }
}
