//! The encoder: exact bytes, round trips through our decoder and rmpv, and misuse.

use std::panic::{AssertUnwindSafe, catch_unwind};

use fluent_bit_plugin_sdk::event::{Encoder, EventTime, Events, Shape, Value};
use serde::Serialize;

const DUMMY: &[u8] =
    b"\x92\x92\xd7\x00\x65\x53\xf1\x00\x00\x00\x00\x05\x80\x81\xa7message\xa5hello";

fn t(sec: u64, nsec: u32) -> EventTime {
    EventTime::new(sec, nsec).expect("valid time")
}

fn decode_all(data: &[u8]) -> Vec<fluent_bit_plugin_sdk::event::Event<'_>> {
    Events::new(data)
        .collect::<Result<_, _>>()
        .expect("encoded data decodes")
}

/// rmpv's view of every record in `data`, checking it consumes the bytes exactly.
fn rmpv_records(data: &[u8]) -> Vec<rmpv::Value> {
    let mut rd = data;
    let mut out = Vec::new();
    while !rd.is_empty() {
        out.push(rmpv::decode::read_value(&mut rd).expect("rmpv decodes the encoder's output"));
    }
    out
}

#[test]
fn builder_writes_the_same_bytes_as_fluent_bit() {
    let mut buf = Vec::new();
    let mut enc = Encoder::new(&mut buf);
    enc.record(t(0x6553_f100, 5)).str("message", "hello");
    assert_eq!(enc.records(), 1);
    assert_eq!(buf, DUMMY);
}

#[test]
fn builder_round_trips_every_field_kind() {
    let mut buf = b"existing".to_vec();
    let start = buf.len();
    let mut enc = Encoder::new(&mut buf);
    enc.record(t(1_700_000_000, 123_456_789))
        .metadata(|m| {
            m.str("source", "collector").uint("attempt", 2);
        })
        .str("s", "text")
        .str_bytes("raw", b"\xffbytes")
        .int("neg", -70_000)
        .int("small_neg", -3)
        .uint("big", u64::MAX)
        .float("pi", 3.25)
        .bool("yes", true)
        .null("nothing")
        .bin("blob", &[0, 1, 2])
        .time("at", t(5, 6))
        .map("nested", |m| {
            m.str("a", "b").array("list", |a| {
                a.int(-1)
                    .uint(1)
                    .str("x")
                    .null()
                    .bool(false)
                    .float(0.5)
                    .bin(b"z")
                    .map(|m| {
                        m.int("deep", 1);
                    });
            });
        })
        .array("empty", |_| {});
    enc.record(t(2, 0)).finish();
    assert_eq!(enc.records(), 2);
    assert_eq!(&buf[..start], b"existing", "the encoder appends");
    let data = &buf[start..];

    let events = decode_all(data);
    assert_eq!(events.len(), 2);
    let e = events[0];
    assert_eq!(e.shape(), Shape::V2);
    assert_eq!(e.time(), t(1_700_000_000, 123_456_789));
    assert_eq!(
        e.metadata().get("source").and_then(|v| v.as_str()),
        Some("collector")
    );
    assert_eq!(e.metadata().get("attempt"), Some(Value::UInt(2)));
    let b = e.body();
    assert_eq!(b.len(), 12);
    assert_eq!(b.get("s").and_then(|v| v.as_str()), Some("text"));
    assert_eq!(
        b.get("raw").and_then(|v| v.as_bytes()),
        Some(&b"\xffbytes"[..])
    );
    assert_eq!(b.get("neg"), Some(Value::Int(-70_000)));
    assert_eq!(b.get("small_neg"), Some(Value::Int(-3)));
    assert_eq!(b.get("big"), Some(Value::UInt(u64::MAX)));
    assert_eq!(b.get("pi"), Some(Value::F64(3.25)));
    assert_eq!(b.get("yes"), Some(Value::Bool(true)));
    assert_eq!(b.get("nothing"), Some(Value::Nil));
    assert_eq!(b.get("blob"), Some(Value::Bin(&[0, 1, 2])));
    assert_eq!(b.get("at"), Some(Value::Ext(0, &[0, 0, 0, 5, 0, 0, 0, 6])));
    let nested = b
        .get("nested")
        .and_then(|v| v.as_map())
        .expect("nested map");
    let list: Vec<_> = nested
        .get("list")
        .and_then(|v| v.as_array())
        .expect("list")
        .iter()
        .collect();
    assert_eq!(list.len(), 8);
    assert_eq!(list[0], Value::Int(-1));
    assert_eq!(list[5], Value::F64(0.5));
    assert_eq!(
        list[7].as_map().and_then(|m| m.get("deep")),
        Some(Value::UInt(1))
    );
    assert_eq!(
        b.get("empty").and_then(|v| v.as_array()).map(|a| a.len()),
        Some(0)
    );
    assert!(events[1].body().is_empty());

    let theirs = rmpv_records(data);
    assert_eq!(theirs.len(), 2);
    let record = theirs[0].as_array().expect("record");
    let header = record[0].as_array().expect("header");
    assert_eq!(
        header[0],
        rmpv::Value::Ext(0, vec![0x65, 0x53, 0xf1, 0x00, 0x07, 0x5b, 0xcd, 0x15])
    );
    assert_eq!(record[1].as_map().map(Vec::len), Some(12));
}

