//! The filter between two real plugins, as Fluent Bit runs them: the example input's records
//! pass through the `.wasm` (called as WAMR calls it) and reach the example output's file
//! redacted, each exactly once.

use std::time::Duration;

use fluent_bit_plugin_test_host::cdylib_path;
use fluent_bit_plugin_test_host::run::{RunOptions, run};
use fluent_bit_wasm_filter_test_host::build_wasm;

#[test]
fn generator_records_are_redacted_on_their_way_to_the_file() {
    let dir = std::env::temp_dir().join(format!("filter-redact-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = build_wasm("filter-redact").unwrap();
    let out = dir.join("out.jsonl");
    std::fs::write(
        dir.join("plugins.conf"),
        format!(
            "[PLUGINS]\n    Path {}\n    Path {}\n",
            cdylib_path("in_generator").unwrap().display(),
            cdylib_path("out_jsonl").unwrap().display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("fluent-bit.conf"),
        format!(
            "[SERVICE]\n    Flush 1\n    Plugins_File {plugins}\n\n\
             [INPUT]\n    Name generator\n    Tag app.gen\n    rate 500\n    count 60\n    \
             message paid with 4111 1111 1111 1111, receipt to ana@example.com\n    \
             fields password=hunter2, team=logs\n\n\
             [FILTER]\n    Name wasm\n    Match app.*\n    WASM_Path {wasm}\n    \
             Function_Name redact_filter\n    Event_Format json\n    WASM_Heap_Size 66832\n\n\
             [OUTPUT]\n    Name jsonl_file\n    Match app.*\n    path {out}\n",
            plugins = dir.join("plugins.conf").display(),
            wasm = wasm.display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let summary = run(&RunOptions {
        config: dir.join("fluent-bit.conf"),
        duration: Duration::from_secs(20),
        collect_interval: Duration::from_millis(100),
        flush_interval: Some(Duration::from_millis(100)),
        until_records: Some(60),
        skip_builtin: false,
        echo_logs: false,
        plugin_map: Vec::new(),
        root: None,
    })
    .unwrap();
    assert!(!summary.failed(), "{summary}");
    let filter = &summary.filters[0];
    assert_eq!(
        (filter.records, filter.modified, filter.dropped),
        (60, 60, 0),
        "{summary}"
    );

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (0..60).collect::<Vec<_>>(),
        "every record once, in order"
    );
    for line in &lines {
        assert_eq!(line["password"], "[REDACTED]", "{line}");
        assert_eq!(line["team"], "logs", "{line}");
        assert_eq!(
            line["message"], "paid with [REDACTED:card], receipt to [REDACTED:email]",
            "{line}"
        );
        assert!(
            line["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "time kept: {line}"
        );
    }
}
