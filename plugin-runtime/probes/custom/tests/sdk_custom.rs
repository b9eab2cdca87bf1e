//! The SDK's custom-plugin glue through the test host: Init and Exit without context, several
//! instances, threads joined at exit.

use std::time::Duration;

use fluent_bit_plugin_test_host::{
    Host, HostError, isolated_cdylib, live_thread_names, wait_for_threads,
};

#[test]
fn instances_start_and_exit_with_their_threads_joined() {
    let host = Host::load(isolated_cdylib("sdk_probe_custom").unwrap()).unwrap();
    let a = host.custom().property("label", "A").init().unwrap();
    let b = host.custom().property("label", "B").init().unwrap();
    assert!(
        wait_for_threads("probe-custom-bg", 2, Duration::from_secs(5)),
        "{:?}",
        live_thread_names()
    );
    a.exit().unwrap();
    b.exit().unwrap();
    // Joined threads can stay listed in /proc for a moment after pthread_join returns.
    assert!(
        wait_for_threads("probe-custom-bg", 0, Duration::from_secs(10)),
        "threads joined before Exit returned: {:?}",
        live_thread_names()
    );
    let logs = host.messages();
    for label in ["A", "B"] {
        assert!(
            logs.iter()
                .any(|l| l.contains(&format!("init label={label}"))),
            "{logs:#?}"
        );
        assert!(
            logs.iter()
                .any(|l| l.contains(&format!("exit label={label}"))),
            "{logs:#?}"
        );
    }
    assert!(
        logs.iter()
            .any(|l| l.starts_with("[custom:sdk_probe_custom:sdk_probe_custom.0]"))
    );
    host.shutdown();
}

#[test]
fn init_failure_names_the_cause() {
    let host = Host::load(isolated_cdylib("sdk_probe_custom").unwrap()).unwrap();
    match host.custom().property("fail_init", "yes").init() {
        Err(HostError::InitFailed { logs, .. }) => assert!(
            logs.iter()
                .any(|l| l.contains("init failed: probe asked to fail init")),
            "{logs:#?}"
        ),
        Err(other) => panic!("expected InitFailed, got {other}"),
        Ok(_) => panic!("init should fail"),
    }
}
