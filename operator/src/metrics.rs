//! The controller's Prometheus metrics, encoded in the text exposition format (version 0.0.4).
//!
//! Reconciles happen a few times a second at most, so one mutex around plain counters is
//! enough, and the text is written by hand instead of pulling in a metrics crate:
//! - `fbplugin_reconciles_total{result="success"|"error"}`
//! - `fbplugin_reconcile_failures_total{error="<kind>"}` ([`crate::controller::Error::metric_label`])
//! - `fbplugin_reconcile_duration_seconds` histogram
//! - `fbplugin_plugins{condition, status}`: plugins per condition type and status, from the
//!   status each plugin's last reconcile computed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fbplugin_crds::FluentBitPluginStatus;

/// Upper bounds of the duration histogram, in seconds.
pub const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Inner {
    reconciles: BTreeMap<&'static str, u64>,
    failures: BTreeMap<&'static str, u64>,
    bucket_counts: [u64; BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
    /// Plugin (namespace/name) → its (condition type, status) pairs.
    plugins: BTreeMap<String, Vec<(String, String)>>,
}

/// Reconcile metrics shared by the controller and the HTTP endpoint.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A panic while holding the lock leaves counters that are still valid numbers.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Starts timing a reconcile; call [`ReconcileTimer::finish`] with its outcome.
    pub fn start(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            started: Instant::now(),
        }
    }

    /// Records one reconcile: `Err(kind)` counts a failure of that kind.
    pub fn record(&self, elapsed: Duration, result: Result<(), &'static str>) {
        let seconds = elapsed.as_secs_f64();
        self.with(|m| {
            let label = if result.is_ok() { "success" } else { "error" };
            *m.reconciles.entry(label).or_default() += 1;
            if let Err(kind) = result {
                *m.failures.entry(kind).or_default() += 1;
            }
            for (count, bound) in m.bucket_counts.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *count += 1;
                }
            }
            m.duration_sum += seconds;
            m.duration_count += 1;
        });
    }

    /// Remembers a plugin's conditions for `fbplugin_plugins`.
    pub fn set_plugin(&self, key: &str, status: &FluentBitPluginStatus) {
        let conditions = status
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone()))
            .collect();
        self.with(|m| m.plugins.insert(key.to_string(), conditions));
    }

    /// Forgets a deleted plugin.
    pub fn remove_plugin(&self, key: &str) {
        self.with(|m| m.plugins.remove(key));
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            // Writing to a String cannot fail.
            let _ = write_all(&mut out, m);
            out
        })
    }
}

fn write_all(out: &mut String, m: &Inner) -> std::fmt::Result {
    writeln!(
        out,
        "# HELP fbplugin_reconciles_total Reconciles of FluentBitPlugins by result."
    )?;
    writeln!(out, "# TYPE fbplugin_reconciles_total counter")?;
    for result in ["success", "error"] {
        let n = m.reconciles.get(result).copied().unwrap_or(0);
        writeln!(out, "fbplugin_reconciles_total{{result=\"{result}\"}} {n}")?;
    }
    writeln!(
        out,
        "# HELP fbplugin_reconcile_failures_total Failed reconciles by error kind."
    )?;
    writeln!(out, "# TYPE fbplugin_reconcile_failures_total counter")?;
    for (kind, n) in &m.failures {
        writeln!(
            out,
            "fbplugin_reconcile_failures_total{{error=\"{kind}\"}} {n}"
        )?;
    }
    writeln!(
        out,
        "# HELP fbplugin_reconcile_duration_seconds Time one reconcile takes."
    )?;
    writeln!(out, "# TYPE fbplugin_reconcile_duration_seconds histogram")?;
    for (bound, n) in BUCKETS.iter().zip(m.bucket_counts) {
        writeln!(
            out,
            "fbplugin_reconcile_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
        )?;
    }
    let count = m.duration_count;
    writeln!(
        out,
        "fbplugin_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
    )?;
    writeln!(
        out,
        "fbplugin_reconcile_duration_seconds_sum {}",
        m.duration_sum
    )?;
    writeln!(out, "fbplugin_reconcile_duration_seconds_count {count}")?;
    writeln!(
        out,
        "# HELP fbplugin_plugins FluentBitPlugins by condition type and status."
    )?;
    writeln!(out, "# TYPE fbplugin_plugins gauge")?;
    let mut by_condition: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for conditions in m.plugins.values() {
        for (type_, status) in conditions {
            *by_condition.entry((type_, status)).or_default() += 1;
        }
    }
    for ((type_, status), n) in by_condition {
        writeln!(
            out,
            "fbplugin_plugins{{condition=\"{type_}\",status=\"{status}\"}} {n}"
        )?;
    }
    Ok(())
}

/// Times one reconcile.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    started: Instant,
}

impl ReconcileTimer<'_> {
    /// Records the reconcile with its outcome (`Err(kind)` on failure).
    pub fn finish(self, result: Result<(), &'static str>) {
        self.metrics.record(self.started.elapsed(), result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fbplugin_crds::ConditionUpdate;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn with_ready(ready: bool) -> FluentBitPluginStatus {
        let mut s = FluentBitPluginStatus::default();
        let update = ConditionUpdate {
            type_: "Ready",
            status: ready,
            reason: "R",
            message: String::new(),
        };
        s.set_condition(update, None, &Time(Timestamp::UNIX_EPOCH));
        s
    }

    #[test]
    fn text_exposition_counts_results_kinds_durations_and_conditions() {
        let m = Metrics::default();
        m.record(Duration::from_millis(3), Ok(()));
        m.record(Duration::from_millis(30), Err("conflict"));
        m.record(Duration::from_secs(20), Err("server_error"));
        m.set_plugin("a/x", &with_ready(true));
        m.set_plugin("a/y", &with_ready(true));
        m.set_plugin("a/z", &with_ready(false));
        m.set_plugin("a/gone", &with_ready(false));
        m.remove_plugin("a/gone");
        let text = m.encode();
        for line in [
            "fbplugin_reconciles_total{result=\"success\"} 1",
            "fbplugin_reconciles_total{result=\"error\"} 2",
            "fbplugin_reconcile_failures_total{error=\"conflict\"} 1",
            "fbplugin_reconcile_failures_total{error=\"server_error\"} 1",
            "fbplugin_reconcile_duration_seconds_bucket{le=\"0.005\"} 1",
            "fbplugin_reconcile_duration_seconds_bucket{le=\"0.05\"} 2",
            "fbplugin_reconcile_duration_seconds_bucket{le=\"10\"} 2",
            "fbplugin_reconcile_duration_seconds_bucket{le=\"+Inf\"} 3",
            "fbplugin_reconcile_duration_seconds_count 3",
            "fbplugin_plugins{condition=\"Ready\",status=\"True\"} 2",
            "fbplugin_plugins{condition=\"Ready\",status=\"False\"} 1",
            "# TYPE fbplugin_reconcile_duration_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("fbplugin_reconcile_duration_seconds_sum "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_default();
        assert!((sum - 20.033).abs() < 1e-9, "sum {sum}");
        // Every sample line is `name{labels} value` or `name value`: parseable by Prometheus.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "bad sample {line:?}");
        }
    }
}
