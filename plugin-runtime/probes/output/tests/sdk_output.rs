//! The SDK's output glue, driven through the test host exactly as Fluent Bit drives it.

use fluent_bit_plugin_test_host::records::{Timestamp, push_group_marker, push_legacy, push_v2};
use std::time::Duration;

use fluent_bit_plugin_test_host::{
    DefSize, FlushCode, Host, HostError, expect_line, isolated_cdylib, live_thread_names,
    wait_for_threads,
};

fn host() -> Host {
    Host::load(isolated_cdylib("sdk_probe_output").unwrap()).unwrap()
}

fn chunk(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        push_v2(
            &mut out,
            Timestamp::EventTime {
                secs: 1_700_000_000,
                nanos: i as u32,
            },
            &[],
            &[("message", "hello".into()), ("i", (i as u64).into())],
        );
    }
    out
}

#[test]
fn each_instance_keeps_its_own_config_and_log_prefix() {
    let host = host();
    let a = host.output().property("label", "A").init().unwrap();
    let b = host.output().property("LABEL", "B").init().unwrap();
    assert_ne!(a.remote_context(), b.remote_context());
    assert_eq!(a.flush("t.a", &chunk(1)).unwrap().code, FlushCode::Ok);
    assert_eq!(b.flush("t.b", &chunk(2)).unwrap().code, FlushCode::Ok);
    let logs = host.messages();
    expect_line(
        &logs,
        "[output:sdk_probe_out:sdk_probe_out.0] flush label=A tag=t.a records=1",
    );
    expect_line(
        &logs,
        "[output:sdk_probe_out:sdk_probe_out.1] flush label=B tag=t.b records=2",
    );
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

/// Fluent Bit names an instance by its alias, else `<plugin>.<id>` with `id` counting every
/// `[OUTPUT]` section (`flb_output.c`); log prefixes and the metrics' `name` label follow it.
#[test]
fn log_prefix_and_metrics_use_fluent_bit_s_own_instance_name() {
    let host = host();
    // Third [OUTPUT] of a config whose first two are other plugins (say stdout and null).
    let numbered = host.output().instance_id(2).init().unwrap();
    let aliased = host
        .output()
        .property("Alias", "to_archive")
        .instance_id(3)
        .init()
        .unwrap();
    assert_eq!(numbered.display_name(), "sdk_probe_out.2");
    assert_eq!(aliased.display_name(), "to_archive");
    assert_eq!(numbered.flush("t", &chunk(1)).unwrap().code, FlushCode::Ok);
    assert_eq!(aliased.flush("t", &chunk(2)).unwrap().code, FlushCode::Ok);
    let logs = host.messages();
    expect_line(
        &logs,
        "[output:sdk_probe_out:sdk_probe_out.2] init instance=sdk_probe_out.2",
    );
    expect_line(
        &logs,
        "[output:sdk_probe_out:to_archive] init instance=to_archive",
    );
    expect_line(
        &logs,
        "[output:sdk_probe_out:to_archive] flush label= tag=t records=2",
    );
    assert_eq!(
        numbered.metric("fluentbit_plugin_probe_records_total", &["sdk_probe_out.2"]),
        Some(1.0)
    );
    assert_eq!(
        aliased.metric("fluentbit_plugin_probe_records_total", &["to_archive"]),
        Some(2.0)
    );
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn both_record_shapes_every_timestamp_kind_and_group_markers() {
    let host = host();
    let out = host.output().init().unwrap();
    let mut data = Vec::new();
    push_group_marker(
        &mut data,
        true,
        &[("group", "g1".into())],
        &[("resource", "r".into())],
    );
    push_v2(
        &mut data,
        Timestamp::EventTime {
            secs: 1_700_000_000,
            nanos: 123_456_789,
        },
        &[("otel", "yes".into())],
        &[("message", "v2 ext".into())],
    );
    push_legacy(
        &mut data,
        Timestamp::Int(1_700_000_001),
        &[("message", "legacy int".into())],
    );
    push_legacy(
        &mut data,
        Timestamp::Float(1_700_000_002.5),
        &[("message", "legacy float".into())],
    );
    push_v2(
        &mut data,
        Timestamp::Int(1_700_000_003),
        &[],
        &[("message", "v2 int".into())],
    );
    push_group_marker(&mut data, false, &[], &[]);
    assert_eq!(out.flush("mixed", &data).unwrap().code, FlushCode::Ok);
    let logs = host.messages();
    let line = expect_line(&logs, "flush label= tag=mixed");
    assert!(line.contains("records=4 v2=2 legacy=2"), "{line}");
    assert!(
        line.contains(
            "times=[1700000000.123456789,1700000001.000000000,1700000002.500000000,1700000003.000000000]"
        ),
        "{line}"
    );
    assert!(
        line.contains(r#"first={"metadata":{"otel":"yes"},"body":{"message":"v2 ext"}}"#),
        "{line}"
    );
}

#[test]
fn flush_results_map_to_fluent_bit_codes() {
    let host = host();
    for (result, code) in [
        ("ok", FlushCode::Ok),
        ("retry", FlushCode::Retry),
        ("error", FlushCode::Error),
    ] {
        let out = host.output().property("result", result).init().unwrap();
        let report = out.flush("t", &chunk(1)).unwrap();
        assert_eq!(report.code, code, "result={result}");
        assert_eq!(
            report.raw,
            match code {
                FlushCode::Ok => 1,
                FlushCode::Retry => 2,
                FlushCode::Error => 0,
            }
        );
    }
    let logs = host.messages();
    expect_line(&logs, "flush failed, will retry: probe asked to retry");
    expect_line(&logs, "flush failed, chunk dropped: probe asked to fail");
}

#[test]
fn a_panic_in_flush_fails_that_chunk_and_nothing_else() {
    let host = host();
    let panicking = host.output().property("result", "panic").init().unwrap();
    let healthy = host.output().property("label", "ok").init().unwrap();
    for _ in 0..3 {
        assert_eq!(
            panicking.flush("t", &chunk(1)).unwrap().code,
            FlushCode::Error
        );
        assert_eq!(healthy.flush("t", &chunk(1)).unwrap().code, FlushCode::Ok);
    }
    let logs = host.messages();
    expect_line(
        &logs,
        "flush panicked: probe asked to panic in flush; chunk dropped",
    );
    panicking.exit().unwrap();
    healthy.exit().unwrap();
    expect_line(&host.messages(), "exit label=ok");
}

#[test]
fn malformed_chunks_are_dropped_with_the_reason() {
    let host = host();
    let out = host.output().init().unwrap();
    let mut truncated = chunk(2);
    truncated.truncate(truncated.len() - 3);
    for bad in [&b"\xc1garbage"[..], &truncated, &[0x92, 0x01][..]] {
        assert_eq!(out.flush("t", bad).unwrap().code, FlushCode::Error);
    }
    let logs = host.messages();
    let line = expect_line(&logs, "flush failed, chunk dropped:");
    assert!(
        line.contains("record 0"),
        "the error locates the record: {line}"
    );
}

fn init_failure(host: &Host, props: &[(&str, &str)]) -> Vec<String> {
    match host.output().properties(props.iter().copied()).init() {
        Err(HostError::InitFailed { code, logs, .. }) => {
            assert_eq!(code, 0, "FLB_ERROR");
            logs
        }
        Err(other) => panic!("expected InitFailed, got {other}"),
        Ok(_) => panic!("init succeeded with {props:?}"),
    }
}

#[test]
fn init_failures_name_the_cause() {
    let host = host();
    let logs = init_failure(&host, &[("fail_init", "on")]);
    expect_line(&logs, "init failed: probe asked to fail init");
    let logs = init_failure(&host, &[("panic_init", "yes")]);
    expect_line(
        &logs,
        "init panicked: probe asked to panic in init; the instance was not started",
    );
    let logs = init_failure(&host, &[("sleep_ms", "soon")]);
    expect_line(
        &logs,
        "init failed: config key `sleep_ms`: expected an integer (u64), got `soon`",
    );
    // The host keeps working after failed inits.
    let out = host.output().init().unwrap();
    assert_eq!(out.flush("t", &chunk(1)).unwrap().code, FlushCode::Ok);
}

#[test]
fn reading_a_key_fluent_bit_consumes_fails_init() {
    let host = host();
    let logs = init_failure(&host, &[("read_key", "Host"), ("host", "example.com")]);
    expect_line(&logs, "config key `Host` is consumed by Fluent Bit");
    let logs = init_failure(&host, &[("read_key", "workers")]);
    expect_line(&logs, "config key `workers` is consumed by Fluent Bit");
    // An ordinary key reads normally, quotes from classic config removed.
    let out = host
        .output()
        .properties([("read_key", "endpoint"), ("endpoint", "\"http://x\"")])
        .init()
        .unwrap();
    drop(out);
    expect_line(&host.messages(), r#"read_key endpoint=Some("http://x")"#);
}

#[test]
fn workers_flush_concurrently_and_every_record_is_counted() {
    let host = host();
    let out = host
        .output()
        .properties([("workers", "4"), ("sleep_ms", "50"), ("label", "w")])
        .init()
        .unwrap();
    let data = chunk(10);
    let chunks: Vec<(&str, &[u8])> = (0..8).map(|_| ("t", data.as_slice())).collect();
    let reports = out.flush_concurrent(&chunks).unwrap();
    assert!(reports.iter().all(|r| r.code == FlushCode::Ok));
    assert_eq!(
        out.metric("fluentbit_plugin_probe_records_total", &["sdk_probe_out.0"]),
        Some(80.0)
    );
    out.exit().unwrap();
    let logs = host.messages();
    let exit = expect_line(&logs, "exit label=w max_in_flight=");
    let max: usize = exit.rsplit('=').next().unwrap().parse().unwrap();
    assert!(max >= 2, "flushes overlapped with workers=4: {exit}");
}

#[test]
fn flush_fits_well_inside_the_coroutine_stack() {
    let host = host();
    let out = host.output().init().unwrap();
    let report = out.flush("t", &chunk(200)).unwrap();
    assert_eq!(report.code, FlushCode::Ok);
    eprintln!("flush stack high-water mark: {} bytes", report.stack_used);
    assert!(
        report.stack_used < 24 * 1024,
        "used {} bytes of 64 KiB",
        report.stack_used
    );
}

#[test]
fn threads_started_in_init_are_joined_before_exit_returns() {
    let host = host();
    let out = host
        .output()
        .property("background_thread", "on")
        .init()
        .unwrap();
    assert!(
        wait_for_threads("probe-bg", 1, Duration::from_secs(5)),
        "{:?}",
        live_thread_names()
    );
    out.exit().unwrap();
    // Exit returned, so the thread was joined; the kernel may still list it in /proc for a
    // moment after pthread_join returns, a thread left running would stay listed.
    assert!(
        wait_for_threads("probe-bg", 0, Duration::from_secs(10)),
        "{:?}",
        live_thread_names()
    );
    host.shutdown();
}

#[test]
fn hot_reload_exits_old_instances_and_starts_new_ones() {
    let mut host = host();
    let old = host.output().property("label", "old").init().unwrap();
    assert_eq!(old.flush("t", &chunk(1)).unwrap().code, FlushCode::Ok);
    host.reload().unwrap();
    let new = host.output().property("label", "new").init().unwrap();
    assert_eq!(new.flush("t", &chunk(1)).unwrap().code, FlushCode::Ok);
    let logs = host.messages();
    expect_line(&logs, "exit label=old");
    // Instance numbering restarts with the new configuration generation.
    expect_line(
        &logs,
        "[output:sdk_probe_out:sdk_probe_out.0] flush label=new",
    );
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn registers_on_hosts_with_smaller_definition_blocks() {
    for size in [DefSize::V4_2, DefSize::V5_0, DefSize::V5_1_1] {
        let host = Host::builder(isolated_cdylib("sdk_probe_output").unwrap())
            .def_size(size)
            .load()
            .unwrap();
        assert_eq!(host.plugin_name(), "sdk_probe_out");
        assert_eq!(host.description(), "SDK test probe (output)");
        let out = host.output().init().unwrap();
        assert_eq!(out.flush("t", &chunk(1)).unwrap().code, FlushCode::Ok);
        assert!(
            host.violations().is_empty(),
            "{size:?}: {:?}",
            host.violations()
        );
    }
}

#[test]
fn an_instance_log_level_filters_its_messages() {
    let host = host();
    let quiet = host
        .output()
        .properties([
            ("label", "quiet"),
            ("log_level", "error"),
            ("result", "retry"),
        ])
        .init()
        .unwrap();
    assert_eq!(quiet.flush("t", &chunk(1)).unwrap().code, FlushCode::Retry);
    let logs = host.messages();
    assert!(
        !logs.iter().any(|l| l.contains("flush label=quiet")),
        "{logs:#?}"
    );
    assert!(
        !logs.iter().any(|l| l.contains("will retry")),
        "warn is below error: {logs:#?}"
    );
}

#[test]
fn heavy_work_runs_off_the_coroutine_stack() {
    let host = host();
    let out = host.output().property("deep_work", "on").init().unwrap();
    let report = out.flush("t", &chunk(1)).unwrap();
    assert_eq!(report.code, FlushCode::Ok);
    assert!(
        report.stack_used < 32 * 1024,
        "used {} bytes",
        report.stack_used
    );
    expect_line(&host.messages(), "deep_work depth=2000");
}

#[test]
fn a_huge_record_is_decoded_without_trouble() {
    let host = host();
    let out = host.output().property("label", "big").init().unwrap();
    let mut data = Vec::new();
    let payload = "x".repeat(8 << 20);
    push_v2(
        &mut data,
        Timestamp::Int(1_700_000_000),
        &[],
        &[("payload", payload.as_str().into())],
    );
    data.extend_from_slice(&chunk(1));
    let report = out.flush("t", &data).unwrap();
    assert_eq!(report.code, FlushCode::Ok);
    expect_line(&host.messages(), "flush label=big tag=t records=2");
}