#[test]
fn large_maps_and_arrays_grow_their_headers() {
    for n in [15u32, 16, 65_535, 65_536] {
        let mut buf = Vec::new();
        let mut enc = Encoder::new(&mut buf);
        let mut r = enc.record(t(1, 0));
        for i in 0..n {
            r.uint(&format!("k{i}"), u64::from(i));
        }
        r.array("items", |a| {
            for i in 0..n {
                a.uint(u64::from(i));
            }
        });
        r.finish();
        let events = decode_all(&buf);
        let body = events[0].body();
        assert_eq!(body.len() as u32, n + 1, "{n} fields");
        let expected_header: &[u8] = match n + 1 {
            16 => &[0xde, 0x00, 0x10],
            17 => &[0xde, 0x00, 0x11],
            0x1_0000 => &[0xdf, 0x00, 0x01, 0x00, 0x00],
            _ => &[0xdf, 0x00, 0x01, 0x00, 0x01],
        };
        assert!(
            body.raw().starts_with(expected_header),
            "{n}: {:02x?}",
            &body.raw()[..5]
        );
        assert_eq!(
            body.get(&format!("k{}", n - 1)),
            Some(Value::UInt(u64::from(n - 1)))
        );
        let items = body.get("items").and_then(|v| v.as_array()).expect("items");
        assert_eq!(items.len() as u32, n);
        assert_eq!(items.iter().last(), Some(Value::UInt(u64::from(n - 1))));
        assert_eq!(rmpv_records(&buf).len(), 1);
    }
}

#[test]
fn metadata_added_after_body_fields_is_moved_in_front() {
    let mut buf = Vec::new();
    let mut enc = Encoder::new(&mut buf);
    let mut r = enc.record(t(1, 0));
    r.str("message", "late metadata");
    r.metadata(|m| {
        m.str("trace_id", "abc");
    });
    r.int("after", 1);
    r.metadata(|m| {
        m.bool("second", true);
    });
    drop(r);
    let e = decode_all(&buf)[0];
    assert_eq!(
        e.metadata().get("trace_id").and_then(|v| v.as_str()),
        Some("abc")
    );
    assert_eq!(e.metadata().get("second"), Some(Value::Bool(true)));
    assert_eq!(
        e.body().get("message").and_then(|v| v.as_str()),
        Some("late metadata")
    );
    assert_eq!(e.body().get("after"), Some(Value::UInt(1)));
    assert_eq!(e.body().len(), 2);
}

#[test]
fn a_panic_while_building_still_leaves_valid_records() {
    let mut buf = Vec::new();
    let mut enc = Encoder::new(&mut buf);
    let result = catch_unwind(AssertUnwindSafe(|| {
        enc.record(t(1, 0)).str("before", "x").map("partial", |m| {
            m.str("a", "b");
            panic!("user code failed mid-record");
        });
    }));
    assert!(result.is_err());
    enc.record(t(2, 0)).str("next", "record");
    assert_eq!(enc.records(), 2);
    let events = decode_all(&buf);
    assert_eq!(events.len(), 2);
    let partial = events[0]
        .body()
        .get("partial")
        .and_then(|v| v.as_map())
        .expect("closed map");
    assert_eq!(partial.get("a").and_then(|v| v.as_str()), Some("b"));
    assert_eq!(
        events[1].body().get("next").and_then(|v| v.as_str()),
        Some("record")
    );
}

#[test]
fn times_past_2106_fall_back_to_integer_seconds() {
    let mut buf = Vec::new();
    Encoder::new(&mut buf).record(t(1 << 33, 7)).str("k", "v");
    let e = decode_all(&buf)[0];
    assert_eq!(e.time(), EventTime::from_secs(1 << 33));
}

