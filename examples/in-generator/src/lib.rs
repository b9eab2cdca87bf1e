//! `generator`: a Fluent Bit input that emits records at a steady rate.
//!
//! Each record carries a `message`, a `seq` number that increases by one per record (so a
//! consumer can check that nothing was lost or duplicated), and any fixed `fields`:
//!
//! ```text
//! [INPUT]
//!     Name     generator
//!     Tag      demo
//!     message  hello from Rust
//!     fields   team=logging, env=dev
//!     rate     100
//! ```
//!
//! | key          | meaning                                               | default |
//! |--------------|-------------------------------------------------------|---------|
//! | `message`    | the `message` field of every record                   | `hello` |
//! | `fields`     | extra fields, comma-separated `key=value` pairs       | none    |
//! | `rate`       | records per second (1 to 10,000,000)                  | `1`     |
//! | `count`      | stop after this many records (0 = never)              | `0`     |
//! | `queue_size` | bytes that may wait for Fluent Bit's next collect      | 2 s of records at `rate` (at least 64K) |
//!
//! Fluent Bit collects a proxy input once a second (hard-coded in 5.1.1), so the queue must hold
//! a second of records for the generator to reach its `rate`: by default it is sized from the
//! rate and the encoded size of a record, with room for a late collect. A smaller `queue_size`
//! caps the rate at about `queue_size` bytes per second.
//!
//! Back pressure: when Fluent Bit pauses the input or has not collected the queue yet, the
//! generator waits instead of dropping records and counts it in
//! `fluentbit_plugin_generator_backpressure_total`; a full queue is reported once at warn level
//! (it means `queue_size` caps the rate), a pause only at debug level (Fluent Bit decided it:
//! back pressure from its buffers, or the start of a shutdown). It does not make up the records
//! it could not produce while held back: the schedule restarts when the queue drains, and `seq`
//! stays contiguous. At exit it logs how many records it queued in total; the runtime logs how
//! many of them Fluent Bit never collected (see the `plugin-runtime` docs on shutdown).

use std::time::{Duration, Instant};

use fluent_bit_plugin_sdk::event::EventTime;
use fluent_bit_plugin_sdk::log;
use fluent_bit_plugin_sdk::{
    ConfigError, EmitError, Emitter, Error, InitContext, InputPlugin, List, Size,
};

/// The plugin's configuration, parsed once at Init.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The `message` field.
    pub message: String,
    /// Extra fields, in the order given.
    pub fields: Vec<(String, String)>,
    /// Records per second.
    pub rate: u32,
    /// Stop after this many records; `None` runs forever.
    pub count: Option<u64>,
    /// Queue bound in bytes.
    pub queue_size: usize,
}

impl Settings {
    /// Reads the settings from an instance's configuration.
    pub fn from_config(config: &fluent_bit_plugin_sdk::Config) -> Result<Self, ConfigError> {
        let rate: u32 = config.get_or("rate", 1)?;
        if !(1..=MAX_RATE).contains(&rate) {
            return Err(ConfigError::invalid(
                "rate",
                &rate.to_string(),
                "records per second between 1 and 10000000",
            ));
        }
        let mut fields = Vec::new();
        for item in config.get_or("fields", List::default())?.0 {
            match item.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() => {
                    fields.push((key.trim().to_owned(), value.trim().to_owned()))
                }
                _ => {
                    return Err(ConfigError::invalid(
                        "fields",
                        &item,
                        "comma-separated key=value pairs such as `team=logging, env=dev`",
                    ));
                }
            }
        }
        let count: u64 = config.get_or("count", 0)?;
        let message = config.get_or("message", "hello".to_string())?;
        let queue_size = match config.optional::<Size>("queue_size")? {
            Some(size) => usize::try_from(size.0).unwrap_or(usize::MAX).max(1024),
            None => queue_size_for(rate, record_size(&message, &fields)),
        };
        Ok(Settings {
            message,
            fields,
            rate,
            count: (count > 0).then_some(count),
            queue_size,
        })
    }
}

/// The largest encoded size of one record with these settings (the `seq` at its widest).
pub fn record_size(message: &str, fields: &[(String, String)]) -> usize {
    let mut buf = Vec::new();
    let mut enc = fluent_bit_plugin_sdk::Encoder::new(&mut buf);
    let mut record = enc.record(EventTime::now());
    record.str("message", message).uint("seq", u64::MAX);
    for (key, value) in fields {
        record.str(key, value);
    }
    record.finish();
    buf.len()
}

/// The default queue: two seconds of records at `rate` (Fluent Bit collects once a second; the
/// second second covers a late collect), at least 64 KiB.
pub fn queue_size_for(rate: u32, record_size: usize) -> usize {
    (rate as usize)
        .saturating_mul(record_size)
        .saturating_mul(2)
        .max(64 << 10)
}

/// One generator instance.
pub struct Generator {
    settings: Settings,
    next_seq: u64,
}

/// The highest `rate` accepted.
pub const MAX_RATE: u32 = 10_000_000;

/// How often the producer wakes up to emit what is due; batches keep high rates cheap.
const TICK: Duration = Duration::from_millis(10);

