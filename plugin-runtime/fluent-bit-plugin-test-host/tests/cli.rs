//! `fb-test-host run` end to end with the raw probes.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::fresh;

fn setup(main: &str) -> std::path::PathBuf {
    let input = fresh("raw-probe-input");
    let output = fresh("raw-probe-output");
    let custom = fresh("raw-probe-custom");
    let dir = input.parent().unwrap().to_owned();
    std::fs::write(
        dir.join("plugins.conf"),
        format!(
            "[PLUGINS]\n    Path {}\n    Path {}\n    Path {}\n",
            input.display(),
            output.display(),
            custom.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("fluent-bit.conf"), main).unwrap();
    dir.join("fluent-bit.conf")
}

fn run(conf: &Path, extra: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_fb-test-host"))
        .args(["run", "-c"])
        .arg(conf)
        .args([
            "--collect-interval",
            "30ms",
            "--flush-interval",
            "60ms",
            "--quiet",
        ])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PIPELINE: &str = "\
[SERVICE]
    Flush        1
    Plugins_File plugins.conf
[CUSTOM]
    Name raw_probe_custom
    id   c1
[INPUT]
    Name raw_probe_in
    Tag  app.web
    id   web
[INPUT]
    Name Raw_Probe_In
    id   sys
[OUTPUT]
    Name  raw_probe_out
    Match app.*
    id    wild
[OUTPUT]
    Name        raw_probe_out
    Match_Regex ^raw_probe_in\\.\\d+$
    id          regex
[OUTPUT]
    Name raw_probe_out
    id   nothing
";

#[test]
fn routes_collected_records_to_matching_outputs() {
    let conf = setup(PIPELINE);
    let (code, stdout, stderr) = run(&conf, &["--duration", "5s", "--until-records", "12"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {stdout}"))
            .to_owned()
    };
    line("custom raw_probe_custom.0");
    assert!(line("input  raw_probe_in.0").contains("tag=app.web"));
    assert!(line("input  raw_probe_in.1").contains("tag=raw_probe_in.1"));
    let records = |l: String| -> u64 {
        l.split("records=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (wild, regex) = (
        records(line("output raw_probe_out.0")),
        records(line("output raw_probe_out.1")),
    );
    assert!(
        wild + regex >= 12,
        "--until-records counts records flushed with OK: {stdout}"
    );
    assert!(records(line("output raw_probe_out.0")) > 0);
    assert!(records(line("output raw_probe_out.1")) > 0);
    assert_eq!(records(line("output raw_probe_out.2")), 0);
    assert!(
        stdout.contains("warning: ") && stdout.contains("output has no Match or Match_Regex"),
        "{stdout}"
    );
}

#[test]
fn built_in_plugins_are_errors_unless_skipped() {
    let conf = setup(
        "[SERVICE]\n    Plugins_File plugins.conf\n[INPUT]\n    Name dummy\n[FILTER]\n    Name grep\n    Match *\n[OUTPUT]\n    Name raw_probe_out\n    Match *\n",
    );
    let (code, _, stderr) = run(&conf, &["--duration", "100ms"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("fluent-bit.conf:3: 'dummy' is a Fluent Bit built-in plugin"),
        "{stderr}"
    );
    let (code, stdout, stderr) = run(&conf, &["--duration", "100ms", "--skip-builtin"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("fluent-bit.conf:5: skipping built-in plugin 'grep'"),
        "{stdout}"
    );

    let unknown = setup("[SERVICE]\n    Plugins_File plugins.conf\n[OUTPUT]\n    Name nope\n");
    let (code, _, stderr) = run(&unknown, &["--duration", "100ms", "--skip-builtin"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("fluent-bit.conf:3: unknown plugin 'nope'"),
        "{stderr}"
    );
    let wrong =
        setup("[SERVICE]\n    Plugins_File plugins.conf\n[INPUT]\n    Name raw_probe_out\n");
    let (code, _, stderr) = run(&wrong, &["--duration", "100ms"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("is an output plugin and cannot be used in [INPUT]"),
        "{stderr}"
    );
}

#[test]
fn init_failures_and_flush_errors_fail_the_run() {
    let conf = setup(
        "[SERVICE]\n    Plugins_File plugins.conf\n[OUTPUT]\n    Name raw_probe_out\n    fail_init 0\n",
    );
    let (code, _, stderr) = run(&conf, &["--duration", "100ms"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("fluent-bit.conf:3: raw_probe_out.0: FLBPluginInit returned 0"),
        "{stderr}"
    );

    let conf = setup(
        "[SERVICE]\n    Plugins_File plugins.conf\n[INPUT]\n    Name raw_probe_in\n[OUTPUT]\n    Name raw_probe_out\n    Match *\n    flush_return 0\n",
    );
    let (code, stdout, _) = run(&conf, &["--duration", "300ms"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("ok=0 error="), "{stdout}");

    let conf = setup(
        "[SERVICE]\n    Plugins_File plugins.conf\n[INPUT]\n    Name raw_probe_in\n[OUTPUT]\n    Name raw_probe_out\n    Match *\n    Retry_Limit 2\n    flush_return 2\n",
    );
    let (code, stdout, _) = run(&conf, &["--duration", "400ms"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("dropped=") && !stdout.contains("dropped=0"),
        "{stdout}"
    );
}

#[test]
fn plugin_paths_can_be_mapped_to_local_builds() {
    let conf = setup(
        "[SERVICE]\n    Plugins_File pod-plugins.conf\n[INPUT]\n    Name raw_probe_in\n    Tag t\n[OUTPUT]\n    Name raw_probe_out\n    Match t\n",
    );
    let dir = conf.parent().unwrap();
    std::fs::write(
        dir.join("pod-plugins.conf"),
        "[PLUGINS]\n    Path /fluent-bit/plugins/in.so\n    Path /fluent-bit/plugins/out.so\n",
    )
    .unwrap();
    // setup() listed the local probe copies in plugins.conf.
    let local = std::fs::read_to_string(dir.join("plugins.conf")).unwrap();
    let find = |needle: &str| {
        local
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Path "))
            .find(|p| p.contains(needle))
            .unwrap()
            .to_owned()
    };
    let (input, output) = (find("libraw_probe_input"), find("libraw_probe_output"));
    let map_in = format!("/fluent-bit/plugins/in.so={input}");
    let map_out = format!("/fluent-bit/plugins/out.so={output}");
    let (code, stdout, stderr) = run(
        &conf,
        &[
            "--duration",
            "5s",
            "--until-records",
            "2",
            "--plugin-map",
            &map_in,
            "--plugin-map",
            &map_out,
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("output raw_probe_out.0"), "{stdout}");
    let (code, _, stderr) = run(&conf, &["--duration", "1s"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot dlopen /fluent-bit/plugins/in.so"),
        "{stderr}"
    );
}

#[test]
fn usage_and_config_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_fb-test-host"))
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-c <fluent-bit.conf> is required"));
    let conf = setup("[INPUT]\n  Name x\n  Tag\n");
    let (code, _, stderr) = run(&conf, &["--duration", "1s"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("fluent-bit.conf:3: key 'tag' has an empty value"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&conf, &["--duration", "soon"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("'soon' is not a duration"), "{stderr}");
}
