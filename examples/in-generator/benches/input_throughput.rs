//! Input throughput through the test host: the `generator` plugin at a high `rate`, collected
//! once a second exactly as Fluent Bit 5.1.1 collects a proxy input (the interval is
//! hard-coded to 1 s in `flb_plugin_proxy.c`), so what arrives per second is bounded by what
//! the SDK's queue holds between two collects.
//!
//! `cargo bench -p in-generator --bench input_throughput [-- <rate> <seconds> [queue_size]]`
//! prints records/s and MB/s over the steady state (the first collect is skipped) and the
//! number of warnings the plugin logged.

use std::time::{Duration, Instant};

use fluent_bit_plugin_test_host::{Host, cdylib_path};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rate: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(6).max(2);
    let queue = args.get(2).cloned();

    let path = match cdylib_path("in-generator") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("build the plugin first (cargo bench builds it): {e}");
            std::process::exit(2);
        }
    };
    let host = match Host::load(&path) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot load {}: {e}", path.display());
            std::process::exit(2);
        }
    };
    let rate_s = rate.to_string();
    let mut builder = host.input().property("rate", rate_s.as_str());
    if let Some(q) = &queue {
        builder = builder.property("queue_size", q.as_str());
    }
    let input = match builder.init() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("init failed: {e}");
            std::process::exit(2);
        }
    };

    // Fluent Bit's cadence: one collect per second on the instance thread. The host copies and
    // validates every record in its collect; when that takes longer than the interval the next
    // collect starts late, so rates are computed from the times the collects started.
    let mut per_collect = Vec::new();
    let mut bytes = Vec::new();
    let mut started = Vec::new();
    let mut busiest = Duration::ZERO;
    let start = Instant::now();
    for tick in 1..=seconds {
        let due = start + Duration::from_secs(tick);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let at = Instant::now();
        match input.collect() {
            Ok(c) => {
                per_collect.push(c.records as u64);
                bytes.push(c.data.len() as u64);
                started.push(at);
                busiest = busiest.max(at.elapsed());
            }
            Err(e) => {
                eprintln!("collect failed: {e}");
                std::process::exit(1);
            }
        }
    }
    // Records taken by collects 2..n were produced between the starts of collects 1 and n.
    let span = started[started.len() - 1]
        .duration_since(started[0])
        .as_secs_f64();
    let records: u64 = per_collect[1..].iter().sum();
    let steady_bytes: u64 = bytes[1..].iter().sum();
    // Lines from the producer thread count too, wherever they landed.
    let warnings = host
        .logs()
        .iter()
        .chain(host.stderr_logs().iter())
        .filter(|l| l.level == fluent_bit_plugin_test_host::LogLevel::Warn)
        .count();
    println!(
        "generator rate={rate} queue_size={} collect=1s: {:.0} records/s, {:.1} MB/s over \
         {span:.2} s (per collect: {:?}; slowest host collect {:.0} ms); {warnings} warning(s) \
         logged",
        queue.as_deref().unwrap_or("default"),
        records as f64 / span,
        steady_bytes as f64 / span / 1e6,
        &per_collect[1..],
        busiest.as_secs_f64() * 1e3,
    );
    drop(input);
    host.shutdown();
}
