//! The copy program as the init container runs it: argv in, exit code and messages out.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_fbplugin-copy");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .output()
        .expect("run fbplugin-copy")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sha(bytes: &[u8]) -> String {
    fbplugin_copy::hex(&Sha256::digest(bytes))
}

struct Setup {
    _dir: tempfile::TempDir,
    from: String,
    into: String,
    content: Vec<u8>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugins = dir.path().join("plugins");
    let into = dir.path().join("out");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    std::fs::create_dir_all(&into).expect("mkdir");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let from = plugins.join("libx.so");
    std::fs::write(&from, &content).expect("write");
    Setup {
        from: from.display().to_string(),
        into: into.display().to_string(),
        content,
        _dir: dir,
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn copies_a_verified_file_read_only_into_a_new_subdirectory() {
    let s = setup();
    let digest = sha(&s.content);
    let out = run(&[
        "--from",
        &s.from,
        "--into",
        &s.into,
        "--as",
        "out-jsonl/libx.so",
        "--sha256",
        &digest,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let dest = Path::new(&s.into).join("out-jsonl/libx.so");
    assert_eq!(std::fs::read(&dest).expect("copied"), s.content);
    let mode = std::fs::metadata(&dest).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o444);
    assert_eq!(entries(dest.parent().expect("parent")), ["libx.so"]);
    let said = text(&out);
    assert!(
        said.contains(&format!("sha256 {digest}, verified")),
        "{said}"
    );

    // Again (the pod's init container restarted): the file is replaced in place.
    let out = run(&[
        "--from",
        &s.from,
        "--into",
        &s.into,
        "--as",
        "out-jsonl/libx.so",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not verified"), "{}", text(&out));
    assert_eq!(std::fs::read(&dest).expect("copied"), s.content);
}

#[test]
fn a_sha256_mismatch_writes_nothing_and_names_both_digests() {
    let s = setup();
    let wrong = "0".repeat(64);
    let out = run(&[
        "--from",
        &s.from,
        "--into",
        &s.into,
        "--as",
        "p/libx.so",
        "--sha256",
        &wrong,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.starts_with("fbplugin: sha256 mismatch for "), "{said}");
    assert!(said.contains(&format!("expected {wrong}")), "{said}");
    assert!(
        said.contains(&format!("actual {}", sha(&s.content))),
        "{said}"
    );
    // The subdirectory may exist; no file (temporary or final) is left in it.
    assert!(entries(&Path::new(&s.into).join("p")).is_empty());
}

#[test]
fn a_mismatch_keeps_the_file_an_earlier_run_copied() {
    let s = setup();
    let out = run(&["--from", &s.from, "--into", &s.into, "--as", "libx.so"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&s.from, b"tampered").expect("tamper");
    let out = run(&[
        "--from",
        &s.from,
        "--into",
        &s.into,
        "--as",
        "libx.so",
        "--sha256",
        &sha(&s.content),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        std::fs::read(Path::new(&s.into).join("libx.so")).expect("kept"),
        s.content
    );
    assert_eq!(entries(Path::new(&s.into)), ["libx.so"]);
}

#[test]
fn never_writes_through_a_symlink() {
    let s = setup();
    let outside = tempfile::tempdir().expect("tempdir");
    symlink(outside.path(), Path::new(&s.into).join("p")).expect("symlink");
    let out = run(&["--from", &s.from, "--into", &s.into, "--as", "p/libx.so"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("refusing to write through it"),
        "{}",
        text(&out)
    );
    assert!(
        entries(outside.path()).is_empty(),
        "nothing written outside --into"
    );

    // --into itself a symlink: refused too.
    let link = Path::new(&s.into).parent().expect("parent").join("link");
    symlink(outside.path(), &link).expect("symlink");
    let out = run(&[
        "--from",
        &s.from,
        "--into",
        &link.display().to_string(),
        "--as",
        "libx.so",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(entries(outside.path()).is_empty());

    // The final name a symlink: replaced by the file, the target untouched.
    let target = outside.path().join("victim");
    std::fs::write(&target, b"keep").expect("write");
    symlink(&target, Path::new(&s.into).join("libx.so")).expect("symlink");
    let out = run(&["--from", &s.from, "--into", &s.into, "--as", "libx.so"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&target).expect("victim"), b"keep");
    let dest = Path::new(&s.into).join("libx.so");
    assert!(std::fs::symlink_metadata(&dest).expect("meta").is_file());
}

#[test]
fn refuses_a_missing_source_a_symlinked_source_and_a_directory() {
    let s = setup();
    let missing = format!("{}.missing", s.from);
    let out = run(&["--from", &missing, "--into", &s.into, "--as", "x.so"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("not found in the image: check spec.artifact.path"),
        "{}",
        text(&out)
    );

    let link = format!("{}.link", s.from);
    symlink(&s.from, &link).expect("symlink");
    let out = run(&["--from", &link, "--into", &s.into, "--as", "x.so"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("is a symlink"), "{}", text(&out));

    let out = run(&["--from", &s.into, "--into", &s.into, "--as", "x.so"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));

    let out = run(&[
        "--from",
        &s.from,
        "--into",
        &format!("{}/nope", s.into),
        "--as",
        "x.so",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    assert!(entries(Path::new(&s.into)).is_empty());
}

#[test]
fn usage_errors_exit_2_and_print_the_usage() {
    let out = run(&["--from", "/x"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--into is missing") && said.contains("usage: copy"),
        "{said}"
    );
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: copy"));
}

#[test]
fn a_stale_temporary_file_from_a_killed_run_is_replaced() {
    let s = setup();
    let stale = Path::new(&s.into).join(".fbplugin-copy-libx.so");
    std::fs::write(&stale, b"half").expect("write");
    let out = run(&["--from", &s.from, "--into", &s.into, "--as", "libx.so"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(entries(Path::new(&s.into)), ["libx.so"]);
}

// --check: the verify step.

#[test]
fn check_passes_a_file_with_the_expected_sha256_and_writes_nothing() {
    let s = setup();
    let digest = sha(&s.content);
    let out = run(&["--from", &s.from, "--into", &s.into, "--as", "libx.so"]);
    assert!(out.status.success(), "{}", text(&out));
    let copied = format!("{}/libx.so", s.into);
    let before = entries(Path::new(&s.into));
    let out = run(&["--check", &copied, "--sha256", &digest]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "{copied} has sha256 {digest}, as spec.artifact.sha256"
        )),
        "{}",
        text(&out)
    );
    let out = run(&["--check", &copied, "--same-as", &s.from]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("the same as {}", s.from)),
        "{}",
        text(&out)
    );
    assert_eq!(entries(Path::new(&s.into)), before);
}

#[test]
fn check_fails_on_a_changed_file_naming_it_and_both_digests() {
    let s = setup();
    let out = run(&["--from", &s.from, "--into", &s.into, "--as", "libx.so"]);
    assert!(out.status.success(), "{}", text(&out));
    let copied = format!("{}/libx.so", s.into);
    std::fs::remove_file(&copied).expect("rm");
    std::fs::write(&copied, b"evil\n").expect("overwrite");
    let expected = sha(&s.content);
    let actual = sha(b"evil\n");
    for (how, value, whence) in [
        (
            "--sha256",
            expected.clone(),
            "(spec.artifact.sha256)".to_owned(),
        ),
        (
            "--same-as",
            s.from.clone(),
            format!("(the sha256 of {} in the plugin's image)", s.from),
        ),
    ] {
        let out = run(&["--check", &copied, how, &value]);
        assert_eq!(out.status.code(), Some(1), "{how}: {}", text(&out));
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            said.starts_with(&format!(
                "fbplugin: sha256 mismatch for {copied}: expected {expected} {whence}, actual {actual}"
            )),
            "{how}: {said}"
        );
    }
}

#[test]
fn check_refuses_a_missing_file_a_symlink_and_a_directory() {
    let s = setup();
    let digest = sha(&s.content);
    let missing = format!("{}/libx.so", s.into);
    let out = run(&["--check", &missing, "--sha256", &digest]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("is missing after the copy steps"),
        "{}",
        text(&out)
    );
    // A symlink to a file with the right content is still refused: Fluent Bit would follow it.
    symlink(&s.from, &missing).expect("symlink");
    let out = run(&["--check", &missing, "--sha256", &digest]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("is a symlink"), "{}", text(&out));
    let out = run(&["--check", &s.into, "--sha256", &digest]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    // The image's file missing: named as the copy step names it.
    let out = run(&["--check", &s.from, "--same-as", &format!("{}.nope", s.from)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("not found in the image"),
        "{}",
        text(&out)
    );
}

#[test]
fn check_usage_errors_exit_2() {
    let out = run(&["--check", "/x/libx.so"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--check needs --sha256"),
        "{}",
        text(&out)
    );
}
