//! What `kubectl logs` shows: the operator's text log lines carry no ANSI colour codes when
//! stderr is not a terminal (a pod's log, a file, a pipe), and JSON lines parse.

use std::process::Command;

fn run_without_a_cluster(extra: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .arg("run")
        .args(extra)
        .env_clear()
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("missing.kubeconfig"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("operator runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    let (code, stderr) = run_without_a_cluster(&[]);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("cannot configure a Kubernetes client"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escape in piped log output: {stderr:?}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (code, stderr) = run_without_a_cluster(&["--log-format", "json"]);
    assert_ne!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("cannot configure"))
        .unwrap_or_else(|| panic!("no error line in {stderr:?}"));
    let value: serde_json::Value = serde_json::from_str(line).expect("a JSON object");
    assert_eq!(value["level"], "ERROR", "{line}");
}
