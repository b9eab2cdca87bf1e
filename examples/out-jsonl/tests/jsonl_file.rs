//! `jsonl_file` driven through the test host exactly as Fluent Bit drives it.

use std::path::{Path, PathBuf};

use fluent_bit_plugin_test_host::records::{Timestamp, push_group_marker, push_legacy, push_v2};
use fluent_bit_plugin_test_host::{FlushCode, Host, HostError, isolated_cdylib};

fn host() -> Host {
    Host::load(isolated_cdylib("out_jsonl").unwrap()).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("out-jsonl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn chunk(from: u64, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in from..from + n {
        push_v2(
            &mut out,
            Timestamp::EventTime {
                secs: 1_700_000_000,
                nanos: i as u32,
            },
            &[("source", "test".into())],
            &[("message", format!("line {i}").into()), ("n", i.into())],
        );
    }
    out
}

#[test]
fn two_instances_write_their_own_files_in_their_own_format() {
    let dir = temp_dir("two");
    let host = host();
    let flat = host
        .output()
        .properties([
            ("path", dir.join("flat.jsonl").to_str().unwrap()),
            ("tag_key", "tag"),
        ])
        .init()
        .unwrap();
    let envelope = host
        .output()
        .properties([
            ("path", dir.join("env.jsonl").to_str().unwrap()),
            ("format", "envelope"),
            ("time_format", "epoch_nanos"),
        ])
        .init()
        .unwrap();
    assert_eq!(flat.flush("app", &chunk(0, 2)).unwrap().code, FlushCode::Ok);
    assert_eq!(
        envelope.flush("app", &chunk(0, 1)).unwrap().code,
        FlushCode::Ok
    );
    assert_eq!(
        lines(&dir.join("flat.jsonl")),
        [
            r#"{"time":"2023-11-14T22:13:20.000000000Z","tag":"app","message":"line 0","n":0}"#,
            r#"{"time":"2023-11-14T22:13:20.000000001Z","tag":"app","message":"line 1","n":1}"#,
        ]
    );
    assert_eq!(
        lines(&dir.join("env.jsonl")),
        [
            r#"{"time":1700000000000000000,"tag":"app","metadata":{"source":"test"},"record":{"message":"line 0","n":0}}"#
        ]
    );
}

#[test]
fn every_record_shape_and_timestamp_is_written() {
    let dir = temp_dir("shapes");
    let path = dir.join("out.jsonl");
    let host = host();
    let out = host
        .output()
        .properties([
            ("path", path.to_str().unwrap()),
            ("time_format", "epoch"),
            ("metadata_key", "meta"),
        ])
        .init()
        .unwrap();
    let mut data = Vec::new();
    push_group_marker(&mut data, true, &[], &[]);
    push_legacy(
        &mut data,
        Timestamp::Int(1_700_000_001),
        &[("k", "int".into())],
    );
    push_legacy(
        &mut data,
        Timestamp::Float(1_700_000_002.25),
        &[("k", "float".into())],
    );
    push_v2(
        &mut data,
        Timestamp::EventTime {
            secs: 1_700_000_003,
            nanos: 5,
        },
        &[("m", 1.into())],
        &[("k", "ext".into())],
    );
    push_group_marker(&mut data, false, &[], &[]);
    assert_eq!(out.flush("t", &data).unwrap().code, FlushCode::Ok);
    assert_eq!(
        lines(&path),
        [
            r#"{"time":1700000001.000000000,"meta":{},"k":"int"}"#,
            r#"{"time":1700000002.250000000,"meta":{},"k":"float"}"#,
            r#"{"time":1700000003.000000005,"meta":{"m":1},"k":"ext"}"#,
        ]
    );
}

