//! Reading records allocates nothing: a counting global allocator proves it for iterating,
//! visiting every key and value, looking fields up, deserializing into borrowed structs and
//! writing JSON or records into buffers that already have room.

// A counting global allocator (GlobalAlloc is an unsafe trait); the crate denies unsafe_code
// outside src/abi/ and its tests opt out here only.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use fluent_bit_plugin_sdk::event::{Encoder, EventTime, Events, JsonFormat, Value};
use serde::Deserialize;

struct Counting;

thread_local! {
    // Const-initialized thread-locals never allocate, so the allocator may use them.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialized thread-local that does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made on this thread while running `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = black_box(f());
    (ALLOCATIONS.with(Cell::get) - before, result)
}

fn flush_data(records: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut enc = Encoder::new(&mut buf);
    for i in 0..records {
        enc.record(EventTime::new(1_700_000_000 + u64::from(i), i).expect("valid"))
            .metadata(|m| {
                m.str("trace_id", "4bf92f3577b34da6");
            })
            .str("log", "GET /api/v1/users/1842 HTTP/1.1 200 512 12ms")
            .str("stream", if i % 2 == 0 { "stdout" } else { "stderr" })
            .uint("status", 200)
            .float("duration", 0.012)
            .bin("raw", b"\x00\x01")
            .map("kubernetes", |k| {
                k.str("pod_name", "web-7d4b9")
                    .str("namespace_name", "default")
                    .map("labels", |l| {
                        l.str("app", "web").str("tier", "frontend");
                    });
            })
            .array("tags", |a| {
                a.str("a").int(-1).null();
            });
    }
    buf
}

fn visit(v: &Value<'_>) -> usize {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| visit(&k) + visit(&v)).sum(),
        Value::Array(a) => a.iter().map(|v| visit(&v)).sum(),
        Value::Str(s) => s.as_str().map_or(0, |s| s.bytes().map(usize::from).sum()),
        Value::Bin(b) => b.len(),
        other => usize::from(other.as_u64().is_some()),
    }
}

#[derive(Deserialize)]
struct Borrowed<'a> {
    log: &'a str,
    status: u16,
    #[serde(borrow)]
    kubernetes: Kubernetes<'a>,
}

#[derive(Deserialize)]
struct Kubernetes<'a> {
    pod_name: &'a str,
}

#[test]
fn reading_encoding_and_json_allocate_nothing_per_record() {
    const RECORDS: u32 = 2_000;
    let data = flush_data(RECORDS);
    let (n, _) = allocations(|| Vec::<u8>::with_capacity(16));
    assert_eq!(n, 1, "the counter sees allocations");

    let (n, (records, total)) = allocations(|| {
        let mut records = 0;
        let mut total = 0;
        for event in Events::new(&data) {
            let event = event.expect("decodes");
            records += 1;
            total += event.time().nsec() as usize;
            total += visit(&Value::Map(event.body())) + visit(&Value::Map(event.metadata()));
            total += event
                .body()
                .get("status")
                .and_then(|v| v.as_u64())
                .unwrap_or(0) as usize;
            let k8s = event
                .body()
                .get("kubernetes")
                .and_then(|v| v.as_map())
                .expect("map");
            total += k8s.get_str("pod_name").map_or(0, |s| s.len());
        }
        (records, total)
    });
    assert_eq!(records, RECORDS);
    assert!(total > 0);
    assert_eq!(
        n, 0,
        "decoding and visiting {RECORDS} records allocated {n} times"
    );

    let (n, sum) = allocations(|| {
        let mut sum = 0usize;
        for event in Events::new(&data) {
            let record: Borrowed<'_> = event.expect("decodes").deserialize().expect("matches");
            sum += record.log.len() + usize::from(record.status) + record.kubernetes.pod_name.len();
        }
        sum
    });
    assert!(sum > 0);
    assert_eq!(
        n, 0,
        "deserializing into borrowed structs allocated {n} times"
    );

    let mut json = Vec::with_capacity(data.len() * 4);
    let format = JsonFormat {
        tag_key: Some("tag"),
        metadata_key: Some("meta"),
        ..JsonFormat::default()
    };
    let (n, ()) = allocations(|| {
        for event in Events::new(&data) {
            format.write_event(&mut json, &event.expect("decodes"), "app.logs");
        }
    });
    assert_eq!(
        n, 0,
        "writing JSON into a buffer with room allocated {n} times"
    );
    assert_eq!(
        json.iter().filter(|&&b| b == b'\n').count(),
        RECORDS as usize
    );

    let mut out = Vec::with_capacity(data.len() * 2);
    let (n, ()) = allocations(|| {
        let mut enc = Encoder::new(&mut out);
        for event in Events::new(&data) {
            let event = event.expect("decodes");
            enc.record(event.time())
                .extend(&event.body())
                .str("added", "field")
                .map("nested", |m| {
                    m.uint("n", 1);
                });
        }
    });
    assert_eq!(n, 0, "encoding into a buffer with room allocated {n} times");
    assert_eq!(Events::count_records(&out), Ok(RECORDS as usize));
}
