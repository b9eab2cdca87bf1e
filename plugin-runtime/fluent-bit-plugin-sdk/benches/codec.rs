//! Throughput of the event codec against a plain msgpack skim and rmpv, on realistic records.
//!
//! Run with `cargo bench -p plugin-runtime --bench codec`. Each case warms up, then runs
//! several timed rounds over the same flush-sized buffer; the best and median rounds are
//! reported. MB/s always counts the msgpack bytes read or written. Time is the benchmark
//! thread's CPU time, so other work on a shared machine does not inflate the numbers (it
//! still competes for caches).

// A counting global allocator (GlobalAlloc is an unsafe trait) and clock_gettime; the crate
// denies unsafe_code outside src/abi/ and its benches opt out here only.
#![allow(unsafe_code)]

use std::hint::black_box;
use std::time::Duration;

use fluent_bit_plugin_sdk::event::{Encoder, EventTime, Events, JsonFormat, Value, skim};
use serde::Serialize;

const ROUNDS: usize = 9;
const ROUND_TIME: Duration = Duration::from_millis(150);
const WARM_UP: Duration = Duration::from_millis(300);
static QUICK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Fields of one generated record; strings borrow from a few fixed pools.
#[derive(Serialize)]
struct Small<'a> {
    log: &'a str,
    stream: &'a str,
    level: &'a str,
}

#[derive(Serialize)]
struct Labels<'a> {
    app: &'a str,
    #[serde(rename = "pod-template-hash")]
    pod_template_hash: &'a str,
    version: &'a str,
    tier: &'a str,
}

#[derive(Serialize)]
struct Kubernetes<'a> {
    pod_name: &'a str,
    namespace_name: &'a str,
    pod_id: &'a str,
    host: &'a str,
    container_name: &'a str,
    docker_id: &'a str,
    container_hash: &'a str,
    container_image: &'a str,
    labels: Labels<'a>,
}

#[derive(Serialize)]
struct Large<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
    level: &'a str,
    status: u16,
    duration_ms: f64,
    kubernetes: Kubernetes<'a>,
}

const LOGS: [&str; 4] = [
    "10.0.3.17 - GET /api/v1/users/1842 HTTP/1.1 200 512 12ms",
    "10.0.3.17 - POST /api/v1/orders HTTP/1.1 201 87 48ms user=alice",
    "10.0.7.2 - GET /healthz HTTP/1.1 200 2 0ms",
    "10.0.3.99 - DELETE /api/v1/sessions/77 HTTP/1.1 204 0 3ms",
];

fn small(i: usize) -> Small<'static> {
    Small {
        log: LOGS[i % 4],
        stream: if i % 7 == 0 { "stderr" } else { "stdout" },
        level: "info",
    }
}

const LONG_LOG: &str = "2024-05-06T07:08:09.123Z INFO  [http-nio-8080-exec-7] c.e.shop.checkout.CheckoutController - \
     completed checkout for cart 5f1c2e9a-77b4-4c1e-9a51-0d6a4f2b8e13 with 3 items, total 129.97 EUR, payment \
     provider=stripe, shipping=express, warehouse=fra-2, trace_id=4bf92f3577b34da6a3ce929d0e0e4736 \
     span_id=00f067aa0ba902b7 user_agent=\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\"";

fn large(i: usize) -> Large<'static> {
    Large {
        log: LONG_LOG,
        stream: "stdout",
        time: "2024-05-06T07:08:09.123456789Z",
        level: if i % 5 == 0 { "warn" } else { "info" },
        status: 200 + (i % 3) as u16,
        duration_ms: 12.5 + (i % 100) as f64,
        kubernetes: Kubernetes {
            pod_name: "checkout-7d9f8b6c5d-x2x7q",
            namespace_name: "shop-production",
            pod_id: "3f1d6a52-8c0e-4d3b-9f6a-2b7c1e0d9a84",
            host: "ip-10-0-12-34.eu-west-1.compute.internal",
            container_name: "checkout",
            docker_id: "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f",
            container_hash: "registry.example.com/shop/checkout@sha256:4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",
            container_image: "registry.example.com/shop/checkout:1.42.0",
            labels: Labels {
                app: "checkout",
                pod_template_hash: "7d9f8b6c5d",
                version: "1.42.0",
                tier: "backend",
            },
        },
    }
}

fn build_small(enc: &mut Encoder<'_>, t: EventTime, r: &Small<'_>) {
    enc.record(t)
        .str("log", r.log)
        .str("stream", r.stream)
        .str("level", r.level);
}

fn build_large(enc: &mut Encoder<'_>, t: EventTime, r: &Large<'_>) {
    let k = &r.kubernetes;
    enc.record(t)
        .str("log", r.log)
        .str("stream", r.stream)
        .str("time", r.time)
        .str("level", r.level)
        .uint("status", u64::from(r.status))
        .float("duration_ms", r.duration_ms)
        .map("kubernetes", |m| {
            m.str("pod_name", k.pod_name)
                .str("namespace_name", k.namespace_name)
                .str("pod_id", k.pod_id)
                .str("host", k.host)
                .str("container_name", k.container_name)
                .str("docker_id", k.docker_id)
                .str("container_hash", k.container_hash)
                .str("container_image", k.container_image)
                .map("labels", |l| {
                    l.str("app", k.labels.app)
                        .str("pod-template-hash", k.labels.pod_template_hash)
                        .str("version", k.labels.version)
                        .str("tier", k.labels.tier);
                });
        });
}

