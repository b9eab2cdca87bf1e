//! `jsonl_file`: a Fluent Bit output that appends records to a file as JSON lines, with
//! rotation by size.
//!
//! ```text
//! [OUTPUT]
//!     Name         jsonl_file
//!     Match        *
//!     path         /var/log/fluent-bit/records.jsonl
//!     format       flat
//!     max_size     10M
//! ```
//!
//! | key           | meaning                                                         | default   |
//! |---------------|-----------------------------------------------------------------|-----------|
//! | `path`        | the file to append to (required)                                | —         |
//! | `format`      | `flat`: the record's fields plus time and tag keys; `envelope`: `{"time":..,"tag":..,"metadata":{..},"record":{..}}` | `flat` |
//! | `time_key`    | key of the timestamp in `flat` format; `none` leaves it out     | `time`    |
//! | `time_format` | `iso8601` (RFC 3339, nanoseconds), `epoch` (float seconds) or `epoch_nanos` | `iso8601` |
//! | `tag_key`     | key of the tag in `flat` format; unset leaves it out            | unset     |
//! | `metadata_key`| key of the record's metadata map in `flat` format; unset leaves it out | unset |
//! | `max_size`    | rotate before a write would take the file past this size (`0` = never) | `0` |
//! | `max_files`   | rotated files to keep (`path.1` is the newest)                  | `5`       |
//! | `mkdir`       | create missing parent directories                               | `off`     |
//!
//! Delivery: a chunk is encoded completely before anything is written, so a malformed chunk
//! writes nothing (and is dropped). If the file cannot be opened or written (disk full,
//! permissions, a directory that does not exist yet) the flush returns Retry and the partial
//! write is cut off again, so a retried chunk does not leave half a line behind.
//!
//! Rotation: a chunk is split at line boundaries, so no file grows past `max_size`; the one
//! exception is a single line longer than `max_size`, which is written alone into a fresh file.
//! When a chunk spans a rotation and the write into the new file fails, the lines already in
//! the rotated file stay there and are written again when Fluent Bit retries the chunk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use fluent_bit_plugin_sdk::event::{Event, JsonFormat, TimeFormat, json};
use fluent_bit_plugin_sdk::log;
use fluent_bit_plugin_sdk::{
    Chunk, Config, ConfigError, Error, FlushError, InitContext, OutputPlugin, Size,
};

/// How a record is laid out on its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The record's own fields, with the time (and tag) added as top-level keys.
    Flat,
    /// `{"time":..,"tag":..,"metadata":{..},"record":{..}}`: nothing can collide.
    Envelope,
}

/// The plugin's configuration, parsed once at Init.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// File to append to.
    pub path: PathBuf,
    /// Line layout.
    pub format: Format,
    /// Key of the timestamp in `flat` format.
    pub time_key: Option<String>,
    /// Timestamp encoding.
    pub time_format: TimeFormat,
    /// Key of the tag in `flat` format.
    pub tag_key: Option<String>,
    /// Key of the metadata map in `flat` format.
    pub metadata_key: Option<String>,
    /// Rotation threshold in bytes.
    pub max_size: Option<u64>,
    /// Rotated files kept.
    pub max_files: u32,
    /// Create parent directories.
    pub mkdir: bool,
}

impl Settings {
    /// Reads the settings from an instance's configuration.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let format = match config
            .get_or("format", "flat".to_string())?
            .to_ascii_lowercase()
            .as_str()
        {
            "flat" => Format::Flat,
            "envelope" => Format::Envelope,
            other => {
                return Err(ConfigError::invalid(
                    "format",
                    other,
                    "`flat` or `envelope`",
                ));
            }
        };
        let time_format = match config
            .get_or("time_format", "iso8601".to_string())?
            .to_ascii_lowercase()
            .as_str()
        {
            "iso8601" => TimeFormat::Rfc3339,
            "epoch" => TimeFormat::EpochSeconds,
            "epoch_nanos" => TimeFormat::EpochNanos,
            other => {
                return Err(ConfigError::invalid(
                    "time_format",
                    other,
                    "`iso8601`, `epoch` or `epoch_nanos`",
                ));
            }
        };
        let time_key = config.get_or("time_key", "time".to_string())?;
        let max_size = config.get_or("max_size", Size(0))?.0;
        Ok(Settings {
            path: config.required("path")?,
            format,
            time_key: (!time_key.eq_ignore_ascii_case("none")).then_some(time_key),
            time_format,
            tag_key: config.optional("tag_key")?,
            metadata_key: config.optional("metadata_key")?,
            max_size: (max_size > 0).then_some(max_size),
            max_files: config.get_or("max_files", 5)?,
            mkdir: config.get_or("mkdir", false)?,
        })
    }
}

/// One output instance. Flushes from several workers take turns on the file.
pub struct JsonLines {
    settings: Settings,
    file: Mutex<Sink>,
}

struct Sink {
    file: Option<File>,
    size: u64,
    /// Reused for every chunk: encoding allocates nothing once it has grown.
    line: Vec<u8>,
}

