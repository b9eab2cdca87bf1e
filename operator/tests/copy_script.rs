//! The init container's script, run with the local `sh`: it copies on a matching or absent
//! sha256, and fails loudly (non-zero, message on stderr, nothing copied) otherwise.

use std::path::Path;
use std::process::{Command, Output};

use operator::workload::COPY_SCRIPT;

fn run(dir: &Path, sha: Option<&str>) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(COPY_SCRIPT)
        .env("SRC", dir.join("src/libx.so"))
        .env("DST", dir.join("out/obj/libx.so"));
    if let Some(sha) = sha {
        cmd.env("SHA256", sha);
    }
    cmd.output().expect("sh runs")
}

fn setup(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fbplugin-copy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(dir.join("src/libx.so"), b"hello\n").expect("write");
    dir
}

// sha256 of "hello\n".
const HELLO: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

#[test]
fn copies_when_the_sha256_matches_or_is_absent() {
    for sha in [Some(HELLO), None] {
        let dir = setup(if sha.is_some() { "match" } else { "nosha" });
        let out = run(&dir, sha);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(dir.join("out/obj/libx.so")).expect("copied"),
            b"hello\n"
        );
        assert!(!dir.join("out/obj/libx.so.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn refuses_a_mismatching_file_and_names_both_digests() {
    let dir = setup("mismatch");
    let wrong = "0".repeat(64);
    let out = run(&dir, Some(&wrong));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    assert!(
        stderr.contains(HELLO) && stderr.contains(&wrong),
        "{stderr}"
    );
    assert!(!dir.join("out/obj/libx.so").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refuses_a_missing_file() {
    let dir = setup("missing");
    std::fs::remove_file(dir.join("src/libx.so")).expect("rm");
    let out = run(&dir, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not found in the image"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
