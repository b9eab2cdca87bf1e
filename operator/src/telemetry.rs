//! Structured logs: text or JSON on stderr, level from `RUST_LOG` (default `info`). Text lines
//! are coloured only when stderr is a terminal and `NO_COLOR` is unset, so `kubectl logs` and
//! log files get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Installs the global subscriber. An invalid `RUST_LOG` is reported and `info` used.
pub fn init(format: LogFormat) {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(e) => {
            if std::env::var_os("RUST_LOG").is_some() {
                eprintln!("operator: ignoring RUST_LOG ({e}); logging at info");
            }
            EnvFilter::new("info")
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_wanted())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}

/// Colour only for a person at a terminal: never in a pod's log, a file or a pipe, and never
/// when `NO_COLOR` is set (https://no-color.org).
fn colour_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
