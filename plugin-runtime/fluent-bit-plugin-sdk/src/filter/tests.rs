use super::*;

fn ctx() -> Context<'static> {
    Context::new("app.web", EventTime::from_secs(1_700_000_000))
}

fn tag_and_drop_debug(ctx: &Context<'_>, record: &mut Record) -> Verdict {
    match record.get("level").and_then(|v| v.as_str()) {
        Some("debug") => Verdict::Drop,
        Some("info") => Verdict::Keep,
        _ => {
            record.insert("tag".into(), ctx.tag().into());
            Verdict::Modified
        }
    }
}

#[test]
fn json_keep_returns_the_input_text_byte_for_byte() {
    let mut out = Vec::new();
    let input = br#"{"level":"info",  "msg":"spaced \u00e9"}"#;
    let verdict = apply_json(tag_and_drop_debug, &ctx(), input, &mut out);
    assert_eq!(verdict, Ok(Verdict::Keep));
    assert_eq!(out, input);
}

#[test]
fn json_modified_serializes_the_changed_record() {
    let mut out = b"stale".to_vec();
    let verdict = apply_json(tag_and_drop_debug, &ctx(), br#"{"level":"warn"}"#, &mut out);
    assert_eq!(verdict, Ok(Verdict::Modified));
    assert_eq!(out, br#"{"level":"warn","tag":"app.web"}"#);
}

#[test]
fn json_drop_leaves_the_empty_string() {
    let mut out = b"stale".to_vec();
    let verdict = apply_json(
        tag_and_drop_debug,
        &ctx(),
        br#"{"level":"debug"}"#,
        &mut out,
    );
    assert_eq!(verdict, Ok(Verdict::Drop));
    assert!(out.is_empty());
}

#[test]
fn json_that_is_not_an_object_is_malformed() {
    let mut out = Vec::new();
    for input in [
        &b"[1,2]"[..],
        b"\"text\"",
        b"{\"a\":",
        b"",
        b"{\"a\":1} trailing",
    ] {
        let result = apply_json(tag_and_drop_debug, &ctx(), input, &mut out);
        assert!(
            matches!(result, Err(Problem::Malformed(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn msgpack_result_with_a_zero_byte_is_refused() {
    let mut out = Vec::new();
    // {"level": "warn"}: modified to add "tag", no zero byte.
    let clean = rmp_serde::to_vec(&serde_json::json!({"level": "warn"})).unwrap();
    assert_eq!(
        apply_msgpack(tag_and_drop_debug, &ctx(), &clean, &mut out),
        Ok(Verdict::Modified)
    );
    assert!(!out.is_empty() && !out.contains(&0));
    // The integer 0 encodes as the byte 0x00.
    let zero = rmp_serde::to_vec(&serde_json::json!({"level": "info", "n": 0})).unwrap();
    assert_eq!(
        apply_msgpack(tag_and_drop_debug, &ctx(), &zero, &mut out),
        Err(Problem::ZeroByte)
    );
    assert!(out.is_empty());
}

#[test]
fn msgpack_that_is_not_a_map_is_malformed() {
    let mut out = Vec::new();
    let result = apply_msgpack(tag_and_drop_debug, &ctx(), b"\x92\x01\x02", &mut out);
    assert!(matches!(result, Err(Problem::Malformed(_))), "{result:?}");
}

#[test]
fn heap_size_covers_record_and_tag_and_never_goes_below_the_default() {
    assert_eq!(heap_size_for(0, 0), DEFAULT_HEAP_SIZE);
    assert_eq!(heap_size_for(5000, 64), DEFAULT_HEAP_SIZE);
    // 16384 + NUL + header -> 16392; tag 32 -> 40; plus 1 KiB.
    assert_eq!(heap_size_for(16_384, 32), 16_392 + 40 + 1024);
    // The value the docs and the example README give for 64 KiB records, 256-byte tags.
    assert_eq!(heap_size_for(65_536, 256), 66_832);
}