/// CPU time consumed by this thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times `f` (which processes `records` records of `bytes` bytes per call) and prints a row.
fn measure(label: &str, name: &str, records: usize, bytes: usize, mut f: impl FnMut() -> u64) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .all(|f| name.contains(f.as_str()) || label.contains(f.as_str()))
    {
        // Run once anyway: later cases check the output of earlier ones.
        black_box(f());
        return;
    }
    if QUICK.load(std::sync::atomic::Ordering::Relaxed) {
        black_box(f());
        println!("{name:<34} ran (pass --bench to measure)");
        return;
    }
    let start = thread_cpu_time();
    let mut calls = 0u64;
    while thread_cpu_time() - start < WARM_UP {
        black_box(f());
        calls += 1;
    }
    let per_round = ((calls as f64 * ROUND_TIME.as_secs_f64()
        / (thread_cpu_time() - start).as_secs_f64()) as u64)
        .max(1);
    let mut rates: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = thread_cpu_time();
            for _ in 0..per_round {
                black_box(f());
            }
            (thread_cpu_time() - t).as_secs_f64() / per_round as f64
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let (best, median) = (rates[0], rates[ROUNDS / 2]);
    println!(
        "{name:<34} {:>8.2} M rec/s {:>8.0} MB/s   (median {:>6.2} M rec/s {:>6.0} MB/s)",
        records as f64 / best / 1e6,
        bytes as f64 / best / 1e6,
        records as f64 / median / 1e6,
        bytes as f64 / median / 1e6,
    );
}

/// Visits every key and value, checking strings for UTF-8 as a plugin reading `&str` would.
fn visit(v: &Value<'_>) -> u64 {
    match v {
        Value::Str(s) => s.as_str().map_or(1, |s| s.len() as u64),
        Value::Map(m) => m.iter().map(|(k, v)| visit(&k) + visit(&v)).sum(),
        Value::Array(a) => a.iter().map(|v| visit(&v)).sum(),
        Value::UInt(u) => *u & 1,
        Value::F64(f) => u64::from(*f > 0.0),
        _ => 1,
    }
}

fn visit_rmpv(v: &rmpv::ValueRef<'_>) -> u64 {
    use rmpv::ValueRef as V;
    match v {
        V::String(s) => s.as_str().map_or(1, |s| s.len() as u64),
        V::Map(m) => m.iter().map(|(k, v)| visit_rmpv(k) + visit_rmpv(v)).sum(),
        V::Array(a) => a.iter().map(visit_rmpv).sum(),
        V::Integer(i) => i.as_u64().unwrap_or(0) & 1,
        V::F64(f) => u64::from(*f > 0.0),
        _ => 1,
    }
}

fn run<T: Serialize>(
    label: &str,
    n: usize,
    make: fn(usize) -> T,
    build: fn(&mut Encoder<'_>, EventTime, &T),
) {
    let records: Vec<T> = (0..n).map(make).collect();
    let t0 = EventTime::new(1_715_000_000, 0).expect("valid time");
    let time = |i: usize| {
        EventTime::new(t0.sec() + i as u64 / 1000, (i as u32 % 1000) * 1_000_000).unwrap_or(t0)
    };
    let mut data = Vec::new();
    let mut enc = Encoder::new(&mut data);
    for (i, r) in records.iter().enumerate() {
        build(&mut enc, time(i), r);
    }
    let bytes = data.len();
    println!(
        "\n{label}: {n} records, {bytes} bytes, {:.0} bytes/record",
        bytes as f64 / n as f64
    );

    measure(label, "(a) decode + visit all fields", n, bytes, || {
        let mut acc = 0;
        for event in Events::new(&data) {
            let event = event.expect("bench data decodes");
            acc += event.time().nsec() as u64 + visit(&Value::Map(event.body()));
        }
        acc
    });
    measure(label, "(b) plain msgpack skim", n, bytes, || {
        let mut pos = 0;
        let mut count = 0;
        while let Some(len) = skim(&data[pos..]) {
            pos += len;
            count += 1;
            if pos == data.len() {
                break;
            }
        }
        count
    });
    measure(label, "(c) rmpv read_value_ref + visit", n, bytes, || {
        let mut rd = &data[..];
        let mut acc = 0;
        while !rd.is_empty() {
            let v = rmpv::decode::read_value_ref(&mut rd).expect("bench data decodes");
            acc += visit_rmpv(&v);
        }
        acc
    });
    let mut out = Vec::with_capacity(bytes * 2);
    measure(label, "(d) encode with the builder", n, bytes, || {
        out.clear();
        let mut enc = Encoder::new(&mut out);
        for (i, r) in records.iter().enumerate() {
            build(&mut enc, time(i), r);
        }
        enc.records() as u64
    });
    assert!(out == data, "the builder writes the same bytes every time");
    measure(label, "(e) encode via serde", n, bytes, || {
        out.clear();
        let mut enc = Encoder::new(&mut out);
        for (i, r) in records.iter().enumerate() {
            enc.serialize(time(i), r).expect("bench records serialize");
        }
        enc.records() as u64
    });
    assert!(out == data, "serde writes the same bytes as the builder");
    let format = JsonFormat {
        tag_key: Some("tag"),
        ..JsonFormat::default()
    };
    measure(
        label,
        "(f) JSON lines (time + tag + body)",
        n,
        bytes,
        || {
            out.clear();
            for event in Events::new(&data) {
                format.write_event(
                    &mut out,
                    &event.expect("bench data decodes"),
                    "kube.var.log",
                );
            }
            out.len() as u64
        },
    );
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (such as `cargo test --all-targets`) gets a
    // quick pass that only checks every case runs.
    if !std::env::args().any(|a| a == "--bench") {
        QUICK.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    run("small records (~100 B)", 10_000, small, build_small);
    run(
        "large kubernetes records (~1 KB)",
        2_000,
        large,
        build_large,
    );
}
