//! The output path, driven through the raw output probe.

mod common;

use common::{Journal, chunk, fresh};
use fluent_bit_plugin_test_host::{FlushCode, Host, HostError};

#[test]
fn two_instances_get_separate_contexts_and_the_shared_struct_is_poisoned() {
    let path = fresh("raw-probe-output");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    assert_eq!(host.plugin_name(), "raw_probe_out");
    let a = host.output().property("id", "A").init().unwrap();
    let b = host.output().property("ID", "B").init().unwrap();
    assert_eq!((a.name(), b.name()), ("raw_probe_out.0", "raw_probe_out.1"));
    assert_ne!(a.remote_context(), 0);
    assert_ne!(a.remote_context(), b.remote_context());

    assert_eq!(a.flush("t.a", &chunk("x")).unwrap().code, FlushCode::Ok);
    assert_eq!(b.flush("t.b", &chunk("y")).unwrap().code, FlushCode::Ok);
    let logs: Vec<String> = host.logs().into_iter().map(|l| l.message).collect();
    assert!(
        logs.iter().any(|l| l.starts_with("flush id=A tag=t.a")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.starts_with("flush id=B tag=t.b")),
        "{logs:?}"
    );
    let poison = format!("shared_ctx=0x{:x}", fluent_bit_plugin_test_host::POISON);
    assert!(
        logs.iter()
            .filter(|l| l.starts_with("flush"))
            .all(|l| l.contains(&poison)),
        "{logs:?}"
    );

    host.shutdown();
    let ev = journal.events();
    let tail: Vec<&str> = ev
        .iter()
        .map(String::as_str)
        .skip_while(|e| !e.starts_with("output_pre_exit"))
        .collect();
    assert_eq!(
        tail,
        [
            "output_pre_exit(0)",
            "exit id=A flushes=1 max_concurrent=1",
            "output_pre_exit(0)",
            "exit id=B flushes=1 max_concurrent=1",
            "unregister"
        ]
    );
    assert_eq!(&ev[..2], ["pre_register(0)", "register mode="]);
}

#[test]
fn init_exit_and_flush_run_on_flb_pipeline_without_workers() {
    let path = fresh("raw-probe-output");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let out = host.output().property("id", "P").init().unwrap();
    let r = out.flush("t", &chunk("x")).unwrap();
    assert_eq!(r.thread, "flb-pipeline");
    out.exit().unwrap();
    for l in journal.lines() {
        if l.starts_with("init")
            || l.starts_with("flush")
            || l.starts_with("exit")
            || l.starts_with("output_p")
        {
            assert!(l.ends_with("@flb-pipeline"), "{l}");
        }
    }
    assert!(host.logs().iter().all(|l| l.thread == "flb-pipeline"));
}

#[test]
fn core_keys_are_hidden_empty_values_read_null_first_match_wins() {
    let path = fresh("raw-probe-output");
    let host = Host::load(&path).unwrap();
    let out = host
        .output()
        .property("Match", "app.*")
        .property("workers", "1")
        .property("Host", "example.org")
        .property("net.keepalive", "on")
        .property("tls.verify", "off")
        .property("retry_limit", "3")
        .property("color", "")
        .property("size", "first")
        .property("SIZE", "second")
        .property(
            "dump",
            "match,workers,host,net.keepalive,tls.verify,retry_limit,color,size,Size,missing",
        )
        .init()
        .unwrap();
    let logs: Vec<String> = host.logs().into_iter().map(|l| l.message).collect();
    for expected in [
        "prop match=NULL",
        "prop workers=NULL",
        "prop host=NULL",
        "prop net.keepalive=NULL",
        "prop tls.verify=NULL",
        "prop retry_limit=NULL",
        "prop color=NULL",
        "prop size=first",
        "prop Size=first",
        "prop missing=NULL",
    ] {
        assert!(
            logs.iter().any(|l| l == expected),
            "missing {expected:?} in {logs:?}"
        );
    }
    assert_eq!(out.core_property("match"), Some("app.*"));
    assert_eq!(out.core_property("WORKERS"), Some("1"));
    assert_eq!(out.workers(), 1);
}

#[test]
fn flush_codes_map_like_proxy_cb_flush() {
    let path = fresh("raw-probe-output");
    let host = Host::load(&path).unwrap();
    for (ret, code) in [
        ("1", FlushCode::Ok),
        ("0", FlushCode::Error),
        ("2", FlushCode::Retry),
        ("9", FlushCode::Error),
        ("-1", FlushCode::Error),
    ] {
        let out = host.output().property("flush_return", ret).init().unwrap();
        let r = out.flush("t", &chunk("x")).unwrap();
        assert_eq!((r.raw.to_string().as_str(), r.code), (ret, code));
    }
}