#[test]
fn copying_decoded_values_and_records() {
    let mut source = Vec::new();
    Encoder::new(&mut source)
        .record(t(9, 9))
        .str("msg", "hi")
        .map("k8s", |m| {
            m.str("pod", "p").array("ports", |a| {
                a.uint(80).uint(443);
            });
        });
    let original = decode_all(&source)[0];

    let mut buf = Vec::new();
    let mut enc = Encoder::new(&mut buf);
    enc.push_event(&original);
    enc.record(original.time())
        .extend(&original.body())
        .str("added", "yes");
    let mut copy = enc.record(original.time());
    for (k, v) in original.body() {
        copy.value(k.as_str().expect("utf-8 key"), &v);
    }
    copy.finish();
    assert_eq!(enc.records(), 3);

    let events = decode_all(&buf);
    assert_eq!(events[0].raw(), original.raw());
    assert_eq!(events[1].body().len(), 3);
    assert_eq!(events[1].body().get("k8s"), original.body().get("k8s"));
    assert_eq!(
        events[1].body().get("added").and_then(|v| v.as_str()),
        Some("yes")
    );
    assert_eq!(events[2].raw(), original.raw());
}

#[derive(Serialize)]
struct Line<'a> {
    message: &'a str,
    level: Level,
    pid: u32,
    tags: Vec<&'a str>,
    host: Option<&'a str>,
}

#[derive(Serialize)]
enum Level {
    Warn,
}

#[test]
fn serialize_writes_named_fields() {
    let mut buf = Vec::new();
    let mut enc = Encoder::new(&mut buf);
    let line = Line {
        message: "disk full",
        level: Level::Warn,
        pid: 42,
        tags: vec!["a", "b"],
        host: None,
    };
    enc.serialize(t(3, 4), &line).expect("a struct is a map");
    enc.serialize_with_metadata(
        t(5, 0),
        &[("source", "x")]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
        &line,
    )
    .expect("maps serialize");
    assert_eq!(enc.records(), 2);
    let events = decode_all(&buf);
    let b = events[0].body();
    assert_eq!(b.get("message").and_then(|v| v.as_str()), Some("disk full"));
    assert_eq!(b.get("level").and_then(|v| v.as_str()), Some("Warn"));
    assert_eq!(b.get("pid"), Some(Value::UInt(42)));
    assert_eq!(
        b.get("tags").and_then(|v| v.as_array()).map(|a| a.len()),
        Some(2)
    );
    assert_eq!(b.get("host"), Some(Value::Nil));
    assert_eq!(events[0].time(), t(3, 4));
    assert_eq!(
        events[1].metadata().get("source").and_then(|v| v.as_str()),
        Some("x")
    );
    assert_eq!(rmpv_records(&buf).len(), 2);
}

struct Failing;

impl Serialize for Failing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("ok", &1)?;
        Err(S::Error::custom("the clock went backwards"))
    }
}

#[test]
fn serialize_errors_leave_the_buffer_unchanged() {
    let mut buf = Vec::new();
    let mut enc = Encoder::new(&mut buf);
    enc.record(t(1, 0)).str("keep", "me");
    let before = enc.as_bytes().to_vec();

    let err = enc
        .serialize(t(1, 0), &5u32)
        .expect_err("an int is not a map");
    assert_eq!(
        err.to_string(),
        "the record body must serialize to a map (a struct with named fields or a map), but it serialized to int"
    );
    let err = enc
        .serialize(t(1, 0), &vec!["a"])
        .expect_err("a list is not a map");
    assert!(
        err.to_string().ends_with("but it serialized to array"),
        "{err}"
    );
    let err = enc.serialize_with_metadata(
        t(1, 0),
        &"meta",
        &Line {
            message: "",
            level: Level::Warn,
            pid: 0,
            tags: vec![],
            host: None,
        },
    );
    assert!(
        err.expect_err("a string is not a map")
            .to_string()
            .starts_with("the record metadata must")
    );
    let err = enc
        .serialize(t(1, 0), &Failing)
        .expect_err("the impl fails");
    assert!(
        err.to_string().contains("the clock went backwards"),
        "{err}"
    );

    assert_eq!(enc.records(), 1);
    assert_eq!(enc.as_bytes(), &before[..]);
    assert_eq!(decode_all(&buf).len(), 1);
}

#[test]
fn a_reused_buffer_keeps_its_capacity() {
    let mut buf = Vec::with_capacity(1 << 16);
    for round in 0..3u64 {
        buf.clear();
        let mut enc = Encoder::new(&mut buf);
        for i in 0..100 {
            enc.record(t(round, i))
                .str("message", "steady")
                .uint("i", u64::from(i));
        }
        assert_eq!(enc.records(), 100);
        assert_eq!(Events::count_records(&buf), Ok(100));
    }
    assert_eq!(buf.capacity(), 1 << 16);
}
