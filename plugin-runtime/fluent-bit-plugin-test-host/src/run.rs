//! The `fb-test-host run` pipeline: load every plugin a classic config names, create its
//! `[CUSTOM]`/`[INPUT]`/`[OUTPUT]` instances and its `[FILTER] Name wasm` filters, pass
//! collected chunks through the filters that match their tag, route them to outputs by `Match`
//! or `Match_Regex`, flush on an interval, then shut down in Fluent Bit's order.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError, Section, SectionKind};
use crate::{
    CustomInstance, FlushCode, Host, HostError, InputInstance, LogLevel, LogLine, OutputInstance,
    PluginKind,
};

mod builtin;
mod route;
mod wasm;

pub use route::{Route, wildcard_match};
pub use wasm::FilterStats;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The main classic config.
    pub config: PathBuf,
    /// Stop after this long.
    pub duration: Duration,
    /// Collector tick (Fluent Bit: 1 s).
    pub collect_interval: Duration,
    /// Flush tick; default: `[SERVICE] Flush`, else 1 s.
    pub flush_interval: Option<Duration>,
    /// Stop once outputs have flushed this many records with OK.
    pub until_records: Option<u64>,
    /// Skip sections naming built-in plugins (with a warning) instead of failing.
    pub skip_builtin: bool,
    /// Echo plugin log lines to stderr as they happen.
    pub echo_logs: bool,
    /// `(as written in plugins_file, path to load instead)`: lets a config rendered for a pod
    /// (e.g. `/fluent-bit/plugins/out.so`) run against locally built files.
    pub plugin_map: Vec<(PathBuf, PathBuf)>,
    /// Treat this directory as the container's filesystem, for a config rendered for a pod
    /// (files placed where its init containers put them): every absolute path the loader opens
    /// is looked up under it. That is the classic `@INCLUDE` targets (plain and glob, e.g. the
    /// operator's `@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf`), YAML `includes` (e.g.
    /// `/fluent-bit/etc/fbplugin/pipeline.yaml`), the `plugins_file` (wherever its `[SERVICE]`
    /// is: repeated `[SERVICE]` sections merge, as in Fluent Bit), its `Path` entries, the YAML
    /// `plugins` list and a wasm filter's `WASM_Path`. `config` itself is a local path, and
    /// relative paths keep Fluent Bit's rules (against the current directory, then the main
    /// config's directory; YAML: the including file's directory). A missing file is an error
    /// naming the path as written in the config and the file it was looked up at. See
    /// [`Config::load_under`] and [`Config::plugin_paths_under`].
    pub root: Option<PathBuf>,
}

