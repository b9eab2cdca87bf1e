//! Decoding hand-written flush data: every record shape, timestamp encoding and msgpack type.

use fluent_bit_plugin_sdk::event::{EventKind, EventTime, Events, Map, Shape, Value};

/// `[[EventTime(0x6553f100, 5), {}], {"message": "hello"}]`, byte for byte what the `dummy`
/// input produces (`docs/fluent-bit-abi.md` section 7).
const DUMMY: &[u8] =
    b"\x92\x92\xd7\x00\x65\x53\xf1\x00\x00\x00\x00\x05\x80\x81\xa7message\xa5hello";

fn only_event(data: &[u8]) -> fluent_bit_plugin_sdk::event::Event<'_> {
    let events: Vec<_> = Events::new(data)
        .collect::<Result<_, _>>()
        .expect("data decodes");
    assert_eq!(events.len(), 1, "exactly one record");
    events[0]
}

fn str_of<'a>(map: &Map<'a>, key: &str) -> &'a str {
    map.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no string field {key}"))
}

#[test]
fn dummy_input_record() {
    let e = only_event(DUMMY);
    assert_eq!(e.shape(), Shape::V2);
    assert_eq!(e.kind(), EventKind::Log);
    assert_eq!(e.time(), EventTime::new(0x6553_f100, 5).unwrap());
    assert!(e.metadata().is_empty());
    assert_eq!(e.body().len(), 1);
    assert_eq!(str_of(&e.body(), "message"), "hello");
    assert_eq!(e.raw(), DUMMY);
    assert_eq!(e.time().to_string(), "2023-11-14T22:13:20.000000005Z");
}

#[test]
fn legacy_records_with_every_timestamp_encoding() {
    let cases: &[(&[u8], EventTime)] = &[
        (b"\x92\x05\x81\xa1a\x01", EventTime::from_secs(5)),
        (b"\x92\xcc\xc8\x81\xa1a\x01", EventTime::from_secs(200)),
        (b"\x92\xcd\x01\x00\x81\xa1a\x01", EventTime::from_secs(256)),
        (
            b"\x92\xce\x65\x53\xf1\x00\x81\xa1a\x01",
            EventTime::from_secs(1_700_000_000),
        ),
        (
            b"\x92\xcf\x00\x00\x00\x01\x00\x00\x00\x00\x81\xa1a\x01",
            EventTime::from_secs(1 << 32),
        ),
        // A non-negative value in a signed encoding is still a valid time.
        (
            b"\x92\xd2\x65\x53\xf1\x00\x81\xa1a\x01",
            EventTime::from_secs(1_700_000_000),
        ),
        // float64 1700000000.25
        (
            b"\x92\xcb\x41\xd9\x54\xfc\x40\x10\x00\x00\x81\xa1a\x01",
            EventTime::new(1_700_000_000, 250_000_000).unwrap(),
        ),
        // float32 1.5
        (
            b"\x92\xca\x3f\xc0\x00\x00\x81\xa1a\x01",
            EventTime::new(1, 500_000_000).unwrap(),
        ),
        // EventTime as fixext8 and as ext8 with length 8
        (
            b"\x92\xd7\x00\x00\x00\x00\x07\x00\x00\x00\x09\x81\xa1a\x01",
            EventTime::new(7, 9).unwrap(),
        ),
        (
            b"\x92\xc7\x08\x00\x00\x00\x00\x07\x00\x00\x00\x09\x81\xa1a\x01",
            EventTime::new(7, 9).unwrap(),
        ),
    ];
    for (bytes, time) in cases {
        let e = only_event(bytes);
        assert_eq!(e.shape(), Shape::Legacy, "{bytes:02x?}");
        assert_eq!(e.time(), *time, "{bytes:02x?}");
        assert!(e.metadata().is_empty());
        assert_eq!(e.body().get("a"), Some(Value::UInt(1)));
        assert_eq!(e.raw(), *bytes);
    }
}

#[test]
fn v2_records_with_every_timestamp_encoding_and_metadata() {
    let cases: &[(&[u8], EventTime)] = &[
        (b"\x92\x92\x2a\x81\xa3src\xa4test\x81\xa1k\xa1v", EventTime::from_secs(42)),
        (b"\x92\x92\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\x81\xa3src\xa4test\x81\xa1k\xa1v", EventTime::new(1, 500_000_000).unwrap()),
        (b"\x92\x92\xc7\x08\x00\x00\x00\x00\x01\x00\x00\x00\x02\x81\xa3src\xa4test\x81\xa1k\xa1v", EventTime::new(1, 2).unwrap()),
        // array16 headers and a map16 body are legal encodings of the same shape
        (b"\xdc\x00\x02\xdc\x00\x02\xd7\x00\x00\x00\x00\x01\x00\x00\x00\x02\x81\xa3src\xa4test\xde\x00\x01\xa1k\xa1v", EventTime::new(1, 2).unwrap()),
    ];
    for (bytes, time) in cases {
        let e = only_event(bytes);
        assert_eq!(e.shape(), Shape::V2);
        assert_eq!(e.time(), *time);
        assert_eq!(str_of(&e.metadata(), "src"), "test");
        assert_eq!(str_of(&e.body(), "k"), "v");
        assert_eq!(e.raw(), *bytes);
    }
}