impl InputPlugin for Generator {
    fn init(ctx: &InitContext) -> Result<Self, Error> {
        let settings = Settings::from_config(ctx.config())?;
        log::info!(
            "emitting {} record(s)/s{}",
            settings.rate,
            settings
                .count
                .map_or(String::new(), |c| format!(", {c} in total"))
        );
        Ok(Generator {
            settings,
            next_seq: 0,
        })
    }

    fn queue_limit(&self) -> usize {
        self.settings.queue_size
    }

    fn run(&mut self, emitter: &Emitter) -> Result<(), Error> {
        let backpressure = emitter.metrics().counter(
            "generator_backpressure_total",
            "Times the generator was held back",
        );
        let produced = emitter
            .metrics()
            .counter("generator_records_total", "Records the generator queued");
        let mut start = Instant::now();
        let mut emitted_since_start = 0u64;
        let mut warned_full = false;
        while emitter.is_running() {
            if self.settings.count.is_some_and(|c| self.next_seq >= c) {
                emitter.wait(Duration::from_secs(3600));
                continue;
            }
            let due = (start.elapsed().as_secs_f64() * f64::from(self.settings.rate)) as u64;
            // Up to 50 ms of records per wake-up: enough to catch up after the encode time and
            // the tick, so high rates are reached rather than capped by the batch size.
            let max_batch = (u64::from(self.settings.rate) / 20).max(10_000);
            let mut batch = due.saturating_sub(emitted_since_start).min(max_batch);
            if let Some(count) = self.settings.count {
                batch = batch.min(count - self.next_seq);
            }
            if batch > 0 {
                match emitter.try_emit(|enc| self.encode(enc, batch)) {
                    Ok(()) => {}
                    Err(EmitError::Stopped) => break,
                    Err(blocked) => {
                        backpressure.inc();
                        if blocked == EmitError::Full && !warned_full {
                            warned_full = true;
                            log::warn!(
                                "the queue ({} bytes) filled before Fluent Bit's next collect: \
                                 the rate is capped near queue_size bytes per second; raise \
                                 queue_size to reach rate {}",
                                self.settings.queue_size,
                                self.settings.rate
                            );
                        } else {
                            log::debug!("waiting: {blocked}");
                        }
                        match emitter.emit(|enc| self.encode(enc, batch)) {
                            Ok(()) => {}
                            Err(_) => break,
                        }
                        log::debug!("producing again");
                        // Restart the schedule: do not burst to make up for the pause.
                        start = Instant::now();
                        emitted_since_start = 0;
                        produced.add(batch as f64);
                        continue;
                    }
                }
                emitted_since_start += batch;
                produced.add(batch as f64);
            }
            emitter.wait(TICK);
        }
        log::info!("stopped after queuing {} record(s)", self.next_seq);
        Ok(())
    }
}

impl Generator {
    fn encode(&mut self, enc: &mut fluent_bit_plugin_sdk::event::Encoder<'_>, n: u64) {
        let now = EventTime::now();
        for _ in 0..n {
            let mut record = enc.record(now);
            record
                .str("message", &self.settings.message)
                .uint("seq", self.next_seq);
            for (key, value) in &self.settings.fields {
                record.str(key, value);
            }
            record.finish();
            self.next_seq += 1;
        }
    }
}

fluent_bit_plugin_sdk::export_input!(
    Generator,
    name = "generator",
    description =
        "Emits records with a message, a sequence number and fixed fields at a steady rate"
);

#[cfg(test)]
mod tests {
    use super::*;
    use fluent_bit_plugin_sdk::{Config, PluginKind};

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::from_config(&Config::from_pairs(
            PluginKind::Input,
            pairs.iter().copied(),
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.message, "hello");
        assert_eq!(s.rate, 1);
        assert_eq!(s.count, None);
        assert!(s.fields.is_empty());
        // Two seconds of records at rate 1, but at least 64 KiB.
        assert_eq!(s.queue_size, 64 << 10);
    }

    #[test]
    fn the_default_queue_holds_two_seconds_of_records() {
        let s = settings(&[("rate", "1000000")]).unwrap();
        let size = record_size("hello", &[]);
        assert!((30..64).contains(&size), "{size}");
        assert_eq!(s.queue_size, 2_000_000 * size);
        let s = settings(&[("rate", "1000000"), ("queue_size", "4M")]).unwrap();
        assert_eq!(s.queue_size, 4_000_000);
    }

    #[test]
    fn fields_are_parsed_in_order() {
        let s = settings(&[("fields", "team=logging, env = dev,empty=")]).unwrap();
        assert_eq!(
            s.fields,
            [
                ("team".to_string(), "logging".to_string()),
                ("env".to_string(), "dev".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn bad_settings_name_the_key_and_the_form() {
        let table = [
            (
                ("fields", "team"),
                "config key `fields`: expected comma-separated key=value",
            ),
            (
                ("fields", "=x"),
                "config key `fields`: expected comma-separated key=value",
            ),
            (
                ("rate", "0"),
                "config key `rate`: expected records per second between 1 and 10000000",
            ),
            (
                ("rate", "fast"),
                "config key `rate`: expected an integer (u32), got `fast`",
            ),
            (
                ("queue_size", "big"),
                "config key `queue_size`: expected a size",
            ),
        ];
        for ((key, value), want) in table {
            let err = settings(&[(key, value)]).unwrap_err();
            assert!(err.starts_with(want), "{key}={value}: {err}");
        }
    }
}
