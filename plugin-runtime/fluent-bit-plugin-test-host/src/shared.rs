//! State shared by a host, its instances and the C callbacks.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::logs::LogLine;
use crate::metrics::MetricArena;

/// Key of one metric series: (instance name, full metric name, label values).
pub(crate) type SeriesKey = (String, String, Vec<String>);

pub(crate) struct Shared {
    pub(crate) echo_logs: bool,
    logs: Mutex<Vec<LogLine>>,
    stderr_logs: Mutex<Vec<LogLine>>,
    violations: Mutex<Vec<String>>,
    pub(crate) series: Mutex<HashMap<SeriesKey, f64>>,
    pub(crate) metric_arena: MetricArena,
}

fn relock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(echo_logs: bool) -> Self {
        Self {
            echo_logs,
            logs: Mutex::new(Vec::new()),
            stderr_logs: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            series: Mutex::new(HashMap::new()),
            metric_arena: MetricArena::default(),
        }
    }

    pub(crate) fn push_log(&self, line: LogLine) {
        if self.echo_logs {
            eprintln!("{line}");
        }
        relock(&self.logs).push(line);
    }

    pub(crate) fn push_stderr_log(&self, line: LogLine) {
        relock(&self.stderr_logs).push(line);
    }

    pub(crate) fn stderr_logs(&self) -> Vec<LogLine> {
        relock(&self.stderr_logs).clone()
    }

    pub(crate) fn logs(&self) -> Vec<LogLine> {
        relock(&self.logs).clone()
    }

    pub(crate) fn log_count(&self) -> usize {
        relock(&self.logs).len()
    }

    pub(crate) fn logs_since(&self, start: usize) -> Vec<LogLine> {
        relock(&self.logs)
            .get(start..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// Records an ABI misuse Fluent Bit would not survive (or would silently get wrong).
    pub(crate) fn violation(&self, msg: String) {
        eprintln!("[fluent-bit-plugin-test-host] ABI violation: {msg}");
        relock(&self.violations).push(msg);
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        relock(&self.violations).clone()
    }

    pub(crate) fn series(&self) -> std::sync::MutexGuard<'_, HashMap<SeriesKey, f64>> {
        relock(&self.series)
    }
}