/// Why a run could not start or finish.
#[derive(Debug)]
pub enum RunError {
    /// The config is invalid.
    Config(ConfigError),
    /// A plugin failed to load or an instance failed to start; `at` is `file:line`.
    Host {
        /// Where in the config.
        at: String,
        /// The host error.
        error: HostError,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => e.fmt(f),
            Self::Host { at, error } => write!(f, "{at}: {error}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<ConfigError> for RunError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// Per-input results.
#[derive(Debug, Clone, Default)]
pub struct InputStats {
    /// Instance name.
    pub name: String,
    /// Tag of its records.
    pub tag: String,
    /// Records collected.
    pub records: u64,
    /// Non-empty collects.
    pub chunks: u64,
    /// Collect errors.
    pub errors: Vec<String>,
}

/// Per-output results.
#[derive(Debug, Clone, Default)]
pub struct OutputStats {
    /// Instance name.
    pub name: String,
    /// Records in chunks flushed with OK.
    pub records: u64,
    /// Flushes by result.
    pub ok: u64,
    /// Flushes that returned ERROR (chunk dropped).
    pub error: u64,
    /// Flushes that returned RETRY.
    pub retry: u64,
    /// Chunks dropped after `retry_limit` retries.
    pub dropped: u64,
    /// Largest flush stack use seen.
    pub max_stack: usize,
    /// Host errors during flushes.
    pub errors: Vec<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Inputs in config order.
    pub inputs: Vec<InputStats>,
    /// Outputs in config order.
    pub outputs: Vec<OutputStats>,
    /// WASM filters in config order.
    pub filters: Vec<FilterStats>,
    /// Custom instance names.
    pub customs: Vec<String>,
    /// Config and routing warnings.
    pub warnings: Vec<String>,
    /// Every plugin log line.
    pub logs: Vec<LogLine>,
}

impl Summary {
    /// True when a flush failed or a chunk was dropped or a collect failed.
    pub fn failed(&self) -> bool {
        self.outputs
            .iter()
            .any(|o| o.error > 0 || o.dropped > 0 || !o.errors.is_empty())
            || self.inputs.iter().any(|i| !i.errors.is_empty())
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for c in &self.customs {
            writeln!(f, "custom {c}")?;
        }
        for i in &self.inputs {
            writeln!(
                f,
                "input  {:<28} tag={:<20} records={} chunks={} errors={}",
                i.name,
                i.tag,
                i.records,
                i.chunks,
                i.errors.len()
            )?;
            for e in &i.errors {
                writeln!(f, "    {e}")?;
            }
        }
        for w in &self.filters {
            writeln!(
                f,
                "filter {:<28} records={} kept={} modified={} dropped={} corrupted={}",
                w.name, w.records, w.kept, w.modified, w.dropped, w.corrupted
            )?;
            if let Some(reason) = &w.first_drop {
                writeln!(f, "    first drop: {reason}")?;
            }
        }
        for o in &self.outputs {
            writeln!(
                f,
                "output {:<28} records={} ok={} error={} retry={} dropped={} max_stack={}B",
                o.name, o.records, o.ok, o.error, o.retry, o.dropped, o.max_stack
            )?;
            for e in &o.errors {
                writeln!(f, "    {e}")?;
            }
        }
        writeln!(f, "plugin log lines: {}", self.logs.len())
    }
}

fn at(s: &Section) -> String {
    format!("{}:{}", s.file.display(), s.line)
}

struct RunningOutput {
    instance: OutputInstance,
    route: Route,
    retry_limit: Option<u32>,
    queue: Vec<(String, Vec<u8>, u64, u32)>,
    stats: OutputStats,
}

/// Seconds as Fluent Bit writes `Flush` (may be fractional).
fn seconds(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
}

/// Loads, runs and shuts down the pipeline a config describes.
pub fn run(opts: &RunOptions) -> Result<Summary, RunError> {
    let cfg = Config::load_under(&opts.config, opts.root.as_deref())?;
    let mut summary = Summary {
        warnings: cfg.warnings.clone(),
        ..Summary::default()
    };
    let flush_every = opts
        .flush_interval
        .or_else(|| cfg.service("flush").and_then(|e| seconds(&e.value)))
        .unwrap_or(Duration::from_secs(1));
    let load_host = |path: &PathBuf| -> Result<Host, RunError> {
        let mut b = Host::builder(path).echo_logs(opts.echo_logs);
        if let Some(e) = cfg.service("coro_stack_size") {
            let size = e.value.trim().parse::<usize>().map_err(|_| ConfigError {
                file: e.file.clone(),
                line: e.line,
                message: format!("coro_stack_size '{}' is not a number of bytes", e.value),
            })?;
            b = b.coro_stack_size(size);
        }
        if let Some(e) = cfg.service("log_level") {
            let level = LogLevel::parse(&e.value).ok_or_else(|| ConfigError {
                file: e.file.clone(),
                line: e.line,
                message: format!(
                    "log_level '{}' is not off, error, warn, info, debug or trace",
                    e.value
                ),
            })?;
            b = b.log_level(level);
        }
        if let Some(e) = cfg.service("hot_reload") {
            b = b.hot_reload(matches!(
                e.value.to_ascii_lowercase().as_str(),
                "on" | "true" | "yes"
            ));
        }
        let at = cfg
            .service("plugins_file")
            .map_or_else(String::new, |e| format!("{}:{}", e.file.display(), e.line));
        b.load().map_err(|error| RunError::Host { at, error })
    };

    let mut hosts: Vec<Host> = Vec::new();
    for p in cfg.plugin_paths_under(opts.root.as_deref())? {
        let p = opts
            .plugin_map
            .iter()
            .find(|(from, _)| *from == p)
            .map_or(p, |(_, to)| to.clone());
        hosts.push(load_host(&p)?);
    }
    let by_name: HashMap<String, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.plugin_name().to_ascii_lowercase(), i))
        .collect();

    // Resolve every section first so errors surface before any Init.
    let mut plan: Vec<(&Section, usize, u32)> = Vec::new();
    let mut wasm_filters: Vec<wasm::WasmFilter> = Vec::new();
    for (kind, pk) in [
        (SectionKind::Custom, PluginKind::Custom),
        (SectionKind::Input, PluginKind::Input),
        (SectionKind::Filter, PluginKind::Output),
        (SectionKind::Output, PluginKind::Output),
    ] {
        for (id, s) in cfg.sections_of(kind).enumerate() {
            let Some(name) = s.get("name") else {
                return Err(ConfigError {
                    file: s.file.clone(),
                    line: s.line,
                    message: format!("[{}] has no Name", s.name),
                }
                .into());
            };
            if kind == SectionKind::Filter && name.eq_ignore_ascii_case("wasm") {
                wasm_filters.push(wasm::WasmFilter::from_section(
                    s,
                    id as u32,
                    opts.root.as_deref(),
                )?);
                continue;
            }
            let host = (kind != SectionKind::Filter)
                .then(|| by_name.get(&name.to_ascii_lowercase()))
                .flatten();
            let Some(&h) = host else {
                let known = builtin::is_builtin(kind, name);
                if known && opts.skip_builtin {
                    summary
                        .warnings
                        .push(format!("{}: skipping built-in plugin '{name}'", at(s)));
                    continue;
                }
                let loaded: Vec<&str> = hosts.iter().map(Host::plugin_name).collect();
                let message = if known {
                    format!(
                        "'{name}' is a Fluent Bit built-in plugin, which the test host cannot run (use --skip-builtin to ignore it)"
                    )
                } else {
                    format!(
                        "unknown plugin '{name}': not among the loaded proxy plugins [{}]",
                        loaded.join(", ")
                    )
                };
                return Err(ConfigError {
                    file: s.file.clone(),
                    line: s.line,
                    message,
                }
                .into());
            };
            if hosts[h].kind() != Some(pk) {
                let message = format!(
                    "plugin '{name}' is an {} plugin and cannot be used in [{}]",
                    hosts[h].kind().map_or("unknown", PluginKind::as_str),
                    s.name
                );
                return Err(ConfigError {
                    file: s.file.clone(),
                    line: s.line,
                    message,
                }
                .into());
            }
            plan.push((s, h, id as u32));
        }
    }

    let mut customs: Vec<CustomInstance> = Vec::new();
    let mut inputs: Vec<(InputInstance, InputStats)> = Vec::new();
    let mut outputs: Vec<RunningOutput> = Vec::new();
    for (s, h, id) in &plan {
        let host = &hosts[*h];
        let fail = |error| RunError::Host { at: at(s), error };
        match s.kind {
            SectionKind::Custom => {
                let c = host
                    .custom()
                    .properties(s.properties())
                    .instance_id(*id)
                    .init()
                    .map_err(fail)?;
                summary.customs.push(c.name().to_owned());
                customs.push(c);
            }
            SectionKind::Input => {
                let i = host
                    .input()
                    .properties(s.properties())
                    .instance_id(*id)
                    .init()
                    .map_err(fail)?;
                let stats = InputStats {
                    name: i.name().to_owned(),
                    tag: i.tag().to_owned(),
                    ..InputStats::default()
                };
                inputs.push((i, stats));
            }
            _ => {
                let route = Route::from_section(s)?;
                if route.is_none() {
                    summary.warnings.push(format!(
                        "{}: output has no Match or Match_Regex; it receives nothing",
                        at(s)
                    ));
                }
                let retry_limit = route::retry_limit(s)?;
                let o = host
                    .output()
                    .properties(s.properties())
                    .instance_id(*id)
                    .init()
                    .map_err(fail)?;
                let stats = OutputStats {
                    name: o.name().to_owned(),
                    ..OutputStats::default()
                };
                outputs.push(RunningOutput {
                    instance: o,
                    route,
                    retry_limit,
                    queue: Vec::new(),
                    stats,
                });
            }
        }
    }

    for (i, _) in &inputs {
        i.run_collector(opts.collect_interval)
            .map_err(|error| RunError::Host {
                at: i.name().to_owned(),
                error,
            })?;
    }
    let start = Instant::now();
    loop {
        let left = opts.duration.saturating_sub(start.elapsed());
        std::thread::sleep(flush_every.min(left));
        pump(&mut inputs, &mut wasm_filters, &mut outputs);
        let delivered: u64 = outputs.iter().map(|o| o.stats.records).sum();
        let collected: u64 = inputs.iter().map(|(_, s)| s.records).sum();
        let reached = opts.until_records.is_some_and(|n| {
            if outputs.is_empty() {
                collected >= n
            } else {
                delivered >= n
            }
        });
        if reached || start.elapsed() >= opts.duration {
            break;
        }
    }
    // Fluent Bit's shutdown (flb_engine.c): pause every input (the collector stops for good;
    // records the plugin queued since the last collect are never collected), flush what the
    // pipeline holds during the grace period, then exit outputs, customs, inputs; then
    // unregister and dlclose.
    for (i, _) in &inputs {
        let _ = i.pause();
    }
    pump(&mut inputs, &mut wasm_filters, &mut outputs);

    for o in outputs {
        let _ = o.instance.exit();
        summary.outputs.push(o.stats);
    }
    summary.filters = wasm_filters.into_iter().map(|f| f.stats).collect();
    drop(customs);
    for (i, stats) in inputs {
        let _ = i.exit();
        summary.inputs.push(stats);
    }
    for h in hosts {
        summary.logs.extend(h.logs());
        h.shutdown();
    }
    Ok(summary)
}

/// Passes collected chunks through the matching WASM filters, moves them to matching outputs
/// and flushes every queued chunk once.
fn pump(
    inputs: &mut [(InputInstance, InputStats)],
    filters: &mut [wasm::WasmFilter],
    outputs: &mut [RunningOutput],
) {
    for (input, stats) in inputs.iter_mut() {
        for e in input.take_errors() {
            stats.errors.push(e.to_string());
        }
        for c in input.take_collected() {
            stats.records += c.records as u64;
            stats.chunks += 1;
            let (mut data, mut count) = (c.data, c.records as u64);
            for f in filters.iter_mut().filter(|f| f.matches(input.tag())) {
                match f.apply(input.tag(), &data) {
                    Ok((filtered, n)) => (data, count) = (filtered, n),
                    Err(e) => stats.errors.push(e),
                }
            }
            if count == 0 {
                continue;
            }
            for o in outputs.iter_mut().filter(|o| o.route.matches(input.tag())) {
                // Like a Fluent Bit chunk: records of one tag accumulate until the next flush.
                match o.queue.last_mut() {
                    Some((tag, queued, records, 0)) if tag == input.tag() => {
                        queued.extend_from_slice(&data);
                        *records += count;
                    }
                    _ => o
                        .queue
                        .push((input.tag().to_owned(), data.clone(), count, 0)),
                }
            }
        }
    }
    for o in outputs.iter_mut() {
        let mut keep = Vec::new();
        for (tag, data, records, tries) in std::mem::take(&mut o.queue) {
            match o.instance.flush(&tag, &data) {
                Ok(r) => {
                    o.stats.max_stack = o.stats.max_stack.max(r.stack_used);
                    match r.code {
                        FlushCode::Ok => {
                            o.stats.ok += 1;
                            o.stats.records += records;
                        }
                        FlushCode::Error => o.stats.error += 1,
                        FlushCode::Retry => {
                            o.stats.retry += 1;
                            if o.retry_limit.is_some_and(|l| tries >= l) {
                                o.stats.dropped += 1;
                            } else {
                                keep.push((tag, data, records, tries + 1));
                            }
                        }
                    }
                }
                Err(e) => o.stats.errors.push(e.to_string()),
            }
        }
        o.queue = keep;
    }
}
