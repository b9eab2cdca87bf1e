//! The demo (`cargo run -p e2e --bin demo`) runs to Ready by itself with `--once`, on the
//! played kubelet and on the real node (`--real-node`), so it cannot rot; Ctrl-C during
//! start-up, with stdout piped to a reader that is gone, still leaves nothing behind.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The cluster directories whose `owner.pid` names `pid`.
fn cluster_dirs_of(pid: u32) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("fbplugin-e2e-"))
                && std::fs::read_to_string(p.join("owner.pid"))
                    .is_ok_and(|owner| owner.trim() == pid.to_string())
        })
        .collect()
}

#[test]
fn ctrl_c_during_start_up_with_a_closed_pipe_removes_the_cluster() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running the demo: {e}"));
    let pid = child.id();
    // `| tee` ends with the same Ctrl-C: nobody reads stdout any more.
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(240);
    let dirs = loop {
        let dirs = cluster_dirs_of(pid);
        if !dirs.is_empty() {
            break dirs;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            if err.contains("unavailable") && std::env::var_os("CI").is_none() {
                eprintln!("SKIPPED: {err}");
                return;
            }
            panic!("the demo exited ({status}) before starting its cluster:\n{err}");
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not start a cluster within 240 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let pid_t = libc::pid_t::try_from(pid).expect("pid fits");
    // SAFETY: kill(2) signals the child we spawned; it has no memory-safety preconditions.
    unsafe {
        libc::kill(pid_t, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not stop within 60 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the demo exited with {status} on SIGINT");
    for dir in dirs {
        assert!(
            !dir.exists(),
            "{} (keys and etcd data) was left behind",
            dir.display()
        );
    }
}

/// Runs the demo with `--once` and `args`; `None` when the control plane cannot start here and
/// neither `CI` nor `E2E_REQUIRE_CLUSTER` asks for it.
fn run_once(args: &[&str], timeout_secs: u32) -> Option<(String, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--once")
        .args(args)
        .env("DEMO_TIMEOUT_SECS", timeout_secs.to_string())
        .output()
        .unwrap_or_else(|e| panic!("running the demo: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if stderr.contains("SKIPPED") || stderr.contains("local control plane unavailable") {
        let forbidden = ["CI", "E2E_REQUIRE_CLUSTER"]
            .iter()
            .any(|n| std::env::var(n).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"));
        assert!(
            !forbidden,
            "the demo could not start the control plane:\n{stderr}"
        );
        eprintln!("SKIPPED the demo {args:?}: {stderr}");
        return None;
    }
    assert!(
        output.status.success(),
        "the demo failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    Some((stdout, stderr))
}

/// The demo's output ends with both plugins Ready and the DaemonSet rolled out on `nodes`.
fn assert_all_ready(stdout: &str, nodes: &str) {
    for expected in [
        "every plugin is Ready and the DaemonSet is rolled out",
        "-n logging get fbp",
        "in-generator",
        "out-jsonl",
        "RolloutComplete",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} in the demo's output:\n{stdout}"
        );
    }
    let last_table = stdout.rsplit("s]\n").next().unwrap_or_default();
    assert_eq!(
        last_table.matches("RolloutComplete").count(),
        2,
        "{last_table}"
    );
    assert!(
        last_table.lines().any(
            |l| l.split_whitespace().collect::<Vec<_>>() == ["fluent-bit", nodes, nodes, nodes]
        ),
        "the DaemonSet desired, updated and ready on {nodes} node(s):\n{last_table}"
    );
}

#[test]
fn demo_reaches_ready_with_once() {
    if let Some((stdout, _)) = run_once(&[], 90) {
        // The played kubelet runs two nodes.
        assert_all_ready(&stdout, "2");
    }
}

/// `--real-node`, what a newcomer runs to see real pods roll: the examples' images built,
/// pushed to the node's registry and pulled by digest, their init containers copying and
/// verifying the files on the one real node. Takes the node's lock like the other real-node
/// suites (nextest's `real-node` group).
#[test]
fn demo_reaches_ready_with_once_on_the_real_node() {
    if let Some((stdout, stderr)) = run_once(&["--real-node"], 300) {
        assert!(
            stderr.contains("Ready (real pods)"),
            "the demo ran on the real node:\n{stderr}"
        );
        assert_all_ready(&stdout, "1");
    }
}