/// A group start, a log record and a group end, as OpenTelemetry inputs write them.
fn grouped() -> Vec<u8> {
    let mut data = Vec::new();
    data.extend_from_slice(b"\x92\x92\xd7\x00\xff\xff\xff\xff\x00\x00\x00\x00\x81\xa6schema\xa4otlp\x81\xa8resource\x80");
    data.extend_from_slice(DUMMY);
    data.extend_from_slice(b"\x92\x92\xd7\x00\xff\xff\xff\xfe\x00\x00\x00\x00\x80\x80");
    data
}

#[test]
fn group_markers_are_skipped_and_counted() {
    let data = grouped();
    let mut events = Events::new(&data);
    let logs: Vec<_> = events.by_ref().map(|e| e.expect("decodes")).collect();
    assert_eq!(logs.len(), 1);
    assert_eq!(str_of(&logs[0].body(), "message"), "hello");
    assert_eq!(events.group_markers_skipped(), 2);
    assert_eq!(Events::count_records(&data), Ok(1));
}

#[test]
fn group_markers_can_be_seen() {
    let data = grouped();
    let kinds: Vec<_> = Events::new(&data)
        .with_group_markers()
        .map(|e| e.expect("decodes"))
        .collect();
    assert_eq!(
        kinds.iter().map(|e| e.kind()).collect::<Vec<_>>(),
        [EventKind::GroupStart, EventKind::Log, EventKind::GroupEnd]
    );
    assert_eq!(str_of(&kinds[0].metadata(), "schema"), "otlp");
    assert!(kinds[0].time().is_group_marker());
    assert_eq!(kinds[2].time(), EventTime::GROUP_END);
}

#[test]
fn an_integer_time_of_4294967295_is_not_a_group_marker() {
    let e = only_event(b"\x92\xce\xff\xff\xff\xff\x80");
    assert_eq!(e.kind(), EventKind::Log);
    assert_eq!(e.time(), EventTime::GROUP_START);
}

#[test]
fn records_are_consecutive_and_raw_slices_cover_the_data() {
    let mut data = Vec::new();
    for _ in 0..3 {
        data.extend_from_slice(DUMMY);
        data.extend_from_slice(b"\x92\x05\x81\xa1a\x01");
    }
    let events: Vec<_> = Events::new(&data).map(|e| e.expect("decodes")).collect();
    assert_eq!(events.len(), 6);
    let joined: Vec<u8> = events
        .iter()
        .flat_map(|e| e.raw().iter().copied())
        .collect();
    assert_eq!(joined, data);
    assert_eq!(Events::count_records(&data), Ok(6));
    assert_eq!(Events::count_records(&[]), Ok(0));
}

