//! Malformed flush data: every case is an error that says where and what, never a panic.

use fluent_bit_plugin_sdk::event::{
    DESERIALIZE_MAX_DEPTH, DecodeErrorKind, Events, MAX_DEPTH, Map, Value,
};

const DUMMY: &[u8] =
    b"\x92\x92\xd7\x00\x65\x53\xf1\x00\x00\x00\x00\x05\x80\x81\xa7message\xa5hello";

/// Decodes `data` expecting records to fail; returns the error text and checks that the
/// iterator ends after it.
fn error_of(data: &[u8]) -> String {
    let mut events = Events::new(data);
    for item in events.by_ref() {
        if let Err(e) = item {
            assert!(events.next().is_none(), "the iterator ends after an error");
            return e.to_string();
        }
    }
    panic!("{data:02x?} decoded without error");
}

#[test]
fn wrong_record_types() {
    assert_eq!(
        error_of(b"\xa3abc"),
        "record 0 at byte 0: expected a record (an array of 2 elements), found a string of 3 bytes"
    );
    assert_eq!(
        error_of(b"\x93\x01\x80\x80"),
        "record 0 at byte 0: expected a record (an array of 2 elements), found an array of 3 elements"
    );
    assert_eq!(
        error_of(b"\x92\x05\x07"),
        "record 0 at byte 2: expected a map for the record body, found int 7"
    );
    assert_eq!(
        error_of(b"\x92\x92\x05\xc0\x80"),
        "record 0 at byte 3: expected a map for the record metadata, found nil"
    );
    assert_eq!(
        error_of(b"\x92\x93\x05\x80\x80\x80"),
        "record 0 at byte 1: expected a record header [time, metadata] (an array of 2 elements), \
         found an array of 3 elements"
    );
}

#[test]
fn invalid_timestamps() {
    let ts = "expected a timestamp (a non-negative int or float, or an EventTime: ext type 0 of 8 bytes)";
    assert_eq!(
        error_of(b"\x92\xff\x80"),
        format!("record 0 at byte 1: {ts}, found negative int -1")
    );
    assert_eq!(
        error_of(b"\x92\xd0\x80\x80"),
        format!("record 0 at byte 1: {ts}, found negative int -128")
    );
    assert_eq!(
        error_of(b"\x92\xd7\x01\x00\x00\x00\x01\x00\x00\x00\x00\x80"),
        format!("record 0 at byte 1: {ts}, found ext type 1 of 8 bytes")
    );
    assert_eq!(
        error_of(b"\x92\xd6\x00\x00\x00\x00\x01\x80"),
        format!("record 0 at byte 1: {ts}, found ext type 0 of 4 bytes")
    );
    assert_eq!(
        error_of(b"\x92\xcb\xbf\xf0\x00\x00\x00\x00\x00\x00\x80"),
        format!("record 0 at byte 1: {ts}, found float -1")
    );
    assert_eq!(
        error_of(b"\x92\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00\x80"),
        format!("record 0 at byte 1: {ts}, found float NaN")
    );
    assert_eq!(
        error_of(b"\x92\xa1x\x80"),
        format!("record 0 at byte 1: {ts}, found a string of 1 bytes")
    );
    assert_eq!(
        error_of(b"\x92\x92\xd7\x00\x00\x00\x00\x01\x3b\x9a\xca\x00\x80\x80"),
        "record 0 at byte 2: EventTime nanoseconds 1000000000 are out of range (they must be below 1000000000)"
    );
}

#[test]
fn truncated_records() {
    for cut in 1..DUMMY.len() {
        let msg = error_of(&DUMMY[..cut]);
        assert!(msg.starts_with("record 0 at byte "), "cut {cut}: {msg}");
        assert!(
            msg.contains("truncated data") || msg.contains("found the end of the data"),
            "cut {cut}: {msg}"
        );
    }
    assert_eq!(
        error_of(&DUMMY[..DUMMY.len() - 1]),
        "record 0 at byte 22: in the record body: truncated data: a string of 5 bytes needs 6 bytes but only \
         5 remain (the data ends early or a length field is corrupt)"
    );
    assert_eq!(
        error_of(&DUMMY[..7]),
        "record 0 at byte 2: truncated data: ext type 0 of 8 bytes needs 10 bytes but only 5 remain \
         (the data ends early or a length field is corrupt)"
    );
}

#[test]
fn lengths_beyond_the_data() {
    assert_eq!(
        error_of(b"\x92\x05\x81\xa1k\xdb\xff\xff\xff\xff\x00"),
        "record 0 at byte 5: in the record body: truncated data: a string of 4294967295 bytes needs \
         4294967300 bytes but only 6 remain (the data ends early or a length field is corrupt)"
    );
    assert_eq!(
        error_of(b"\x92\x05\x81\xa1k\xdd\xff\xff\xff\xff\x01"),
        "record 0 at byte 5: in the record body: truncated data: an array of 4294967295 elements needs \
         4294967300 bytes but only 6 remain (the data ends early or a length field is corrupt)"
    );
    assert_eq!(
        error_of(b"\x92\x05\xdf\xff\xff\xff\xff\x01"),
        "record 0 at byte 2: in the record body: truncated data: a map of 4294967295 entries needs \
         8589934595 bytes but only 6 remain (the data ends early or a length field is corrupt)"
    );
    assert!(
        error_of(b"\x92\x05\x81\xa1k\xc6\x7f\xff\xff\xff")
            .contains("binary data of 2147483647 bytes")
    );
    assert!(
        error_of(b"\x92\x05\x81\xa1k\xc9\x00\x01\x00\x00\x05")
            .contains("ext type 5 of 65536 bytes")
    );
}

