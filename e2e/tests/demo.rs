//! The demo (`cargo run -p e2e --bin demo`) runs to Ready by itself with `--once`, so it
//! cannot rot.

use std::process::Command;

#[test]
fn demo_reaches_ready_with_once() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--once")
        .env("DEMO_TIMEOUT_SECS", "90")
        .output()
        .unwrap_or_else(|e| panic!("running the demo: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("SKIPPED") || stderr.contains("local control plane unavailable") {
        let forbidden = ["CI", "E2E_REQUIRE_CLUSTER"]
            .iter()
            .any(|n| std::env::var(n).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"));
        assert!(
            !forbidden,
            "the demo could not start the control plane:\n{stderr}"
        );
        eprintln!("SKIPPED demo_reaches_ready_with_once: {stderr}");
        return;
    }
    assert!(
        output.status.success(),
        "the demo failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    for expected in [
        "every plugin is Ready and the DaemonSet is rolled out",
        "get fbp -A",
        "in-generator",
        "out-jsonl",
        "RolloutComplete",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} in the demo's output:\n{stdout}"
        );
    }
    // The final table shows both plugins Ready on both nodes.
    let last_table = stdout.rsplit("s]\n").next().unwrap_or_default();
    assert_eq!(
        last_table.matches("RolloutComplete").count(),
        2,
        "{last_table}"
    );
    assert!(
        last_table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["fluent-bit", "2", "2", "2"]),
        "{last_table}"
    );
}
