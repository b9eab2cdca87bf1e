//! The input path, driven through the raw input probe.

mod common;

use std::time::Duration;

use common::{Journal, fresh};
use fluent_bit_plugin_test_host::{Host, HostError, records};

#[test]
fn every_callback_of_an_instance_runs_on_its_own_thread() {
    let path = fresh("raw-probe-input");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let a = host.input().property("id", "A").init().unwrap();
    let b = host
        .input()
        .property("id", "B")
        .property("tag", "b.logs")
        .init()
        .unwrap();
    assert_eq!(a.thread_name(), "flb-in-raw_probe_in.0-w0");
    assert_eq!((a.tag(), b.tag()), ("raw_probe_in.0", "b.logs"));
    assert_ne!(a.remote_context(), b.remote_context());
    a.collect().unwrap();
    b.collect().unwrap();
    a.pause().unwrap();
    a.resume().unwrap();
    host.shutdown();

    // comm is cut at 15 bytes: "flb-in-raw_prob".
    let lines = journal.lines();
    let thread_of = |prefix: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit_once(" @").unwrap().1.to_owned())
            .collect()
    };
    let init_a = thread_of("init id=A");
    assert_eq!(init_a.len(), 1);
    for p in [
        "input_pre_run(0) id=A",
        "pause id=A",
        "resume id=A",
        "input_pre_exit(0) id=A",
        "exit id=A",
    ] {
        assert!(!thread_of(p).is_empty(), "{p} missing from {lines:?}");
        assert!(
            thread_of(p).iter().all(|t| *t == init_a[0]),
            "{p} ran elsewhere: {lines:?}"
        );
    }
    let logs = host_logs_threads(&lines);
    assert!(logs.iter().all(|t| t.starts_with("flb-in-")), "{logs:?}");
    assert_eq!(
        journal.events().last().map(String::as_str),
        Some("unregister")
    );
}

fn host_logs_threads(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with("register") && !l.starts_with("unregister"))
        .map(|l| l.rsplit_once(" @").unwrap().1.to_owned())
        .collect()
}

#[test]
fn collect_copies_cleans_up_and_counts_records() {
    let path = fresh("raw-probe-input");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let v2 = host
        .input()
        .property("id", "V")
        .property("records", "3")
        .init()
        .unwrap();
    let c = v2.collect().unwrap();
    assert_eq!((c.records, c.group_markers), (3, 0));
    let recs = records::decode_records(&c.data).unwrap();
    assert_eq!(recs[0].body_str("id"), Some("V"));
    assert!(recs[0].metadata.as_map().is_some_and(Vec::is_empty));

    let legacy = host
        .input()
        .property("id", "L")
        .property("shape", "legacy")
        .init()
        .unwrap();
    assert_eq!(legacy.collect().unwrap().records, 2);

    let empty = host
        .input()
        .property("id", "E")
        .property("shape", "empty")
        .init()
        .unwrap();
    assert_eq!(
        empty.collect().unwrap(),
        fluent_bit_plugin_test_host::Collected::default()
    );

    let garbage = host
        .input()
        .property("id", "G")
        .property("shape", "garbage")
        .init()
        .unwrap();
    match garbage.collect() {
        Err(HostError::InvalidRecords { reason, .. }) => {
            assert!(reason.contains("record 0"), "{reason}")
        }
        other => panic!("expected invalid records, got {other:?}"),
    }
    drop((v2, legacy, empty, garbage));
    let ev = journal.events();
    for id in ["V", "L", "G"] {
        assert!(
            ev.iter()
                .any(|e| e.starts_with(&format!("exit id={id} ")) && e.ends_with("outstanding=0")),
            "{ev:?}"
        );
    }
    assert!(
        ev.iter()
            .any(|e| e == "exit id=E collects=1 cleanups=0 outstanding=0"),
        "{ev:?}"
    );
}

#[test]
fn minus_one_is_a_collect_failure_and_zero_len_buffers_are_flagged() {
    let path = fresh("raw-probe-input");
    let host = Host::load(&path).unwrap();
    let failing = host
        .input()
        .property("collect_return", "-1")
        .init()
        .unwrap();
    assert!(matches!(failing.collect(), Err(HostError::CollectFailed { len, .. }) if len > 0));
    let other_codes = host.input().property("collect_return", "2").init().unwrap();
    assert_eq!(
        other_codes.collect().unwrap().records,
        2,
        "only -1 is a failure"
    );
    let zero = host
        .input()
        .property("shape", "zero_len_buffer")
        .init()
        .unwrap();
    assert_eq!(zero.collect().unwrap().data.len(), 0);
    assert_eq!(host.violations().len(), 1, "{:?}", host.violations());
}