#[test]
fn reserved_byte() {
    assert_eq!(
        error_of(b"\x92\x05\x81\xa1k\xc1"),
        "record 0 at byte 5: in the record body: found the byte 0xc1, which is never valid msgpack"
    );
}

/// A record whose body holds `depth` nested arrays, the innermost one empty.
fn nested(depth: usize) -> Vec<u8> {
    let mut data = b"\x92\x05\x81\xa1k".to_vec();
    data.extend(std::iter::repeat_n(0x91, depth - 1));
    data.push(0x90);
    data
}

#[test]
fn nesting_depth_is_limited() {
    // The record is level 1 and its body level 2, so the body's values can nest 62 deep.
    assert_eq!(Events::count_records(&nested(MAX_DEPTH - 2)), Ok(1));
    let msg = error_of(&nested(MAX_DEPTH - 1));
    assert_eq!(
        msg,
        format!(
            "record 0 at byte {}: in the record body: arrays and maps nest deeper than 64 levels; \
             the decoder refuses them to protect the 64 KiB flush stack",
            5 + MAX_DEPTH - 3
        )
    );
    // Far deeper data fails the same way, without recursion.
    let err = Events::new(&nested(1_000_000))
        .next()
        .expect("one item")
        .expect_err("too deep");
    assert_eq!(err.kind(), DecodeErrorKind::TooDeep);
}

#[test]
fn trailing_garbage_after_valid_records() {
    let mut data = DUMMY.to_vec();
    data.extend_from_slice(b"\xc0\xc0");
    let mut events = Events::new(&data);
    assert!(events.next().expect("first record").is_ok());
    let err = events.next().expect("second item").expect_err("garbage");
    assert_eq!(err.record(), Some(1));
    assert_eq!(err.offset(), DUMMY.len());
    assert_eq!(
        err.to_string(),
        format!(
            "record 1 at byte {}: expected a record (an array of 2 elements), found nil",
            DUMMY.len()
        )
    );
    assert!(events.next().is_none());
    assert_eq!(Events::count_records(&data), Err(err));
}

#[test]
fn views_validate_their_input() {
    assert_eq!(
        Value::from_slice(b"\x01\x02")
            .expect_err("two values")
            .to_string(),
        "at byte 1: expected the end of the value, found int 2"
    );
    assert_eq!(
        Map::from_slice(b"\x91\x01")
            .expect_err("an array")
            .to_string(),
        "at byte 0: expected a map, found an array of 1 elements"
    );
    assert!(
        Value::from_slice(b"")
            .expect_err("empty")
            .to_string()
            .contains("found the end of the data")
    );
    assert_eq!(Map::from_slice(b"\x81\xa1a\x01").map(|m| m.len()), Ok(1));
}

/// Runs `f` on a thread with the stack Fluent Bit gives a flush (64 KiB).
fn on_flush_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(f)
        .expect("thread starts")
        .join()
        .expect("no panic");
}

/// A record whose body nests `depth` maps `{"k": {"k": ... {}}}`.
fn nested_maps(depth: usize) -> Vec<u8> {
    let mut data = b"\x92\x92\xd7\x00\x00\x00\x00\x01\x00\x00\x00\x00\x80".to_vec();
    data.extend(std::iter::repeat_n([0x81, 0xa1, b'k'], depth).flatten());
    data.push(0x80);
    data
}

#[test]
fn the_deepest_accepted_record_fits_the_flush_stack() {
    // The body is level 2; it holds maps down to level 64.
    let data = nested_maps(MAX_DEPTH - 2);
    on_flush_stack(move || {
        let event = Events::new(&data)
            .next()
            .expect("one record")
            .expect("at the depth limit");
        let mut depth = 0;
        let mut map = event.body();
        while let Some(Value::Map(inner)) = map.get("k") {
            depth += 1;
            map = inner;
        }
        assert_eq!(depth, MAX_DEPTH - 2);
        let mut json = Vec::new();
        fluent_bit_plugin_sdk::event::JsonFormat::default().write_event(&mut json, &event, "t");
        let closing = [b'}'; MAX_DEPTH - 1];
        assert!(
            json.ends_with(&[&closing[..], b"\n"].concat()),
            "{}",
            String::from_utf8_lossy(&json)
        );
        // Serde recursion costs about 2.5 times more stack in debug builds; release builds
        // are what Fluent Bit loads, so that is where the limit must hold.
        if !cfg!(debug_assertions) {
            let via_serde = serde_json::to_vec(&event.body()).expect("serializes");
            assert_eq!(
                via_serde.len(),
                json.len() - "{\"date\":1.000000000,\n".len() + 1
            );
        }
    });
}

#[test]
fn deserialization_depth_is_limited() {
    let limit = usize::from(DESERIALIZE_MAX_DEPTH);
    let data = nested_maps(limit - 1);
    on_flush_stack(move || {
        let event = Events::new(&data)
            .next()
            .expect("one record")
            .expect("decodes");
        if !cfg!(debug_assertions) {
            let back: serde_json::Value = event.deserialize().expect("within the limit");
            assert!(back.is_object());
        }
    });
    let data = nested_maps(limit);
    let event = Events::new(&data)
        .next()
        .expect("one record")
        .expect("decodes");
    let err = event
        .deserialize::<serde_json::Value>()
        .expect_err("one level too deep");
    assert_eq!(err.path(), "k.".repeat(limit - 1) + "k");
    assert!(
        err.message()
            .starts_with("arrays and maps nest deeper than 32 levels"),
        "{err}"
    );
}
