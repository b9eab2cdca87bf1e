//! `sdk_probe_out`: an output whose behaviour is chosen by its config, so tests can drive every
//! path of the SDK's output glue through the test host. It logs what it decoded, one line per
//! flush, in a form the tests parse.
//!
//! Keys: `label` (echoed), `result` (`ok`, `retry`, `error`, `panic`), `fail_init`,
//! `panic_init`, `read_key` (a key read at Init, to test reserved keys), `background_thread`
//! (start a thread in Init, joined on exit), `sleep_ms` (per flush), `deep_work` (recurse
//! at least 512 KiB deep per flush, moved off the coroutine with `offload::run`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar};
use std::thread::JoinHandle;
use std::time::Duration;

use fluent_bit_plugin_sdk::event::{Shape, json};
use fluent_bit_plugin_sdk::{Chunk, Counter, Error, FlushError, InitContext, OutputPlugin, log};

/// One probe instance.
pub struct Probe {
    label: String,
    result: String,
    sleep: Duration,
    deep_work: bool,
    records: Counter,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    background: Option<(StopSignal, JoinHandle<()>)>,
}

/// Set to true (and notified) to stop the background thread.
type StopSignal = Arc<(Mutex<bool>, Condvar)>;

impl OutputPlugin for Probe {
    fn init(ctx: &InitContext) -> Result<Self, Error> {
        let config = ctx.config();
        if config.get_or("panic_init", false)? {
            panic!("probe asked to panic in init");
        }
        if config.get_or("fail_init", false)? {
            return Err("probe asked to fail init".into());
        }
        if let Some(key) = config.optional::<String>("read_key")? {
            let value = config.optional::<String>(&key)?;
            log::info!("read_key {key}={value:?}");
        }
        let background = if config.get_or("background_thread", false)? {
            let stop = Arc::new((Mutex::new(false), Condvar::new()));
            let signal = stop.clone();
            let handle = std::thread::Builder::new()
                .name("probe-bg".into())
                .spawn(move || {
                    let (lock, cv) = &*signal;
                    let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while !*stopped {
                        stopped = cv.wait(stopped).unwrap_or_else(|e| e.into_inner());
                    }
                })?;
            Some((stop, handle))
        } else {
            None
        };
        log::info!("init instance={}", ctx.instance_name());
        Ok(Probe {
            label: config.get_or("label", String::new())?,
            result: config.get_or("result", "ok".to_string())?,
            sleep: Duration::from_millis(config.get_or("sleep_ms", 0)?),
            deep_work: config.get_or("deep_work", false)?,
            records: ctx
                .metrics()
                .counter("probe_records_total", "Records flushed"),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            background,
        })
    }

    fn flush(&self, chunk: &Chunk<'_>) -> Result<(), FlushError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.sleep);
        if self.deep_work {
            let depth = fluent_bit_plugin_sdk::offload::run(|| recurse(2000));
            log::info!("deep_work depth={depth}");
        }
        let outcome = self.inspect(chunk);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        outcome?;
        match self.result.as_str() {
            "retry" => Err(FlushError::retry("probe asked to retry")),
            "error" => Err(FlushError::drop("probe asked to fail")),
            "panic" => panic!("probe asked to panic in flush"),
            _ => Ok(()),
        }
    }
}

impl Probe {
    /// Logs `flush label=.. tag=.. records=N v2=N legacy=N times=[..] first=<json>`.
    fn inspect(&self, chunk: &Chunk<'_>) -> Result<(), FlushError> {
        let (mut records, mut v2, mut legacy) = (0, 0, 0);
        let mut times = String::new();
        let mut first = Vec::new();
        for event in chunk.events() {
            let event = event?;
            records += 1;
            match event.shape() {
                Shape::V2 => v2 += 1,
                Shape::Legacy => legacy += 1,
            }
            if !times.is_empty() {
                times.push(',');
            }
            times.push_str(&format!(
                "{}.{:09}",
                event.time().sec(),
                event.time().nsec()
            ));
            if first.is_empty() {
                first.extend_from_slice(b"{\"metadata\":");
                json::write_map(&mut first, &event.metadata());
                first.extend_from_slice(b",\"body\":");
                json::write_map(&mut first, &event.body());
                first.push(b'}');
            }
        }
        self.records.add(records as f64);
        log::info!(
            "flush label={} tag={} records={records} v2={v2} legacy={legacy} times=[{times}] first={}",
            self.label,
            chunk.tag(),
            String::from_utf8_lossy(&first)
        );
        Ok(())
    }
}

/// At least 512 KiB of stack: far more than the 64 KiB a flush runs on.
fn recurse(n: u32) -> u32 {
    let frame = std::hint::black_box([n as u8; 256]);
    if n == 0 {
        u32::from(frame[0])
    } else {
        recurse(n - 1) + 1
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.background.take() {
            *stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            stop.1.notify_all();
            let _ = handle.join();
        }
        log::info!(
            "exit label={} max_in_flight={}",
            self.label,
            self.max_in_flight.load(Ordering::SeqCst)
        );
    }
}

fluent_bit_plugin_sdk::export_output!(
    Probe,
    name = "sdk_probe_out",
    description = "SDK test probe (output)"
);
