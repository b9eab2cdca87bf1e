//! The SDK's input glue (producer thread, bounded queue, back pressure, pause, cleanup) driven
//! through the test host exactly as Fluent Bit drives it.

use std::time::{Duration, Instant};

use fluent_bit_plugin_test_host::records::decode_records;
use fluent_bit_plugin_test_host::{
    Collected, Host, HostError, InputInstance, expect_line, isolated_cdylib, live_thread_names,
    malloc_in_use, wait_for_threads,
};

fn host() -> Host {
    Host::load(isolated_cdylib("sdk_probe_input").unwrap()).unwrap()
}

/// Collects until `want` records arrived (or 10 s passed), returning every `seq` in order.
fn collect_seqs(input: &InputInstance, want: usize) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seqs = Vec::new();
    while seqs.len() < want && Instant::now() < deadline {
        let Collected { data, .. } = input.collect().unwrap();
        for record in decode_records(&data).unwrap() {
            let seq = record
                .body
                .as_map()
                .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("seq")))
                .and_then(|(_, v)| v.as_u64())
                .expect("every record has a seq");
            seqs.push(seq);
        }
        if seqs.len() < want {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    seqs
}

/// Collects until a collect returns records, failing after a minute.
fn collect_nonempty(input: &InputInstance) -> Collected {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = input.collect().unwrap();
        if got.records > 0 {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "the producer emitted nothing in 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for a line the producer thread logs. Such lines reach Fluent Bit's log at the next
/// callback on the instance's thread, so this keeps collecting (the records are discarded).
fn wait_for_log(host: &Host, input: &InputInstance, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let _ = input.collect();
        if host.messages().iter().any(|l| l.contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no log line contains {needle:?}: {:#?}", host.messages());
}

#[test]
fn instances_have_their_own_thread_config_and_records() {
    let host = host();
    let a = host
        .input()
        .properties([("label", "A"), ("total", "100")])
        .init()
        .unwrap();
    let b = host
        .input()
        .properties([("label", "B"), ("total", "50")])
        .init()
        .unwrap();
    assert_ne!(a.thread_name(), b.thread_name());
    assert_ne!(a.remote_context(), b.remote_context());
    assert_eq!(collect_seqs(&a, 100), (0..100).collect::<Vec<_>>());
    assert_eq!(collect_seqs(&b, 50), (0..50).collect::<Vec<_>>());
    // Init ran on each instance's own thread, as Fluent Bit runs threaded inputs.
    for (input, name) in [(&a, "sdk_probe_in.0"), (&b, "sdk_probe_in.1")] {
        let init = host
            .logs()
            .into_iter()
            .find(|l| l.message.ends_with(&format!("init instance={name}")))
            .expect("init logged");
        assert_eq!(init.thread, input.thread_name());
    }
    let data = a.collect().unwrap();
    assert_eq!(data.records, 0, "nothing is queued twice");
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn records_are_v2_with_nanosecond_event_time() {
    let host = host();
    let input = host
        .input()
        .properties([("label", "v2"), ("total", "3")])
        .init()
        .unwrap();
    let mut records = Vec::new();
    while records.len() < 3 {
        records.extend(decode_records(&input.collect().unwrap().data).unwrap());
    }
    for record in records {
        assert!(
            matches!(record.timestamp, fluent_bit_plugin_test_host::records::Timestamp::EventTime { secs, .. } if secs > 1_600_000_000),
            "{record:?}"
        );
        assert_eq!(record.body_str("label"), Some("v2"));
        assert_eq!(record.metadata.as_map().map(Vec::len), Some(0));
    }
}

#[test]
fn a_full_queue_holds_the_producer_back_and_loses_nothing() {
    let host = host();
    let input = host
        .input()
        .properties([
            ("label", "bp"),
            ("total", "5000"),
            ("payload_bytes", "200"),
            ("queue_limit", "64K"),
        ])
        .init()
        .unwrap();
    // Without collection the producer fills the queue and waits; the first collect that finds
    // records (the producer may start late on a busy machine) takes at most one queue's worth.
    std::thread::sleep(Duration::from_millis(200));
    let first = collect_nonempty(&input);
    assert!(
        first.records > 0 && first.records < 5000,
        "queue bounded: {}",
        first.records
    );
    assert!(
        first.data.len() < 64 * 1024 + 512,
        "at most one record over the limit: {}",
        first.data.len()
    );
    let mut seqs: Vec<u64> = decode_records(&first.data)
        .unwrap()
        .iter()
        .map(|r| {
            r.body
                .as_map()
                .unwrap()
                .iter()
                .find(|(k, _)| k.as_str() == Some("seq"))
                .unwrap()
                .1
                .as_u64()
                .unwrap()
        })
        .collect();
    seqs.extend(collect_seqs(&input, 5000 - seqs.len()));
    assert_eq!(
        seqs,
        (0..5000).collect::<Vec<_>>(),
        "every record once, in order"
    );
    wait_for_log(&host, &input, "done label=bp emitted=5000 blocked=");
    let logs = host.messages();
    let line = expect_line(&logs, "done label=bp");
    let blocked: u64 = line.rsplit('=').next().unwrap().parse().unwrap();
    assert!(
        blocked > 0,
        "the producer was told the queue was full: {line}"
    );
}

#[test]
fn pause_stops_production_and_resume_continues_it() {
    let host = host();
    let input = host
        .input()
        .properties([("label", "p"), ("total", "1000000"), ("queue_limit", "1M")])
        .init()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    input.pause().unwrap();
    // Drain what was queued before the pause took effect.
    let _ = input.collect().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let during_pause = input.collect().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let still_paused = input.collect().unwrap();
    assert!(
        during_pause.records <= 1 && still_paused.records == 0,
        "nothing produced while paused: {} then {}",
        during_pause.records,
        still_paused.records
    );
    input.resume().unwrap();
    assert!(collect_nonempty(&input).records > 0, "production resumed");
}

#[test]
fn collect_buffers_are_returned_and_reused() {
    let host = host();
    let input = host
        .input()
        .properties([
            ("label", "mem"),
            ("total", "40000"),
            ("payload_bytes", "1000"),
            ("queue_limit", "256K"),
        ])
        .init()
        .unwrap();
    // Warm up until buffers reached their steady size.
    let mut collected = 0;
    while collected < 2000 {
        collected += input.collect().unwrap().records;
    }
    let before = malloc_in_use();
    let mut rounds = 0;
    while collected < 40000 {
        let c = input.collect().unwrap();
        collected += c.records;
        rounds += usize::from(c.records > 0);
        drop(c);
    }
    let after = malloc_in_use();
    eprintln!("{rounds} collects of ~256 KiB: heap {before} -> {after} bytes");
    assert!(rounds > 100, "enough collects to show a leak: {rounds}");
    assert!(
        after < before + 2 * 1024 * 1024,
        "collect buffers leaked: heap grew from {before} to {after} over {rounds} collects"
    );
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn exit_joins_the_producer_thread() {
    let host = host();
    let input = host
        .input()
        .properties([("label", "t"), ("total", "0")])
        .init()
        .unwrap();
    let producer = "fbp-sdk_probe_i"; // "fbp-sdk_probe_in.0" cut to 15 bytes by the kernel
    assert!(
        wait_for_threads(producer, 1, Duration::from_secs(5)),
        "{:?}",
        live_thread_names()
    );
    let started = Instant::now();
    input.exit().unwrap();
    // An idle run() waits 60 s at a time; one not woken by Exit would hold it that long.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "run() was woken at shutdown, Exit took {:?}",
        started.elapsed()
    );
    // A joined thread can stay listed in /proc for a moment after pthread_join returns.
    assert!(
        wait_for_threads(producer, 0, Duration::from_secs(10)),
        "{:?}",
        live_thread_names()
    );
    host.shutdown();
}

#[test]
fn a_panicking_producer_is_contained() {
    let host = host();
    let input = host
        .input()
        .properties([("panic_in_run", "on")])
        .init()
        .unwrap();
    wait_for_log(
        &host,
        &input,
        "input panicked and stopped producing: probe asked to panic in run",
    );
    assert_eq!(input.collect().unwrap().records, 0);
    input.exit().unwrap();
}

/// `log_print` on the producer thread (a thread Fluent Bit does not own) would go straight to
/// stderr and miss `Log_File`; the runtime hands such lines to the input's own Fluent Bit
/// thread at the next collect.
#[test]
fn lines_logged_by_the_producer_thread_reach_fluent_bit_s_log_on_the_input_thread() {
    let host = host();
    let input = host
        .input()
        .properties([("label", "log"), ("total", "10")])
        .init()
        .unwrap();
    assert_eq!(collect_seqs(&input, 10), (0..10).collect::<Vec<_>>());
    wait_for_log(&host, &input, "done label=log emitted=10");
    let line = host
        .logs()
        .into_iter()
        .find(|l| l.message.contains("done label=log emitted=10"))
        .unwrap();
    assert_eq!(line.thread, input.thread_name(), "{line}");
    assert_eq!(
        line.message,
        "[input:sdk_probe_in:sdk_probe_in.0] done label=log emitted=10 blocked=0"
    );
    assert!(host.stderr_logs().is_empty(), "{:?}", host.stderr_logs());
    input.exit().unwrap();
}

#[test]
fn init_failure_names_the_cause() {
    let host = host();
    match host.input().properties([("fail_init", "on")]).init() {
        Err(HostError::InitFailed { logs, .. }) => {
            expect_line(&logs, "init failed: probe asked to fail init");
        }
        Err(other) => panic!("expected InitFailed, got {other}"),
        Ok(_) => panic!("init should fail"),
    }
    match host.input().properties([("total", "many")]).init() {
        Err(HostError::InitFailed { logs, .. }) => {
            expect_line(
                &logs,
                "config key `total`: expected an integer (u64), got `many`",
            );
        }
        Err(other) => panic!("expected InitFailed, got {other}"),
        Ok(_) => panic!("init should fail"),
    }
    // A key Fluent Bit consumes for inputs never reaches the plugin.
    let input = host
        .input()
        .properties([("tag", "my.tag"), ("total", "1")])
        .init()
        .unwrap();
    assert_eq!(input.tag(), "my.tag");
    assert_eq!(input.plugin_property("tag"), None);
}