/// A body holding every msgpack type marker, with what each must decode to.
fn every_type() -> (Vec<u8>, Vec<(&'static str, Value<'static>)>) {
    let big = vec![b'x'; 300];
    let huge = vec![b'y'; 70_000];
    let leaked_big: &'static [u8] = Box::leak(big.clone().into_boxed_slice());
    let leaked_huge: &'static [u8] = Box::leak(huge.clone().into_boxed_slice());
    let mut fields: Vec<(&'static str, Vec<u8>, Option<Value<'static>>)> = vec![
        ("nil", vec![0xc0], Some(Value::Nil)),
        ("false", vec![0xc2], Some(Value::Bool(false))),
        ("true", vec![0xc3], Some(Value::Bool(true))),
        ("fixint", vec![0x7f], Some(Value::UInt(127))),
        ("negfixint", vec![0xe0], Some(Value::Int(-32))),
        ("u8", vec![0xcc, 0xff], Some(Value::UInt(255))),
        ("u16", vec![0xcd, 0xff, 0xfe], Some(Value::UInt(65534))),
        (
            "u32",
            vec![0xce, 0xff, 0xff, 0xff, 0xfd],
            Some(Value::UInt(4_294_967_293)),
        ),
        (
            "u64",
            vec![0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            Some(Value::UInt(u64::MAX)),
        ),
        ("i8", vec![0xd0, 0x80], Some(Value::Int(-128))),
        ("i8pos", vec![0xd0, 0x05], Some(Value::UInt(5))),
        ("i16", vec![0xd1, 0x80, 0x00], Some(Value::Int(-32768))),
        (
            "i32",
            vec![0xd2, 0xff, 0xff, 0xff, 0xfe],
            Some(Value::Int(-2)),
        ),
        (
            "i64",
            vec![0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],
            Some(Value::Int(i64::MIN)),
        ),
        ("f32", vec![0xca, 0x3f, 0xc0, 0, 0], Some(Value::F32(1.5))),
        (
            "f64",
            vec![0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18],
            Some(Value::F64(std::f64::consts::PI)),
        ),
        ("fixstr", b"\xa3abc".to_vec(), None),
        ("str8", [&[0xd9, 44][..], &[b'z'; 44]].concat(), None),
        ("str16", [&[0xda, 0x01, 0x2c][..], &big].concat(), None),
        (
            "str32",
            [&[0xdb, 0, 1, 0x11, 0x70][..], &huge].concat(),
            None,
        ),
        ("bin8", vec![0xc4, 2, 1, 2], Some(Value::Bin(&[1, 2]))),
        (
            "bin16",
            [&[0xc5, 0x01, 0x2c][..], &big].concat(),
            Some(Value::Bin(leaked_big)),
        ),
        (
            "bin32",
            [&[0xc6, 0, 1, 0x11, 0x70][..], &huge].concat(),
            Some(Value::Bin(leaked_huge)),
        ),
        (
            "fixext1",
            vec![0xd4, 0x05, 0xaa],
            Some(Value::Ext(5, &[0xaa])),
        ),
        (
            "fixext2",
            vec![0xd5, 0xfe, 1, 2],
            Some(Value::Ext(-2, &[1, 2])),
        ),
        (
            "fixext4",
            vec![0xd6, 0x01, 1, 2, 3, 4],
            Some(Value::Ext(1, &[1, 2, 3, 4])),
        ),
        (
            "fixext8",
            vec![0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 2],
            Some(Value::Ext(0, &[0, 0, 0, 1, 0, 0, 0, 2])),
        ),
        (
            "fixext16",
            [&[0xd8, 0x07][..], &[9; 16]].concat(),
            Some(Value::Ext(7, &[9; 16])),
        ),
        (
            "ext8",
            vec![0xc7, 3, 0x10, 1, 2, 3],
            Some(Value::Ext(16, &[1, 2, 3])),
        ),
        (
            "ext16",
            vec![0xc8, 0, 3, 0x10, 1, 2, 3],
            Some(Value::Ext(16, &[1, 2, 3])),
        ),
        (
            "ext32",
            vec![0xc9, 0, 0, 0, 3, 0x10, 1, 2, 3],
            Some(Value::Ext(16, &[1, 2, 3])),
        ),
        ("fixarray", vec![0x92, 0x01, 0xa1, b'b'], None),
        ("array16", vec![0xdc, 0, 2, 0x01, 0xa1, b'b'], None),
        ("array32", vec![0xdd, 0, 0, 0, 2, 0x01, 0xa1, b'b'], None),
        ("fixmap", vec![0x81, 0xa1, b'n', 0x02], None),
        ("map16", vec![0xde, 0, 1, 0xa1, b'n', 0x02], None),
        ("map32", vec![0xdf, 0, 0, 0, 1, 0xa1, b'n', 0x02], None),
    ];
    let mut body = vec![0xde, 0, fields.len() as u8];
    for (key, bytes, _) in &fields {
        body.push(0xa0 | key.len() as u8);
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(bytes);
    }
    let mut record = b"\x92\x92\xd7\x00\x00\x00\x00\x01\x00\x00\x00\x00\x80".to_vec();
    record.extend_from_slice(&body);
    let expected = fields
        .drain(..)
        .filter_map(|(k, _, v)| v.map(|v| (k, v)))
        .collect();
    (record, expected)
}

#[test]
fn every_msgpack_type_decodes() {
    let (record, expected) = every_type();
    let e = only_event(&record);
    let body = e.body();
    assert_eq!(body.len(), 37);
    for (key, value) in expected {
        assert_eq!(body.get(key), Some(value), "field {key}");
    }
    assert_eq!(str_of(&body, "fixstr"), "abc");
    assert_eq!(str_of(&body, "str8"), "z".repeat(44));
    assert_eq!(
        body.get("str16")
            .and_then(|v| v.as_bytes())
            .map(<[u8]>::len),
        Some(300)
    );
    assert_eq!(
        body.get("str32")
            .and_then(|v| v.as_bytes())
            .map(<[u8]>::len),
        Some(70_000)
    );
    for key in ["fixarray", "array16", "array32"] {
        let array = body.get(key).and_then(|v| v.as_array()).expect("an array");
        let items: Vec<_> = array.iter().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], Value::UInt(1));
        assert_eq!(items[1].as_str(), Some("b"));
    }
    for key in ["fixmap", "map16", "map32"] {
        let map = body.get(key).and_then(|v| v.as_map()).expect("a map");
        assert_eq!(map.get("n"), Some(Value::UInt(2)), "{key}");
        assert_eq!(map.get("missing"), None);
    }
}