impl OutputPlugin for JsonLines {
    fn init(ctx: &InitContext) -> Result<Self, Error> {
        let settings = Settings::from_config(ctx.config())?;
        log::info!("writing JSON lines to {}", settings.path.display());
        Ok(JsonLines {
            settings,
            file: Mutex::new(Sink {
                file: None,
                size: 0,
                line: Vec::new(),
            }),
        })
    }

    fn flush(&self, chunk: &Chunk<'_>) -> Result<(), FlushError> {
        let mut sink = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let sink = &mut *sink;
        sink.line.clear();
        for event in chunk.events() {
            self.write_line(&mut sink.line, chunk.tag(), &event?);
        }
        if sink.line.is_empty() {
            return Ok(());
        }
        self.append(sink).map_err(|err| {
            FlushError::retry(format!(
                "cannot write {}: {err}",
                self.settings.path.display()
            ))
        })
    }
}

impl JsonLines {
    /// Encodes one record as a JSON line.
    pub fn write_line(&self, out: &mut Vec<u8>, tag: &str, event: &Event<'_>) {
        let s = &self.settings;
        match s.format {
            Format::Flat => JsonFormat {
                time_key: s.time_key.as_deref(),
                time_format: s.time_format,
                tag_key: s.tag_key.as_deref(),
                metadata_key: s.metadata_key.as_deref(),
                newline: true,
            }
            .write_event(out, event, tag),
            Format::Envelope => {
                out.extend_from_slice(b"{\"time\":");
                json::write_time(out, event.time(), s.time_format);
                out.extend_from_slice(b",\"tag\":");
                json::write_str(out, tag);
                out.extend_from_slice(b",\"metadata\":");
                json::write_map(out, &event.metadata());
                out.extend_from_slice(b",\"record\":");
                json::write_map(out, &event.body());
                out.extend_from_slice(b"}\n");
            }
        }
    }

    /// Writes the encoded chunk, rotating before any write that would take the file past
    /// `max_size`: the chunk is split at line boundaries, so a file only exceeds `max_size`
    /// when a single line is longer than that (the line then gets a file of its own).
    fn append(&self, sink: &mut Sink) -> io::Result<()> {
        let line = std::mem::take(&mut sink.line);
        let result = self.append_lines(sink, &line);
        sink.line = line;
        result
    }

    fn append_lines(&self, sink: &mut Sink, lines: &[u8]) -> io::Result<()> {
        let s = &self.settings;
        let mut start = 0;
        while start < lines.len() {
            self.open(sink)?;
            let rest = &lines[start..];
            let mut end = lines.len();
            if let Some(max) = s.max_size {
                let room = usize::try_from(max.saturating_sub(sink.size)).unwrap_or(usize::MAX);
                if rest.len() > room {
                    match rest[..room].iter().rposition(|&b| b == b'\n') {
                        Some(last) => end = start + last + 1,
                        None if sink.size > 0 => {
                            self.rotate(sink)?;
                            continue;
                        }
                        // A line longer than max_size, into an empty file: alone.
                        None => {
                            end = rest
                                .iter()
                                .position(|&b| b == b'\n')
                                .map_or(lines.len(), |nl| start + nl + 1);
                        }
                    }
                }
            }
            let Some(file) = sink.file.as_mut() else {
                return Err(io::Error::other("file not open"));
            };
            if let Err(err) = file.write_all(&lines[start..end]) {
                // Cut off the partial line so the retried chunk starts clean; if that fails too,
                // reopen next time.
                if file.set_len(sink.size).is_err() {
                    sink.file = None;
                }
                return Err(err);
            }
            sink.size += (end - start) as u64;
            start = end;
            if start < lines.len() {
                self.rotate(sink)?;
            }
        }
        Ok(())
    }

    fn open(&self, sink: &mut Sink) -> io::Result<()> {
        if sink.file.is_some() {
            return Ok(());
        }
        let s = &self.settings;
        if s.mkdir {
            if let Some(parent) = s.path.parent() {
                fs::create_dir_all(parent)?;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&s.path)?;
        sink.size = file.metadata().map(|m| m.len()).unwrap_or(0);
        sink.file = Some(file);
        Ok(())
    }

    fn rotate(&self, sink: &mut Sink) -> io::Result<()> {
        sink.file = None;
        rotate(&self.settings.path, self.settings.max_files)?;
        sink.size = 0;
        Ok(())
    }
}

/// `path` → `path.1` → ... → `path.<keep>`; the oldest is removed.
fn rotate(path: &Path, keep: u32) -> io::Result<()> {
    let numbered = |n: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    };
    if keep == 0 {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    for n in (1..keep).rev() {
        match fs::rename(numbered(n), numbered(n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    fs::rename(path, numbered(1))
}

fluent_bit_plugin_sdk::export_output!(
    JsonLines,
    name = "jsonl_file",
    description = "Appends records to a file as JSON lines, rotating by size"
);
