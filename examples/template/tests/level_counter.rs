//! The template plugin driven through the test host exactly as Fluent Bit drives it.

use fluent_bit_plugin_test_host::records::{Timestamp, push_legacy, push_v2};
use fluent_bit_plugin_test_host::{FlushCode, Host, HostError, expect_line, isolated_cdylib};

fn chunk(levels: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, level) in levels.iter().enumerate() {
        let body = [("level", (*level).into()), ("n", (i as u64).into())];
        if i % 2 == 0 {
            push_v2(&mut out, Timestamp::Int(1_700_000_000), &[], &body);
        } else {
            push_legacy(&mut out, Timestamp::Int(1_700_000_000), &body);
        }
    }
    out
}

#[test]
fn each_instance_counts_its_own_level() {
    let host = Host::load(isolated_cdylib("plugin_template").unwrap()).unwrap();
    let errors = host.output().init().unwrap();
    let warnings = host
        .output()
        .property("level", "warn")
        .property("workers", "2")
        .init()
        .unwrap();
    let data = chunk(&["error", "warn", "info", "error", "warn", "warn"]);
    for out in [&errors, &warnings] {
        assert_eq!(out.flush("app", &data).unwrap().code, FlushCode::Ok);
        assert_eq!(out.flush("app", &data).unwrap().code, FlushCode::Ok);
    }
    let messages = host.messages();
    expect_line(&messages, "counting records with level=error");
    expect_line(&messages, "counting records with level=warn");
    let metric = "fluentbit_plugin_matched_total";
    assert_eq!(errors.metric(metric, &["level_counter.0"]), Some(4.0));
    assert_eq!(warnings.metric(metric, &["level_counter.1"]), Some(6.0));
    errors.exit().unwrap();
    warnings.exit().unwrap();
    assert_eq!(host.violations(), Vec::<String>::new());
}

#[test]
fn malformed_chunk_is_dropped_not_retried() {
    let host = Host::load(isolated_cdylib("plugin_template").unwrap()).unwrap();
    let out = host.output().init().unwrap();
    let mut data = chunk(&["error"]);
    data.truncate(data.len() - 3);
    assert_eq!(out.flush("app", &data).unwrap().code, FlushCode::Error);
}

#[test]
fn ignore_case_matches_any_case_and_a_bad_value_fails_init() {
    let host = Host::load(isolated_cdylib("plugin_template").unwrap()).unwrap();
    let out = host
        .output()
        .property("level", "ERROR")
        .property("ignore_case", "on")
        .init()
        .unwrap();
    assert_eq!(
        out.flush("app", &chunk(&["error", "Error", "warn"]))
            .unwrap()
            .code,
        FlushCode::Ok
    );
    assert_eq!(
        out.metric("fluentbit_plugin_matched_total", &["level_counter.0"]),
        Some(2.0)
    );
    match host.output().property("ignore_case", "maybe").init() {
        Err(HostError::InitFailed { logs, .. }) => {
            expect_line(&logs, "ignore_case");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("ignore_case=maybe must fail Init"),
    }
}
