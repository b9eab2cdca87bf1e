//! `fb-test-host run -c fluent-bit.conf [--duration 5s] [--collect-interval 1s]
//! [--flush-interval 1s] [--until-records N] [--skip-builtin] [--quiet]
//! [--plugin-map /path/in/plugins_file=/local/lib.so]... [--root DIR]`
//!
//! Runs the proxy plugins a Fluent Bit config (classic, or YAML for a `.yaml`/`.yml` path) names, through the test host, and prints
//! a summary. `--root DIR` looks every absolute path the config names (`@INCLUDE` targets, YAML
//! `includes`, the `plugins_file` and its `Path` entries, YAML `plugins`, `WASM_Path`) up under
//! DIR, for a config rendered for a pod. Exit status: 0 on success, 1 when a flush or collect failed, 2 for usage, config
//! or init errors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fluent_bit_plugin_sdk::FromProperty;
use fluent_bit_plugin_test_host::run::{RunOptions, run};

const USAGE: &str = "usage: fb-test-host run -c <fluent-bit.conf> [--duration 5s] \
[--collect-interval 1s] [--flush-interval 1s] [--until-records N] [--skip-builtin] [--quiet] \
[--plugin-map FROM=TO]... [--root DIR]";

/// `5s`, `500ms`, `2m`, `1h`, `1.5s`, or a plain number of seconds: the forms plugins accept.
fn duration(v: &str) -> Result<Duration, String> {
    <Duration as FromProperty>::from_property(v)
        .map_err(|e| format!("'{v}' is not a duration such as 5s, 500ms or 2m ({e})"))
}

fn parse_args(args: &[String]) -> Result<RunOptions, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("run") => {}
        Some("-h" | "--help") | None => return Err(USAGE.to_owned()),
        Some(other) => return Err(format!("unknown command '{other}'\n{USAGE}")),
    }
    let mut opts = RunOptions {
        config: PathBuf::new(),
        duration: Duration::from_secs(5),
        collect_interval: Duration::from_secs(1),
        flush_interval: None,
        until_records: None,
        skip_builtin: false,
        echo_logs: true,
        plugin_map: Vec::new(),
        root: None,
    };
    let mut config = None;
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "-c" | "--config" => config = Some(PathBuf::from(value(a)?)),
            "--duration" => opts.duration = duration(&value(a)?)?,
            "--collect-interval" => opts.collect_interval = duration(&value(a)?)?,
            "--flush-interval" => opts.flush_interval = Some(duration(&value(a)?)?),
            "--until-records" => {
                let v = value(a)?;
                opts.until_records = Some(
                    v.parse()
                        .map_err(|_| format!("--until-records: '{v}' is not a number"))?,
                );
            }
            "--skip-builtin" => opts.skip_builtin = true,
            "--quiet" => opts.echo_logs = false,
            "--root" => opts.root = Some(PathBuf::from(value(a)?)),
            "--plugin-map" => {
                let v = value(a)?;
                let (from, to) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--plugin-map: '{v}' is not FROM=TO"))?;
                opts.plugin_map
                    .push((PathBuf::from(from), PathBuf::from(to)));
            }
            other => return Err(format!("unknown option '{other}'\n{USAGE}")),
        }
    }
    opts.config = config.ok_or_else(|| format!("-c <fluent-bit.conf> is required\n{USAGE}"))?;
    if opts.collect_interval.is_zero() {
        return Err("--collect-interval must be greater than 0".into());
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(summary) => {
            print!("{summary}");
            if summary.failed() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("fb-test-host: {e}");
            ExitCode::from(2)
        }
    }
}
