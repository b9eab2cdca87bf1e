//! `generator` driven through the test host exactly as Fluent Bit drives it.

use std::time::{Duration, Instant};

use plugin_test_host::records::{Record, decode_records};
use plugin_test_host::{Host, HostError, InputInstance, isolated_cdylib};

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

#[test]
fn bad_config_fails_init_naming_the_key() {
    let host = host();
    for (key, value, want) in [
        (
            "rate",
            "0",
            "config key `rate`: expected records per second between 1 and 1000000",
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
