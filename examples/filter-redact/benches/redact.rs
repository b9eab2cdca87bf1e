//! Records per second through the redact filter in the WASM test host (wasmi, an interpreter
//! like Fluent Bit's WAMR fast interpreter; WAMR's numbers differ, the trend holds).
//!
//! `cargo bench -p filter-redact`. Three shapes: a clean record (kept, the common case), one
//! with a secret field and an e-mail (modified), and a 4 KB record (kept). Each is also run
//! natively through `apply_json`, the same code without the interpreter, for comparison.

use std::time::{Duration, Instant};

use fluent_bit_plugin_sdk::EventTime;
use fluent_bit_plugin_sdk::filter::{Context, apply_json, heap_size_for};
use fluent_bit_wasm_filter_test_host::{FilterHost, Options, Outcome, build_wasm};

fn main() {
    let wasm = match build_wasm("filter-redact") {
        Ok(path) => path,
        Err(e) => {
            eprintln!("cannot build the filter: {e}");
            std::process::exit(1);
        }
    };
    let large = format!(
        r#"{{"msg":"{}","level":"info","host":"node-1"}}"#,
        "lorem ipsum dolor sit amet ".repeat(150)
    );
    let cases = [
        (
            // The size the example filter saw in a real Fluent Bit 5.1.1 (about 16 k records/s
            // there, WAMR): generator records as JSON.
            "generator 90 B (keep)",
            r#"{"message":"hello from the generator input","seq":123456,"team":"logging","env":"dev-eu1"}"#.to_owned(),
        ),
        (
            "clean 150 B (keep)",
            r#"{"msg":"GET /api/items 200","level":"info","latency_ms":12,"host":"node-1","path":"/api/items"}"#.to_owned(),
        ),
        (
            "secret+email 170 B (modify)",
            r#"{"msg":"login ok for ana@example.com","level":"info","password":"hunter2","host":"node-1","uid":42}"#.to_owned(),
        ),
        ("clean 4 KB (keep)", large),
    ];
    for (name, record) in &cases {
        let heap = heap_size_for(record.len() as u64, 16);
        let mut host = match FilterHost::load(&wasm, Options::new("redact_filter").heap_size(heap))
        {
            Ok(host) => host,
            Err(e) => {
                eprintln!("cannot load the filter: {e}");
                std::process::exit(1);
            }
        };
        // Warm up, and check the filter does what the case says.
        match host.filter("bench", (1_700_000_000, 0), record) {
            Ok(Outcome::Keep(_) | Outcome::Modified(_)) => {}
            other => {
                eprintln!("{name}: unexpected outcome {other:?}");
                std::process::exit(1);
            }
        }
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(2) {
            for _ in 0..100 {
                let _ = host.filter("bench", (1_700_000_000, 0), record);
            }
            n += 100;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name:<30} wasm   {:>10.0} records/s {:>8.1} MB/s",
            n as f64 / secs,
            n as f64 * record.len() as f64 / secs / 1e6
        );
        let ctx = Context::new("bench", EventTime::from_secs(1_700_000_000));
        let mut out = Vec::new();
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(1) {
            for _ in 0..1000 {
                let _ = apply_json(filter_redact::redact, &ctx, record.as_bytes(), &mut out);
            }
            n += 1000;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name:<30} native {:>10.0} records/s {:>8.1} MB/s",
            n as f64 / secs,
            n as f64 * record.len() as f64 / secs / 1e6
        );
    }
}
