//! JSON text and serde: what an output writing JSON lines or a plugin using serde sees.

use fluent_bit_plugin_sdk::event::json::{self, write_base64};
use fluent_bit_plugin_sdk::event::{
    Encoder, EventTime, Events, JsonFormat, Map, TimeFormat, Value,
};
use serde::Deserialize;

fn json_of(msgpack: &[u8]) -> String {
    let value = Value::from_slice(msgpack).expect("valid msgpack");
    let mut out = Vec::new();
    json::write_value(&mut out, &value);
    String::from_utf8(out).expect("JSON output is UTF-8")
}

#[test]
fn strings_are_escaped_and_invalid_utf8_replaced() {
    assert_eq!(json_of(b"\xa5a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(json_of(b"\xa6\n\t\r\x08\x0c\x01"), r#""\n\t\r\b\f\u0001""#);
    assert_eq!(json_of(b"\xa1\x1f"), r#""\u001f""#);
    let unicode = "\u{a5}é✓ 😀";
    let fixstr: Vec<u8> = [0xa0 | unicode.len() as u8]
        .into_iter()
        .chain(unicode.bytes())
        .collect();
    assert_eq!(
        json_of(&fixstr),
        format!("\"{unicode}\""),
        "non-ASCII passes through"
    );
    assert_eq!(json_of(b"\xa4ab\xffc"), "\"ab\u{FFFD}c\"");
    assert_eq!(json_of(b"\xa3\xe2\x82x"), "\"\u{FFFD}x\"");
    assert_eq!(json_of(b"\xa0"), r#""""#);
}

#[test]
fn numbers_bools_and_nil() {
    assert_eq!(json_of(b"\xc0"), "null");
    assert_eq!(json_of(b"\xc3"), "true");
    assert_eq!(json_of(b"\xc2"), "false");
    assert_eq!(json_of(b"\x00"), "0");
    assert_eq!(
        json_of(b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
        "18446744073709551615"
    );
    assert_eq!(
        json_of(b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
        "-9223372036854775808"
    );
    assert_eq!(json_of(b"\xe0"), "-32");
    assert_eq!(json_of(b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"), "1.5");
    assert_eq!(
        json_of(b"\xca\x3d\xcc\xcc\xcd"),
        "0.1",
        "float32 in its own shortest form"
    );
    assert_eq!(
        json_of(b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"),
        "null",
        "NaN"
    );
    assert_eq!(
        json_of(b"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00"),
        "null",
        "infinity"
    );
    assert_eq!(json_of(b"\xcb\x54\x47\x68\x8b\xb5\x39\x4c\x25"), "1e98");
    let tiny = json_of(b"\xcb\x3e\x7a\xd7\xf2\x9a\xbc\xaf\x48");
    assert_eq!(
        serde_json::from_str::<f64>(&tiny).ok(),
        Some(1e-7),
        "{tiny}"
    );
}

#[test]
fn binary_is_base64_and_ext_an_object() {
    let b64 = |data: &[u8]| {
        let mut out = Vec::new();
        write_base64(&mut out, data);
        String::from_utf8(out).expect("ascii")
    };
    // RFC 4648 test vectors.
    for (input, expected) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(b64(input.as_bytes()), format!("\"{expected}\""));
    }
    assert_eq!(json_of(b"\xc4\x03\xff\xfe\xfd"), r#""//79""#);
    assert_eq!(json_of(b"\xd4\xfe\x41"), r#"{"type":-2,"data":"QQ=="}"#);
}

#[test]
fn containers_and_non_string_keys() {
    assert_eq!(json_of(b"\x80"), "{}");
    assert_eq!(json_of(b"\x90"), "[]");
    assert_eq!(json_of(b"\x93\x01\x92\x02\x80\x90"), "[1,[2,{}],[]]");
    assert_eq!(
        json_of(b"\x83\xa1a\x81\xa1b\x91\xc0\x05\xc3\xc2\xa1x"),
        r#"{"a":{"b":[null]},"5":true,"false":"x"}"#
    );
    assert_eq!(
        json_of(b"\x82\x91\x01\x02\x81\x01\x02\x03"),
        r#"{"<array>":2,"<map>":3}"#
    );
    assert_eq!(
        json_of(b"\x82\xc4\x01\x41\x01\xd4\x01\x00\x02"),
        r#"{"QQ==":1,"<ext>":2}"#
    );
}

fn one_record() -> Vec<u8> {
    let mut buf = Vec::new();
    Encoder::new(&mut buf)
        .record(EventTime::new(1_700_000_000, 5).expect("valid"))
        .metadata(|m| {
            m.str("trace", "t1");
        })
        .str("log", "line \"quoted\"\n")
        .map("kubernetes", |k| {
            k.str("pod", "web").map("labels", |l| {
                l.str("app", "web");
            });
        })
        .array("codes", |a| {
            a.int(-1).float(2.5).null();
        });
    buf
}

#[test]
fn whole_events_as_json_lines() {
    let data = one_record();
    let event = Events::new(&data).next().expect("one").expect("decodes");
    let mut out = Vec::new();
    JsonFormat::default().write_event(&mut out, &event, "app.logs");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "{\"date\":1700000000.000000005,\"log\":\"line \\\"quoted\\\"\\n\",\
         \"kubernetes\":{\"pod\":\"web\",\"labels\":{\"app\":\"web\"}},\"codes\":[-1,2.5,null]}\n"
    );

    let format = JsonFormat {
        time_key: Some("@timestamp"),
        time_format: TimeFormat::Rfc3339,
        tag_key: Some("tag"),
        metadata_key: Some("meta"),
        newline: false,
    };
    let mut out = Vec::new();
    format.write_event(&mut out, &event, "app.logs");
    let parsed: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(parsed["@timestamp"], "2023-11-14T22:13:20.000000005Z");
    assert_eq!(parsed["tag"], "app.logs");
    assert_eq!(parsed["meta"]["trace"], "t1");
    assert_eq!(parsed["kubernetes"]["labels"]["app"], "web");

    let nanos = JsonFormat {
        time_format: TimeFormat::EpochNanos,
        newline: false,
        ..JsonFormat::default()
    };
    let mut out = Vec::new();
    nanos.write_event(&mut out, &event, "");
    assert!(out.starts_with(b"{\"date\":1700000000000000005,"));

    let bare = JsonFormat {
        time_key: None,
        newline: false,
        ..JsonFormat::default()
    };
    let mut out = Vec::new();
    let empty = b"\x92\x05\x80";
    bare.write_event(
        &mut out,
        &Events::new(empty).next().expect("one").expect("decodes"),
        "",
    );
    assert_eq!(out, b"{}");
}

#[test]
fn map_entries_merge_into_a_callers_object() {
    let data = one_record();
    let event = Events::new(&data).next().expect("one").expect("decodes");
    let mut out = b"{\"first\":1".to_vec();
    json::write_map_entries(&mut out, &event.metadata(), true);
    out.push(b'}');
    assert_eq!(out, br#"{"first":1,"trace":"t1"}"#);
    let mut out = b"{".to_vec();
    json::write_map_entries(&mut out, &Map::EMPTY, false);
    out.push(b'}');
    assert_eq!(out, b"{}");
}

#[test]
fn json_writer_agrees_with_serde_json_through_serialize() {
    let data = one_record();
    let event = Events::new(&data).next().expect("one").expect("decodes");
    let mut ours = Vec::new();
    json::write_map(&mut ours, &event.body());
    let ours: serde_json::Value = serde_json::from_slice(&ours).expect("valid JSON");
    let via_serde = serde_json::to_value(event.body()).expect("serializes");
    assert_eq!(ours, via_serde);
    assert_eq!(
        serde_json::to_string(&Value::Bin(b"ab")).expect("bytes"),
        "[97,98]"
    );
    assert_eq!(
        serde_json::to_string(&Value::from_slice(b"\xa2\xffa").expect("str")).expect("lossy"),
        "\"\u{FFFD}a\""
    );
}

#[test]
fn serialize_round_trips_through_rmp_serde_including_ext() {
    let raw = b"\x83\xa1a\xd7\x00\x00\x00\x00\x01\x00\x00\x00\x02\xa1b\xc4\x02\x01\x02\xa1c\x92\xca\x3f\x80\x00\x00\xe0";
    let map = Map::from_slice(raw).expect("valid");
    let bytes = rmp_serde::to_vec(&map).expect("serializes");
    assert_eq!(bytes, raw);
}

#[derive(Deserialize, Debug, PartialEq)]
struct Record<'a> {
    log: &'a str,
    kubernetes: Kubernetes<'a>,
    codes: Vec<Option<f64>>,
    missing: Option<u32>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Kubernetes<'a> {
    pod: &'a str,
    #[serde(borrow)]
    labels: std::collections::BTreeMap<&'a str, &'a str>,
}

#[test]
fn deserialize_borrows_from_the_record() {
    let data = one_record();
    let event = Events::new(&data).next().expect("one").expect("decodes");
    let record: Record<'_> = event.deserialize().expect("matches");
    assert_eq!(record.log, "line \"quoted\"\n");
    assert_eq!(record.kubernetes.pod, "web");
    assert_eq!(record.kubernetes.labels.get("app"), Some(&"web"));
    assert_eq!(record.codes, vec![Some(-1.0), Some(2.5), None]);
    assert_eq!(record.missing, None);
    let log_ptr = record.log.as_ptr() as usize;
    assert!(
        data.as_ptr_range().contains(&(log_ptr as *const u8)),
        "the string borrows the flush data"
    );
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Strict {
    kubernetes: StrictK8s,
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct StrictK8s {
    pod: u32,
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Codes {
    codes: Vec<u8>,
}

#[derive(Deserialize, Debug, PartialEq)]
enum Level {
    Info,
    Custom(u8),
}

#[test]
fn deserialize_errors_name_the_field() {
    let data = one_record();
    let event = Events::new(&data).next().expect("one").expect("decodes");
    let err = event.deserialize::<Strict>().expect_err("pod is a string");
    assert_eq!(err.path(), "kubernetes.pod");
    assert_eq!(
        err.to_string(),
        "field `kubernetes.pod`: invalid type: string \"web\", expected u32"
    );
    let err = event.deserialize::<Codes>().expect_err("-1 is not a u8");
    assert_eq!(
        err.to_string(),
        "field `codes[0]`: invalid value: integer `-1`, expected u8"
    );
    let err = event
        .metadata()
        .deserialize::<StrictK8s>()
        .expect_err("no pod");
    assert_eq!(err.to_string(), "missing field `pod`");

    assert_eq!(
        Value::from_slice(b"\xa4Info")
            .expect("valid")
            .deserialize::<Level>(),
        Ok(Level::Info)
    );
    assert_eq!(
        Value::from_slice(b"\x81\xa6Custom\x07")
            .expect("valid")
            .deserialize::<Level>(),
        Ok(Level::Custom(7))
    );
}

fn str_json(s: &str) -> String {
    let mut out = Vec::new();
    json::write_str_bytes(&mut out, s.as_bytes());
    let via_bytes = String::from_utf8(out).expect("utf-8");
    let mut out = Vec::new();
    json::write_str(&mut out, s);
    assert_eq!(String::from_utf8(out).expect("utf-8"), via_bytes);
    via_bytes
}

#[test]
fn escapes_at_every_position_of_long_strings_match_serde_json() {
    for special in [
        '"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'é', ' ', '!', '#', '[', ']',
    ] {
        for len in [1, 2, 3, 5, 7, 8, 9, 12, 15, 16, 23, 40] {
            for at in 0..len {
                let s: String = (0..len)
                    .map(|i| if i == at { special } else { 'a' })
                    .collect();
                assert_eq!(
                    str_json(&s),
                    serde_json::to_string(&s).expect("serializes"),
                    "{s:?}"
                );
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn string_escaping_matches_serde_json(s in "\\PC*|[\\x00-\\x7f]{0,64}") {
        proptest::prop_assert_eq!(str_json(&s), serde_json::to_string(&s).expect("serializes"));
    }
}
