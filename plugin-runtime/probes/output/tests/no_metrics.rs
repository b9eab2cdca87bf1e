//! A host without cmetrics, in its own test binary: once any host in a process exports the
//! cmetrics symbols they stay visible to every later `dlsym(RTLD_DEFAULT, ..)`.

use fluent_bit_plugin_test_host::records::{Timestamp, push_v2};
use fluent_bit_plugin_test_host::{FlushCode, Host, isolated_cdylib};

fn chunk(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        push_v2(
            &mut out,
            Timestamp::Int(i as u64),
            &[],
            &[("message", "hello".into())],
        );
    }
    out
}

#[test]
fn without_host_metrics_the_plugin_runs_and_says_so_once() {
    let host = Host::builder(isolated_cdylib("sdk_probe_output").unwrap())
        .metrics(false)
        .load()
        .unwrap();
    let a = host.output().init().unwrap();
    let b = host.output().init().unwrap();
    assert_eq!(a.flush("t", &chunk(3)).unwrap().code, FlushCode::Ok);
    assert_eq!(b.flush("t", &chunk(3)).unwrap().code, FlushCode::Ok);
    let logs = host.messages();
    let warnings = logs
        .iter()
        .filter(|l| l.contains("plugin metrics are disabled"))
        .count();
    assert_eq!(warnings, 1, "{logs:#?}");
}
