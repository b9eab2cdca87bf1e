//! A panic in flush with `RUST_BACKTRACE` set, on the 64 KiB coroutine stack. Rust's default
//! panic hook then captures a backtrace there, and in Fluent Bit 5.1.1 the unwinder walks past
//! the coroutine's first frame (6 of 7 runs crashed). The runtime's own hook must keep that
//! from happening whatever the environment. Each case runs in a child process, because the
//! variable must be set before the plugin's first panic and a crash must not take the test
//! runner down with it.

use fluent_bit_plugin_test_host::records::{Timestamp, push_v2};
use fluent_bit_plugin_test_host::{
    FlushCode, Host, expect_line, is_child, isolated_cdylib, rerun_in_child,
};

const TEST: &str = "a_panic_in_flush_with_rust_backtrace_set_is_logged_and_fails_only_that_chunk";

#[test]
fn a_panic_in_flush_with_rust_backtrace_set_is_logged_and_fails_only_that_chunk() {
    if is_child() {
        child();
        return;
    }
    for value in ["1", "full"] {
        let out = rerun_in_child(TEST, &[("RUST_BACKTRACE", value)]).unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("child: all flushes survived"),
            "with RUST_BACKTRACE={value} the child ended with {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        assert!(
            !stderr.contains("stack backtrace") && !stdout.contains("stack backtrace"),
            "a backtrace was captured on the coroutine stack (RUST_BACKTRACE={value}):\n{stderr}"
        );
    }
}

fn child() {
    let host = Host::load(isolated_cdylib("sdk_probe_output").unwrap()).unwrap();
    let panicking = host.output().property("result", "panic").init().unwrap();
    let healthy = host.output().init().unwrap();
    let mut chunk = Vec::new();
    push_v2(
        &mut chunk,
        Timestamp::Int(1_700_000_000),
        &[],
        &[("message", "hello".into())],
    );
    for round in 0..10 {
        let report = panicking
            .flush("t", &chunk)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(report.code, FlushCode::Error, "round {round}");
        assert!(report.stack_used < 64 * 1024, "{report:?}");
        assert_eq!(healthy.flush("t", &chunk).unwrap().code, FlushCode::Ok);
    }
    let logs = host.messages();
    let line = expect_line(
        &logs,
        "flush panicked: probe asked to panic in flush; chunk dropped (at ",
    );
    assert!(line.contains("probes/output/src/lib.rs:"), "{line}");
    assert_eq!(
        logs.iter().filter(|l| l.contains("flush panicked")).count(),
        10,
        "{logs:#?}"
    );
    assert!(host.violations().is_empty(), "{:?}", host.violations());
    println!("child: all flushes survived");
}
