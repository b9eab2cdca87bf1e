//! `[FILTER] Name wasm` sections: the filter's `.wasm` runs in the WASM filter host, which calls
//! it as Fluent Bit's WAMR does, between collection and routing to outputs (filters apply in
//! config order to the records of the tags they match).

//!
//! The WASM interpreter is behind the crate's `wasm` feature, so `.so` plugins' dev-dependencies
//! stay small; without it such a section is a configuration error that names the feature.

use std::path::Path;
#[cfg(feature = "wasm")]
use std::path::PathBuf;

#[cfg(feature = "wasm")]
use fluent_bit_plugin_sdk::event::{Encoder, EventKind, Events, json};
#[cfg(feature = "wasm")]
use fluent_bit_plugin_sdk::{FromProperty, Size};
#[cfg(feature = "wasm")]
use fluent_bit_wasm_filter_test_host::{EventFormat, FilterHost, Options, Outcome};

use super::route::Route;
use crate::config::{ConfigError, Section};

/// What one WASM filter did during a run.
#[derive(Debug, Clone, Default)]
pub struct FilterStats {
    /// `wasm.<n>`, as Fluent Bit names filter instances.
    pub name: String,
    /// Records given to the filter.
    pub records: u64,
    /// Records passed on unchanged.
    pub kept: u64,
    /// Records passed on with a new body.
    pub modified: u64,
    /// Records dropped, with the first reason seen.
    pub dropped: u64,
    /// Why the first record was dropped.
    pub first_drop: Option<String>,
    /// msgpack results that were no longer one map after Fluent Bit's strlen cut.
    pub corrupted: u64,
}

pub(super) struct WasmFilter {
    route: Route,
    #[cfg(feature = "wasm")]
    host: FilterHost,
    pub(super) stats: FilterStats,
}

#[cfg(not(feature = "wasm"))]
impl WasmFilter {
    /// Without the `wasm` feature a WASM filter section cannot run: say how to get it.
    pub(super) fn from_section(
        s: &Section,
        _id: u32,
        _root: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        Err(ConfigError {
            file: s.file.clone(),
            line: s.line,
            message: "[FILTER] wasm needs the test host's `wasm` feature \
                      (fluent-bit-plugin-test-host = { features = [\"wasm\"] })"
                .into(),
        })
    }

    /// Whether records with `tag` pass through this filter.
    pub(super) fn matches(&self, tag: &str) -> bool {
        self.route.matches(tag)
    }

    /// Never reached: no filter is built without the feature.
    pub(super) fn apply(&mut self, _tag: &str, _chunk: &[u8]) -> Result<(Vec<u8>, u64), String> {
        Err(format!(
            "{}: built without the `wasm` feature",
            self.stats.name
        ))
    }
}

#[cfg(feature = "wasm")]
impl WasmFilter {
    /// Loads the filter a `[FILTER]` section describes; `root` resolves an absolute
    /// `WASM_Path` as inside a container.
    pub(super) fn from_section(
        s: &Section,
        id: u32,
        root: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let error = |message: String| ConfigError {
            file: s.file.clone(),
            line: s.line,
            message,
        };
        let required = |key: &str| {
            s.get_last(key)
                .map(|e| e.value.clone())
                .ok_or_else(|| error(format!("[FILTER] wasm needs {key}")))
        };
        let mut path = PathBuf::from(required("wasm_path")?);
        if let (Some(root), Ok(rest)) = (root, path.strip_prefix("/")) {
            path = root.join(rest);
        }
        let mut options = Options::new(&required("function_name")?);
        if let Some(e) = s.get_last("event_format") {
            options = options.event_format(match e.value.to_ascii_lowercase().as_str() {
                "json" => EventFormat::Json,
                "msgpack" => EventFormat::Msgpack,
                other => return Err(error(format!("[filter_wasm] unknown format '{other}'"))),
            });
        }
        if let Some(e) = s.get_last("wasm_heap_size") {
            let size = Size::from_property(&e.value)
                .map_err(|d| error(format!("wasm_heap_size '{}': {d}", e.value)))?;
            options = options.heap_size(size.0);
        }
        let host = FilterHost::load(&path, options).map_err(|e| error(e.to_string()))?;
        Ok(WasmFilter {
            route: Route::from_section(s)?,
            host,
            stats: FilterStats {
                name: format!("wasm.{id}"),
                ..FilterStats::default()
            },
        })
    }

    /// Whether records with `tag` pass through this filter.
    pub(super) fn matches(&self, tag: &str) -> bool {
        self.route.matches(tag)
    }

    /// Runs every record of `chunk` through the filter; returns the new chunk and its record
    /// count. Group markers pass unchanged, as in `filter_wasm.c`.
    pub(super) fn apply(&mut self, tag: &str, chunk: &[u8]) -> Result<(Vec<u8>, u64), String> {
        let mut out = Vec::with_capacity(chunk.len());
        let mut records = 0;
        let mut body = Vec::new();
        for event in Events::new(chunk).with_group_markers() {
            let event = event.map_err(|e| e.to_string())?;
            if event.kind() != EventKind::Log {
                out.extend_from_slice(event.raw());
                continue;
            }
            self.stats.records += 1;
            body.clear();
            json::write_map(&mut body, &event.body());
            let text = String::from_utf8_lossy(&body);
            let time = (event.time().sec(), event.time().nsec());
            let outcome = self
                .host
                .filter(tag, time, &text)
                .map_err(|e| format!("{}: {e}", self.stats.name))?;
            match outcome {
                Outcome::Keep(_) => {
                    self.stats.kept += 1;
                    out.extend_from_slice(event.raw());
                    records += 1;
                }
                Outcome::Modified(new_body) => {
                    self.stats.modified += 1;
                    // Fluent Bit keeps the timestamp and metadata and replaces the body.
                    Encoder::new(&mut out)
                        .serialize_with_metadata(event.time(), &event.metadata(), &new_body)
                        .map_err(|e| format!("{}: {e}", self.stats.name))?;
                    records += 1;
                }
                Outcome::Dropped(reason) => {
                    self.stats.dropped += 1;
                    self.stats
                        .first_drop
                        .get_or_insert_with(|| format!("{reason:?}"));
                }
                Outcome::Corrupted(_) => self.stats.corrupted += 1,
            }
        }
        Ok((out, records))
    }
}