#[test]
fn thousands_of_collects_do_not_grow_the_heap() {
    let path = fresh("raw-probe-input");
    let host = Host::load(&path).unwrap();
    let input = host.input().property("records", "50").init().unwrap();
    for _ in 0..200 {
        input.collect().unwrap();
    }
    let before = fluent_bit_plugin_test_host::malloc_in_use();
    for _ in 0..3000 {
        input.collect().unwrap();
    }
    let after = fluent_bit_plugin_test_host::malloc_in_use();
    assert!(
        after < before + 256 * 1024,
        "heap grew from {before} to {after}"
    );
}

#[test]
fn run_collector_ticks_until_paused() {
    let path = fresh("raw-probe-input");
    let host = Host::load(&path).unwrap();
    let input = host.input().property("id", "R").init().unwrap();
    input.run_collector(Duration::from_millis(20)).unwrap();
    let mut got = Vec::new();
    wait_until("3 ticks", || {
        got.extend(input.take_collected());
        got.len() >= 3
    });
    input.pause().unwrap();
    input.take_collected();
    // Six tick periods with no tick: the collector is paused, not merely slow.
    std::thread::sleep(Duration::from_millis(120));
    assert!(input.take_collected().is_empty(), "no ticks while paused");
    input.resume().unwrap();
    wait_until("a tick after resume", || !input.take_collected().is_empty());
    input.stop_collector().unwrap();
    assert!(input.take_errors().is_empty());
}

#[test]
fn input_metrics_and_thread_join_at_exit() {
    let path = fresh("raw-probe-input");
    let host = Host::load(&path).unwrap();
    let input = host
        .input()
        .property("spawn_thread", "on")
        .property("records", "4")
        .init()
        .unwrap();
    input.collect().unwrap();
    input.collect().unwrap();
    assert_eq!(
        input.metric("fluentbit_plugin_raw_probe_records_total", &[]),
        Some(8.0)
    );
    let name = input.thread_name().chars().take(15).collect::<String>();
    assert!(fluent_bit_plugin_test_host::live_thread_names().contains(&name));
    // A new thread names itself shortly after it starts.
    assert!(fluent_bit_plugin_test_host::wait_for_threads(
        "raw-probe-bg",
        1,
        std::time::Duration::from_secs(5)
    ));
    input.exit().unwrap();
    // pthread_join returns when the kernel clears the thread's tid, a moment before the task
    // leaves /proc/self/task: a joined thread may still be listed briefly, a leaked one forever.
    let gone = std::time::Duration::from_secs(10);
    assert!(
        fluent_bit_plugin_test_host::wait_for_threads("raw-probe-bg", 0, gone),
        "background thread joined: {:?}",
        fluent_bit_plugin_test_host::live_thread_names()
    );
    assert!(
        fluent_bit_plugin_test_host::wait_for_threads(&name, 0, gone),
        "instance thread joined: {:?}",
        fluent_bit_plugin_test_host::live_thread_names()
    );
}

#[test]
fn shutdown_pauses_then_exits_each_input_then_unregisters() {
    let path = fresh("raw-probe-input");
    let journal = Journal::open(&path);
    let host = Host::load(&path).unwrap();
    let input = host.input().property("id", "S").init().unwrap();
    input.collect().unwrap();
    host.shutdown();
    assert!(matches!(input.collect(), Err(HostError::Exited(_))));
    drop(input);
    let ev = journal.events();
    let tail: Vec<&str> = ev
        .iter()
        .map(String::as_str)
        .skip_while(|e| !e.starts_with("pause"))
        .collect();
    assert_eq!(tail.len(), 4, "{ev:?}");
    assert_eq!(tail[0], "pause id=S");
    assert_eq!(tail[1], "input_pre_exit(0) id=S");
    assert!(
        tail[2].starts_with("exit id=S collects=1 cleanups=1"),
        "{ev:?}"
    );
    assert_eq!(tail[3], "unregister");
}

/// Polls `done` until it holds, failing after a minute (generous: a tick is 20 ms) with what was
/// still pending.
fn wait_until(pending: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "still waiting for {pending} after 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