#[test]
fn workers_flush_concurrently_on_their_own_threads() {
    let path = fresh("raw-probe-output");
    let host = Host::load(&path).unwrap();
    let out = host
        .output()
        .property("id", "W")
        .property("workers", "3")
        // Each flush waits until all three are in flight: flushes run one after another would
        // each wait out the probe's 60 s patience and leave max_concurrent below 3.
        .property("flush_rendezvous", "3")
        .init()
        .unwrap();
    let data = chunk("x");
    let chunks: Vec<(&str, &[u8])> = (0..3).map(|_| ("t", data.as_slice())).collect();
    let reports = out.flush_concurrent(&chunks).unwrap();
    let mut threads: Vec<_> = reports.iter().map(|r| r.thread.clone()).collect();
    threads.sort();
    assert_eq!(
        threads,
        [
            "flb-out-raw_probe_out.0-w0",
            "flb-out-raw_probe_out.0-w1",
            "flb-out-raw_probe_out.0-w2"
        ]
    );
    out.exit().unwrap();
    assert!(
        host.logs()
            .iter()
            .any(|l| l.message == "exit id=W flushes=3 max_concurrent=3"),
        "{:?}",
        host.logs()
    );
}

/// 5.1.1 enables a proxy output's worker pool twice ("worker #0 started" is logged twice):
/// 2N threads exist, flushes reach only the N of the second pool, the first pool outlives the
/// instance, and a hot reload with it running crashes Fluent Bit.
#[test]
fn workers_start_twice_as_in_5_1_1_and_reload_with_workers_is_flagged() {
    use fluent_bit_plugin_test_host::{live_thread_names, wait_for_threads};
    use std::time::Duration;
    let path = fresh("raw-probe-output");
    let mut host = Host::load(&path).unwrap();
    let out = host
        .output()
        .property("id", "D")
        .property("workers", "2")
        .init()
        .unwrap();
    // `comm` keeps 15 bytes: every flb-out-raw_probe_out.0-w<i> thread reads the same.
    const COMM: &str = "flb-out-raw_pro";
    assert!(
        wait_for_threads(COMM, 4, Duration::from_secs(10)),
        "expected 4 worker threads for workers=2 (the pool is started twice), have {:?}",
        live_thread_names()
    );
    assert_eq!(out.workers(), 2);
    let data = chunk("x");
    let chunks: Vec<(&str, &[u8])> = (0..6).map(|_| ("t", data.as_slice())).collect();
    let reports = out.flush_concurrent(&chunks).unwrap();
    let mut tids: Vec<_> = reports.iter().map(|r| r.thread.clone()).collect();
    tids.sort();
    tids.dedup();
    assert_eq!(tids.len(), 2, "flushes run on N threads only: {tids:?}");
    out.exit().unwrap();
    // The second pool stops with the instance; the first one does not.
    assert!(
        wait_for_threads(COMM, 2, Duration::from_secs(10)),
        "{:?}",
        live_thread_names()
    );
    assert!(host.violations().is_empty(), "{:?}", host.violations());
    host.reload().unwrap();
    let v = host.violations();
    assert!(
        v.iter()
            .any(|m| m.contains("raw_probe_out.0: hot reload of an output with `workers 2`")),
        "{v:?}"
    );
    host.shutdown();
    assert!(
        wait_for_threads(COMM, 0, Duration::from_secs(10)),
        "{:?}",
        live_thread_names()
    );
}

/// Fluent Bit's libco stack cannot be unwound past the flush's first frame (that is how
/// `RUST_BACKTRACE=1` with Rust's default panic hook crashed it); the host's coroutine faults
/// there too, so a plugin that walks the stack in flush is caught by its tests. Run in a child
/// process, which is expected to die.
#[test]
fn walking_the_stack_past_the_coroutine_s_first_frame_faults_as_in_fluent_bit() {
    use fluent_bit_plugin_test_host::{is_child, rerun_in_child};
    use std::os::unix::process::ExitStatusExt;
    const TEST: &str = "walking_the_stack_past_the_coroutine_s_first_frame_faults_as_in_fluent_bit";
    if is_child() {
        let host = Host::load(fresh("raw-probe-output")).unwrap();
        let plain = host.output().init().unwrap();
        assert_eq!(plain.flush("t", &chunk("x")).unwrap().code, FlushCode::Ok);
        println!("child: a flush that does not walk the stack is fine");
        let walker = host.output().property("backtrace", "on").init().unwrap();
        let r = walker.flush("t", &chunk("x"));
        println!("child: survived a backtrace on the coroutine stack: {r:?}");
        return;
    }
    let out = rerun_in_child(TEST, &[]).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("child: a flush that does not walk the stack is fine"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("child: survived"),
        "the backtrace walk did not fault: {stdout}"
    );
    assert_eq!(
        out.status.signal(),
        Some(11),
        "expected SIGSEGV from the unwinder, got {:?}",
        out.status
    );
}