#[test]
fn rotates_by_size_and_keeps_max_files() {
    let dir = temp_dir("rotate");
    let path = dir.join("out.jsonl");
    let host = host();
    let out = host
        .output()
        .properties([
            ("path", path.to_str().unwrap()),
            ("max_size", "1K"),
            ("max_files", "2"),
        ])
        .init()
        .unwrap();
    for i in 0..40 {
        assert_eq!(
            out.flush("t", &chunk(i * 5, 5)).unwrap().code,
            FlushCode::Ok
        );
    }
    let rotated: Vec<PathBuf> = ["out.jsonl", "out.jsonl.1", "out.jsonl.2"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    for file in &rotated {
        let size = std::fs::metadata(file).unwrap().len();
        assert!(
            size > 0 && size <= 1000,
            "{} is {size} bytes",
            file.display()
        );
    }
    assert!(
        !dir.join("out.jsonl.3").exists(),
        "only max_files rotated files are kept"
    );
    // The newest lines are in the live file, the ones before in .1, then .2, without gaps.
    let mut all: Vec<String> = rotated.iter().rev().flat_map(|f| lines(f)).collect();
    let last: u64 = 199;
    let first = last + 1 - all.len() as u64;
    for (offset, line) in all.drain(..).enumerate() {
        assert!(
            line.contains(&format!("\"n\":{}", first + offset as u64)),
            "{line}"
        );
    }
}

/// Fluent Bit hands over chunks of up to ~2 MB; with `max_size 1M` a whole chunk used to land
/// in one file (1.44 MB files were seen). The chunk is now split at line boundaries.
#[test]
fn a_chunk_larger_than_max_size_is_split_across_files_at_line_boundaries() {
    let dir = temp_dir("rotate-big-chunk");
    let path = dir.join("out.jsonl");
    let host = host();
    let out = host
        .output()
        .properties([
            ("path", path.to_str().unwrap()),
            ("max_size", "1K"),
            ("max_files", "50"),
        ])
        .init()
        .unwrap();
    // About 6 KB of lines in one chunk, then a second chunk into the partly filled file.
    assert_eq!(out.flush("t", &chunk(0, 100)).unwrap().code, FlushCode::Ok);
    assert_eq!(out.flush("t", &chunk(100, 7)).unwrap().code, FlushCode::Ok);
    let mut files: Vec<PathBuf> = (1..=50)
        .rev()
        .map(|n| dir.join(format!("out.jsonl.{n}")))
        .filter(|p| p.exists())
        .collect();
    files.push(path.clone());
    assert!(files.len() >= 6, "expected at least 6 files, got {files:?}");
    for file in &files {
        let size = std::fs::metadata(file).unwrap().len();
        assert!(
            size > 0 && size <= 1000,
            "{} is {size} bytes, over max_size 1K",
            file.display()
        );
    }
    // Oldest file first: every record exactly once, in order, only whole lines.
    let all: Vec<String> = files.iter().flat_map(|f| lines(f)).collect();
    assert_eq!(all.len(), 107);
    for (n, line) in all.iter().enumerate() {
        assert!(line.ends_with('}'), "partial line {line}");
        assert!(line.contains(&format!("\"n\":{n}")), "{line}");
    }
}

#[test]
fn a_line_longer_than_max_size_gets_a_file_of_its_own() {
    let dir = temp_dir("rotate-long-line");
    let path = dir.join("out.jsonl");
    let host = host();
    let out = host
        .output()
        .properties([
            ("path", path.to_str().unwrap()),
            ("max_size", "100"),
            ("max_files", "10"),
        ])
        .init()
        .unwrap();
    let mut data = chunk(0, 1);
    push_v2(
        &mut data,
        Timestamp::Int(1_700_000_000),
        &[],
        &[("message", "x".repeat(200).into()), ("n", 1u64.into())],
    );
    data.extend(chunk(2, 1));
    assert_eq!(out.flush("t", &data).unwrap().code, FlushCode::Ok);
    let sizes: Vec<u64> = ["out.jsonl.2", "out.jsonl.1", "out.jsonl"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .collect();
    assert!(sizes[0] > 0 && sizes[0] <= 100, "{sizes:?}");
    assert!(
        sizes[1] > 200,
        "the long line is alone in its file: {sizes:?}"
    );
    assert!(sizes[2] > 0 && sizes[2] <= 100, "{sizes:?}");
    assert_eq!(lines(&dir.join("out.jsonl.1")).len(), 1);
}

#[test]
fn a_full_disk_asks_fluent_bit_to_retry() {
    let host = host();
    let out = host.output().property("path", "/dev/full").init().unwrap();
    let report = out.flush("t", &chunk(0, 3)).unwrap();
    assert_eq!(report.code, FlushCode::Retry);
    let logs: Vec<String> = host.logs().into_iter().map(|l| l.message).collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("cannot write /dev/full") && l.contains("No space left on device")),
        "{logs:#?}"
    );
}

#[test]
fn an_unopenable_file_is_retried_until_it_can_be_opened() {
    let dir = temp_dir("later");
    let path = dir.join("not-yet").join("out.jsonl");
    let host = host();
    let out = host
        .output()
        .property("path", path.to_str().unwrap())
        .init()
        .unwrap();
    assert_eq!(out.flush("t", &chunk(0, 1)).unwrap().code, FlushCode::Retry);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    assert_eq!(out.flush("t", &chunk(0, 1)).unwrap().code, FlushCode::Ok);
    assert_eq!(lines(&path).len(), 1);

    let made = dir.join("made").join("deep").join("out.jsonl");
    let out = host
        .output()
        .properties([("path", made.to_str().unwrap()), ("mkdir", "on")])
        .init()
        .unwrap();
    assert_eq!(out.flush("t", &chunk(0, 1)).unwrap().code, FlushCode::Ok);
    assert_eq!(lines(&made).len(), 1);
}

#[test]
fn a_malformed_chunk_is_dropped_and_writes_nothing() {
    let dir = temp_dir("bad");
    let path = dir.join("out.jsonl");
    let host = host();
    let out = host
        .output()
        .property("path", path.to_str().unwrap())
        .init()
        .unwrap();
    let mut data = chunk(0, 3);
    data.extend_from_slice(&[0x92, 0xc1]);
    assert_eq!(out.flush("t", &data).unwrap().code, FlushCode::Error);
    assert!(lines(&path).is_empty(), "no partial chunk on disk");
}

#[test]
fn bad_config_fails_init_naming_the_key() {
    let host = host();
    for (props, want) in [
        (
            vec![],
            "config key `path` is required: set it to a file path",
        ),
        (
            vec![("path", "/tmp/x"), ("format", "xml")],
            "config key `format`: expected `flat` or `envelope`, got `xml`",
        ),
        (
            vec![("path", "/tmp/x"), ("max_size", "huge")],
            "config key `max_size`: expected a size such as 10M",
        ),
        (
            vec![("path", "/tmp/x"), ("time_format", "unix")],
            "config key `time_format`: expected `iso8601`, `epoch` or `epoch_nanos`",
        ),
    ] {
        match host.output().properties(props.clone()).init() {
            Err(HostError::InitFailed { logs, .. }) => {
                assert!(
                    logs.iter().any(|l| l.contains(want)),
                    "{props:?}: {logs:#?}"
                )
            }
            Err(other) => panic!("{props:?}: {other}"),
            Ok(_) => panic!("{props:?} should fail"),
        }
    }
}