/// Our view of a value against rmpv's decoding of the same bytes.
fn same_as_rmpv(ours: &Value<'_>, theirs: &rmpv::Value) -> bool {
    use rmpv::Value as R;
    match (ours, theirs) {
        (Value::Nil, R::Nil) => true,
        (Value::Bool(a), R::Boolean(b)) => a == b,
        (Value::Int(a), R::Integer(b)) => b.as_i64() == Some(*a),
        (Value::UInt(a), R::Integer(b)) => b.as_u64() == Some(*a),
        (Value::F32(a), R::F32(b)) => a.to_bits() == b.to_bits(),
        (Value::F64(a), R::F64(b)) => a.to_bits() == b.to_bits(),
        (Value::Str(a), R::String(b)) => a.as_bytes() == b.as_bytes(),
        (Value::Bin(a), R::Binary(b)) => a == &b.as_slice(),
        (Value::Ext(t, d), R::Ext(u, e)) => t == u && d == &e.as_slice(),
        (Value::Array(a), R::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_as_rmpv(&x, y))
        }
        (Value::Map(a), R::Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((k, v), (rk, rv))| same_as_rmpv(&k, rk) && same_as_rmpv(&v, rv))
        }
        _ => false,
    }
}

#[test]
fn every_msgpack_type_matches_rmpv() {
    let (record, _) = every_type();
    let e = only_event(&record);
    let theirs = rmpv::decode::read_value(&mut &record[..]).expect("rmpv decodes it");
    let body = &theirs.as_array().expect("record array")[1];
    assert!(same_as_rmpv(&Value::Map(e.body()), body));
    // Whole values validate on their own too.
    let value = Value::from_slice(e.body().raw()).expect("the body is one value");
    assert!(same_as_rmpv(&value, body));
}

#[test]
fn nested_maps_and_arrays() {
    let data = b"\x92\x92\xd7\x00\x00\x00\x00\x01\x00\x00\x00\x00\x80\x82\
        \xaakubernetes\x82\xa3pod\xa5web-1\xa6labels\x81\xa3app\xa3web\
        \xa4tags\x93\xa1a\x92\x01\x02\x80";
    let e = only_event(data);
    let k8s = e
        .body()
        .get("kubernetes")
        .and_then(|v| v.as_map())
        .expect("kubernetes map");
    assert_eq!(
        k8s.get_str("pod").map(|s| s.to_string()),
        Some("web-1".into())
    );
    let labels = k8s.get("labels").and_then(|v| v.as_map()).expect("labels");
    assert_eq!(labels.get("app").and_then(|v| v.as_str()), Some("web"));
    let tags: Vec<_> = e
        .body()
        .get("tags")
        .and_then(|v| v.as_array())
        .expect("tags")
        .iter()
        .collect();
    assert_eq!(tags.len(), 3);
    assert_eq!(
        tags[1]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_u64()).sum::<u64>()),
        Some(3)
    );
    assert_eq!(tags[2].as_map().map(|m| m.len()), Some(0));
    assert_eq!(
        format!("{:?}", e.body()),
        r#"{"kubernetes": {"pod": "web-1", "labels": {"app": "web"}}, "tags": ["a", [1, 2], {}]}"#
    );
}

#[test]
fn invalid_utf8_is_the_callers_choice() {
    let data = b"\x92\x05\x81\xa3msg\xa4ab\xffc";
    let e = only_event(data);
    let s = e.body().get_str("msg").expect("a string");
    assert!(s.as_str().is_err());
    assert_eq!(s.as_bytes(), b"ab\xffc");
    assert_eq!(s.to_str_lossy(), "ab\u{FFFD}c");
    assert_eq!(s.to_string(), "ab\u{FFFD}c");
    assert_eq!(e.body().get("msg").and_then(|v| v.as_str()), None);
}

#[test]
fn value_accessors() {
    assert_eq!(Value::UInt(5).as_i64(), Some(5));
    assert_eq!(Value::UInt(u64::MAX).as_i64(), None);
    assert_eq!(Value::Int(-5).as_u64(), None);
    assert_eq!(Value::Int(-5).as_f64(), Some(-5.0));
    assert_eq!(Value::F32(0.5).as_f64(), Some(0.5));
    assert_eq!(Value::Bool(true).as_bool(), Some(true));
    assert!(Value::Nil.is_nil());
    assert_eq!(Value::Bin(b"ab").as_bytes(), Some(&b"ab"[..]));
    assert_eq!(Value::Ext(1, &[]).type_name(), "ext");
}