#[test]
fn stack_use_is_measured_and_over_budget_fails_loudly() {
    let path = fresh("raw-probe-output");
    let host = Host::load(&path).unwrap();
    let small = host.output().init().unwrap();
    let r = small.flush("t", &chunk("x")).unwrap();
    assert!(r.stack_used > 0 && r.stack_used < 32 * 1024, "{r:?}");

    let hog = host.output().property("stack_kib", "100").init().unwrap();
    match hog.flush("t", &chunk("x")) {
        Err(HostError::StackBudgetExceeded { used, budget, .. }) => {
            assert_eq!(budget, 64 * 1024);
            assert!(used > 100 * 1024, "{used}");
        }
        other => panic!("expected a stack budget error, got {other:?}"),
    }

    let roomy = Host::builder(&path)
        .coro_stack_size(256 * 1024)
        .load()
        .unwrap();
    let ok = roomy.output().property("stack_kib", "100").init().unwrap();
    assert!(ok.flush("t", &chunk("x")).unwrap().stack_used > 100 * 1024);
}

#[test]
fn failing_init_reports_the_code_and_the_plugin_log() {
    let path = fresh("raw-probe-output");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let err = host
        .output()
        .property("id", "F")
        .property("fail_init", "0")
        .init()
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("raw_probe_out.0: FLBPluginInit returned 0"),
        "{text}"
    );
    assert!(text.contains("init failing on purpose id=F"), "{text}");
    host.shutdown();
    assert!(
        !journal.events().iter().any(|e| e.starts_with("exit")),
        "no ExitCtx after a failed Init"
    );
    assert_eq!(
        journal.events().last().map(String::as_str),
        Some("unregister")
    );
}

#[test]
fn log_level_property_filters_through_log_check() {
    let path = fresh("raw-probe-output");
    let host = Host::load(&path).unwrap();
    let quiet = host
        .output()
        .property("id", "Q")
        .property("log_level", "error")
        .init()
        .unwrap();
    quiet.flush("t", &chunk("x")).unwrap();
    assert!(host.logs().is_empty(), "{:?}", host.logs());
    let err = host
        .output()
        .property("log_level", "loud")
        .init()
        .err()
        .unwrap();
    assert!(err.to_string().contains("log_level"), "{err}");
}

#[test]
fn metrics_are_recorded_per_instance_and_labels() {
    let path = fresh("raw-probe-output");
    let host = Host::load(&path).unwrap();
    let a = host.output().property("id", "A").init().unwrap();
    let b = host.output().property("id", "B").init().unwrap();
    let data = chunk("hello");
    a.flush("t", &data).unwrap();
    a.flush("t", &data).unwrap();
    b.flush("t", &data).unwrap();
    assert_eq!(
        a.metric("fluentbit_plugin_raw_probe_flushes_total", &["A"]),
        Some(2.0)
    );
    assert_eq!(
        b.metric("fluentbit_plugin_raw_probe_flushes_total", &["B"]),
        Some(1.0)
    );
    assert_eq!(
        a.metric("fluentbit_plugin_raw_probe_flushes_total", &["B"]),
        None
    );
    assert_eq!(
        a.metric("fluentbit_plugin_raw_probe_last_bytes", &[]),
        Some(data.len() as f64)
    );
    assert!(host.violations().is_empty(), "{:?}", host.violations());
}

#[test]
fn host_without_metrics_returns_null_cmt() {
    let path = fresh("raw-probe-output");
    let host = Host::builder(&path).metrics(false).load().unwrap();
    let out = host.output().init().unwrap();
    out.flush("t", &chunk("x")).unwrap();
    assert!(host.logs().iter().any(|l| l.message == "metrics off"));
    assert_eq!(
        out.metric("fluentbit_plugin_raw_probe_flushes_total", &[""]),
        None
    );
}

#[test]
fn plugin_threads_are_joined_when_exit_returns() {
    let path = fresh("raw-probe-output");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let out = host.output().property("spawn_thread", "on").init().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !journal.events().iter().any(|e| e == "bg started") {
        assert!(
            std::time::Instant::now() < deadline,
            "bg thread never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let count = || {
        fluent_bit_plugin_test_host::live_thread_names()
            .iter()
            .filter(|n| *n == "raw-probe-bg")
            .count()
    };
    assert!(count() >= 1);
    let before = count();
    out.exit().unwrap();
    // The joined thread can stay listed in /proc for a moment after pthread_join returns.
    assert!(
        fluent_bit_plugin_test_host::wait_for_threads(
            "raw-probe-bg",
            before - 1,
            std::time::Duration::from_secs(10)
        ),
        "{:?}",
        fluent_bit_plugin_test_host::live_thread_names()
    );
}

#[test]
fn tag_and_data_are_passed_through() {
    let path = fresh("raw-probe-output");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let out = host.output().property("id", "T").init().unwrap();
    let data = chunk("payload");
    out.flush("kube.var.log", &data).unwrap();
    let expected = format!("flush id=T tag=kube.var.log size={} first=0x92", data.len());
    assert!(
        journal.events().contains(&expected),
        "{:?}",
        journal.events()
    );
    assert!(matches!(
        out.flush("t", &[]),
        Err(HostError::Contract { .. })
    ));
}
